//! Action names and agent ids cannot sneak past a list.
//!
//! Every variant of a listed name is either refused as a bad request
//! naming the field (whitespace, control, invisible, non-ASCII, too long,
//! empty) or matched by the list exactly like the canonical name (ASCII
//! case). Checked over the shipped policy set, the kill switch, the agent
//! registry and `gavel eval`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::{gavel, policy_dir, root, shipped_dir, stderr, stdout};
use gavel::{ArtifactCache, Decision, PolicyEngine, PolicySet, Request, RequestError, Verdict};
use serde_json::{Value, json};

/// What must become of a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A request error naming the field.
    Refused,
    /// Judged exactly like the canonical name.
    Matched,
}

use Outcome::{Matched, Refused};

/// `delete_account` → `Delete_Account`.
fn title_case(name: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for c in name.chars() {
        out.push(if start { c.to_ascii_uppercase() } else { c });
        start = matches!(c, '_' | '-' | '.' | ':' | '/');
    }
    out
}

/// Every variant of `name`: (label, text, outcome).
fn variants(name: &str) -> Vec<(&'static str, String, Outcome)> {
    let (head, tail) = name.split_at(1);
    let cut = name.len() / 2;
    let (left, right) = name.split_at(cut);
    let full_width: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' => char::from_u32(u32::from(c) - u32::from('a') + 0xFF41).unwrap(),
            other => other,
        })
        .collect();
    // Cyrillic а, е, о, с, р for their Latin twins.
    let cyrillic: String = name
        .chars()
        .map(|c| match c {
            'a' => 'а',
            'e' => 'е',
            'o' => 'о',
            'c' => 'с',
            'p' => 'р',
            other => other,
        })
        .collect();
    assert_ne!(cyrillic, name, "{name} has a letter with a Cyrillic twin");
    vec![
        ("canonical", name.to_owned(), Matched),
        ("title case", title_case(name), Matched),
        ("upper case", name.to_ascii_uppercase(), Matched),
        (
            "first letter upper",
            format!("{}{tail}", head.to_ascii_uppercase()),
            Matched,
        ),
        ("trailing space", format!("{name} "), Refused),
        ("leading space", format!(" {name}"), Refused),
        (
            "zero-width space",
            format!("{left}\u{200b}{right}"),
            Refused,
        ),
        (
            "trailing zero-width space",
            format!("{name}\u{200b}"),
            Refused,
        ),
        ("word joiner", format!("{left}\u{2060}{right}"), Refused),
        ("byte order mark", format!("\u{feff}{name}"), Refused),
        ("no-break space", format!("{left}\u{a0}{right}"), Refused),
        ("soft hyphen", format!("{left}\u{ad}{right}"), Refused),
        ("full-width letters", full_width, Refused),
        ("Cyrillic look-alike", cyrillic, Refused),
        ("tab", format!("{left}\t{right}"), Refused),
        ("newline", format!("{name}\n"), Refused),
        ("NUL", format!("{name}\u{0}"), Refused),
        (
            "129 characters",
            format!("{name}{}", "x".repeat(129 - name.len())),
            Refused,
        ),
        ("empty", String::new(), Refused),
    ]
}

fn engine_and_cache() -> (PolicyEngine, ArtifactCache) {
    let engine = PolicyEngine::new().unwrap();
    let cache = ArtifactCache::open(&root().join("target/test-data"), engine.engine()).unwrap();
    (engine, cache)
}

/// The shipped manifest with components named by absolute path, and
/// `edit` applied to its text.
fn shipped_manifest(edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(root().join("policies-wasm/policies.toml")).unwrap();
    edit(text.replace("component = \"", "component = \"{shipped}/"))
}

/// What a decision comes to: verdict and each reason's policy and code.
fn gist(d: &Decision) -> (Verdict, Vec<(String, String)>) {
    (
        d.verdict,
        d.reasons
            .iter()
            .map(|r| (r.policy.clone(), r.code.clone()))
            .collect(),
    )
}

/// A request `base` with `field` set to `value`, as JSON text.
fn with_field(base: &Value, field: &str, value: &str) -> String {
    let mut v = base.clone();
    v[field] = json!(value);
    v.to_string()
}

/// Monday 2026-11-23 10:00 in New York: inside business hours.
const INSIDE_HOURS: &str = "2026-11-23T15:00:00Z";

