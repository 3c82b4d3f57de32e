//! Tamper detection on a real decision log: a pristine log is written by
//! the `gavel` binary, then copies of its redb file are altered through
//! redb the way an attacker with write access to the file would, and
//! `gavel::log::verify` (many seeded random trials per kind) and
//! `gavel log verify` (at least one trial per kind) must catch every
//! alteration at exactly the right sequence number.
//!
//! `GAVEL_TAMPER_SEED` changes the seed; `GAVEL_TAMPER_TRIALS` the number
//! of trials per kind (default 200).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::Rng;

use common::root;
use ed25519_dalek::{SigningKey, VerifyingKey};
use gavel::log::{
    AGENT_BATCHES, BATCH_TIMES, CHECKPOINTS, Checkpoint, LOG_FILE, LogEntry, LogEvent, META,
    RECORDS, VerifyReport, keys,
};
use redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, WriteTransaction};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

// ---------------------------------------------------------------- helpers

/// xorshift64*: small, seeded, reproducible.
impl Rng {
    fn for_kind(kind: &str) -> Self {
        let base = std::env::var("GAVEL_TAMPER_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0x7a3f_91c2_5e0d_b461);
        // FNV-1a of the kind, so each kind draws its own sequence.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in kind.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let seed = (base ^ h) | 1;
        eprintln!("{kind}: seed {base} (GAVEL_TAMPER_SEED)");
        Rng(seed)
    }

    fn index(&mut self, len: usize) -> usize {
        assert!(len > 0);
        (self.next() % len as u64) as usize
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }

    /// A byte that differs from `old`.
    fn other_byte(&mut self, old: u8) -> u8 {
        old ^ (self.range(1, 255) as u8)
    }

    /// A lowercase hex digit that differs from `old`.
    fn other_hex_digit(&mut self, old: u8) -> u8 {
        loop {
            let d = b"0123456789abcdef"[self.index(16)];
            if d != old {
                return d;
            }
        }
    }
}

fn trials() -> usize {
    std::env::var("GAVEL_TAMPER_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

/// The chain as an attacker who knows the format recomputes it.
fn chain_next(previous: &[u8; 32], seq: u64, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"gavel-decision-log/v1/chain\0");
    h.update(previous);
    h.update(seq.to_be_bytes());
    h.update(Sha256::digest(body));
    h.finalize().into()
}

fn encode_head(seq: u64, hash: &[u8; 32]) -> Vec<u8> {
    let mut v = seq.to_be_bytes().to_vec();
    v.extend_from_slice(hash);
    v
}

fn stored_hash(value: &[u8]) -> [u8; 32] {
    value[..32].try_into().unwrap()
}

/// The agent index's seq lists, as an attacker who knows the format reads
/// them: LEB128 deltas from one before the commit's first seq.
fn decode_deltas(first: u64, bytes: &[u8]) -> Vec<u64> {
    let (mut out, mut previous, mut n, mut shift) = (Vec::new(), first - 1, 0u64, 0);
    for b in bytes {
        n |= u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            previous += n;
            out.push(previous);
            (n, shift) = (0, 0);
        }
    }
    out
}

fn encode_deltas(first: u64, seqs: &[u64]) -> Vec<u8> {
    let (mut out, mut previous) = (Vec::new(), first - 1);
    for &seq in seqs {
        let mut d = seq - previous;
        previous = seq;
        loop {
            let b = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }
    out
}

/// Replace both indexes with the given content, each agent's seqs listed
/// under the commit that holds them.
fn write_indexes(
    p: &Pristine,
    txn: &WriteTransaction,
    agents: &BTreeSet<(String, u64)>,
    commits: &[(u64, i64, i64)],
) {
    let mut table = txn.open_table(AGENT_BATCHES).unwrap();
    table.retain(|_, _| false).unwrap();
    let mut lists: std::collections::BTreeMap<(String, u64), Vec<u64>> = Default::default();
    for (agent, seq) in agents {
        lists
            .entry((agent.clone(), p.commit_of(*seq)))
            .or_default()
            .push(*seq);
    }
    for ((agent, first), seqs) in &lists {
        table
            .insert(
                (agent.as_str(), *first),
                encode_deltas(*first, seqs).as_slice(),
            )
            .unwrap();
    }
    let mut table = txn.open_table(BATCH_TIMES).unwrap();
    table.retain(|_, _| false).unwrap();
    for (first, min, max) in commits {
        let mut v = min.to_be_bytes().to_vec();
        v.extend_from_slice(&max.to_be_bytes());
        table.insert(*first, v.as_slice()).unwrap();
    }
}

fn gavel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gavel"))
}

/// Run `gavel log verify` on `data`; the exit code and the first bad
/// sequence number it prints, if any.
fn cli_verify(data: &Path, checkpoints: &[&Path]) -> (i32, Option<u64>, String) {
    let mut cmd = gavel();
    cmd.args(["log", "verify", "--data-dir"]).arg(data);
    for c in checkpoints {
        cmd.arg("--checkpoint").arg(c);
    }
    let out = cmd.output().expect("run gavel log verify");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let first_bad = stdout
        .split("first bad sequence number ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|n| n.parse::<u64>().expect("a sequence number"));
    let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().expect("exit code"), first_bad, text)
}

// ---------------------------------------------------------------- the pristine log

const AGENTS: &[&str] = &[
    "research-assistant",
    "financial-advisor",
    "customer-support",
    "ops-bot",
    "billing-agent",
    "hr-assistant",
];

fn action(i: usize) -> String {
    let agent = AGENTS[i % AGENTS.len()];
    let v = match i % 7 {
        0 => serde_json::json!({"action": "search_web", "params": {"query": format!("q{i}")}}),
        1 => {
            serde_json::json!({"action": "delete_account", "params": {"account_id": format!("acct-{i}")}})
        }
        2 => {
            serde_json::json!({"action": "delete_ticket", "params": {"ticket_id": format!("T-{i}")}})
        }
        3 => {
            serde_json::json!({"action": "transfer_funds", "amount": (i * 37 % 20_000) as f64, "currency": "USD", "params": {"to": format!("acct-{i}")}})
        }
        4 => {
            serde_json::json!({"action": "send_email", "params": {"to": format!("user{i}@example.com"), "body": "hello"}})
        }
        5 => {
            serde_json::json!({"action": "read_file", "params": {"path": format!("/srv/{i}.txt")}})
        }
        _ => serde_json::json!({"action": "contract_modification", "params": {"contract": i}}),
    };
    let mut v = v;
    v["request_id"] = format!("t-{i}").into();
    v["agent_id"] = agent.into();
    v["timestamp"] = "2026-11-20T15:00:00Z".into();
    v.to_string()
}

struct Pristine {
    _dir: tempfile::TempDir,
    /// The data directory (gavel.redb, log-signing.pub).
    data: PathBuf,
    /// `gavel log checkpoint --out` taken at the end.
    exported: Checkpoint,
    exported_path: PathBuf,
    key: VerifyingKey,
    /// Stored records, `records[seq - 1]`.
    records: Vec<Vec<u8>>,
    /// Stored checkpoints (size, JSON).
    checkpoints: Vec<(u64, Vec<u8>)>,
    /// The agent index, expanded: (agent, seq) of every decision.
    agents: BTreeSet<(String, u64)>,
    /// The time index: (first seq, least time, greatest time) per commit.
    commits: Vec<(u64, i64, i64)>,
}

impl Pristine {
    fn n(&self) -> u64 {
        self.records.len() as u64
    }

