//! The native floor and Gavel (warm and fresh) decide the workload alike,
//! on the shipped policies and on a manifest that exercises what the
//! shipped one leaves unused (the registry, shadow mode, ties in priority,
//! `allowed`, holidays, `min_risk_tier`, `detect`, no default limit).
//! Cedar (with `--features cedar`) and Rego agree with Gavel on the
//! shipped policies (their policy texts encode the shipped configuration
//! only, so the variant manifest is not theirs).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

use gavel::{ArtifactCache, Isolation, PolicyEngine, Verdict};
#[cfg(feature = "cedar")]
use gavel_bench::cedar::CedarPeer;
use gavel_bench::check::cross_check;
use gavel_bench::gavel_peer::{GavelPeer, outcome};
use gavel_bench::native::Native;
use gavel_bench::peer::{Outcome, Peer};
use gavel_bench::rego::{RegoMode, RegoPeer};
use gavel_bench::{shipped_dir, workload};
use std::path::Path;

fn assert_agree(reference: &dyn Peer, others: &[&dyn Peer], requests: &[gavel::Request]) {
    let mismatches = cross_check(reference, others, requests);
    let shown: Vec<String> = mismatches
        .iter()
        .take(20)
        .map(ToString::to_string)
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        shown.join("\n")
    );
}

/// An engine and an artifact cache (in the returned directory) for
/// several peers to share, and Gavel warm on the shipped policies.
fn shared_engine() -> (PolicyEngine, tempfile::TempDir, ArtifactCache, GavelPeer) {
    let engine = PolicyEngine::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(data.path(), engine.engine()).unwrap();
    let warm = GavelPeer::load_with(&shipped_dir(), Isolation::Warm, &engine, &cache).unwrap();
    (engine, data, cache, warm)
}

#[test]
fn native_and_fresh_agree_with_warm_on_the_shipped_policies() {
    let requests = workload::workload(3_000);
    let (engine, _data, cache, warm) = shared_engine();
    let dir = shipped_dir();
    let fresh = GavelPeer::load_with(&dir, Isolation::Fresh, &engine, &cache).unwrap();
    let native = Native::shipped().unwrap();
    assert_eq!(warm.name(), "gavel-warm");
    assert_eq!(fresh.name(), "gavel-fresh");
    for (w, f) in warm.set().policies().iter().zip(fresh.set().policies()) {
        assert_eq!(w.entry.isolation, Isolation::Warm);
        assert_eq!(f.entry.isolation, Isolation::Fresh);
        assert_eq!((&w.entry.name, &w.digest), (&f.entry.name, &f.digest));
    }
    assert_eq!(
        native.policy_names(),
        [
            "sensitive-actions",
            "transaction-limit",
            "business-hours",
            "pii-egress"
        ]
    );
    assert_agree(&warm, &[&native], &requests);
    assert_agree(&warm, &[&fresh], &requests[..1_000]);
}

#[test]
fn scoping_each_policy_to_its_listed_actions_changes_no_decision() {
    let requests = workload::workload(3_000);
    let (engine, _data, cache, warm) = shared_engine();
    let scoped = GavelPeer::scoped_with(&shipped_dir(), &engine, &cache).unwrap();
    assert_eq!(scoped.name(), "gavel-scoped");
    // Every policy is scoped to named actions, none to `*`.
    for policy in scoped.set().policies() {
        assert!(
            !policy.applies_to("an_action_no_policy_lists"),
            "{}",
            policy.entry.name
        );
    }
    assert!(
        scoped
            .set()
            .policies()
            .iter()
            .any(|p| p.applies_to("issue_refund"))
    );
    assert_agree(&warm, &[&scoped], &requests);
}

#[test]
fn the_deciding_reason_is_the_deny_after_an_escalation() {
    // customer-support, 250 USD: transaction-limit escalates (above 100),
    // then business-hours denies (a Saturday).
    let request = gavel::Request::from_json(
        r#"{"agent_id":"customer-support","action":"execute_transaction","amount":250,"currency":"USD","timestamp":"2026-11-28T17:00:00Z"}"#,
    )
    .unwrap();
    let warm = GavelPeer::warm(&shipped_dir()).unwrap();
    let decision = warm.decision(&request);
    let reasons: Vec<(Verdict, &str)> = decision
        .reasons
        .iter()
        .map(|r| (r.verdict, r.code.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (Verdict::Escalate, "approval-threshold"),
            (Verdict::Deny, "outside-business-hours")
        ]
    );
    assert_eq!(outcome(&decision), Outcome::deny("outside-business-hours"));
    assert_eq!(
        Native::shipped().unwrap().decide(&request),
        Outcome::deny("outside-business-hours")
    );
}

#[cfg(feature = "cedar")]
#[test]
fn cedar_agrees_with_warm_on_the_shipped_policies() {
    let requests = workload::workload(3_000);
    let warm = GavelPeer::warm(&shipped_dir()).unwrap();
    let cedar = CedarPeer::shipped().unwrap();
    assert_eq!(cedar.name(), "cedar");
    assert_agree(&warm, &[&cedar], &requests);
}

