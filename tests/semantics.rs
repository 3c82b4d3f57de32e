//! The evaluation semantics, as data: one row per request with the
//! expected verdict, reasons and the policies that ran, checked in both
//! isolation modes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::{decide, load};
use gavel::{RunVerdict, Verdict};

/// Several configurations of the shipped `sensitive-actions` component.
/// Every policy lists `allowed = ["*"]`, so it declares no interest and is
/// asked about every action: these cases are about order and precedence.
const MANIFEST: &str = r#"
[agents.known]
risk_tier = 2

[[policy]]
name = "high"
component = "{shipped}/sensitive_actions.wasm"
priority = 100
[policy.config]
allowed = ["*"]
forbidden = ["nuke"]
require_approval = ["wire_*"]

[[policy]]
name = "mail-only"
component = "{shipped}/sensitive_actions.wasm"
priority = 75
applies_to = ["send_*"]
[policy.config]
allowed = ["*"]
forbidden = ["send_spam"]

[[policy]]
name = "mid"
component = "{shipped}/sensitive_actions.wasm"
priority = 50
[policy.config]
allowed = ["*"]
forbidden = ["wire_big"]
require_approval = ["publish"]

[[policy]]
name = "beta"
component = "{shipped}/sensitive_actions.wasm"
priority = 10
[policy.config]
allowed = ["*"]
forbidden = ["tie"]

[[policy]]
name = "alpha"
component = "{shipped}/sensitive_actions.wasm"
priority = 10
[policy.config]
allowed = ["*"]
require_approval = ["tie"]

[[policy]]
name = "watcher"
component = "{shipped}/sensitive_actions.wasm"
priority = 1
mode = "shadow"
[policy.config]
allowed = ["*"]
forbidden = ["*"]
"#;