    fn record(&self, seq: u64) -> &[u8] {
        &self.records[(seq - 1) as usize]
    }

    /// Record `seq`'s log time.
    fn time(&self, seq: u64) -> i64 {
        LogEntry::from_bytes(&self.record(seq)[32..])
            .unwrap()
            .time_ms
    }

    /// The first seq of the commit holding `seq` (the last commit for a
    /// seq past the end).
    fn commit_of(&self, seq: u64) -> u64 {
        self.commits
            .iter()
            .rev()
            .find(|c| c.0 <= seq)
            .map_or(1, |c| c.0)
    }

    fn stored_checkpoints(&self) -> Vec<Checkpoint> {
        self.checkpoints
            .iter()
            .map(|(_, json)| serde_json::from_slice(json).unwrap())
            .collect()
    }
}

fn pristine() -> &'static Pristine {
    static PRISTINE: OnceLock<Pristine> = OnceLock::new();
    PRISTINE.get_or_init(build_pristine)
}

fn build_pristine() -> Pristine {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let policies = root().join("policies-wasm");
    let count = 300;
    let input: String = (0..count).map(|i| action(i) + "\n").collect();
    let (policies, data_arg) = (policies.display().to_string(), data.display().to_string());
    let out = common::gavel(
        &[
            "eval",
            "--workers",
            "4",
            "--checkpoint-every",
            "50",
            "--policies",
            &policies,
            "--data-dir",
            &data_arg,
        ],
        &data,
        Some(&input),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), count);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["request_id"], format!("t-{i}"), "{line}");
    }

    let exported_path = dir.path().join("exported-checkpoint.json");
    let out = gavel()
        .args(["log", "checkpoint", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&exported_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported: Checkpoint =
        serde_json::from_str(&std::fs::read_to_string(&exported_path).unwrap()).unwrap();
    let key = keys::read_public_key(&keys::public_key_path(&data)).unwrap();

    let db = ReadOnlyDatabase::open(data.join(LOG_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    let mut records = Vec::new();
    for item in read.open_table(RECORDS).unwrap().iter().unwrap() {
        let (k, v) = item.unwrap();
        assert_eq!(k.value(), records.len() as u64 + 1, "gap-free keys");
        records.push(v.value().to_vec());
    }
    let checkpoints: Vec<(u64, Vec<u8>)> = read
        .open_table(CHECKPOINTS)
        .unwrap()
        .iter()
        .unwrap()
        .map(|item| {
            let (k, v) = item.unwrap();
            (k.value(), v.value().to_vec())
        })
        .collect();
    let commits: Vec<(u64, i64, i64)> = read
        .open_table(BATCH_TIMES)
        .unwrap()
        .iter()
        .unwrap()
        .map(|item| {
            let (k, v) = item.unwrap();
            let v = v.value();
            let min = i64::from_be_bytes(v[..8].try_into().unwrap());
            let max = i64::from_be_bytes(v[8..16].try_into().unwrap());
            (k.value(), min, max)
        })
        .collect();
    let mut agents = BTreeSet::new();
    for item in read.open_table(AGENT_BATCHES).unwrap().iter().unwrap() {
        let (k, v) = item.unwrap();
        let (agent, first) = k.value();
        for seq in decode_deltas(first, v.value()) {
            assert!(agents.insert((agent.to_owned(), seq)), "listed once");
        }
    }
    drop(read);
    drop(db);

    let p = Pristine {
        _dir: dir,
        data,
        exported,
        exported_path,
        key,
        records,
        checkpoints,
        agents,
        commits,
    };

    // The log is what the tests need: both kinds of records, several
    // stored checkpoints, an export covering everything, and an attacker's
    // chain function that reproduces the stored hashes.
    let n = p.n();
    assert_eq!(
        n,
        count as u64 + 1,
        "one policy-set record and {count} decisions"
    );
    let mut previous = [0u8; 32];
    let mut kinds = BTreeSet::new();
    for seq in 1..=n {
        let value = p.record(seq);
        let entry = LogEntry::from_bytes(&value[32..]).unwrap();
        assert_eq!(entry.seq, seq);
        kinds.insert(entry.event.kind());
        previous = chain_next(&previous, seq, &value[32..]);
        assert_eq!(previous, stored_hash(value), "chain at {seq}");
    }
    assert!(
        kinds.contains("policy-set-loaded") && kinds.contains("decision"),
        "{kinds:?}"
    );
    assert!(
        p.checkpoints.len() >= 5,
        "{} stored checkpoints",
        p.checkpoints.len()
    );
    assert_eq!(p.exported.size, n);
    assert_eq!(p.exported.head, hex::encode(previous));
    assert_eq!(p.agents.len() as u64, n - 1);
    assert_eq!(
        p.commits.first().map(|c| c.0),
        Some(1),
        "compact indexes only"
    );
    assert!(p.commits.len() > 1, "{} commits", p.commits.len());

    let db = ReadOnlyDatabase::open(p.data.join(LOG_FILE)).unwrap();
    let report = gavel::log::verify(&db, &p.key, std::slice::from_ref(&p.exported)).unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!(report.verified, n);
    drop(db);
    let (code, bad, text) = cli_verify(&p.data, &[&p.exported_path]);
    assert_eq!((code, bad), (0, None), "{text}");
    assert!(text.starts_with("ok: "), "{text}");
    eprintln!(
        "pristine log: {n} records, {} stored checkpoints, exported checkpoint at {}",
        p.checkpoints.len(),
        p.exported.size
    );
    p
}

// ---------------------------------------------------------------- one trial

/// A copy of the pristine data directory to tamper with.
struct Trial {
    dir: tempfile::TempDir,
}

impl Trial {
    fn new(p: &Pristine) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(p.data.join(LOG_FILE), dir.path().join(LOG_FILE)).unwrap();
        std::fs::copy(
            keys::public_key_path(&p.data),
            keys::public_key_path(dir.path()),
        )
        .unwrap();
        Trial { dir }
    }

    fn data(&self) -> &Path {
        self.dir.path()
    }

    /// Alter the file through redb, in one committed transaction.
    fn tamper(&self, f: impl FnOnce(&WriteTransaction)) {
        let db = Database::open(self.dir.path().join(LOG_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        f(&txn);
        txn.commit().unwrap();
    }

    fn verify(&self, p: &Pristine, exported: &[Checkpoint]) -> VerifyReport {
        let db = ReadOnlyDatabase::open(self.dir.path().join(LOG_FILE)).unwrap();
        gavel::log::verify(&db, &p.key, exported).unwrap()
    }
}

fn assert_first_bad(report: &VerifyReport, expected: u64, what: &str) {
    assert_eq!(
        report.first_bad(),
        Some(expected),
        "{what}: expected first bad {expected}, got {:#?}",
        report.problems
    );
}

fn assert_intact(report: &VerifyReport, what: &str) {
    assert!(
        report.problems.is_empty(),
        "{what}: expected no problem, got {:#?}",
        report.problems
    );
}

/// The same trial through the command line: exit 1 and the same number.
fn assert_cli_first_bad(trial: &Trial, checkpoints: &[&Path], expected: u64, what: &str) {
    let (code, bad, text) = cli_verify(trial.data(), checkpoints);
    assert_eq!(code, 1, "{what}: {text}");
    assert_eq!(bad, Some(expected), "{what}: {text}");
}

fn put_record(txn: &WriteTransaction, seq: u64, value: &[u8]) {
    txn.open_table(RECORDS).unwrap().insert(seq, value).unwrap();
}

// ---------------------------------------------------------------- the kinds

#[test]
fn any_changed_byte_in_any_record_is_caught_at_its_seq() {
    let p = pristine();
    let mut rng = Rng::for_kind("changed byte");
    let (mut in_hash, mut in_body) = (0, 0);
    for t in 0..trials() {
        let seq = rng.range(1, p.n());
        let mut value = p.record(seq).to_vec();
        // A quarter of the trials hit the 32 stored chain-hash bytes.
        let offset = if rng.chance(4) {
            in_hash += 1;
            rng.index(32)
        } else {
            in_body += 1;
            rng.index(value.len())
        };
        value[offset] = rng.other_byte(value[offset]);
        let trial = Trial::new(p);
        trial.tamper(|txn| put_record(txn, seq, &value));
        let what = format!("trial {t}: byte {offset} of record {seq}");
        assert_first_bad(&trial.verify(p, &[]), seq, &what);
        assert_first_bad(
            &trial.verify(p, std::slice::from_ref(&p.exported)),
            seq,
            &what,
        );
        if t == 0 {
            assert_cli_first_bad(&trial, &[], seq, &what);
        }
    }
    eprintln!("changed byte: {in_hash} in a stored hash, {in_body} anywhere; all caught");
}

#[test]
fn deleted_record_is_caught_at_its_seq() {
    let p = pristine();
    let mut rng = Rng::for_kind("deleted record");
    for t in 0..trials() {
        let seq = match t {
            0 => 1,
            1 => p.n() / 2,
            2 => p.n(),
            _ => rng.range(1, p.n()),
        };
        let trial = Trial::new(p);
        trial.tamper(|txn| {
            txn.open_table(RECORDS)
                .unwrap()
                .remove(seq)
                .unwrap()
                .unwrap();
        });
        let what = format!("trial {t}: record {seq} deleted");
        assert_first_bad(&trial.verify(p, &[]), seq, &what);
        if t < 2 {
            assert_cli_first_bad(&trial, &[], seq, &what);
        }
    }
}

#[test]
fn swapped_records_are_caught_at_the_smaller_seq() {
    let p = pristine();
    let mut rng = Rng::for_kind("swapped records");
    for t in 0..trials() {
        let a = rng.range(1, p.n() - 1);
        let b = if rng.chance(3) {
            a + 1
        } else {
            rng.range(a + 1, p.n())
        };
        let trial = Trial::new(p);
        trial.tamper(|txn| {
            put_record(txn, a, p.record(b));
            put_record(txn, b, p.record(a));
        });
        let what = format!("trial {t}: records {a} and {b} swapped");
        assert_first_bad(&trial.verify(p, &[]), a, &what);
        if t == 0 {
            assert_cli_first_bad(&trial, &[], a, &what);
        }
    }
}

/// Delete records `from..=n` and everything that mentions them (index
/// entries, stored checkpoints beyond the new end), and point the head at
/// `from - 1` with its real hash: a tail truncation the chain cannot see.
fn truncate(p: &Pristine, txn: &WriteTransaction, from: u64) {
    let mut records = txn.open_table(RECORDS).unwrap();
    for seq in from..=p.n() {
        records.remove(seq).unwrap().unwrap();
    }
    let agents: BTreeSet<(String, u64)> = p
        .agents
        .iter()
        .filter(|(_, seq)| *seq < from)
        .cloned()
        .collect();
    // The commits that remain, the last one's time range recomputed.
    let mut commits: Vec<(u64, i64, i64)> =
        p.commits.iter().filter(|c| c.0 < from).copied().collect();
    if let Some(last) = commits.last_mut() {
        let times = (last.0..from).map(|seq| p.time(seq));
        last.1 = times.clone().min().unwrap();
        last.2 = times.max().unwrap();
    }
    write_indexes(p, txn, &agents, &commits);
    let mut checkpoints = txn.open_table(CHECKPOINTS).unwrap();
    for (size, _) in &p.checkpoints {
        if *size >= from {
            checkpoints.remove(*size).unwrap().unwrap();
        }
    }
    let last = from - 1;
    let head = if last == 0 {
        [0u8; 32]
    } else {
        stored_hash(p.record(last))
    };
    txn.open_table(META)
        .unwrap()
        .insert("head", encode_head(last, &head).as_slice())
        .unwrap();
}

#[test]
fn truncated_tail_with_a_consistent_head_is_caught_by_the_exported_checkpoint() {
    let p = pristine();
    let mut rng = Rng::for_kind("truncated tail");
    for t in 0..trials() {
        // Mostly short tails (the likeliest attack), sometimes long ones.
        let k = if rng.chance(2) {
            rng.range(1, 5)
        } else {
            rng.range(1, p.n() - 1)
        };
        let from = p.n() - k + 1;
        let trial = Trial::new(p);
        trial.tamper(|txn| truncate(p, txn, from));
        let what = format!("trial {t}: last {k} records removed");
        // Consistent enough that the log alone looks intact...
        assert_intact(&trial.verify(p, &[]), &what);
        // ...but not against the checkpoint kept off the machine.
        assert_first_bad(
            &trial.verify(p, std::slice::from_ref(&p.exported)),
            from,
            &what,
        );
        if t == 0 {
            assert_cli_first_bad(&trial, &[&p.exported_path], from, &what);
        }
    }
}

/// Alter the content of an entry so that it still decodes.
fn alter_entry(body: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut entry = LogEntry::from_bytes(body).unwrap();
    match &mut entry.event {
        LogEvent::Decision(d) => match rng.index(3) {
            0 => d.request.action = format!("tampered-{}", rng.next()),
            1 => d.request.amount = Some((rng.next() % 1_000_000) as f64 + 0.5),
            _ => {
                d.request
                    .params
                    .insert("note".to_owned(), format!("x{}", rng.next()).into());
            }
        },
        LogEvent::PolicySetLoaded { dir, .. } => *dir = format!("/tmp/evil-{}", rng.next()),
        other => panic!("unexpected event {other:?}"),
    }
    let bytes = entry.canonical_bytes().unwrap();
    assert!(bytes != body, "the alteration changed nothing");
    bytes
}

#[test]
fn rewritten_history_is_caught_only_by_exported_checkpoints() {
    let p = pristine();
    let mut rng = Rng::for_kind("rewritten history");
    // Copies of every checkpoint the log ever signed, kept off the machine.
    let mut off_machine = p.stored_checkpoints();
    off_machine.push(p.exported.clone());
    for t in 0..trials() {
        let j = rng.range(1, p.n());
        // Half the rewrites also drop some of the tail.
        let new_n = if rng.chance(2) {
            p.n()
        } else {
            rng.range(j, p.n())
        };
        let trial = Trial::new(p);
        trial.tamper(|txn| {
            if new_n < p.n() {
                truncate(p, txn, new_n + 1);
            }
            let mut previous = if j == 1 {
                [0u8; 32]
            } else {
                stored_hash(p.record(j - 1))
            };
            let mut records = txn.open_table(RECORDS).unwrap();
            for seq in j..=new_n {
                let body = if seq == j {
                    alter_entry(&p.record(seq)[32..], &mut rng)
                } else {
                    p.record(seq)[32..].to_vec()
                };
                previous = chain_next(&previous, seq, &body);
                let mut value = previous.to_vec();
                value.extend_from_slice(&body);
                records.insert(seq, value.as_slice()).unwrap();
            }
            txn.open_table(META)
                .unwrap()
                .insert("head", encode_head(new_n, &previous).as_slice())
                .unwrap();
            // Every stored checkpoint would expose the rewrite: gone.
            let mut checkpoints = txn.open_table(CHECKPOINTS).unwrap();
            for (size, _) in &p.checkpoints {
                checkpoints.remove(*size).unwrap();
            }
        });
        let what = format!("trial {t}: record {j} rewritten, log now ends at {new_n}");
        assert_intact(&trial.verify(p, &[]), &what);
        // Where each exported checkpoint reports: at its size, or just
        // past the end of a log shorter than it.
        let reported = |c: &Checkpoint| {
            if c.size > new_n { new_n + 1 } else { c.size }
        };
        assert_first_bad(
            &trial.verify(p, std::slice::from_ref(&p.exported)),
            reported(&p.exported),
            &what,
        );
        let expected = off_machine
            .iter()
            .filter(|c| c.size >= j)
            .map(reported)
            .min()
            .unwrap();
        assert_first_bad(&trial.verify(p, &off_machine), expected, &what);
        if t == 0 {
            assert_cli_first_bad(&trial, &[&p.exported_path], reported(&p.exported), &what);
        }
    }
}

/// One way to forge a checkpoint; returns the forgery and what it is.
fn forge(c: &Checkpoint, n: u64, rng: &mut Rng) -> (Checkpoint, &'static str) {
    let mut f = c.clone();
    let what = match rng.index(8) {
        0 => {
            while f.size == c.size {
                f.size = rng.range(0, 2 * n);
            }
            "size"
        }
        1 => {
            let i = rng.index(f.head.len());
            let mut bytes = f.head.into_bytes();
            bytes[i] = rng.other_hex_digit(bytes[i]);
            f.head = String::from_utf8(bytes).unwrap();
            "head"
        }
        2 => {
            let i = rng.index(f.signature.len());
            let mut bytes = f.signature.into_bytes();
            bytes[i] = rng.other_hex_digit(bytes[i]);
            f.signature = String::from_utf8(bytes).unwrap();
            "signature"
        }
        3 => {
            f.time_ms += rng.range(1, 1_000_000) as i64;
            "time"
        }
        4 => {
            f.origin = "gavel-decision-log/v2".to_owned();
            "origin"
        }
        5 => {
            // The key the checkpoint names about itself.
            let i = rng.index(f.key.len());
            let mut bytes = f.key.into_bytes();
            bytes[i] = rng.other_hex_digit(bytes[i]);
            f.key = String::from_utf8(bytes).unwrap();
            "named key"
        }
        6 => {
            // Re-signed, same statement, with the attacker's own key.
            let mut secret = [0u8; 32];
            for b in &mut secret {
                *b = rng.next() as u8;
            }
            let head: [u8; 32] = hex::decode(&c.head).unwrap().try_into().unwrap();
            f = Checkpoint::sign(&SigningKey::from_bytes(&secret), c.size, &head, c.time_ms);
            "re-signed with another key"
        }
        _ => {
            // Re-signed by another key for a different head and size.
            let mut secret = [0u8; 32];
            for b in &mut secret {
                *b = rng.next() as u8;
            }
            let mut head = [0u8; 32];
            for b in &mut head {
                *b = rng.next() as u8;
            }
            let size = rng.range(1, n);
            f = Checkpoint::sign(&SigningKey::from_bytes(&secret), size, &head, c.time_ms);
            "re-signed with another key, other size and head"
        }
    };
    assert_ne!(&f, c);
    (f, what)
}

#[test]
fn forged_stored_checkpoint_is_caught() {
    let p = pristine();
    let mut rng = Rng::for_kind("forged stored checkpoint");
    for t in 0..trials() {
        let (size, json) = &p.checkpoints[rng.index(p.checkpoints.len())];
        let size = *size;
        let original: Checkpoint = serde_json::from_slice(json).unwrap();
        let (key, bytes, what, expected) = if rng.chance(3) {
            // Any changed byte of the stored JSON.
            let mut bytes = json.clone();
            let i = rng.index(bytes.len());
            bytes[i] = rng.other_byte(bytes[i]);
            (size, bytes, format!("byte {i}"), size)
        } else {
            let (forged, what) = forge(&original, p.n(), &mut rng);
            let bytes = serde_json::to_vec(&forged).unwrap();
            // A forged size is stored either under the original key or
            // consistently under its own.
            if forged.size != size && rng.chance(2) {
                (
                    forged.size,
                    bytes,
                    format!("{what} (moved)"),
                    forged.size.max(1),
                )
            } else {
                (size, bytes, what.to_owned(), size)
            }
        };
        let trial = Trial::new(p);
        trial.tamper(|txn| {
            let mut table = txn.open_table(CHECKPOINTS).unwrap();
            table.remove(size).unwrap().unwrap();
            table.insert(key, bytes.as_slice()).unwrap();
        });
        let what = format!("trial {t}: stored checkpoint {size}: {what}");
        assert_first_bad(&trial.verify(p, &[]), expected, &what);
        if t == 0 {
            assert_cli_first_bad(&trial, &[], expected, &what);
        }
    }
}

#[test]
fn altered_exported_checkpoint_is_caught() {
    let p = pristine();
    let mut rng = Rng::for_kind("altered exported checkpoint");
    let mut cli_done = false;
    for t in 0..trials() {
        let (forged, what) = forge(&p.exported, p.n(), &mut rng);
        let expected = forged.size.max(1);
        let what = format!("trial {t}: exported checkpoint: {what}");
        // The log file itself is untouched: verify the pristine copy.
        let trial = Trial::new(p);
        assert_first_bad(
            &trial.verify(p, std::slice::from_ref(&forged)),
            expected,
            &what,
        );
        if !cli_done || t < 3 {
            cli_done = true;
            let file = trial.dir.path().join("altered-checkpoint.json");
            std::fs::write(&file, serde_json::to_string_pretty(&forged).unwrap()).unwrap();
            assert_cli_first_bad(&trial, &[&file], expected, &what);
        }
    }
    // And the exported file edited as text: one hex digit of its head.
    let text = std::fs::read_to_string(&p.exported_path).unwrap();
    let head = &p.exported.head;
    let altered_head = format!(
        "{}{}",
        if head.starts_with('0') { "1" } else { "0" },
        &head[1..]
    );
    let trial = Trial::new(p);
    let file = trial.dir.path().join("edited-checkpoint.json");
    std::fs::write(&file, text.replace(head.as_str(), &altered_head)).unwrap();
    assert_cli_first_bad(&trial, &[&file], p.exported.size, "edited exported file");
}

#[test]
fn altered_index_entry_is_caught() {
    let p = pristine();
    let mut rng = Rng::for_kind("altered index entry");
    let agents: Vec<&(String, u64)> = p.agents.iter().collect();
    let mut t = 0;
    while t < trials() {
        let mut after_agents = p.agents.clone();
        let mut after_commits = p.commits.clone();
        let (what, expected) = if rng.chance(2) {
            let (agent, seq) = agents[rng.index(agents.len())].clone();
            let what = match rng.index(4) {
                0 => {
                    after_agents.remove(&(agent.clone(), seq));
                    format!("agent entry ({agent}, {seq}) removed")
                }
                1 => {
                    let other = AGENTS.iter().find(|a| **a != agent).unwrap().to_string();
                    after_agents.remove(&(agent.clone(), seq));
                    after_agents.insert((other.clone(), seq));
                    format!("agent entry ({agent}, {seq}) now names {other}")
                }
                2 => {
                    let to = rng.range(1, p.n() + 3);
                    after_agents.remove(&(agent.clone(), seq));
                    after_agents.insert((agent.clone(), to));
                    format!("agent entry ({agent}, {seq}) moved to {to}")
                }
                _ => {
                    let s = rng.range(1, p.n() + 3);
                    let bogus = format!("ghost-{}", rng.next() % 1000);
                    after_agents.insert((bogus.clone(), s));
                    format!("agent entry ({bogus}, {s}) inserted")
                }
            };
            // The first bad entry is the smallest seq whose entries differ.
            let changed = after_agents
                .symmetric_difference(&p.agents)
                .map(|(_, s)| *s)
                .min();
            let Some(expected) = changed else {
                // The draw left the index as it was; redraw.
                continue;
            };
            (what, expected)
        } else {
            let i = rng.index(after_commits.len());
            let (first, min, max) = after_commits[i];
            let d = rng.range(1, 100_000) as i64;
            let what = match rng.index(5) {
                0 => {
                    after_commits[i].1 = min + d;
                    format!("commit {first}'s least time raised by {d}")
                }
                1 => {
                    after_commits[i].1 = min - d;
                    format!("commit {first}'s least time lowered by {d}")
                }
                2 => {
                    after_commits[i].2 = max - d;
                    format!("commit {first}'s greatest time lowered by {d}")
                }
                3 => {
                    after_commits[i].2 = max + d;
                    format!("commit {first}'s greatest time raised by {d}")
                }
                _ => {
                    after_commits.remove(0);
                    "the first commit's time entry removed".to_owned()
                }
            };
            // A removed first commit leaves its records in no index.
            (
                what,
                if after_commits.len() < p.commits.len() {
                    1
                } else {
                    first
                },
            )
        };
        let trial = Trial::new(p);
        trial.tamper(|txn| write_indexes(p, txn, &after_agents, &after_commits));
        let what = format!("trial {t}: {what}");
        assert_first_bad(&trial.verify(p, &[]), expected, &what);
        if t < 2 {
            assert_cli_first_bad(&trial, &[], expected, &what);
        }
        t += 1;
    }
}
