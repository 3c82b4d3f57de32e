//! Crash safety of the durable decision log: `gavel eval --workers 8` runs
//! under continuous load and is killed with SIGKILL at a random moment,
//! again and again on the same data directory. After every kill, before
//! the next start: every decision the client saw is in the log, the log
//! verifies, and sequence numbers are gap-free from 1 and continue across
//! restarts.
//!
//! `GAVEL_CRASH_CYCLES` sets the number of kill cycles (default 12),
//! `GAVEL_CRASH_SEED` the seed of the kill moments.
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
use gavel::log::{LOG_FILE, LogEntry, LogEvent, RECORDS, keys};
use redb::{Database, ReadableDatabase, ReadableTable};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

const AGENTS: &[&str] = &[
    "research-assistant",
    "financial-advisor",
    "customer-support",
    "ops-bot",
];

/// Action `i` of cycle `cycle`, with a request id unique in the whole test.
fn action(cycle: usize, i: usize) -> String {
    let mut v = match i % 5 {
        0 => serde_json::json!({"action": "search_web", "params": {"query": format!("q{i}")}}),
        1 => {
            serde_json::json!({"action": "delete_account", "params": {"account_id": format!("a{i}")}})
        }
        2 => {
            serde_json::json!({"action": "delete_ticket", "params": {"ticket_id": format!("T-{i}")}})
        }
        3 => {
            serde_json::json!({"action": "transfer_funds", "amount": (i % 9_000) as f64, "currency": "USD", "params": {}})
        }
        _ => {
            serde_json::json!({"action": "send_email", "params": {"to": format!("u{i}@example.com")}})
        }
    };
    v["request_id"] = request_id(cycle, i).into();
    v["agent_id"] = AGENTS[i % AGENTS.len()].into();
    v.to_string()
}

fn request_id(cycle: usize, i: usize) -> String {
    format!("c{cycle}-{i}")
}

/// When to kill a run.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// After this many acknowledged decisions, then this many ms.
    UnderLoad { acks: usize, ms: u64 },
    /// This many ms after the start, acknowledged or not (start-up,
    /// recovery of the previous crash, the policy-set record).
    Early { ms: u64 },
}

/// One run: start, feed, collect acknowledgements, SIGKILL. Returns the
/// acknowledged (request id, verdict) pairs, in order.
fn run_once(data: &Path, scratch: &Path, cycle: usize, kill: KillAt) -> Vec<(String, String)> {
    let stderr_path = scratch.join(format!("stderr-{cycle}.txt"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["eval", "--workers", "8", "--policies"])
        .arg(root().join("policies-wasm"))
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    // The client: feed actions until the pipe breaks...
    let writer = std::thread::spawn(move || {
        let mut stdin = BufWriter::with_capacity(4096, stdin);
        let mut sent = 0usize;
        while stdin
            .write_all(format!("{}\n", action(cycle, sent)).as_bytes())
            .is_ok()
        {
            sent += 1;
        }
        sent
    });
    // ...and take every complete line printed as an acknowledgement.
    let (acks, acked) = mpsc::channel::<(String, String)>();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 || !line.ends_with('\n') {
                return;
            }
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let id = v["request_id"].as_str().expect("a decision").to_owned();
            let verdict = v["verdict"].as_str().expect("a verdict").to_owned();
            if acks.send((id, verdict)).is_err() {
                return;
            }
        }
    });
    let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let mut got = Vec::new();
    match kill {
        KillAt::UnderLoad { acks, ms } => {
            while got.len() < acks {
                match acked.recv_timeout(Duration::from_secs(120)) {
                    Ok(ack) => got.push(ack),
                    Err(e) => panic!(
                        "cycle {cycle}: waiting for decision {}: {e}; stderr:\n{}",
                        got.len() + 1,
                        stderr()
                    ),
                }
            }
            std::thread::sleep(Duration::from_millis(ms));
        }
        KillAt::Early { ms } => {
            std::thread::sleep(Duration::from_millis(ms).saturating_sub(started.elapsed()));
        }
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "cycle {cycle}: gavel exited before the kill; stderr:\n{}",
        stderr()
    );
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "cycle {cycle}: {status:?}");
    reader.join().unwrap();
    got.extend(acked.try_iter());
    let sent = writer.join().unwrap();
    assert!(got.len() <= sent);
    // Decisions come back in input order, none skipped.
    for (k, (id, _)) in got.iter().enumerate() {
        assert_eq!(
            *id,
            request_id(cycle, k),
            "cycle {cycle}: acknowledgement {k}"
        );
    }
    got
}

/// What the log holds, read through redb from a copy of the file (so the
/// copy, not the real file, gets redb's crash repair).
struct LogState {
    /// Every record's stored chain hash, `hashes[seq - 1]`.
    hashes: Vec<[u8; 32]>,
    /// Decision request id → (seq, verdict).
    decisions: BTreeMap<String, (u64, String)>,
    /// The kind of each record.
    kinds: Vec<&'static str>,
}

