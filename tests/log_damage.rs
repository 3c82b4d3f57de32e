//! A damaged or vanished decision log is an error, never a panic and never
//! a silent approve.
//!
//! Damage: a pristine log of 301 records is written by the `gavel` binary,
//! then copies of its file get one flipped bit each, in a deterministic
//! sweep (six bits in every 4 KiB page). For every copy the library's
//! readers (verify, stats, show, export, tail) and the writer's open run
//! in-process: each returns a result or an error (a panic escaping them
//! fails the test), and the writer accepts the copy only when the damage is
//! provably harmless (the readers see the pristine chain, head and record
//! count, and verify finds nothing). A few copies also go through the
//! binary: `gavel log verify|stats|show|export` and `gavel eval`, which
//! must never exit 101 or print "panicked", and which approves only on a
//! harmless copy.
//!
//! Vanished: the log file is deleted, or replaced by a rename, under a
//! running `gavel eval` stream: no decision after that is reported as
//! approved or durable, and the process exits with an error naming what
//! happened.
//!
//! `GAVEL_DAMAGE_SEED` changes the seed of the in-page offsets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::{Rng, shipped_dir};
use gavel::log::{
    self as glog, DecisionLog, LOG_FILE, LogError, LogEvent, LogOptions, TimeRange, keys,
};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const PAGE: usize = 4096;
const RECORDS: u64 = 301;

/// An action the shipped policies approve.
const APPROVED: &str =
    r#"{"agent_id":"research-assistant","action":"search_web","params":{"query":"weather"}}"#;

fn action(i: usize) -> String {
    let v = match i % 3 {
        0 => serde_json::json!({"action": "search_web", "params": {"query": format!("q{i}")}}),
        1 => {
            serde_json::json!({"action": "send_email", "params": {"to": format!("u{i}@example.com")}})
        }
        _ => {
            serde_json::json!({"action": "transfer_funds", "amount": (i % 900) as f64, "currency": "USD", "params": {}})
        }
    };
    let mut v = v;
    v["request_id"] = format!("d-{i}").into();
    v["agent_id"] = "research-assistant".into();
    v.to_string()
}

struct Pristine {
    _dir: tempfile::TempDir,
    /// The data directory (log, keys, artifact cache).
    data: PathBuf,
    /// The log file's bytes.
    bytes: Vec<u8>,
    /// The verified head, hex.
    head: String,
}

fn pristine() -> &'static Pristine {
    static PRISTINE: OnceLock<Pristine> = OnceLock::new();
    PRISTINE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let input: String = (0..RECORDS as usize - 1)
            .map(|i| action(i) + "\n")
            .collect();
        let out = common::gavel(
            &[
                "eval",
                "--workers",
                "4",
                "--checkpoint-every",
                "50",
                "--policies",
                &shipped_dir(),
            ],
            &data,
            Some(&input),
        );
        assert!(out.status.success(), "{}", common::stderr(&out));
        let db = glog::open_reader(&data.join(LOG_FILE)).unwrap();
        let report = glog::verify(&db, &trusted(&data), &[]).unwrap();
        assert_eq!(report.problems, vec![]);
        assert_eq!(report.records, RECORDS);
        drop(db);
        let bytes = std::fs::read(data.join(LOG_FILE)).unwrap();
        Pristine {
            data,
            bytes,
            head: report.head,
            _dir: dir,
        }
    })
}

fn trusted(data: &Path) -> ed25519_dalek::VerifyingKey {
    keys::read_public_key(&keys::public_key_path(data)).unwrap()
}

