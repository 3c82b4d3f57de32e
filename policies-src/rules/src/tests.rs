//! The policy's logic, natively (the case files in tests/ run the built
//! component through the host).

use super::*;
use gavel_sdk::history::Scope;
use gavel_sdk::history::testing::{self, PastAction};
use gavel_sdk::serde_json::json;
use gavel_sdk::{Agent, parse_config};

fn policy(rules: Json) -> Result<Rules, ConfigError> {
    parse_config::<Config>(&json!({ "rule": rules }).to_string()).and_then(Rules::new)
}

fn rule(when: &str, verdict: &str, code: &str) -> Json {
    json!({"when": when, "verdict": verdict, "code": code, "message": format!("{code} message")})
}

fn request(action: &str, amount: Option<f64>, params: Json) -> Request {
    Request {
        action: action.into(),
        amount,
        params: params.into(),
        agent: Agent {
            id: "Financial-Advisor".into(),
            registered: true,
            risk_tier: Some(4),
            owner: None,
        },
        timestamp_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z, a Thursday
        session_id: Some("s-1".into()),
        ..Default::default()
    }
}

/// The verdict as `approve`, `deny code` or `escalate code`.
fn shown(v: &Verdict) -> String {
    match (v.is_approve(), v.is_deny(), v.code()) {
        (true, _, _) => "approve".to_owned(),
        (_, true, Some(c)) => format!("deny {c}"),
        (_, _, Some(c)) => format!("escalate {c}"),
        _ => "?".to_owned(),
    }
}

#[test]
fn single_expressions_row_by_row() {
    testing::reset();
    testing::set_completed(&["verify_identity"]);
    testing::set_approved(&[
        PastAction::new(Scope::Agent, "issue_refund", Some(300.0), 60_000),
        PastAction::new(Scope::Agent, "issue_refund", Some(200.0), 7_200_000),
    ]);
    // (when, action, amount, params, holds / errors)
    let cases: Vec<(&str, &str, Option<f64>, Json, Result<bool, &str>)> = vec![
        (
            "action == 'issue_refund'",
            "Issue_Refund",
            None,
            json!({}),
            Ok(true),
        ),
        (
            "agent.id == 'financial-advisor'",
            "x",
            None,
            json!({}),
            Ok(true),
        ),
        (
            "agent.risk_tier >= 3 && agent.registered",
            "x",
            None,
            json!({}),
            Ok(true),
        ),
        ("agent.owner == null", "x", None, json!({}), Ok(true)),
        ("amount > 500.0", "x", Some(500.5), json!({}), Ok(true)),
        ("amount > 500", "x", Some(500.5), json!({}), Ok(true)),
        ("amount == null", "x", None, json!({}), Ok(true)),
        (
            "amount > 500.0",
            "x",
            None,
            json!({}),
            Err("no overload of `_>_`"),
        ),
        (
            "params.vip == true",
            "x",
            None,
            json!({"vip": true}),
            Ok(true),
        ),
        (
            "params.vip == true",
            "x",
            None,
            json!({}),
            Err("no such key `vip`"),
        ),
        (
            "has(params.vip) && params.vip",
            "x",
            None,
            json!({}),
            Ok(false),
        ),
        ("params.n > 3", "x", None, json!({"n": 4}), Ok(true)),
        (
            "params.n > 3",
            "x",
            None,
            json!({"n": "4111"}),
            Err("no overload"),
        ),
        (
            "params.items.exists(i, i.price > 10.0)",
            "x",
            None,
            json!({"items": [{"price": 12.5}]}),
            Ok(true),
        ),
        (
            "params.to.endsWith('@example-corp.com')",
            "x",
            None,
            json!({"to": "a@example-corp.com"}),
            Ok(true),
        ),
        (
            "params.to.matches('^[a-z]+@')",
            "x",
            None,
            json!({"to": "a@b"}),
            Ok(true),
        ),
        (
            "currency == null && session_id == 's-1' && user_id == null",
            "x",
            None,
            json!({}),
            Ok(true),
        ),
        (
            "time.getDayOfWeek() == 4 && time.getHours() == 0",
            "x",
            None,
            json!({}),
            Ok(true),
        ),
        (
            "time.getHours('America/New_York') == 19",
            "x",
            None,
            json!({}),
            Ok(true),
        ),
        (
            "time > timestamp('2025-12-31T00:00:00Z')",
            "x",
            None,
            json!({}),
            Ok(true),
        ),
        (
            "completed('verify_identity')",
            "x",
            None,
            json!({}),
            Ok(true),
        ),
        ("completed('sign_*')", "x", None, json!({}), Ok(false)),
        (
            "approved_count('agent', 'issue_refund', '1h') == 1",
            "x",
            None,
            json!({}),
            Ok(true),
        ),
        (
            "approved_count('agent', 'issue_*', '3h') == 2",
            "x",
            None,
            json!({}),
            Ok(true),
        ),
        (
            "approved_sum('agent', 'issue_refund', duration('3h')) == 500.0",
            "x",
            None,
            json!({}),
            Ok(true),
        ),
        (
            "approved_sum('agent', 'issue_refund', '1h') + amount > 1000.0",
            "x",
            Some(750.0),
            json!({}),
            Ok(true),
        ),
        (
            "approved_count(params.scope, 'x', '1h') > 0",
            "x",
            None,
            json!({"scope": "planet"}),
            Err("approved_count: scope \"planet\" is not"),
        ),
        (
            "1 / params.n > 0",
            "x",
            None,
            json!({"n": 0}),
            Err("division by zero"),
        ),
        (
            "params.n",
            "x",
            None,
            json!({"n": 1}),
            Err("gave a int, not a bool"),
        ),
    ];
    for (when, action, amount, params, expected) in cases {
        let p =
            policy(json!([rule(when, "deny", "hit")])).unwrap_or_else(|e| panic!("{when}: {e}"));
        let r = request(action, amount, params);
        let context = activation::context(&p.env, &r, p.reads_params).unwrap();
        let got = p.rules[0].holds(&context);
        match (&got, &expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "{when}"),
            (Err(g), Err(e)) => assert!(g.contains(e), "{when}: {g}"),
            _ => panic!("{when}: expected {expected:?}, got {got:?}"),
        }
    }
}
