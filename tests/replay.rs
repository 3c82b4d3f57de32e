//! `gavel replay`: a log made by `gavel eval` with the shipped policies,
//! replayed against a changed copy of them, against the same directory,
//! with redacted params, and with bad inputs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::root;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn gavel(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(args)
        .env_remove("GAVEL_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gavel");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn shipped_dir() -> PathBuf {
    root().join("policies-wasm")
}

/// The shipped manifest with every component named by absolute path,
/// `prefix` prepended, and each `(from, to)` replacement applied.
fn manifest_dir(prefix: &str, edits: &[(&str, &str)]) -> tempfile::TempDir {
    let mut manifest = std::fs::read_to_string(shipped_dir().join("policies.toml")).unwrap();
    for name in [
        "sensitive_actions",
        "transaction_limit",
        "business_hours",
        "pii_egress",
        "budget",
        "rate_limit",
        "prerequisites",
    ] {
        let from = format!("component = \"{name}.wasm\"");
        assert!(manifest.contains(&from), "{from}");
        let to = format!(
            "component = \"{}\"",
            shipped_dir().join(format!("{name}.wasm")).display()
        );
        manifest = manifest.replace(&from, &to);
    }
    for (from, to) in edits {
        assert!(manifest.contains(from), "the shipped manifest has {from:?}");
        manifest = manifest.replace(from, to);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policies.toml"),
        format!("{prefix}{manifest}"),
    )
    .unwrap();
    dir
}

/// The candidate: `search_web` forbidden, `change_pricing_tiers` no longer
/// forbidden, lower transaction limits for two agents.
fn candidate() -> tempfile::TempDir {
    manifest_dir(
        "",
        &[
            (
                r#"forbidden = ["delete_account", "access_payment_details", "change_pricing_tiers", "modify_own_instructions"]"#,
                r#"forbidden = ["delete_account", "access_payment_details", "modify_own_instructions", "search_web"]"#,
            ),
            (
                "[policy.config.limits.financial-advisor]\nmax = 1000",
                "[policy.config.limits.financial-advisor]\nmax = 500",
            ),
            (
                "[policy.config.limits.customer-support]\nmax = 500",
                "[policy.config.limits.customer-support]\nmax = 250",
            ),
        ],
    )
}

const WEDNESDAY: &str = "2026-11-18T15:00:00Z";
const SATURDAY: &str = "2026-11-21T15:00:00Z";

/// The traffic: (agent, action, amount, timestamp). Record n has seq n + 2
/// (seq 1 is the policy-set load).
const TRAFFIC: &[(&str, &str, Option<u32>, &str)] = &[
    ("research-assistant", "search_web", None, WEDNESDAY),
    (
        "financial-advisor",
        "execute_transaction",
        Some(800),
        WEDNESDAY,
    ),
    (
        "financial-advisor",
        "execute_transaction",
        Some(200),
        WEDNESDAY,
    ),
    ("financial-advisor", "delete_account", None, WEDNESDAY),
    ("customer-support", "delete_ticket", None, WEDNESDAY),
    ("customer-support", "issue_refund", Some(300), WEDNESDAY),
    (
        "financial-advisor",
        "execute_transaction",
        Some(800),
        SATURDAY,
    ),
    (
        "research-assistant",
        "change_pricing_tiers",
        None,
        WEDNESDAY,
    ),
    ("customer-support", "read_ticket", None, WEDNESDAY),
];

fn traffic() -> String {
    TRAFFIC
        .iter()
        .enumerate()
        .map(|(i, (agent, action, amount, ts))| {
            let mut r = serde_json::json!({
                "request_id": format!("req-{i}"),
                "agent_id": agent,
                "action": action,
                "timestamp": ts,
                "session_id": "s-1",
                "params": {"note": format!("n{i}")},
            });
            if let Some(a) = amount {
                r["amount"] = (*a).into();
                r["currency"] = "USD".into();
            }
            format!("{r}\n")
        })
        .collect()
}