/// A data directory holding the pristine keys (and, with `cache`, the
/// artifact cache) and the log with bit `bit` of byte `offset` flipped.
fn damaged_copy(offset: usize, bit: u8, cache: bool) -> tempfile::TempDir {
    let p = pristine();
    // In memory where there is a tmpfs: the sweep's fsyncs cost nothing.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    for entry in std::fs::read_dir(&p.data).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let to = dir.path().join(&name);
        if entry.file_type().unwrap().is_dir() {
            if cache {
                copy_tree(&entry.path(), &to);
            }
        } else if name != LOG_FILE {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    let mut bytes = p.bytes.clone();
    bytes[offset] ^= 1 << bit;
    std::fs::write(dir.path().join(LOG_FILE), bytes).unwrap();
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// What the readers saw on a copy: `Some(head)` when verify found the
/// chain intact with every record, else `None`.
fn read_in_process(data: &Path) -> Option<String> {
    let db = match glog::open_reader(&data.join(LOG_FILE)) {
        Ok(db) => db,
        Err(e) => {
            assert_clear(&e);
            return None;
        }
    };
    let mut intact = None;
    match glog::verify(&db, &trusted(data), &[]) {
        Ok(r) if r.problems.is_empty() && r.records == RECORDS => intact = Some(r.head),
        Ok(_) => {}
        Err(e) => assert_clear(&e),
    }
    let mut all = |result: Result<(), LogError>| {
        if let Err(e) = result {
            assert_clear(&e);
            intact = None;
        }
    };
    all(glog::stats(&db, TimeRange::ALL).map(drop));
    all(glog::get_record(&db, 1).map(drop));
    all(glog::get_record(&db, RECORDS).map(drop));
    all(glog::tail(&db, 10).map(drop));
    all(glog::last_seq(&db).map(drop));
    all(glog::export(&db, TimeRange::ALL, |_| std::ops::ControlFlow::Continue(())).map(drop));
    intact
}

/// An error from a damaged log names the log.
fn assert_clear(e: &LogError) {
    let text = e.to_string();
    assert!(text.contains("decision log"), "unclear error: {text}");
    assert!(!text.contains("panicked"), "{text}");
}

fn kill_switch_event() -> LogEvent {
    LogEvent::KillSwitch {
        engaged: true,
        actor: "test".to_owned(),
        reason: "damage sweep".to_owned(),
        agent: None,
    }
}

/// Open the copy for writing and append; `true` if a record was committed.
fn write_in_process(data: &Path) -> bool {
    match DecisionLog::open(data, LogOptions::default()) {
        Ok(log) => {
            let appended = log.append(&kill_switch_event(), 1);
            let closed = log.close();
            appended.is_ok() && closed.is_ok()
        }
        Err(e) => {
            assert_clear(&e);
            false
        }
    }
}

/// Offsets of the sweep: in every page, byte 9 (the page's first bytes)
/// and five seeded random bytes, each with a seeded bit.
fn sweep() -> Vec<(usize, u8)> {
    let seed = std::env::var("GAVEL_DAMAGE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_da4a_6e00_0001_u64);
    eprintln!("seed {seed} (GAVEL_DAMAGE_SEED)");
    let mut rng = Rng(seed | 1);
    let len = pristine().bytes.len();
    let mut out = Vec::new();
    for page in 0..len.div_ceil(PAGE) {
        let random = (0..5).map(|_| rng.range(0, PAGE as u64 - 1) as usize);
        for within in std::iter::once(9).chain(random.collect::<Vec<_>>()) {
            let offset = page * PAGE + within;
            if offset < len {
                out.push((offset, rng.range(0, 7) as u8));
            }
        }
    }
    out
}

#[test]
fn flipped_bits_never_panic_the_readers_nor_let_the_writer_use_a_damaged_log() {
    let p = pristine();
    let cases = sweep();
    let (mut refused, mut accepted, mut unreadable) = (0, 0, 0);
    for &(offset, bit) in &cases {
        let dir = damaged_copy(offset, bit, false);
        let intact = read_in_process(dir.path());
        if intact.is_none() {
            unreadable += 1;
        }
        if write_in_process(dir.path()) {
            accepted += 1;
            assert_eq!(
                intact.as_deref(),
                Some(p.head.as_str()),
                "byte {offset} bit {bit}: the writer used a log whose readers saw damage"
            );
        } else {
            refused += 1;
            // The refusal sticks: redb's integrity check may have rolled
            // the file back to an intact commit, but the damage was
            // recorded and the next open is refused too.
            assert!(
                !write_in_process(dir.path()),
                "byte {offset} bit {bit}: a second open used the log the first refused"
            );
        }
    }
    eprintln!(
        "{} flips: writer refused {refused}, accepted {accepted} (harmless); readers saw damage in {unreadable}",
        cases.len()
    );
    assert!(refused > 0 && unreadable > 0, "the sweep hit no live page");
}

fn gavel_in(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut all = args.to_vec();
    let data_arg = data.display().to_string();
    all.extend(["--data-dir", &data_arg]);
    common::gavel(&all, data, stdin)
}

/// No exit 101, no panic message.
fn assert_no_panic(what: &str, out: &Output) {
    let stderr = common::stderr(out);
    assert_ne!(out.status.code(), Some(101), "{what}: {stderr}");
    assert!(
        out.status.code().is_some(),
        "{what}: killed by a signal: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

#[test]
fn the_binary_reports_damage_as_an_error_and_never_approves_on_a_damaged_log() {
    let p = pristine();
    // The reported case (byte 65545 of a 301-record log), then a byte in
    // each of a few pages across the file.
    let len = p.bytes.len();
    let mut rows: Vec<(usize, u8)> = vec![(65_545, 0), (65_545, 3)];
    rows.extend((1..8).map(|i| ((len / 8) * i + 9, (i % 8) as u8)));
    let policies = shipped_dir();
    let mut refused = 0;
    for (offset, bit) in rows {
        let dir = damaged_copy(offset, bit, true);
        let d = dir.path();
        let verify = gavel_in(d, &["log", "verify"], None);
        assert_no_panic("log verify", &verify);
        let verify_ok = verify.status.success()
            && common::stdout(&verify).contains(&format!("head {}", p.head))
            && common::stdout(&verify).contains(&format!("ok: {RECORDS} records"));
        for args in [
            &["log", "stats"][..],
            &["log", "show", "1"],
            &["log", "show", "301"],
            &["log", "export"],
            &["log", "tail"],
        ] {
            let out = gavel_in(d, args, None);
            assert_no_panic(&args.join(" "), &out);
            if !out.status.success() {
                let err = common::stderr(&out);
                assert!(
                    err.contains("decision log"),
                    "{args:?}: unclear error: {err}"
                );
                assert!(!err.contains("another gavel process"), "{args:?}: {err}");
            }
        }
        let eval = gavel_in(
            d,
            &["eval", "--policies", &policies],
            Some(&format!("{APPROVED}\n")),
        );
        assert_no_panic("eval", &eval);
        let approved = common::stdout(&eval).contains(r#""verdict":"approve""#);
        if approved {
            assert!(
                verify_ok,
                "byte {offset} bit {bit}: eval approved on a log verify rejects"
            );
        } else {
            refused += 1;
            assert!(!eval.status.success(), "byte {offset} bit {bit}");
            let err = common::stderr(&eval);
            assert!(
                err.contains("the decision log is damaged"),
                "unclear error: {err}"
            );
            assert!(!err.contains("another gavel process"), "{err}");
        }
        eprintln!(
            "byte {offset} bit {bit}: verify {}, eval {}",
            verify.status.code().unwrap_or(-1),
            if approved { "approved" } else { "refused" }
        );
    }
    assert!(refused > 0, "no row hit a live page");
}

#[test]
fn recorded_damage_fails_log_verify_and_eval_until_the_marker_is_removed() {
    let p = pristine();
    let dir = damaged_copy(0, 0, true);
    let d = dir.path();
    std::fs::write(d.join(LOG_FILE), &p.bytes).unwrap();
    let marker = d.join(glog::DAMAGED_MARKER);
    std::fs::write(&marker, "found damaged at noon\n").unwrap();
    let policies = shipped_dir();
    let approve = format!("{APPROVED}\n");
    let verify = gavel_in(d, &["log", "verify"], None);
    assert_eq!(verify.status.code(), Some(1), "{}", common::stderr(&verify));
    assert!(common::stderr(&verify).contains("DAMAGED: found damaged at noon"));
    let eval = gavel_in(d, &["eval", "--policies", &policies], Some(&approve));
    assert_no_panic("eval", &eval);
    assert!(!eval.status.success());
    assert!(!common::stdout(&eval).contains("approve"));
    assert!(common::stderr(&eval).contains("found damaged at noon"));
    std::fs::remove_file(&marker).unwrap();
    let verify = gavel_in(d, &["log", "verify"], None);
    assert!(verify.status.success(), "{}", common::stderr(&verify));
    let eval = gavel_in(d, &["eval", "--policies", &policies], Some(&approve));
    assert!(eval.status.success(), "{}", common::stderr(&eval));
    assert!(common::stdout(&eval).contains(r#""verdict":"approve""#));
}

// ---------------------------------------------------------------- vanished

/// A running `gavel eval` stream, one request and one reply at a time.
struct Stream {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    replies: std::sync::mpsc::Receiver<String>,
    stderr: PathBuf,
}

impl Stream {
    fn start(data: &Path, scratch: &Path) -> Stream {
        let stderr = scratch.join("stderr.txt");
        let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(["eval", "--policies", &shipped_dir(), "--data-dir"])
            .arg(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, replies) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Stream {
            child,
            stdin,
            replies,
            stderr,
        }
    }

    fn decide(&mut self, request: &str) -> serde_json::Value {
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        let line = self
            .replies
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| {
                panic!(
                    "no reply: {e}; stderr:\n{}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                )
            });
        serde_json::from_str(&line).unwrap()
    }

    fn finish(self) -> (Option<i32>, String) {
        let Stream {
            mut child,
            stdin,
            stderr,
            ..
        } = self;
        drop(stdin);
        let status = child.wait().unwrap();
        (status.code(), std::fs::read_to_string(stderr).unwrap())
    }
}

#[test]
fn a_log_deleted_or_replaced_under_a_running_stream_fails_every_later_decision() {
    type Act = fn(&Path, &Path);
    let rows: [(&str, Act, &str); 3] = [
        (
            "deleted",
            |log, _| std::fs::remove_file(log).unwrap(),
            "was deleted",
        ),
        (
            "replaced by rename",
            |log, scratch| {
                let other = scratch.join("other.redb");
                std::fs::copy(log, &other).unwrap();
                std::fs::rename(&other, log).unwrap();
            },
            "was replaced by another file",
        ),
        (
            "moved away",
            |log, scratch| std::fs::rename(log, scratch.join("moved.redb")).unwrap(),
            "was moved away",
        ),
    ];
    for (name, act, says) in rows {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        let mut stream = Stream::start(&data, scratch.path());
        for i in 0..20 {
            let v = stream.decide(APPROVED);
            assert_eq!(v["verdict"], "approve", "{name}: decision {i}: {v}");
            assert!(v["seq"].as_u64().is_some(), "{name}: {v}");
        }
        act(&data.join(LOG_FILE), scratch.path());
        for i in 0..5 {
            let v = stream.decide(APPROVED);
            assert_eq!(v["verdict"], "deny", "{name}: decision {i} after: {v}");
            assert!(v["seq"].is_null(), "{name}: durable after: {v}");
            assert!(v.to_string().contains(says), "{name}: {v}");
        }
        let (code, stderr) = stream.finish();
        assert_ne!(code, Some(0), "{name}: exited 0; stderr:\n{stderr}");
        assert_ne!(code, Some(101), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: stderr:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}
