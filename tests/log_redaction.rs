//! What the decision log must never hold: values at configured redaction
//! paths, and PII that a policy caught. Checked on the bytes of the redb
//! file itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use gavel::log::{LogEntry, LogEvent, RECORDS, REDACTED_PREFIX};
use gavel::{LogOptions, Request, Runtime, Verdict};
use redb::{ReadableDatabase, ReadableTable};

/// The shipped manifest plus a configured redaction path.
fn policy_dir() -> tempfile::TempDir {
    let shipped =
        std::fs::read_to_string(common::root().join("policies-wasm/policies.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::root().join("policies-wasm");
    let manifest = format!("redact = [\"params.password\", \"params.cards[*].cvv\"]\n{shipped}")
        .replace(
            "component = \"",
            &format!("component = \"{}/", wasm.display()),
        );
    std::fs::write(dir.path().join("policies.toml"), manifest).unwrap();
    dir
}

const CARD: &str = "4111 1111 1111 1111";
const CARD_DIGITS: &str = "4111111111111111";
const EMAIL: &str = "jane.roe@gmail.com";
const PASSWORD: &str = "correct-horse-battery-staple";
const CVV: &str = "cvv-918273";

#[test]
fn caught_pii_and_configured_paths_are_nowhere_in_the_log_file() {
    let policies = policy_dir();
    let data = tempfile::tempdir().unwrap();
    let runtime = Runtime::start(policies.path(), data.path(), LogOptions::default()).unwrap();
    let requests = [
        // pii-egress catches the card and the email.
        serde_json::json!({"request_id": "pii", "agent_id": "customer-support", "action": "send_email",
            "params": {"to": EMAIL, "body": format!("card {CARD} thanks"), "meta": {"n": 3}}}),
        // Configured paths, on an action no policy inspects for PII.
        serde_json::json!({"request_id": "cfg", "agent_id": "research-assistant", "action": "search_web",
            "params": {"password": PASSWORD, "cards": [{"cvv": CVV}, {"cvv": CVV}], "query": "weather"}}),
    ];
    for r in &requests {
        let d = runtime.decide(&Request::from_value(r.clone()).unwrap());
        assert!(!d.to_json().contains(CARD) && !d.to_json().contains(EMAIL));
        if r["request_id"] == "pii" {
            assert_eq!(d.verdict, Verdict::Deny);
        }
    }
    runtime.close().unwrap();

    // Nowhere in the file's bytes, in any form.
    let bytes = std::fs::read(data.path().join("gavel.redb")).unwrap();
    for secret in [CARD, CARD_DIGITS, EMAIL, "jane.roe", PASSWORD, CVV] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret:?} is in the log file"
        );
    }

    // What the records hold instead: keyed hashes plus the kinds, and the
    // values nobody flagged.
    let db = redb::ReadOnlyDatabase::open(data.path().join("gavel.redb")).unwrap();
    let read = db.begin_read().unwrap();
    let table = read.open_table(RECORDS).unwrap();
    let mut decisions = Vec::new();
    for item in table.iter().unwrap() {
        let (_, v) = item.unwrap();
        let entry = LogEntry::from_bytes(&v.value()[32..]).unwrap();
        if let LogEvent::Decision(d) = entry.event {
            decisions.push(d);
        }
    }
    let pii = decisions
        .iter()
        .find(|d| d.request.request_id == "pii")
        .unwrap();
    assert!(
        pii.request.params["to"]
            .as_str()
            .unwrap()
            .starts_with(REDACTED_PREFIX)
    );
    assert!(
        pii.request.params["body"]
            .as_str()
            .unwrap()
            .starts_with(REDACTED_PREFIX)
    );
    assert_eq!(pii.request.params["meta"]["n"], 3);
    let kinds: Vec<(String, Vec<String>)> = pii
        .redactions
        .iter()
        .map(|r| (r.path.clone(), r.kinds.clone()))
        .collect();
    assert!(
        kinds.contains(&("params.to".to_owned(), vec!["email".to_owned()])),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("params.body".to_owned(), vec!["credit_card".to_owned()])),
        "{kinds:?}"
    );
    let cfg = decisions
        .iter()
        .find(|d| d.request.request_id == "cfg")
        .unwrap();
    assert!(
        cfg.request.params["password"]
            .as_str()
            .unwrap()
            .starts_with(REDACTED_PREFIX)
    );
    assert_eq!(cfg.request.params["query"], "weather");
    let paths: Vec<&str> = cfg.redactions.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "params.password",
            "params.cards[0].cvv",
            "params.cards[1].cvv"
        ]
    );
    // Equal values hash equally (an auditor can correlate them).
    assert_eq!(
        cfg.request.params["cards"][0]["cvv"],
        cfg.request.params["cards"][1]["cvv"]
    );
}