/// The shipped rules the variants must not get around: (what, request,
/// the canonical decision's verdict and first code).
fn listed_actions() -> Vec<(&'static str, Value, Verdict, &'static str)> {
    vec![
        (
            "forbidden action",
            json!({"agent_id": "financial-advisor", "action": "delete_account", "timestamp": INSIDE_HOURS}),
            Verdict::Deny,
            "forbidden-action",
        ),
        (
            "money-moving action without an amount",
            json!({"agent_id": "financial-advisor", "action": "execute_transaction", "timestamp": INSIDE_HOURS}),
            Verdict::Deny,
            "amount-required",
        ),
        (
            "action needing approval (prefix wildcard)",
            json!({"agent_id": "customer-support", "action": "delete_ticket", "timestamp": INSIDE_HOURS}),
            Verdict::Escalate,
            "approval-required",
        ),
        (
            "outbound action carrying PII",
            json!({"agent_id": "customer-support", "action": "send_email", "params": {"body": "mail jane.doe@gmail.com"}, "timestamp": INSIDE_HOURS}),
            Verdict::Deny,
            "pii-detected",
        ),
    ]
}

fn check_refused(result: Result<Request, RequestError>, field: &str, what: &str) {
    match result {
        Err(e @ RequestError::Field { .. }) => {
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("invalid request: field `{field}`: ")),
                "{what}: {text}"
            );
            for invisible in ['\u{200b}', '\u{2060}', '\u{feff}', '\u{ad}', '\0'] {
                assert!(
                    !text.contains(invisible),
                    "{what}: the error echoes {invisible:?}"
                );
            }
        }
        other => panic!("{what}: expected a request error naming `{field}`, got {other:?}"),
    }
}

#[test]
fn action_name_variants_are_refused_or_judged_like_the_listed_name() {
    let (engine, cache) = engine_and_cache();
    let set = PolicySet::load(&root().join("policies-wasm"), &engine, &cache).unwrap();
    for (what, base, verdict, code) in listed_actions() {
        let canonical = set.evaluate(&Request::from_value(base.clone()).unwrap());
        assert_eq!(canonical.verdict, verdict, "{what}: {canonical:?}");
        assert_eq!(canonical.reasons[0].code, code, "{what}");
        let action = base["action"].as_str().unwrap();
        for (label, name, outcome) in variants(action) {
            let row = format!("{what}, {label} {name:?}");
            let parsed = Request::from_json(&with_field(&base, "action", &name));
            match outcome {
                Refused => check_refused(parsed, "action", &row),
                Matched => {
                    let request = parsed.unwrap_or_else(|e| panic!("{row}: {e}"));
                    assert_eq!(request.action, name, "{row}: kept as sent");
                    assert_eq!(gist(&set.evaluate(&request)), gist(&canonical), "{row}");
                }
            }
        }
    }
}

#[test]
fn the_kill_switch_stops_every_form_of_the_agent_id_and_refuses_others() {
    let data = tempfile::tempdir().unwrap();
    let rt = gavel::Runtime::start(
        &root().join("policies-wasm"),
        data.path(),
        gavel::LogOptions::default(),
    )
    .unwrap();
    let base = json!({"agent_id": "financial-advisor", "action": "search_web"});
    // Engaged in one case, it stops every case of the id; other forms are
    // refused before any switch is looked at.
    rt.set_kill_switch(true, Some("Financial-Advisor"), "oncall", "drill")
        .unwrap();
    assert_eq!(
        rt.kill_switch().state().agents.keys().collect::<Vec<_>>(),
        ["financial-advisor"]
    );
    for (label, name, outcome) in variants("financial-advisor") {
        let row = format!("{label} {name:?}");
        let parsed = Request::from_json(&with_field(&base, "agent_id", &name));
        match outcome {
            Refused => check_refused(parsed, "agent_id", &row),
            Matched => {
                let request = parsed.unwrap_or_else(|e| panic!("{row}: {e}"));
                let d = rt.decide(&request);
                assert_eq!(d.verdict, Verdict::Deny, "{row}");
                assert_eq!(d.reasons[0].code, "kill-switch", "{row}");
                // The log keeps the id exactly as sent.
                assert_eq!(rt.entry(&request, &d).request.agent_id, name, "{row}");
            }
        }
    }
    let other =
        Request::from_value(json!({"agent_id": "customer-support", "action": "search_web"}))
            .unwrap();
    assert_eq!(rt.decide(&other).verdict, Verdict::Approve);
    // A switch cannot be engaged or released for an id outside the contract.
    for (label, name, outcome) in variants("financial-advisor") {
        if outcome == Refused {
            for engaged in [true, false] {
                let e = rt
                    .set_kill_switch(engaged, Some(&name), "oncall", "drill")
                    .expect_err(label);
                assert!(
                    e.to_string().contains("kill switch: agent id"),
                    "{label}: {e}"
                );
            }
        }
    }
    assert!(rt.kill_switch().check("financial-advisor").is_some());
    // Released in another case, it is released.
    rt.set_kill_switch(false, Some("FINANCIAL-ADVISOR"), "oncall", "over")
        .unwrap();
    let request = Request::from_value(base).unwrap();
    assert_eq!(rt.decide(&request).verdict, Verdict::Approve);
    assert!(!rt.kill_switch().state().any());
}

