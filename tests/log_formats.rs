//! Logs written in the first record format (`tests/fixtures/log-v1`: JSON
//! bodies, one index entry per record) still read, verify and grow: the
//! host appends compact records after them, and every reader and `verify`
//! handle the mixed log, including tampering on either side of the seam.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::root;
use gavel::log::{BY_AGENT, BY_TIME, LOG_FILE, LogEntry, RECORDS, keys};
use redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, WriteTransaction};
use std::path::{Path, PathBuf};

/// Records in the fixture.
const V1_RECORDS: u64 = 41;

/// A private copy of the fixture's data directory.
fn v1_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let fixture = root().join("tests/fixtures/log-v1");
    for name in [LOG_FILE, "log-signing.key", "log-signing.pub"] {
        std::fs::copy(fixture.join(name), data.join(name)).unwrap();
    }
    // Git keeps no file modes: the key must be private to be used.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        data.join("log-signing.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    (dir, data)
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures/log-v1").join(name)).unwrap()
}

fn run(data: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = common::gavel(args, data, stdin);
    assert!(
        out.status.success(),
        "gavel {args:?}: {}",
        common::stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `seq` of every JSON line of `text`, in order.
fn seqs_of(text: &str) -> Vec<u64> {
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn verify(data: &Path) -> gavel::log::VerifyReport {
    let key = keys::read_public_key(&keys::public_key_path(data)).unwrap();
    let db = ReadOnlyDatabase::open(data.join(LOG_FILE)).unwrap();
    gavel::log::verify(&db, &key, &[]).unwrap()
}

/// The first format's bodies start with `{`, the compact one's with 0x02.
fn first_bytes(data: &Path) -> Vec<u8> {
    let db = ReadOnlyDatabase::open(data.join(LOG_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    let table = read.open_table(RECORDS).unwrap();
    table
        .iter()
        .unwrap()
        .map(|item| item.unwrap().1.value()[32])
        .collect()
}

/// Bytes of the decisions among `seqs` as stored, and as JSON.
fn sizes(data: &Path, seqs: std::ops::RangeInclusive<u64>) -> (usize, usize) {
    let db = ReadOnlyDatabase::open(data.join(LOG_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    let table = read.open_table(RECORDS).unwrap();
    let (mut stored, mut json) = (0, 0);
    for seq in seqs {
        let value = table.get(seq).unwrap().unwrap().value().to_vec();
        let entry = LogEntry::from_bytes(&value[32..]).unwrap();
        if entry.event.kind() == "decision" {
            stored += value.len() - 32;
            json += entry.canonical_bytes().unwrap().len();
        }
    }
    (stored, json)
}

/// Append decisions of `support-bot` through the binary.
fn append(data: &Path, n: usize) {
    let input: String = (0..n)
        .map(|i| {
            format!(
                r#"{{"request_id":"v2-{i}","agent_id":"support-bot","action":"read_file","params":{{"path":"/srv/{i}"}}}}"#
            ) + "\n"
        })
        .collect();
    let policies = common::shipped_dir();
    let data_arg = data.display().to_string();
    run(
        data,
        &["eval", "--policies", &policies, "--data-dir", &data_arg],
        Some(&input),
    );
}

#[test]
fn a_first_format_log_reads_exactly_as_it_did() {
    let (_dir, data) = v1_copy();
    let d = data.display().to_string();
    let report = verify(&data);
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!(report.records, V1_RECORDS);
    assert_eq!(
        run(&data, &["log", "export", "--data-dir", &d], None),
        fixture_text("export.jsonl")
    );
    assert_eq!(
        run(
            &data,
            &[
                "log",
                "query",
                "--data-dir",
                &d,
                "--agent",
                "support-bot",
                "--limit",
                "100"
            ],
            None
        ),
        fixture_text("query-agent.jsonl")
    );
    assert_eq!(
        run(&data, &["log", "stats", "--data-dir", &d], None),
        fixture_text("stats.txt")
    );
}

#[test]
fn new_records_follow_old_ones_and_every_reader_sees_both() {
    let (_dir, data) = v1_copy();
    let d = data.display().to_string();
    append(&data, 12);
    let firsts = first_bytes(&data);
    let n = firsts.len() as u64;
    assert!(n > V1_RECORDS + 12, "{n} records");
    assert!(firsts[..V1_RECORDS as usize].iter().all(|b| *b == b'{'));
    assert!(firsts[V1_RECORDS as usize..].iter().all(|b| *b == 0x02));

    let report = verify(&data);
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!(report.verified, n);

    // The compact decisions take at most three quarters of their JSON.
    let (stored, json) = sizes(&data, V1_RECORDS + 1..=n);
    eprintln!("compact records: {stored} bytes, as JSON {json} bytes");
    assert!(stored * 4 <= json * 3, "{stored} vs {json}");

    // The old records export as they did; the new ones follow.
    let export = run(&data, &["log", "export", "--data-dir", &d], None);
    let old = fixture_text("export.jsonl");
    assert!(export.starts_with(&old));
    assert_eq!(export.lines().count() as u64, n);

    // By agent: the new decisions, newest first, then the old ones.
    let by_agent = run(
        &data,
        &[
            "log",
            "query",
            "--data-dir",
            &d,
            "--agent",
            "support-bot",
            "--limit",
            "100",
        ],
        None,
    );
    let seqs = seqs_of(&by_agent);
    assert_eq!(
        seqs.len(),
        12 + fixture_text("query-agent.jsonl").lines().count()
    );
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    assert!(by_agent.ends_with(&fixture_text("query-agent.jsonl")));

    // By time: a window from an old record's time on holds it, every
    // later old record and every new one.
    let line: serde_json::Value = serde_json::from_str(old.lines().nth(9).unwrap()).unwrap();
    let since = line["time"].as_str().unwrap();
    let expected: Vec<u64> = export
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["time_ms"].as_i64().unwrap() >= line["time_ms"].as_i64().unwrap())
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    let windowed = run(
        &data,
        &["log", "export", "--data-dir", &d, "--since", since],
        None,
    );
    let got = seqs_of(&windowed);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected);
}

type Tamper = fn(&WriteTransaction);

/// Which old index entries the removal rows remove (and `removed_seq` reads).
const AGENT_ENTRY: usize = 4;
const TIME_ENTRY: usize = 11;

/// One row per alteration of a mixed log: what, how, the first bad seq.
#[test]
fn tampering_on_either_side_of_the_seam_is_caught_at_its_seq() {
    let rows: [(&str, Tamper, u64); 5] = [
        ("a byte of an old record", |txn| flip(txn, 7), 7),
        (
            "a byte of a new record",
            |txn| flip(txn, V1_RECORDS + 3),
            V1_RECORDS + 3,
        ),
        (
            "an old agent entry removed",
            |txn| {
                let mut t = txn.open_table(BY_AGENT).unwrap();
                let key = t
                    .iter()
                    .unwrap()
                    .nth(AGENT_ENTRY)
                    .unwrap()
                    .unwrap()
                    .0
                    .value()
                    .1;
                let agent = t
                    .iter()
                    .unwrap()
                    .nth(AGENT_ENTRY)
                    .unwrap()
                    .unwrap()
                    .0
                    .value()
                    .0
                    .to_owned();
                t.remove((agent.as_str(), key)).unwrap().unwrap();
            },
            0,
        ),
        (
            "an old time entry removed",
            |txn| {
                let mut t = txn.open_table(BY_TIME).unwrap();
                let key = t
                    .iter()
                    .unwrap()
                    .nth(TIME_ENTRY)
                    .unwrap()
                    .unwrap()
                    .0
                    .value();
                t.remove(key).unwrap().unwrap();
            },
            0,
        ),
        (
            "an old time entry for a new record",
            |txn| {
                let mut t = txn.open_table(BY_TIME).unwrap();
                t.insert((1, V1_RECORDS + 2), ()).unwrap();
            },
            V1_RECORDS + 2,
        ),
    ];
    for (what, tamper, expected) in rows {
        let (_dir, data) = v1_copy();
        append(&data, 6);
        // For removals, the seq is the removed entry's: read it first.
        let expected = if expected == 0 {
            removed_seq(&data, what)
        } else {
            expected
        };
        let db = Database::open(data.join(LOG_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        tamper(&txn);
        txn.commit().unwrap();
        drop(db);
        let report = verify(&data);
        assert_eq!(report.first_bad(), Some(expected), "{what}: {report:?}");
    }
}

/// The seq of the entry a removal row removes.
fn removed_seq(data: &Path, what: &str) -> u64 {
    let db = ReadOnlyDatabase::open(data.join(LOG_FILE)).unwrap();
    let read = db.begin_read().unwrap();
    if what.contains("agent") {
        let t = read.open_table(BY_AGENT).unwrap();
        t.iter()
            .unwrap()
            .nth(AGENT_ENTRY)
            .unwrap()
            .unwrap()
            .0
            .value()
            .1
    } else {
        let t = read.open_table(BY_TIME).unwrap();
        t.iter()
            .unwrap()
            .nth(TIME_ENTRY)
            .unwrap()
            .unwrap()
            .0
            .value()
            .1
    }
}

/// Flip one byte in the body of record `seq`.
fn flip(txn: &WriteTransaction, seq: u64) {
    let mut t = txn.open_table(RECORDS).unwrap();
    let mut value = t.get(seq).unwrap().unwrap().value().to_vec();
    let i = value.len() - 5;
    value[i] ^= 0x20;
    t.insert(seq, value.as_slice()).unwrap();
}
