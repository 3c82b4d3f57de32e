use super::*;
use crate::decision::{PolicyRun, Reason, RunVerdict, Verdict};
use crate::log::entry::{DecisionEntry, LogEntry, LogEvent, LoggedRequest};
use proptest::prelude::*;

/// The JSON part of a stored decision (after the header, the tag and the
/// binary runs).
fn json_part(stored: &[u8]) -> &[u8] {
    let mut reader = crate::log::run_codec::Reader::new(&stored[V2_HEADER + 1..]);
    reader.runs().unwrap();
    reader.rest()
}

/// `stored` with its JSON part replaced.
fn with_json(stored: &[u8], json: &[u8]) -> Vec<u8> {
    let keep = stored.len() - json_part(stored).len();
    [&stored[..keep], json].concat()
}

fn run(policy: &str, verdict: RunVerdict, code: Option<&str>, message: Option<&str>) -> PolicyRun {
    PolicyRun {
        policy: policy.to_owned(),
        digest: format!("sha256:{}", "ab".repeat(32)),
        verdict,
        code: code.map(str::to_owned),
        message: message.map(str::to_owned),
        fuel: 1234,
        micros: 17,
        shadow: false,
        findings: Vec::new(),
        facts: Vec::new(),
        charges: Vec::new(),
    }
}