fn read_log(data: &Path, scratch: &Path) -> LogState {
    let copy = scratch.join("copy.redb");
    std::fs::copy(data.join(LOG_FILE), &copy).unwrap();
    let db = Database::open(&copy).unwrap();
    let trusted = keys::read_public_key(&keys::public_key_path(data)).unwrap();
    let report = gavel::log::verify(&db, &trusted, &[]).unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    let read = db.begin_read().unwrap();
    let mut state = LogState {
        hashes: Vec::new(),
        decisions: BTreeMap::new(),
        kinds: Vec::new(),
    };
    for item in read.open_table(RECORDS).unwrap().iter().unwrap() {
        let (key, value) = item.unwrap();
        let seq = key.value();
        let expected = state.hashes.len() as u64 + 1;
        assert_eq!(seq, expected, "sequence numbers must be gap-free from 1");
        let (hash, body) = value.value().split_at(32);
        let entry = LogEntry::from_bytes(body).unwrap();
        assert_eq!(entry.seq, seq);
        state.kinds.push(entry.event.kind());
        if let LogEvent::Decision(d) = &entry.event {
            let verdict = serde_json::to_value(d.verdict).unwrap();
            let previous = state.decisions.insert(
                d.request.request_id.clone(),
                (seq, verdict.as_str().unwrap().to_owned()),
            );
            assert!(
                previous.is_none(),
                "request {} logged twice",
                d.request.request_id
            );
        }
        state.hashes.push(hash.try_into().unwrap());
    }
    state
}

fn cli_verify(data: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["log", "verify", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_decision() {
    let cycles = env_u64("GAVEL_CRASH_CYCLES").unwrap_or(12) as usize;
    let seed = env_u64("GAVEL_CRASH_SEED").unwrap_or(0x0c4a_5e11_d00d_f00d);
    eprintln!("{cycles} kill cycles, seed {seed} (GAVEL_CRASH_CYCLES, GAVEL_CRASH_SEED)");
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let scratch = dir.path();

    let mut previous_hashes: Vec<[u8; 32]> = Vec::new();
    let (mut total_acked, mut total_logged, mut load_cycles, mut least) = (0, 0, 0, 0);
    for cycle in 0..cycles {
        // The first run and three in four later ones are killed under
        // load; the rest at a random moment of their start-up.
        let kill = if cycle == 0 || rng.range(0, 3) != 0 {
            load_cycles += 1;
            let acks = rng.range(10, 60) as usize;
            least += acks;
            KillAt::UnderLoad {
                acks,
                ms: rng.range(3, 300),
            }
        } else {
            KillAt::Early {
                ms: rng.range(1, 80),
            }
        };
        let acked = run_once(&data, scratch, cycle, kill);

        // The log verifies as it is, straight after the crash.
        let (code, text) = cli_verify(&data);
        assert_eq!(
            code, 0,
            "cycle {cycle}: gavel log verify after the kill:\n{text}"
        );
        assert!(text.starts_with("ok: "), "cycle {cycle}: {text}");

        let state = read_log(&data, scratch);
        let before = previous_hashes.len();
        let after = state.hashes.len();
        // History is kept, and this run continued right after it.
        assert!(after >= before, "cycle {cycle}: the log shrank");
        assert_eq!(
            state.hashes[..before],
            previous_hashes[..],
            "cycle {cycle}: earlier records changed"
        );
        if after > before {
            assert_eq!(
                state.kinds[before], "policy-set-loaded",
                "cycle {cycle}: the first record of a run"
            );
        }
        let prefix = format!("c{cycle}-");
        let this_run: BTreeSet<&String> = state
            .decisions
            .iter()
            .filter(|(_, (seq, _))| *seq > before as u64)
            .map(|(id, _)| id)
            .collect();
        assert!(
            this_run.iter().all(|id| id.starts_with(&prefix)),
            "cycle {cycle}: a decision of another run was logged after record {before}"
        );
        // Every acknowledged decision is in the log, as printed.
        for (id, verdict) in &acked {
            let Some((seq, logged)) = state.decisions.get(id) else {
                panic!("cycle {cycle}: acknowledged decision {id} is not in the log");
            };
            assert!(*seq > before as u64, "cycle {cycle}: {id} at {seq}");
            assert_eq!(logged, verdict, "cycle {cycle}: {id}");
        }
        eprintln!(
            "cycle {cycle:2}: {kill:?}: {} acknowledged, {} decisions logged (records {}..={after})",
            acked.len(),
            this_run.len(),
            before + 1,
        );
        total_acked += acked.len();
        total_logged += this_run.len();
        previous_hashes = state.hashes;
    }

    // After all the crashes, a clean run still works and continues the log.
    let input: String = (0..100).map(|i| action(cycles, i) + "\n").collect();
    let (policies, data_arg) = (
        root().join("policies-wasm").display().to_string(),
        data.display().to_string(),
    );
    let out = common::gavel(
        &[
            "eval",
            "--workers",
            "8",
            "--policies",
            &policies,
            "--data-dir",
            &data_arg,
        ],
        &data,
        Some(&input),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 100);
    let (code, text) = cli_verify(&data);
    assert_eq!(code, 0, "after the clean run: {text}");
    let state = read_log(&data, scratch);
    assert_eq!(state.hashes.len(), previous_hashes.len() + 101);

    eprintln!(
        "{cycles} kills ({load_cycles} under load): {total_acked} decisions acknowledged, \
         {total_logged} logged, {} records in the end",
        state.hashes.len()
    );
    // The test really ran under load: every load cycle saw its quota of
    // acknowledgements before its kill.
    assert!(load_cycles * 2 > cycles, "{load_cycles} of {cycles}");
    assert!(total_acked >= least, "{total_acked} < {least}");
    assert!(total_logged >= total_acked);
}
