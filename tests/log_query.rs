//! Reading the decision log from the command line: `gavel log tail`,
//! `show`, `query`, `export` and `stats`, against logs the real binary
//! wrote with the shipped policies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::{gavel, shipped_dir, stderr, stdout};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn command(args: &[&str], data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gavel"));
    c.args(args).env("GAVEL_DATA_DIR", data_dir);
    c
}

/// The fixture's actions: (agent, action, verdict). Record 1 is the
/// policy-set load; these are records 2 to 9. None of the actions is
/// subject to the business-hours policy, so the verdicts do not depend on
/// when the test runs.
const ACTIONS: &[(&str, &str, &str)] = &[
    ("research-assistant", "search_web", "approve"),
    ("financial-advisor", "delete_account", "deny"),
    ("customer-support", "delete_ticket", "escalate"),
    ("research-assistant", "search_web", "approve"),
    ("customer-support", "contract_modification", "escalate"),
    ("financial-advisor", "delete_account", "deny"),
    ("customer-support", "search_web", "approve"),
    ("research-assistant", "delete_ticket", "escalate"),
];

/// A log of 9 records written by `gavel eval`, and the decisions it printed.
fn fixture() -> (tempfile::TempDir, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let input: String = ACTIONS
        .iter()
        .enumerate()
        .map(|(i, (agent, action, _))| {
            format!(
                "{{\"request_id\":\"q-{}\",\"agent_id\":\"{agent}\",\"action\":\"{action}\",\"params\":{{\"n\":{i}}},\"timestamp\":\"2026-11-18T15:00:00Z\"}}\n",
                i + 2
            )
        })
        .collect();
    let out = gavel(
        &["eval", "--policies", &shipped_dir()],
        dir.path(),
        Some(&input),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let decisions: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(decisions.len(), ACTIONS.len());
    for (d, (_, _, verdict)) in decisions.iter().zip(ACTIONS) {
        assert_eq!(d["verdict"], *verdict, "{d}");
    }
    (dir, decisions)
}

/// Run a `gavel log` command that must succeed; its JSON Lines.
fn lines(args: &[&str], dir: &Path) -> Vec<Value> {
    let out = gavel(args, dir, None);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn seqs(records: &[Value]) -> Vec<u64> {
    records.iter().map(|r| r["seq"].as_u64().unwrap()).collect()
}

fn query(extra: &[&str], dir: &Path) -> Vec<u64> {
    let mut args = vec!["log", "query"];
    args.extend_from_slice(extra);
    seqs(&lines(&args, dir))
}

/// A command that must fail with exit 1, naming `needle` on stderr.
fn fails(args: &[&str], dir: &Path, needle: &str) {
    let out = gavel(args, dir, None);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
}

const PAST: &str = "2000-01-01T00:00:00Z";
const FUTURE: &str = "2999-01-01T00:00:00Z";
const FURTHER: &str = "3000-01-01T00:00:00Z";

#[test]
fn query_filters_combine() {
    let (dir, _) = fixture();
    let d = dir.path();
    assert_eq!(query(&["--agent", "customer-support"], d), [8, 6, 4]);
    assert_eq!(
        query(&["--agent", "customer-support", "--verdict", "escalate"], d),
        [6, 4]
    );
    assert_eq!(
        query(
            &[
                "--agent",
                "customer-support",
                "--verdict",
                "escalate",
                "--action",
                "delete_ticket"
            ],
            d
        ),
        [4]
    );
    assert_eq!(query(&["--action", "search_web"], d), [8, 5, 2]);
    assert_eq!(
        query(&["--action", "delete_ticket", "--verdict", "escalate"], d),
        [9, 4]
    );
    assert_eq!(query(&["--verdict", "deny"], d), [7, 3]);
    assert_eq!(query(&["--verdict", "approve"], d), [8, 5, 2]);
    assert_eq!(query(&["--kind", "decision"], d), [9, 8, 7, 6, 5, 4, 3, 2]);
    assert_eq!(query(&["--kind", "policy-set-loaded"], d), [1]);
    assert!(query(&["--kind", "kill-switch"], d).is_empty());
    // Decision filters never match other kinds.
    assert!(query(&["--kind", "policy-set-loaded", "--verdict", "approve"], d).is_empty());
    assert!(query(&["--agent", "nobody"], d).is_empty());
    assert!(query(&["--agent", "financial-advisor", "--verdict", "approve"], d).is_empty());
    // sensitive-actions is asked only about the actions it lists (its
    // declared interest); rate-limit about every action, unless a deny
    // came first.
    assert_eq!(
        query(&["--policy", "sensitive-actions"], d),
        [9, 7, 6, 4, 3]
    );
    assert_eq!(query(&["--policy", "rate-limit"], d), [9, 8, 6, 5, 4, 2]);
    assert!(query(&["--policy", "rate-limit", "--verdict", "deny"], d).is_empty());
    assert!(query(&["--policy", "transaction-limit"], d).is_empty());
    assert!(query(&["--policy", "no-such-policy"], d).is_empty());

    // The records are the full records.
    let r = &lines(
        &[
            "log",
            "query",
            "--agent",
            "financial-advisor",
            "--limit",
            "1",
        ],
        d,
    )[0];
    assert_eq!(r["seq"], 7);
    assert_eq!(r["kind"], "decision");
    assert_eq!(r["request"]["request_id"], "q-7");
    assert_eq!(r["request"]["agent_id"], "financial-advisor");
    assert_eq!(r["request"]["action"], "delete_account");
    assert_eq!(r["verdict"], "deny");
    assert_eq!(r["reasons"][0]["code"], "forbidden-action");
    assert_eq!(r["policies"][0]["policy"], "sensitive-actions");
    assert_eq!(r["generation"], 1);
}

#[test]
fn query_limits_hold_and_order_is_newest_first() {
    let (dir, _) = fixture();
    let d = dir.path();
    assert_eq!(query(&[], d), [9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(query(&["--limit", "2"], d), [9, 8]);
    assert_eq!(
        query(&["--limit", "1", "--agent", "customer-support"], d),
        [8]
    );
    assert_eq!(query(&["--limit", "2", "--verdict", "escalate"], d), [9, 6]);
    assert_eq!(query(&["--limit", "3", "--since", PAST], d), [9, 8, 7]);
    assert_eq!(query(&["--limit", "100", "--verdict", "deny"], d), [7, 3]);
    fails(&["log", "query", "--limit", "0"], d, "--limit");
}

#[test]
fn query_time_ranges() {
    let (dir, _) = fixture();
    let d = dir.path();
    let all = [9, 8, 7, 6, 5, 4, 3, 2, 1];
    assert_eq!(query(&["--since", PAST], d), all);
    assert_eq!(query(&["--until", FUTURE], d), all);
    assert_eq!(query(&["--since", PAST, "--until", FUTURE], d), all);
    // An offset other than Z is the same instant.
    assert_eq!(query(&["--since", "2000-01-01T02:00:00+02:00"], d), all);
    assert_eq!(
        query(
            &[
                "--since",
                PAST,
                "--until",
                FUTURE,
                "--agent",
                "customer-support"
            ],
            d
        ),
        [8, 6, 4]
    );
    assert_eq!(
        query(&["--since", PAST, "--verdict", "deny", "--limit", "1"], d),
        [7]
    );
    // Empty windows: in the future, in the past, and zero-length.
    assert!(query(&["--since", FUTURE, "--until", FURTHER], d).is_empty());
    assert!(query(&["--since", FUTURE], d).is_empty());
    assert!(query(&["--until", PAST], d).is_empty());
    assert!(query(&["--since", PAST, "--until", PAST], d).is_empty());
    assert!(
        query(
            &[
                "--since",
                FUTURE,
                "--until",
                FURTHER,
                "--agent",
                "customer-support"
            ],
            d
        )
        .is_empty()
    );

    // Bounds on a record's own log time: --since is inclusive, --until exclusive.
    let show = gavel(&["log", "show", "5"], d, None);
    let record: Value = serde_json::from_slice(&show.stdout).unwrap();
    let t = record["time"].as_str().unwrap().to_owned();
    let at: Vec<u64> = query(&["--since", &t, "--until", FUTURE], d);
    assert!(at.contains(&5) && !at.contains(&1), "{at:?}");
    let before: Vec<u64> = query(&["--since", PAST, "--until", &t], d);
    assert!(before.contains(&1) && !before.contains(&5), "{before:?}");
}

#[test]
fn table_format() {
    let (dir, _) = fixture();
    let d = dir.path();
    let out = gavel(
        &[
            "log",
            "query",
            "--format",
            "table",
            "--agent",
            "customer-support",
        ],
        d,
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "SEQ", "TIME", "KIND", "AGENT", "ACTION", "VERDICT", "DETAIL"
        ]
    );
    assert_eq!(rows.len(), 4, "{text}");
    assert_eq!(
        rows[1],
        [
            "8",
            rows[1][1],
            "decision",
            "customer-support",
            "search_web",
            "approve"
        ]
    );
    assert_eq!(
        rows[3],
        [
            "4",
            rows[3][1],
            "decision",
            "customer-support",
            "delete_ticket",
            "escalate",
            "sensitive-actions/approval-required"
        ]
    );
    let tail = gavel(&["log", "tail", "-n", "9", "--format", "table"], d, None);
    let text = stdout(&tail);
    let first: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(first[0], "1");
    assert_eq!(first[2], "policy-set-loaded");
    assert!(text.contains("(7 policies)"), "{text}");
}

#[test]
fn export_is_json_lines_oldest_first() {
    let (dir, decisions) = fixture();
    let d = dir.path();
    let out = gavel(&["log", "export"], d, None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 9);
    assert!(text.ends_with('\n'));
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(seqs(&records), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(records[0]["kind"], "policy-set-loaded");
    assert_eq!(records[0]["policies"].as_array().unwrap().len(), 7);
    for (r, d) in records[1..].iter().zip(&decisions) {
        assert_eq!(r["kind"], "decision");
        assert_eq!(r["request"]["request_id"], d["request_id"]);
        assert_eq!(r["verdict"], d["verdict"]);
        assert_eq!(r["reasons"], d["reasons"]);
    }
    // The record format: the header fields first, then the event's.
    let first = text.lines().next().unwrap();
    assert!(first.starts_with(r#"{"seq":1,"time":""#), "{first}");
    let keys: Vec<&str> = [
        "\"seq\"",
        "\"time\"",
        "\"time_ms\"",
        "\"generation\"",
        "\"chain_hash\"",
        "\"kind\"",
    ]
    .to_vec();
    let positions: Vec<usize> = keys.iter().map(|k| first.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{first}");
    for r in &records {
        let hash = r["chain_hash"].as_str().unwrap();
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        let time = r["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{time}");
        assert!(r["time_ms"].as_i64().unwrap() > 1_700_000_000_000);
    }
    // Log times never go backwards in an export.
    let times: Vec<i64> = records
        .iter()
        .map(|r| r["time_ms"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));

    // Bounds: optional, and the same records as the unbounded export.
    let bounded = gavel(
        &["log", "export", "--since", PAST, "--until", FUTURE],
        d,
        None,
    );
    assert_eq!(stdout(&bounded), text);
    assert_eq!(
        stdout(&gavel(&["log", "export", "--since", PAST], d, None)),
        text
    );
    assert_eq!(
        stdout(&gavel(&["log", "export", "--until", FUTURE], d, None)),
        text
    );
    let empty = gavel(
        &["log", "export", "--since", FUTURE, "--until", FURTHER],
        d,
        None,
    );
    assert_eq!(empty.status.code(), Some(0));
    assert_eq!(stdout(&empty), "");

    // The same record reads the same from every command.
    let queried = lines(&["log", "query", "--limit", "9"], d);
    let tailed = lines(&["log", "tail", "-n", "9"], d);
    for r in &records {
        let seq = r["seq"].as_u64().unwrap();
        assert!(queried.iter().any(|q| q == r), "{seq}");
        assert!(tailed.iter().any(|q| q == r), "{seq}");
        let shown = gavel(&["log", "show", &seq.to_string()], d, None);
        assert_eq!(serde_json::from_slice::<Value>(&shown.stdout).unwrap(), *r);
    }
}

#[test]
fn stats_counts_and_escalation_rate() {
    let (dir, decisions) = fixture();
    let d = dir.path();
    let out = gavel(&["log", "stats", "--format", "json"], d, None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["records"], 9);
    assert_eq!(s["decisions"], 8);
    assert_eq!(
        s["by_kind"],
        serde_json::json!({"decision": 8, "policy-set-loaded": 1})
    );
    assert_eq!(
        s["by_verdict"],
        serde_json::json!({"approve": 3, "deny": 2, "escalate": 3})
    );
    assert_eq!(s["escalation_rate"], 0.375);
    assert_eq!(s["since"], Value::Null);
    assert_eq!(s["until"], Value::Null);
    assert_eq!(
        s["by_agent"],
        serde_json::json!({
            "customer-support": {"decisions": 3, "approve": 1, "deny": 0, "escalate": 2},
            "financial-advisor": {"decisions": 2, "approve": 0, "deny": 2, "escalate": 0},
            "research-assistant": {"decisions": 3, "approve": 2, "deny": 0, "escalate": 1},
        })
    );
    // Per policy: exactly what the decisions said ran.
    let mut expected: BTreeMap<String, BTreeMap<&str, u64>> = BTreeMap::new();
    for d in &decisions {
        for run in d["policies"].as_array().unwrap() {
            let p = expected
                .entry(run["policy"].as_str().unwrap().to_owned())
                .or_insert_with(|| {
                    ["runs", "approve", "deny", "escalate", "error", "shadow"]
                        .into_iter()
                        .map(|k| (k, 0))
                        .collect()
                });
            *p.get_mut("runs").unwrap() += 1;
            *p.get_mut(run["verdict"].as_str().unwrap()).unwrap() += 1;
            if run["shadow"] == true {
                *p.get_mut("shadow").unwrap() += 1;
            }
        }
    }
    assert_eq!(s["by_policy"], serde_json::to_value(&expected).unwrap());
    assert_eq!(s["by_policy"]["sensitive-actions"]["runs"], 5);
    assert_eq!(s["by_policy"]["sensitive-actions"]["deny"], 2);
    assert_eq!(s["by_policy"]["sensitive-actions"]["escalate"], 3);
    assert_eq!(s["by_policy"]["sensitive-actions"]["error"], 0);

    // Text.
    let out = gavel(&["log", "stats"], d, None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "window: all time",
        "records: 9 (decision 8, policy-set-loaded 1)",
        "decisions: 8 (approve 3, deny 2, escalate 3)",
        "escalation rate: 37.50% (3 of 8 decisions)",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
    let row = |name: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} in\n{text}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        row("sensitive-actions"),
        ["sensitive-actions", "5", "0", "2", "3", "0", "0"]
    );
    assert_eq!(
        row("customer-support"),
        ["customer-support", "3", "1", "0", "2"]
    );

    // Windows.
    let all = gavel(
        &[
            "log", "stats", "--format", "json", "--since", PAST, "--until", FUTURE,
        ],
        d,
        None,
    );
    let windowed: Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(windowed["records"], 9);
    assert_eq!(windowed["escalation_rate"], 0.375);
    assert_eq!(windowed["since"], PAST);
    assert_eq!(windowed["until"], FUTURE);
    let none = gavel(
        &["log", "stats", "--format", "json", "--since", FUTURE],
        d,
        None,
    );
    let empty: Value = serde_json::from_slice(&none.stdout).unwrap();
    assert_eq!(empty["records"], 0);
    assert_eq!(empty["decisions"], 0);
    assert_eq!(empty["escalation_rate"], Value::Null);
    assert_eq!(empty["by_policy"], serde_json::json!({}));
    let text = stdout(&gavel(&["log", "stats", "--since", FUTURE], d, None));
    assert!(
        text.contains("escalation rate: n/a (no decisions)"),
        "{text}"
    );
}

#[test]
fn show_prints_one_record_with_its_chain_hash() {
    let (dir, _) = fixture();
    let d = dir.path();
    let out = gavel(&["log", "show", "3"], d, None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["seq"], 3);
    assert_eq!(r["kind"], "decision");
    assert_eq!(r["request"]["agent_id"], "financial-advisor");
    assert_eq!(r["request"]["action"], "delete_account");
    assert_eq!(r["request"]["params"], serde_json::json!({"n": 1}));
    assert_eq!(r["verdict"], "deny");
    assert_eq!(r["generation"], 1);

    // The last record's chain hash is the head `verify` recomputes.
    let last = gavel(&["log", "show", "9"], d, None);
    let last: Value = serde_json::from_slice(&last.stdout).unwrap();
    let verify = gavel(&["log", "verify", "--format", "json"], d, None);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(report["head"], last["chain_hash"]);
    assert_eq!(report["records"], 9);
    // Checkpoints still work beside the readers.
    let cp = gavel(&["log", "checkpoint"], d, None);
    assert_eq!(cp.status.code(), Some(0), "{}", stderr(&cp));
    assert!(stdout(&cp).contains(last["chain_hash"].as_str().unwrap()));
}

#[test]
fn tail_prints_the_last_records_oldest_first() {
    let (dir, _) = fixture();
    let d = dir.path();
    assert_eq!(
        seqs(&lines(&["log", "tail"], d)),
        [1, 2, 3, 4, 5, 6, 7, 8, 9]
    );
    assert_eq!(seqs(&lines(&["log", "tail", "-n", "3"], d)), [7, 8, 9]);
    assert_eq!(seqs(&lines(&["log", "tail", "--lines", "1"], d)), [9]);
    assert!(lines(&["log", "tail", "-n", "0"], d).is_empty());
    let r = &lines(&["log", "tail", "-n", "1"], d)[0];
    assert_eq!(r["request"]["agent_id"], "research-assistant");
    assert_eq!(r["request"]["action"], "delete_ticket");
    assert_eq!(r["verdict"], "escalate");
}

/// Read lines from a child's stdout on a thread.
fn line_reader(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `gavel eval` on `input`, retrying while a follower briefly holds the file.
fn eval_retrying(d: &Path, input: &str) {
    for _ in 0..50 {
        let out = gavel(&["eval", "--policies", &shipped_dir()], d, Some(input));
        if out.status.success() {
            return;
        }
        assert!(stderr(&out).contains("cannot open"), "{}", stderr(&out));
        std::thread::sleep(Duration::from_millis(37));
    }
    panic!("the log stayed locked");
}

#[test]
fn tail_follow_prints_new_records_and_stops_when_the_output_closes() {
    let (dir, _) = fixture();
    let d = dir.path();
    let mut child = command(&["log", "tail", "-f", "-n", "1"], d)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = line_reader(&mut child);
    let wait = Duration::from_secs(30);
    let first: Value = serde_json::from_str(&rx.recv_timeout(wait).unwrap()).unwrap();
    assert_eq!(first["seq"], 9);

    // New records appear: the policy-set load and two decisions.
    eval_retrying(
        d,
        "{\"agent_id\":\"agent-new\",\"action\":\"search_web\"}\n{\"agent_id\":\"agent-new\",\"action\":\"delete_account\"}\n",
    );
    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(serde_json::from_str::<Value>(&rx.recv_timeout(wait).unwrap()).unwrap());
    }
    assert_eq!(seqs(&got), [10, 11, 12]);
    assert_eq!(got[0]["kind"], "policy-set-loaded");
    assert_eq!(got[1]["request"]["agent_id"], "agent-new");
    assert_eq!(got[1]["verdict"], "approve");
    assert_eq!(got[2]["verdict"], "deny");
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());

    // Close the output: a later record ends the follower, successfully.
    // (The reader thread lets go of the pipe when it fails to pass on its
    // next line, so keep appending until the follower notices.)
    drop(rx);
    let deadline = std::time::Instant::now() + wait;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("tail -f did not stop after its output closed");
        }
        eval_retrying(d, "{\"agent_id\":\"a\",\"action\":\"search_web\"}\n");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn bad_input_is_a_clear_error() {
    let (dir, _) = fixture();
    let d = dir.path();
    fails(
        &["log", "query", "--verdict", "maybe"],
        d,
        "unknown verdict \"maybe\"",
    );
    fails(
        &["log", "query", "--verdict", "DENY"],
        d,
        "approve, deny or escalate",
    );
    fails(
        &["log", "query", "--kind", "decisions"],
        d,
        "unknown kind \"decisions\"",
    );
    fails(
        &["log", "query", "--since", "yesterday"],
        d,
        "invalid --since time \"yesterday\"",
    );
    fails(
        &["log", "query", "--until", "2026-02-30T00:00:00Z"],
        d,
        "invalid --until time",
    );
    fails(&["log", "query", "--since", "2026-01-01"], d, "RFC 3339");
    fails(
        &["log", "query", "--since", FUTURE, "--until", PAST],
        d,
        "reversed",
    );
    fails(
        &["log", "export", "--since", "soon"],
        d,
        "invalid --since time \"soon\"",
    );
    fails(
        &["log", "stats", "--until", "later"],
        d,
        "invalid --until time \"later\"",
    );
    fails(
        &["log", "show", "99"],
        d,
        "record 99 not found (the log holds records 1 to 9)",
    );
    fails(&["log", "show", "0"], d, "invalid sequence number \"0\"");
    fails(
        &["log", "show", "abc"],
        d,
        "invalid sequence number \"abc\"",
    );

    let empty = tempfile::tempdir().unwrap();
    for cmd in [
        &["log", "tail"][..],
        &["log", "show", "1"],
        &["log", "query"],
        &["log", "export"],
        &["log", "stats"],
    ] {
        fails(cmd, empty.path(), "no decision log at");
    }
}

#[test]
fn readers_report_a_log_held_by_another_process() {
    let (dir, _) = fixture();
    let d = dir.path();
    // A streaming eval holds the log open until its stdin closes.
    let mut writer = command(&["eval", "--policies", &shipped_dir()], d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = writer.stdin.take().unwrap();
    let rx = line_reader(&mut writer);
    input
        .write_all(b"{\"agent_id\":\"a\",\"action\":\"search_web\"}\n")
        .unwrap();
    input.flush().unwrap();
    rx.recv_timeout(Duration::from_secs(30)).unwrap();
    for cmd in [&["log", "query"][..], &["log", "export"], &["log", "stats"]] {
        fails(cmd, d, "is another gavel process writing it?");
    }
    drop(input);
    assert!(writer.wait().unwrap().success());
    assert_eq!(query(&["--agent", "a"], d), [11]);
}