fn reason(policy: &str, verdict: Verdict, code: &str, message: &str) -> Reason {
    Reason {
        policy: policy.to_owned(),
        verdict,
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

fn decision(reasons: Vec<Reason>, policies: Vec<PolicyRun>) -> LogEntry {
    let mut params = serde_json::Map::new();
    params.insert("to".to_owned(), "a@example.com".into());
    params.insert("n".to_owned(), serde_json::json!([1, 2.5, {"x": null}]));
    LogEntry {
        seq: 42,
        time_ms: -7,
        generation: 3,
        event: LogEvent::Decision(DecisionEntry {
            request: LoggedRequest {
                request_id: "r-1".to_owned(),
                agent_id: "agent".to_owned(),
                action: "send_email".to_owned(),
                params,
                amount: Some(12.5),
                currency: Some("USD".to_owned()),
                timestamp_ms: 1_700_000_000_000,
                session_id: None,
                user_id: Some("u".to_owned()),
            },
            verdict: Verdict::Deny,
            reasons,
            policies,
            redactions: Vec::new(),
            escalation: None,
            charges: Vec::new(),
            retry_after_ms: Some(5),
        }),
    }
}

/// One row per case: the decision, and how many of its reasons are stored
/// as a run's index (the rest are stored whole).
#[test]
fn reasons_that_repeat_a_run_are_stored_once_and_read_back_whole() {
    let deny = run(
        "limit",
        RunVerdict::Deny,
        Some("over-limit"),
        Some("too much"),
    );
    let escalate = run(
        "review",
        RunVerdict::Escalate,
        Some("needs-review"),
        Some("look"),
    );
    let approve = run("ok", RunVerdict::Approve, None, None);
    let failed = run(
        "broken",
        RunVerdict::Error,
        Some("out-of-fuel"),
        Some("ran out"),
    );
    let mut unusual = run("pii", RunVerdict::Approve, None, None);
    unusual.digest = "sha256:ABCD".to_owned();
    unusual.shadow = true;
    unusual.findings = vec![crate::decision::Finding {
        path: "params.to".to_owned(),
        kinds: vec!["email".to_owned()],
    }];
    let cases: Vec<(&str, LogEntry, usize)> = vec![
        ("no reasons", decision(vec![], vec![approve.clone()]), 0),
        (
            "a shadow run with findings and an odd digest",
            decision(vec![], vec![unusual]),
            0,
        ),
        (
            "one deny",
            decision(
                vec![reason("limit", Verdict::Deny, "over-limit", "too much")],
                vec![approve.clone(), deny.clone()],
            ),
            1,
        ),
        (
            "deny and escalate",
            decision(
                vec![
                    reason("review", Verdict::Escalate, "needs-review", "look"),
                    reason("limit", Verdict::Deny, "over-limit", "too much"),
                ],
                vec![deny.clone(), escalate.clone()],
            ),
            2,
        ),
        (
            "the runtime's own reason for a failed run",
            decision(
                vec![reason("broken", Verdict::Deny, "out-of-fuel", "ran out")],
                vec![failed.clone()],
            ),
            0,
        ),
        (
            "a reason that differs from its run in its message",
            decision(
                vec![reason("limit", Verdict::Deny, "over-limit", "other words")],
                vec![deny.clone()],
            ),
            0,
        ),
        (
            "a reason of gavel's own",
            decision(
                vec![reason("gavel", Verdict::Deny, "kill-switch", "stopped")],
                vec![],
            ),
            0,
        ),
    ];
    for (what, entry, by_index) in cases {
        let stored = entry.stored_bytes().unwrap();
        assert_eq!(stored.first(), Some(&V2), "{what}");
        assert_eq!(LogEntry::from_bytes(&stored).unwrap(), entry, "{what}");
        let LogEvent::Decision(d) = &entry.event else {
            unreachable!()
        };
        let payload: serde_json::Value = serde_json::from_slice(json_part(&stored)).unwrap();
        let indexed = payload["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r.is_u64())
            .count();
        assert_eq!(indexed, by_index, "{what}");
        assert_eq!(
            payload["reasons"].as_array().unwrap().len(),
            d.reasons.len()
        );
        // The first format still reads, to the same entry.
        let v1 = entry.canonical_bytes().unwrap();
        assert_eq!(LogEntry::from_bytes(&v1).unwrap(), entry, "{what}");
        if by_index > 0 {
            assert!(stored.len() < v1.len(), "{what}: compact is smaller");
        }
    }
}

#[test]
fn other_events_round_trip() {
    let events = [
        LogEvent::KillSwitch {
            engaged: true,
            actor: "ops".to_owned(),
            reason: "incident".to_owned(),
            agent: Some("a".to_owned()),
        },
        LogEvent::PolicySetRejected {
            dir: "/p".to_owned(),
            error: "bad".to_owned(),
        },
    ];
    for event in events {
        let entry = LogEntry {
            seq: u64::MAX,
            time_ms: i64::MIN,
            generation: 0,
            event,
        };
        let stored = entry.stored_bytes().unwrap();
        assert_eq!(LogEntry::from_bytes(&stored).unwrap(), entry);
    }
}

/// Stored bytes that are wrong in each way are refused with the reason.
#[test]
fn bad_bodies_name_the_problem() {
    let good = decision(
        vec![reason("limit", Verdict::Deny, "over-limit", "too much")],
        vec![run(
            "limit",
            RunVerdict::Deny,
            Some("over-limit"),
            Some("too much"),
        )],
    )
    .stored_bytes()
    .unwrap();
    let mut other_tag = good.clone();
    other_tag[V2_HEADER] = b'x';
    let bad_index = {
        let text = String::from_utf8(json_part(&good).to_vec()).unwrap();
        assert!(text.contains("\"reasons\":[0]"), "{text}");
        with_json(
            &good,
            text.replace("\"reasons\":[0]", "\"reasons\":[7]")
                .as_bytes(),
        )
    };
    // The one run's verdict byte follows the run count, its name (1 + 5
    // bytes) and its digest (1 + 32 bytes).
    let verdict_at = V2_HEADER + 1 + 1 + 6 + 33;
    assert_eq!(good[verdict_at], 1, "the deny");
    let mut bad_verdict = good.clone();
    bad_verdict[verdict_at] = 9;
    let decision_as_other = {
        let entry = LogEntry::from_bytes(&good).unwrap();
        let mut out = body_after(0, 1, 1, 1, b"e");
        serde_json::to_writer(&mut out, &entry.event).unwrap();
        out
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "truncated"),
        ("unknown version", vec![0x03, 1, 2], "unknown record format"),
        ("short header", good[..10].to_vec(), "truncated"),
        ("no payload tag", good[..V2_HEADER].to_vec(), "truncated"),
        ("unknown tag", other_tag, "unknown payload tag"),
        (
            "reason names a missing run",
            bad_index,
            "refers to policy run 7",
        ),
        (
            "a decision stored as another event",
            decision_as_other,
            "unknown payload tag",
        ),
        ("bad json", with_json(&good, b"{"), "EOF"),
        (
            "runs cut short",
            good[..V2_HEADER + 20].to_vec(),
            "policy runs: truncated",
        ),
        ("a run's verdict unknown", bad_verdict, "verdict is unknown"),
        (
            "more runs than bytes",
            body_after(0, 1, 1, 1, &[b'd', 0x7f]),
            "more runs than bytes",
        ),
    ];
    for (what, bytes, expected) in cases {
        let err = LogEntry::from_bytes(&bytes).unwrap_err().to_string();
        assert!(err.contains(expected), "{what}: {err}");
    }
}

fn arb_run() -> impl Strategy<Value = PolicyRun> {
    (
        "[a-z]{1,6}",
        0..4u8,
        proptest::option::of("[a-z-]{0,6}"),
        proptest::option::of("\\PC{0,8}"),
    )
        .prop_map(|(policy, v, code, message)| {
            let verdict = [
                RunVerdict::Approve,
                RunVerdict::Deny,
                RunVerdict::Escalate,
                RunVerdict::Error,
            ][usize::from(v)];
            run(&policy, verdict, code.as_deref(), message.as_deref())
        })
}

proptest! {
    /// Any decision reads back exactly, whatever its reasons have in
    /// common with its runs (reasons are drawn from the runs' answers,
    /// sometimes altered).
    #[test]
    fn decisions_round_trip(
        runs in proptest::collection::vec(arb_run(), 0..5),
        picks in proptest::collection::vec((0..8usize, 0..3u8), 0..5),
    ) {
        let reasons = picks
            .iter()
            .map(|&(i, change)| {
                let base = runs.get(i).map_or_else(
                    || reason("gavel", Verdict::Deny, "x", "y"),
                    |r| reason(
                        &r.policy,
                        if r.verdict == RunVerdict::Escalate { Verdict::Escalate } else { Verdict::Deny },
                        r.code.as_deref().unwrap_or(""),
                        r.message.as_deref().unwrap_or(""),
                    ),
                );
                match change {
                    0 => base,
                    1 => Reason { message: format!("{}!", base.message), ..base },
                    _ => Reason { verdict: Verdict::Approve, ..base },
                }
            })
            .collect();
        let entry = decision(reasons, runs);
        let stored = entry.stored_bytes().unwrap();
        prop_assert_eq!(LogEntry::from_bytes(&stored).unwrap(), entry);
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = LogEntry::from_bytes(&bytes);
        let mut v2 = vec![V2];
        v2.extend_from_slice(&bytes);
        let _ = LogEntry::from_bytes(&v2);
        // And as a decision's payload (binary runs, then JSON).
        let _ = LogEntry::from_bytes(&body_after(0, 1, 1, 1, &[b"d".as_slice(), bytes.as_slice()].concat()));
    }
}
