//! End to end: `gavel serve` on the shipped policies, the Python example
//! agent (clients/python/examples/agent.py) against it, a reviewer who
//! approves its escalation through the API, and the log that shows it all.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::server::{Server, shipped_copy};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_example_agent_is_denied_escalates_and_proceeds_once_approved() {
    let policies = shipped_copy();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(policies.path(), data.path(), &[], &[]);
    let mut agent = Command::new("python3")
        .arg(common::root().join("clients/python/examples/agent.py"))
        .args(["--url", &server.url, "--wait", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs the example agent");
    let stdout = agent.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map(Result::unwrap)
            .inspect(|l| println!("agent: {l}"))
            .collect::<Vec<_>>()
    });

    // The reviewer: wait for the agent's escalation, then approve it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let pending = loop {
        let (_, list) = server.get("/v1/escalations");
        if let Some(first) = list["escalations"]
            .as_array()
            .and_then(|l| l.first().cloned())
        {
            break first;
        }
        assert!(Instant::now() < deadline, "the agent never escalated");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(pending["agent_id"], "customer-support");
    assert_eq!(pending["action"], "issue_refund");
    let id = pending["id"].as_str().unwrap();
    let (status, resolved) = server.post(
        &format!("/v1/escalations/{id}/approve"),
        &json!({"reviewer": "support-lead", "comment": "refund within policy"}),
    );
    assert_eq!(status, 200, "{resolved}");

    let exit = agent.wait().unwrap();
    let lines = reader.join().unwrap();
    let out = lines.join("\n");
    assert!(exit.success(), "agent exited with {exit}:\n{out}");
    for expected in [
        "approve",
        "pii-detected",
        "forbidden-action",
        "over-limit",
        "approval-threshold",
        "waiting for a reviewer",
        "approved",
        "proceeding: issuing the refund",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }

    // The log: five decisions by the agent, in order, then the approval.
    let (_, decisions) = server.get("/v1/decisions?agent=customer-support");
    let verdicts: Vec<&str> = decisions["records"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["approve", "deny", "deny", "deny", "escalate"]);
    let (_, resolutions) = server.get("/v1/decisions?kind=escalation-resolved");
    let record: &Value = &resolutions["records"][0];
    assert_eq!(record["id"], id);
    assert_eq!(record["status"], "approved");
    assert_eq!(record["reviewer"], "support-lead");
    // The card number the agent tried to send is not in the log. (Match
    // the whole number: four digits alone can occur in a hex digest.)
    let (_, all) = server.get("/v1/decisions?limit=1000");
    let all = all.to_string();
    assert!(
        !all.contains("4111 1111 1111 1111") && !all.contains("We charged your card"),
        "PII reached the log"
    );
    server.stop();
    let verify = common::gavel(&["log", "verify"], data.path(), None);
    assert!(verify.status.success(), "{}", common::stderr(&verify));
}
