//! The shipped policy directory (`policies-wasm/`) on a realistic mix of
//! actions: the verdicts and codes the reference policies promise, and a
//! 1 MB message through `pii-egress` under the shipped limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use gavel::{ArtifactCache, PolicyEngine, PolicySet, Request, RunVerdict, Verdict};

fn shipped() -> PolicySet {
    let engine = PolicyEngine::new().unwrap();
    let cache =
        ArtifactCache::open(&common::root().join("target/test-data"), engine.engine()).unwrap();
    PolicySet::load(&common::root().join("policies-wasm"), &engine, &cache).unwrap()
}

// Tuesday 2026-11-17 10:00 in New York (EST, UTC-5).
const OPEN: &str = "2026-11-17T15:00:00Z";

/// One row per action: the request (timestamp defaults to OPEN), the
/// final verdict, the deciding code (first reason), and the policies that
/// ran.
const MIX: &[(&str, Verdict, Option<&str>, &[&str])] = &[
    (
        r#"{"agent_id":"research-assistant","action":"search_web","params":{"query":"Q3 revenue by region"}}"#,
        Verdict::Approve,
        None,
        &["rate-limit"],
    ),
    (
        r#"{"agent_id":"financial-advisor","action":"execute_transaction","amount":250,"currency":"USD","params":{"to":"acct-1"}}"#,
        Verdict::Approve,
        None,
        &[
            "rate-limit",
            "budget",
            "transaction-limit",
            "business-hours",
        ],
    ),
    (
        r#"{"agent_id":"financial-advisor","action":"execute_transaction","amount":1000,"currency":"USD"}"#,
        Verdict::Approve,
        None,
        &[
            "rate-limit",
            "budget",
            "transaction-limit",
            "business-hours",
        ],
    ),
    (
        r#"{"agent_id":"financial-advisor","action":"execute_transaction","amount":1000.01,"currency":"USD"}"#,
        Verdict::Deny,
        Some("over-limit"),
        &["rate-limit", "budget", "transaction-limit"],
    ),
    (
        r#"{"agent_id":"financial-advisor","action":"execute_transaction","amount":250,"currency":"EUR"}"#,
        Verdict::Deny,
        Some("currency-mismatch"),
        &["rate-limit", "budget"],
    ),
    (
        r#"{"agent_id":"financial-advisor","action":"execute_transaction","currency":"USD"}"#,
        Verdict::Deny,
        Some("amount-required"),
        &["rate-limit", "budget"],
    ),
    (
        r#"{"agent_id":"customer-support","action":"issue_refund","amount":100,"currency":"USD"}"#,
        Verdict::Approve,
        None,
        &["rate-limit", "budget", "transaction-limit"],
    ),
    (
        r#"{"agent_id":"customer-support","action":"issue_refund","amount":100.5,"currency":"USD"}"#,
        Verdict::Escalate,
        Some("approval-threshold"),
        &["rate-limit", "budget", "transaction-limit"],
    ),
    (
        r#"{"agent_id":"customer-support","action":"issue_refund","amount":501,"currency":"USD"}"#,
        Verdict::Deny,
        Some("over-limit"),
        &["rate-limit", "budget", "transaction-limit"],
    ),
    (
        r#"{"agent_id":"research-assistant","action":"make_payment","amount":5,"currency":"USD"}"#,
        Verdict::Deny,
        Some("over-limit"),
        &["rate-limit", "budget", "transaction-limit"],
    ),
    (
        r#"{"agent_id":"research-assistant","action":"make_payment","amount":0,"currency":"USD"}"#,
        Verdict::Approve,
        None,
        &["rate-limit", "budget", "transaction-limit"],
    ),
    // Saturday 2026-11-21 10:00 EST.
    (
        r#"{"agent_id":"financial-advisor","action":"execute_transaction","amount":250,"currency":"USD","timestamp":"2026-11-21T15:00:00Z"}"#,
        Verdict::Deny,
        Some("outside-business-hours"),
        &[
            "rate-limit",
            "budget",
            "transaction-limit",
            "business-hours",
        ],
    ),
    // Over the limit on a Saturday: the first deny is final.
    (
        r#"{"agent_id":"financial-advisor","action":"execute_transaction","amount":5000,"currency":"USD","timestamp":"2026-11-21T15:00:00Z"}"#,
        Verdict::Deny,
        Some("over-limit"),
        &["rate-limit", "budget", "transaction-limit"],
    ),
    // Tuesday 17:30 EST, and 08:59 EST.
    (
        r#"{"agent_id":"financial-advisor","action":"execute_transaction","amount":10,"currency":"USD","timestamp":"2026-11-17T22:30:00Z"}"#,
        Verdict::Deny,
        Some("outside-business-hours"),
        &[
            "rate-limit",
            "budget",
            "transaction-limit",
            "business-hours",
        ],
    ),
    (
        r#"{"agent_id":"customer-support","action":"send_contract","params":{"to":"legal@example-corp.com"},"timestamp":"2026-11-17T13:59:00Z"}"#,
        Verdict::Deny,
        Some("prerequisite-missing"),
        &["rate-limit", "prerequisites"],
    ),
    (
        r#"{"agent_id":"customer-support","action":"send_email","params":{"to":"jane.doe@gmail.com","body":"Your refund is on its way."}}"#,
        Verdict::Deny,
        Some("pii-detected"),
        &["rate-limit", "pii-egress"],
    ),
    (
        r#"{"agent_id":"customer-support","action":"send_email","params":{"to":"billing@example-corp.com","body":"Order 884213 shipped on 2026-11-16, total $1,234.56."}}"#,
        Verdict::Approve,
        None,
        &["rate-limit", "pii-egress"],
    ),
    (
        r#"{"agent_id":"customer-support","action":"post_to_social_media","params":{"text":"Thanks! Card 4111 1111 1111 1111 worked."}}"#,
        Verdict::Deny,
        Some("pii-detected"),
        &["rate-limit", "pii-egress"],
    ),
    (
        r#"{"agent_id":"customer-support","action":"send_external_message","params":{"thread":[{"note":"SSN 123-45-6789 on file"}]}}"#,
        Verdict::Deny,
        Some("pii-detected"),
        &["rate-limit", "pii-egress"],
    ),
    (
        r#"{"agent_id":"research-assistant","action":"http_post","params":{"url":"https://api.example.com/v2/notes","payload":{"id":"550e8400-e29b-41d4-a716-446655440000","version":"2.14.1"}}}"#,
        Verdict::Approve,
        None,
        &["rate-limit", "pii-egress"],
    ),
    (
        r#"{"agent_id":"financial-advisor","action":"delete_account","params":{"account":"acct-9"}}"#,
        Verdict::Deny,
        Some("forbidden-action"),
        &["sensitive-actions"],
    ),
    (
        r#"{"agent_id":"customer-support","action":"delete_ticket","params":{"ticket":"T-1042"}}"#,
        Verdict::Escalate,
        Some("approval-required"),
        &["sensitive-actions", "rate-limit"],
    ),
    (
        r#"{"agent_id":"financial-advisor","action":"modify_own_instructions"}"#,
        Verdict::Deny,
        Some("forbidden-action"),
        &["sensitive-actions"],
    ),
];