/// Run `gavel eval` over `requests` with `policies`; returns the log path.
fn make_log(policies: &Path, data: &Path, requests: &str) -> PathBuf {
    let o = gavel(
        &[
            "eval",
            "--policies",
            policies.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        Some(requests),
    );
    assert!(o.status.success(), "eval: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().count(), requests.lines().count());
    data.join("gavel.redb")
}

fn replay(log: &Path, policies: &Path, data: &Path, format: &str) -> Output {
    gavel(
        &[
            "replay",
            "--log",
            log.to_str().unwrap(),
            "--policies",
            policies.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--format",
            format,
        ],
        None,
    )
}

fn jsonl(o: &Output) -> (Vec<Value>, Value) {
    let mut lines: Vec<Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.pop().expect("a summary line");
    assert_eq!(summary["kind"], "summary", "{summary}");
    assert!(lines.iter().all(|l| l["kind"] == "change"));
    (lines, summary)
}

#[test]
fn changed_policies_report_exactly_the_changed_decisions() {
    let data = tempfile::tempdir().unwrap();
    let log = make_log(&shipped_dir(), data.path(), &traffic());
    let before = std::fs::read(&log).unwrap();
    let candidate = candidate();

    let o = replay(&log, candidate.path(), data.path(), "jsonl");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let (changes, summary) = jsonl(&o);
    let got: Vec<(u64, &str, &str, &str, &str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["seq"].as_u64().unwrap(),
                c["request_id"].as_str().unwrap(),
                c["old"].as_str().unwrap(),
                c["new"].as_str().unwrap(),
                c["policy"].as_str().unwrap(),
                c["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                2,
                "req-0",
                "approve",
                "deny",
                "sensitive-actions",
                "forbidden-action"
            ),
            (
                3,
                "req-1",
                "approve",
                "deny",
                "transaction-limit",
                "over-limit"
            ),
            (
                7,
                "req-5",
                "escalate",
                "deny",
                "transaction-limit",
                "over-limit"
            ),
            // Now approved: the policy named is the one that denied before.
            (
                9,
                "req-7",
                "deny",
                "approve",
                "sensitive-actions",
                "forbidden-action"
            ),
        ],
        "{changes:#?}"
    );
    assert!(
        changes
            .iter()
            .all(|c| c["redacted"] == serde_json::json!([]))
    );
    assert_eq!(summary["replayed"], 9);
    assert_eq!(summary["changed"], 4);
    assert_eq!(summary["unchanged"], 5);
    assert_eq!(summary["redacted"], 0);
    assert_eq!(summary["other_events"], 1);

    // The text report says the same.
    let o = replay(&log, candidate.path(), data.path(), "text");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[0].starts_with("seq 2 request req-0 (research-assistant search_web): approve -> deny by sensitive-actions"),
        "{out}"
    );
    assert!(
        lines[3].contains("deny -> approve by sensitive-actions"),
        "{out}"
    );
    assert!(
        lines[4].starts_with("replayed 9 decisions: 4 changed, 5 unchanged"),
        "{out}"
    );

    // The log was not written to.
    assert_eq!(std::fs::read(&log).unwrap(), before);
}

#[test]
fn identical_policies_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let log = make_log(&shipped_dir(), data.path(), &traffic());
    // Replay a copy, as an operator would with a live log.
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("copy.redb");
    std::fs::copy(&log, &copy).unwrap();
    let same = manifest_dir("", &[]);
    for policies in [shipped_dir().as_path(), same.path()] {
        let o = replay(&copy, policies, data.path(), "text");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert_eq!(
            text(&o.stdout).trim(),
            "replayed 9 decisions: 0 changed, 9 unchanged; 0 with redacted values (0 of them changed)"
        );
    }
}

#[test]
fn redacted_params_replay_redacted_and_say_so() {
    let data = tempfile::tempdir().unwrap();
    let live = manifest_dir("redact = [\"params.password\"]\n", &[]);
    let requests = concat!(
        r#"{"request_id":"pw-1","agent_id":"customer-support","action":"reset_password","params":{"user":"bob","password":"hunter2"},"timestamp":"2026-11-18T15:00:00Z"}"#,
        "\n",
        r#"{"request_id":"pw-2","agent_id":"customer-support","action":"read_ticket","params":{"password":"hunter3"},"timestamp":"2026-11-18T15:00:00Z"}"#,
        "\n",
        r#"{"request_id":"plain","agent_id":"research-assistant","action":"read_ticket","timestamp":"2026-11-18T15:00:00Z"}"#,
        "\n",
    );
    let log = make_log(live.path(), data.path(), requests);
    let bytes = std::fs::read(&log).unwrap();
    assert!(
        !bytes.windows(7).any(|w| w == b"hunter2"),
        "the password is not in the log"
    );
    let candidate = manifest_dir(
        "",
        &[(
            r#"forbidden = ["delete_account","#,
            r#"forbidden = ["reset_password", "delete_account","#,
        )],
    );

    let o = replay(&log, candidate.path(), data.path(), "jsonl");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let (changes, summary) = jsonl(&o);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["request_id"], "pw-1");
    assert_eq!(changes[0]["seq"], 2);
    assert_eq!(changes[0]["old"], "approve");
    assert_eq!(changes[0]["new"], "deny");
    assert_eq!(changes[0]["policy"], "sensitive-actions");
    assert_eq!(
        changes[0]["redacted"],
        serde_json::json!(["params.password"])
    );
    assert_eq!(summary["replayed"], 3);
    assert_eq!(summary["redacted"], 2);
    assert_eq!(summary["changed_redacted"], 1);

    let o = replay(&log, candidate.path(), data.path(), "text");
    assert_eq!(o.status.code(), Some(3));
    let out = text(&o.stdout);
    assert!(
        out.contains("approve -> deny by sensitive-actions (forbidden-action); replayed with redacted values: params.password"),
        "{out}"
    );
    assert!(
        out.contains("2 with redacted values (1 of them changed)"),
        "{out}"
    );
}