#[test]
fn the_registry_knows_every_case_of_a_registered_id() {
    let dir = policy_dir(&shipped_manifest(|text| {
        text.replace(
            "require_registered_agents = false",
            "require_registered_agents = true",
        )
    }));
    let (engine, cache) = engine_and_cache();
    let set = PolicySet::load(dir.path(), &engine, &cache).unwrap();
    // customer-support's own limit (max 500, approval above 100) decides,
    // not the default (max 0): a different case is the same agent.
    let base = json!({"agent_id": "customer-support", "action": "issue_refund", "amount": 150, "currency": "USD"});
    let canonical = set.evaluate(&Request::from_value(base.clone()).unwrap());
    assert_eq!(canonical.verdict, Verdict::Escalate, "{canonical:?}");
    assert_eq!(canonical.reasons[0].code, "approval-threshold");
    for (label, name, outcome) in variants("customer-support") {
        let row = format!("{label} {name:?}");
        let parsed = Request::from_json(&with_field(&base, "agent_id", &name));
        match outcome {
            Refused => check_refused(parsed, "agent_id", &row),
            Matched => {
                let d = set.evaluate(&parsed.unwrap_or_else(|e| panic!("{row}: {e}")));
                assert_eq!(gist(&d), gist(&canonical), "{row}");
            }
        }
    }
    let d = set.evaluate(
        &Request::from_value(with_value(&base, "agent_id", "Customer-Support-2")).unwrap(),
    );
    assert_eq!(d.reasons[0].code, "unregistered-agent", "{d:?}");
}

fn with_value(base: &Value, field: &str, value: &str) -> Value {
    let mut v = base.clone();
    v[field] = json!(value);
    v
}

#[test]
fn gavel_eval_refuses_the_variants_naming_the_field() {
    let data = tempfile::tempdir().unwrap();
    let base = json!({"agent_id": "financial-advisor", "action": "delete_account"});
    for field in ["action", "agent_id"] {
        let canonical = base[field].as_str().unwrap();
        for (label, name, outcome) in variants(canonical) {
            let row = format!("{field}, {label} {name:?}");
            let request = with_field(&base, field, &name);
            let o = gavel(
                &["eval", "--policies", &shipped_dir(), "--action", &request],
                data.path(),
                None,
            );
            let line: Value = serde_json::from_str(stdout(&o).trim())
                .unwrap_or_else(|e| panic!("{row}: {e}: {}", stderr(&o)));
            match outcome {
                Refused => {
                    assert_eq!(o.status.code(), Some(1), "{row}: {line}");
                    let error = line["error"].as_str().unwrap_or_default();
                    assert!(
                        error.contains(&format!("invalid request: field `{field}`: ")),
                        "{row}: {line}"
                    );
                }
                Matched => {
                    assert_eq!(o.status.code(), Some(2), "{row}: {line}");
                    assert_eq!(
                        line["reasons"][0]["code"], "forbidden-action",
                        "{row}: {line}"
                    );
                }
            }
        }
    }
}

/// Over HTTP, an agent id outside the rule given to the kill switch is a
/// 400 naming `agent` (not a 503 blaming the log), and a case variant of
/// an engaged agent is stopped and can release it.
#[test]
fn the_kill_switch_api_refuses_bad_agent_ids_and_folds_case() {
    use common::server::{Server, shipped_copy};
    let policies = shipped_copy();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(policies.path(), data.path(), &[], &[]);
    for agent in ["financial-advisor\u{200b}", "financial advisor", "", " "] {
        let body = json!({"engaged": true, "reason": "r", "actor": "a", "agent": agent});
        let (status, e) = server.post("/v1/killswitch", &body);
        assert_eq!(
            (status, e["error"]["field"].as_str()),
            (400, Some("agent")),
            "{agent:?}: {e}"
        );
    }
    let engage =
        json!({"engaged": true, "reason": "r", "actor": "a", "agent": "financial-advisor"});
    assert_eq!(server.post("/v1/killswitch", &engage).0, 200);
    let d = server.evaluate(&json!({"agent_id": "Financial-Advisor", "action": "search_web"}));
    assert_eq!(d["verdict"], "deny", "{d}");
    let release =
        json!({"engaged": false, "reason": "r", "actor": "a", "agent": "FINANCIAL-ADVISOR"});
    assert_eq!(server.post("/v1/killswitch", &release).0, 200);
    let d = server.evaluate(&json!({"agent_id": "financial-advisor", "action": "search_web"}));
    assert_eq!(d["verdict"], "approve", "{d}");
    server.stop();
}