#[test]
fn realistic_mix_gets_the_promised_verdicts() {
    let set = shipped();
    let names: Vec<_> = set.policies().iter().map(|p| p.name()).collect();
    assert_eq!(
        names,
        [
            "sensitive-actions",
            "rate-limit",
            "budget",
            "transaction-limit",
            "prerequisites",
            "business-hours",
            "pii-egress"
        ]
    );
    for (json, verdict, code, ran) in MIX {
        let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
        if value.get("timestamp").is_none() {
            value["timestamp"] = OPEN.into();
        }
        let decision = set.evaluate(&Request::from_value(value).unwrap());
        assert_eq!(decision.verdict, *verdict, "{json}: {decision:?}");
        assert_eq!(
            decision.reasons.first().map(|r| r.code.as_str()),
            *code,
            "{json}: {decision:?}"
        );
        // Policies whose action lists do not include the action approve
        // without a word; only those that judged it are listed here.
        let judged: Vec<_> = decision
            .policies
            .iter()
            .filter(|r| r.verdict != RunVerdict::Approve || ran.contains(&r.policy.as_str()))
            .map(|r| r.policy.as_str())
            .collect();
        for policy in *ran {
            assert!(
                judged.contains(policy),
                "{json}: {policy} did not run: {decision:?}"
            );
        }
        assert!(
            decision
                .policies
                .iter()
                .all(|r| r.verdict != RunVerdict::Error),
            "{json}: {decision:?}"
        );
    }
}

#[test]
fn caught_pii_never_appears_in_the_decision() {
    let set = shipped();
    let request = r#"{"agent_id":"customer-support","action":"send_email","params":{"to":"jane.doe@gmail.com","body":"card 5555 5555 5555 4444, ssn 123-45-6789"}}"#;
    let decision = set.evaluate(&Request::from_json(request).unwrap());
    assert_eq!(decision.verdict, Verdict::Deny);
    let json = decision.to_json();
    for secret in ["jane.doe", "gmail", "5555", "4444", "123-45", "6789"] {
        assert!(!json.contains(secret), "{secret} leaked: {json}");
    }
    let message = &decision.reasons[0].message;
    for part in ["params.to", "email", "params.body", "credit_card", "ssn"] {
        assert!(message.contains(part), "{part} not named: {message}");
    }
}

/// A 1 MB message runs within the shipped limits, clean or with PII at
/// its very end.
#[test]
fn one_megabyte_message_fits_the_shipped_limits() {
    let set = shipped();
    let sentence = "Quarterly update: order 884213 shipped 2026-11-16 for $1,234.56 (v2.14.1). ";
    let mut body = sentence.repeat((1 << 20) / sentence.len() + 1);
    body.truncate(1 << 20);
    for (tail, verdict) in [
        ("", Verdict::Approve),
        (" reach me at jane.doe@gmail.com", Verdict::Deny),
    ] {
        let text = format!("{body}{tail}");
        let request = serde_json::json!({"agent_id": "customer-support", "action": "send_email", "params": {"body": text}});
        let decision = set.evaluate(&Request::from_value(request).unwrap());
        let run = decision
            .policies
            .iter()
            .find(|r| r.policy == "pii-egress")
            .unwrap();
        assert_eq!(decision.verdict, verdict, "{:?}", run);
        println!(
            "pii-egress on {} bytes: fuel {}, {} µs",
            text.len(),
            run.fuel,
            run.micros
        );
    }
}