#[test]
fn bad_inputs_exit_1_with_a_message() {
    let data = tempfile::tempdir().unwrap();
    let missing = data.path().join("no-such.redb");
    let o = replay(&missing, &shipped_dir(), data.path(), "text");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains(&format!("no decision log at {}", missing.display())),
        "{}",
        text(&o.stderr)
    );
    assert!(o.stdout.is_empty());

    let not_a_log = data.path().join("garbage.redb");
    std::fs::write(&not_a_log, b"this is not a redb file").unwrap();
    let o = replay(&not_a_log, &shipped_dir(), data.path(), "text");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot open the decision log"),
        "{}",
        text(&o.stderr)
    );

    let log = make_log(&shipped_dir(), data.path(), &traffic());
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(
        broken.path().join("policies.toml"),
        "[[policy]]\nname = \"x\"\ncomponent = \"missing.wasm\"\npriority = 1\n",
    )
    .unwrap();
    let o = replay(&log, broken.path(), data.path(), "jsonl");
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "cannot load the policies from {}",
            broken.path().display()
        )) && err.contains("missing.wasm"),
        "{err}"
    );
    assert!(o.stdout.is_empty());

    let empty = tempfile::tempdir().unwrap();
    let o = replay(&log, empty.path(), data.path(), "text");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("policies.toml"));
}

/// Records an older version could have written: names the request contract
/// now refuses (a zero-width space, a trailing space), approved then.
/// Replay does not crash on them: each is reported as a change to deny
/// `invalid-request` by `gavel`, and the rest of the log replays.
#[test]
fn old_records_whose_names_no_longer_validate_are_reported() {
    use gavel::log::LogEvent;
    use gavel::{Decision, LogOptions, Request, Runtime, Verdict};
    let data = tempfile::tempdir().unwrap();
    // (request id, agent id, action)
    let rows = [
        ("old-1", "financial-advisor", "delete\u{200b}account"),
        ("old-2", "financial-advisor ", "search_web"),
        ("ok-3", "research-assistant", "search_web"),
    ];
    {
        let rt = Runtime::start(&shipped_dir(), data.path(), LogOptions::default()).unwrap();
        for (id, agent, action) in rows {
            let mut request = Request::from_json(r#"{"agent_id":"a","action":"x"}"#).unwrap();
            request.request_id = id.to_owned();
            request.agent_id = agent.to_owned();
            request.action = action.to_owned();
            let approved = Decision {
                request_id: id.to_owned(),
                verdict: Verdict::Approve,
                reasons: Vec::new(),
                policies: Vec::new(),
                generation: rt.generation(),
                seq: None,
                escalation: None,
                charges: Vec::new(),
                retry_after_ms: None,
            };
            let entry = rt.entry(&request, &approved);
            rt.log()
                .append(&LogEvent::Decision(entry), rt.generation())
                .unwrap();
        }
    }
    let log = data.path().join("gavel.redb");
    let o = replay(&log, &shipped_dir(), data.path(), "jsonl");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let (changes, summary) = jsonl(&o);
    let got: Vec<(&str, &str, &str, &str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["request_id"].as_str().unwrap(),
                c["old"].as_str().unwrap(),
                c["new"].as_str().unwrap(),
                c["policy"].as_str().unwrap(),
                c["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("old-1", "approve", "deny", "gavel", "invalid-request"),
            ("old-2", "approve", "deny", "gavel", "invalid-request"),
        ],
        "{changes:#?}"
    );
    // The record keeps the names exactly as they were logged.
    assert_eq!(changes[0]["action"], "delete\u{200b}account");
    assert_eq!(changes[1]["agent_id"], "financial-advisor ");
    assert_eq!(summary["replayed"], 3);
    assert_eq!(summary["unchanged"], 1);
}