/// One row: action, final verdict, reasons as (policy, code), policies that ran.
type Row = (
    &'static str,
    Verdict,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

const CASES: &[Row] = &[
    (
        "read",
        Verdict::Approve,
        &[],
        &["high", "mid", "alpha", "beta", "watcher"],
    ),
    (
        "nuke",
        Verdict::Deny,
        &[("high", "forbidden-action")],
        &["high", "watcher"],
    ),
    (
        "wire_small",
        Verdict::Escalate,
        &[("high", "approval-required")],
        &["high", "mid", "alpha", "beta", "watcher"],
    ),
    (
        "wire_big",
        Verdict::Deny,
        &[("high", "approval-required"), ("mid", "forbidden-action")],
        &["high", "mid", "watcher"],
    ),
    (
        "publish",
        Verdict::Escalate,
        &[("mid", "approval-required")],
        &["high", "mid", "alpha", "beta", "watcher"],
    ),
    (
        "tie",
        Verdict::Deny,
        &[("alpha", "approval-required"), ("beta", "forbidden-action")],
        &["high", "mid", "alpha", "beta", "watcher"],
    ),
    (
        "send_spam",
        Verdict::Deny,
        &[("mail-only", "forbidden-action")],
        &["high", "mail-only", "watcher"],
    ),
    (
        "send_note",
        Verdict::Approve,
        &[],
        &["high", "mail-only", "mid", "alpha", "beta", "watcher"],
    ),
];

#[test]
fn priority_order_first_deny_escalate_and_shadow() {
    for isolation in ["warm", "fresh"] {
        let set = load(&format!("isolation = \"{isolation}\"\n{MANIFEST}")).unwrap();
        let order: Vec<_> = set.policies().iter().map(|p| p.name()).collect();
        assert_eq!(
            order,
            ["high", "mail-only", "mid", "alpha", "beta", "watcher"]
        );
        for (action, verdict, reasons, ran) in CASES {
            let d = decide(
                &set,
                &format!(r#"{{"agent_id":"known","action":"{action}"}}"#),
            );
            let label = format!("{action} ({isolation})");
            assert_eq!(d.verdict, *verdict, "{label}: {d:?}");
            let got: Vec<_> = d
                .reasons
                .iter()
                .map(|r| (r.policy.as_str(), r.code.as_str()))
                .collect();
            assert_eq!(got, *reasons, "{label}");
            let got: Vec<_> = d.policies.iter().map(|r| r.policy.as_str()).collect();
            assert_eq!(got, *ran, "{label}");
            // The shadow policy denies everything and never counts.
            let watcher = d.policies.iter().find(|r| r.policy == "watcher").unwrap();
            assert!(
                watcher.shadow && watcher.verdict == RunVerdict::Deny,
                "{label}"
            );
            assert!(d.reasons.iter().all(|r| r.policy != "watcher"), "{label}");
            for run in &d.policies {
                assert!(
                    run.digest.starts_with("sha256:") && run.digest.len() == 71,
                    "{label}"
                );
                assert!(run.fuel > 0, "{label}: fuel is measured");
            }
        }
    }
}

#[test]
fn unregistered_agents_are_denied_when_required() {
    let set = load(&format!("require_registered_agents = true\n{MANIFEST}")).unwrap();
    let d = decide(&set, r#"{"agent_id":"stranger","action":"read"}"#);
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.reasons[0].code, "unregistered-agent");
    assert_eq!(d.reasons[0].policy, "gavel");
    assert!(d.policies.is_empty());
    assert_eq!(
        decide(&set, r#"{"agent_id":"known","action":"read"}"#).verdict,
        Verdict::Approve
    );
}

#[test]
fn unregistered_agents_pass_when_not_required() {
    let set = load(MANIFEST).unwrap();
    assert_eq!(
        decide(&set, r#"{"agent_id":"stranger","action":"read"}"#).verdict,
        Verdict::Approve
    );
}

#[test]
fn no_applicable_policy_approves() {
    let set = load("[[policy]]\nname = \"mail\"\ncomponent = \"{shipped}/sensitive_actions.wasm\"\npriority = 1\napplies_to = [\"send_*\"]\n[policy.config]\nforbidden = [\"*\"]\n").unwrap();
    let d = decide(&set, r#"{"agent_id":"a","action":"read"}"#);
    assert_eq!(d.verdict, Verdict::Approve);
    assert!(d.policies.is_empty() && d.reasons.is_empty());
    // applies_to matches ASCII-case-insensitively: another case of a
    // listed action does not escape the policy.
    for action in ["send_x", "SEND_x", "Send_X"] {
        let request = format!(r#"{{"agent_id":"a","action":"{action}"}}"#);
        assert_eq!(decide(&set, &request).verdict, Verdict::Deny, "{action}");
    }
}

#[test]
fn a_manifest_naming_no_policy_approves_only_when_it_says_so() {
    let e = load("").unwrap_err().to_string();
    assert!(e.contains("approve_all = true"), "{e}");
    let set = load("approve_all = true\n").unwrap();
    assert_eq!(
        decide(&set, r#"{"agent_id":"a","action":"x"}"#).verdict,
        Verdict::Approve
    );
}

/// Configs the policy must refuse at load, and the key the error names.
const BAD_CONFIGS: &[(&str, &str)] = &[
    ("forbiden = [\"x\"]", "forbiden"),
    ("forbidden = \"x\"", "forbidden"),
    ("forbidden = [\"a*b\"]", "forbidden[0]"),
    ("allowed = [1]", "allowed[0]"),
];

#[test]
fn rejected_configs_never_go_live() {
    for (config, key) in BAD_CONFIGS {
        let manifest = format!(
            "[[policy]]\nname = \"sa\"\ncomponent = \"{{shipped}}/sensitive_actions.wasm\"\npriority = 1\n[policy.config]\n{config}\n"
        );
        let err = load(&manifest).expect_err(config).to_string();
        assert!(
            err.contains("policy `sa`: config rejected"),
            "{config}: {err}"
        );
        assert!(err.contains(&format!("`{key}`")), "{config}: {err}");
    }
}