#[test]
fn rego_agrees_with_warm_on_the_shipped_policies() {
    let requests = workload::workload(3_000);
    let warm = GavelPeer::warm(&shipped_dir()).unwrap();
    let rego = RegoPeer::shipped().unwrap();
    assert_eq!(rego.name(), "rego");
    assert_agree(&warm, &[&rego], &requests);
    // The other ways of getting a mutable engine decide alike.
    let clone = RegoPeer::with_mode(RegoMode::ClonePerCall).unwrap();
    let compiled = RegoPeer::with_mode(RegoMode::Compiled).unwrap();
    assert_agree(&warm, &[&clone, &compiled], &requests[..500]);
}

#[test]
fn cedar_and_rego_take_the_deny_after_an_escalation() {
    // As in the_deciding_reason_is_the_deny_after_an_escalation: an
    // escalation from transaction-limit, then business-hours denies.
    let request = gavel::Request::from_json(
        r#"{"agent_id":"customer-support","action":"execute_transaction","amount":250,"currency":"usd","timestamp":"2026-11-28T17:00:00Z"}"#,
    )
    .unwrap();
    let deny = Outcome::deny("outside-business-hours");
    #[cfg(feature = "cedar")]
    assert_eq!(CedarPeer::shipped().unwrap().decide(&request), deny);
    assert_eq!(RegoPeer::shipped().unwrap().decide(&request), deny);
    // A Monday at 10:00 New York time: the escalation stands.
    let request = gavel::Request::from_json(
        r#"{"agent_id":"customer-support","action":"execute_transaction","amount":250,"currency":"usd","timestamp":"2026-11-30T15:00:00Z"}"#,
    )
    .unwrap();
    let escalate = Outcome::escalate("approval-threshold");
    #[cfg(feature = "cedar")]
    assert_eq!(CedarPeer::shipped().unwrap().decide(&request), escalate);
    assert_eq!(RegoPeer::shipped().unwrap().decide(&request), escalate);
}

/// A built component in `policies-wasm/`.
fn component(name: &str) -> String {
    std::path::absolute(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies-wasm")).join(name),
    )
    .unwrap()
    .display()
    .to_string()
}

fn variant_manifest(dir: &Path) {
    let manifest = format!(
        r#"
require_registered_agents = true

[agents.financial-advisor]
risk_tier = 4

[agents.customer-support]
risk_tier = 2

[agents.research-assistant]
risk_tier = 1

[[policy]]
name = "sensitive-actions"
component = "{sensitive}"
priority = 100
[policy.config]
forbidden = ["delete_account", "access_*"]
require_approval = ["delete_*", "send_contract"]
allowed = ["search_web", "read_*", "send_*", "execute_transaction", "issue_refund", "make_payment", "delete_*", "modify_production", "http_post", "summarize_document", "create_ticket", "post_to_social_media"]

[[policy]]
name = "transaction-limit"
component = "{limit}"
priority = 90
applies_to = ["execute_*", "make_payment"]
[policy.config]
actions = ["execute_transaction", "make_payment", "issue_refund"]
[policy.config.limits.financial-advisor]
max = 800
approval_above = 200
[policy.config.limits.customer-support]
max = 500

[[policy]]
name = "business-hours"
component = "{hours}"
priority = 90
[policy.config]
actions = ["execute_transaction", "send_contract", "modify_*"]
timezone = "America/New_York"
days = ["mon", "WED", "fri", "sat"]
start = "08:30"
end = "24:00"
holidays = ["2026-03-09", "2026-11-02", "2026-12-25"]
min_risk_tier = 2

[[policy]]
name = "pii-egress"
component = "{pii}"
priority = 95
mode = "shadow"
[policy.config]
actions = ["*"]

[[policy]]
name = "pii-strict"
component = "{pii}"
priority = 10
applies_to = ["send_*", "http_post"]
[policy.config]
actions = ["*"]
detect = ["email", "ssn"]
allow_email_domains = ["gmail.com"]
"#,
        sensitive = component("sensitive_actions.wasm"),
        limit = component("transaction_limit.wasm"),
        hours = component("business_hours.wasm"),
        pii = component("pii_egress.wasm"),
    );
    std::fs::write(dir.join("policies.toml"), manifest).unwrap();
}

#[test]
fn native_agrees_on_a_manifest_that_uses_every_option() {
    let dir = tempfile::tempdir().unwrap();
    variant_manifest(dir.path());
    let warm = GavelPeer::warm(dir.path()).unwrap();
    let native = Native::load(dir.path()).unwrap();
    assert_eq!(
        native.policy_names(),
        [
            "sensitive-actions",
            "business-hours",
            "transaction-limit",
            "pii-strict"
        ],
        "shadow policies never run natively; ties go by name"
    );
    let requests = workload::workload(3_000);
    assert_agree(&warm, &[&native], &requests);
    // The variant reaches every code it can give.
    let codes: std::collections::BTreeSet<String> = requests
        .iter()
        .map(|r| native.decide(r).to_string())
        .collect();
    for code in [
        "deny (unregistered-agent)",
        "deny (action-not-allowed)",
        "deny (forbidden-action)",
        "deny (no-limit-configured)",
        "deny (outside-business-hours)",
        "deny (over-limit)",
        "deny (pii-detected)",
        "escalate (approval-threshold)",
        "escalate (approval-required)",
        "approve",
    ] {
        assert!(codes.contains(code), "{code} not reached: {codes:?}");
    }
}
