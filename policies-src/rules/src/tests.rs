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
    type Row = (
        &'static str,
        &'static str,
        Option<f64>,
        Json,
        Result<bool, &'static str>,
    );
    let cases: Vec<Row> = vec![
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
        let context = activation::context(&p.env, &r, &p.needs).unwrap();
        let got = p.rules[0].holds(&context);
        match (&got, &expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "{when}"),
            (Err(g), Err(e)) => assert!(g.contains(e), "{when}: {g}"),
            _ => panic!("{when}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[test]
fn rules_run_in_order_first_deny_wins_escalates_wait() {
    testing::reset();
    // (rules as (when, verdict, code), verdict, message fragment)
    type Row = (
        Vec<(&'static str, &'static str, &'static str)>,
        &'static str,
        &'static str,
    );
    let cases: Vec<Row> = vec![
        (vec![("false", "deny", "a")], "approve", ""),
        (
            vec![("true", "escalate", "a"), ("true", "deny", "b")],
            "deny b",
            "b message",
        ),
        (
            vec![("true", "deny", "a"), ("true", "deny", "b")],
            "deny a",
            "a message",
        ),
        (
            vec![("true", "escalate", "a"), ("true", "escalate", "b")],
            "escalate a",
            "a message",
        ),
        (
            vec![("false", "escalate", "a"), ("true", "escalate", "b")],
            "escalate b",
            "b message",
        ),
        // An error does not match; the error is named in the verdict.
        (
            vec![("params.x == 1", "deny", "a"), ("true", "escalate", "b")],
            "escalate b",
            "rule[0] `a` could not be evaluated (did not match): no such key `x`",
        ),
        (vec![("params.x == 1", "deny", "a")], "approve", ""),
    ];
    for (rules, expected, fragment) in cases {
        let config: Vec<Json> = rules.iter().map(|(w, v, c)| rule(w, v, c)).collect();
        let p = policy(Json::Array(config)).unwrap();
        let v = p.evaluate(&request("x", None, json!({})));
        assert_eq!(shown(&v), expected, "{rules:?}");
        let message = v.reason().map(|r| r.message.clone()).unwrap_or_default();
        assert!(message.contains(fragment), "{rules:?}: {message}");
    }
}

#[test]
fn on_error_match_fails_closed() {
    testing::reset();
    testing::set_completed(&["verify_identity"]);
    let mut r = rule(
        "!completed('verify_identity')",
        "deny",
        "prerequisite-missing",
    );
    r["on_error"] = json!("match");
    let p = policy(json!([r])).unwrap();
    let mut without_session = request("send_contract", None, json!({}));
    without_session.session_id = None;
    testing::set_completed_with(|_| Err("the request has no session".to_owned()));
    let v = p.evaluate(&without_session);
    assert_eq!(shown(&v), "deny prerequisite-missing");
    let message = v.reason().map(|r| r.message.clone()).unwrap_or_default();
    assert!(
        message.contains("(counted as a match): completed: the request has no session"),
        "{message}"
    );
}

#[test]
fn runtime_errors_never_repeat_values() {
    testing::reset();
    let secret = "4111-1111-1111-1111";
    // Expressions that fail on a param holding the secret.
    for when in [
        "params.card > 3",
        "params.card + 1 == 2",
        "params.card == 1 || int(params.card) > 0",
        "params[params.card] == 1",
        "params.card.size() + params.card < 1",
    ] {
        let p = policy(json!([
            rule(when, "deny", "a"),
            rule("true", "escalate", "b")
        ]))
        .unwrap();
        let v = p.evaluate(&request("x", None, json!({"card": secret})));
        let message = v.reason().map(|r| r.message.clone()).unwrap_or_default();
        assert!(
            message.contains("could not be evaluated"),
            "{when}: {message}"
        );
        assert!(!message.contains("4111"), "{when}: {message}");
    }
}

#[test]
fn a_decision_binds_only_what_the_rules_name() {
    // (when, the variables bound, whether the history functions are).
    // Params are read and converted only when named: reading them also
    // makes the SDK deny `invalid-request` should they not parse.
    let cases: [(&str, &[&str], bool); 7] = [
        ("action == 'x'", &["action"], false),
        (
            "amount == null && agent.registered",
            &["amount", "agent"],
            false,
        ),
        ("has(params.a)", &["params"], false),
        (
            "[1].exists(p, p == 1) && params.size() == 0",
            &["params"],
            false,
        ),
        (
            "time.getHours() > 3 && currency == 'EUR'",
            &["currency", "time"],
            false,
        ),
        (
            "session_id != null || user_id != null",
            &["session_id", "user_id"],
            false,
        ),
        ("approved_count('agent', 'x', '1h') > 1", &[], true),
    ];
    for (when, bound, history) in cases {
        let p = policy(json!([rule(when, "deny", "a")])).unwrap();
        for variable in activation::VARIABLES {
            assert_eq!(
                p.needs.reads(variable),
                bound.contains(&variable),
                "{when}: {variable}"
            );
        }
        assert_eq!(
            p.needs,
            activation::Needs::default().union(p.rules[0].needs)
        );
        let context =
            activation::context(&p.env, &request("x", None, json!({})), &p.needs).unwrap();
        for variable in activation::VARIABLES {
            assert_eq!(
                context.get_variable(variable).is_some(),
                bound.contains(&variable),
                "{when}: {variable} bound"
            );
        }
        assert_eq!(p.needs.calls_history(), history, "{when}");
    }
    // Two rules: the union.
    let p = policy(json!([
        rule("action == 'x'", "deny", "a"),
        rule("completed('verify')", "deny", "b")
    ]))
    .unwrap();
    assert!(p.needs.reads("action") && !p.needs.reads("params"));
    assert_eq!(p.needs.union(activation::Needs::default()), p.needs);
}

#[test]
fn config_errors_name_the_rule_and_the_position() {
    // (rules, a part of the error)
    let good = rule("true", "deny", "ok");
    let cases: Vec<(Json, &str)> = vec![
        (json!([]), "config key `rule`: must list at least one rule"),
        (
            json!([good, {"when": "1 +", "verdict": "deny", "code": "bad-syntax", "message": "m"}]),
            "config key `rule[1]` (code `bad-syntax`): `when` does not parse at line 1, column 4: Syntax error: mismatched input '<EOF>'",
        ),
        (
            json!([{"when": "amount >> 2", "verdict": "deny", "code": "c", "message": "m"}]),
            "`when` does not parse at line 1, column 9: Syntax error: extraneous input '>'",
        ),
        (
            json!([{"when": "action == 'x' &&\n  x.frobnicate()", "verdict": "deny", "code": "c", "message": "m"}]),
            "`when` at line 2, column 5: unknown function `frobnicate`",
        ),
        (
            json!([{"when": "amount > 5.0 &&\n  amonut > 3.0", "verdict": "deny", "code": "typo", "message": "m"}]),
            "config key `rule[0]` (code `typo`): `when` at line 2, column 3: unknown variable `amonut`",
        ),
        (
            json!([{"when": "size(action) > 1 && lenght(action) > 2", "verdict": "deny", "code": "f", "message": "m"}]),
            "config key `rule[0]` (code `f`): `when` at line 1, column 21: unknown function `lenght`",
        ),
        (
            json!([{"when": "[1].all(x, x > y)", "verdict": "deny", "code": "c", "message": "m"}]),
            "unknown variable `y`",
        ),
        (
            json!([{"when": "action == 'Issue_Refund'", "verdict": "deny", "code": "c", "message": "m"}]),
            "compare them with \"issue_refund\"",
        ),
        (
            json!([{"when": "action in ['a', 'B']", "verdict": "deny", "code": "c", "message": "m"}]),
            "compare them with \"b\"",
        ),
        (
            json!([{"when": "approved_count('planet', 'x', '1h') > 1", "verdict": "deny", "code": "c", "message": "m"}]),
            "at line 1, column 16: approved_count: scope \"planet\" is not",
        ),
        (
            json!([{"when": "approved_sum('agent', 'x*y', '1h') > 1.0", "verdict": "deny", "code": "c", "message": "m"}]),
            "approved_sum: action pattern `x*y`: `*` is allowed only at the end",
        ),
        (
            json!([{"when": "approved_count('agent', 'x', '40d') > 1", "verdict": "deny", "code": "c", "message": "m"}]),
            "approved_count: window \"40d\": a window is 1 ms .. 31 days",
        ),
        (
            json!([{"when": "completed('a', 'b')", "verdict": "deny", "code": "c", "message": "m"}]),
            "`completed` takes (pattern)",
        ),
        (
            json!([{"when": "true", "verdict": "allow", "code": "c", "message": "m"}]),
            "config key `rule[0]` (code `c`): verdict \"allow\" is not \"deny\" or \"escalate\"",
        ),
        (
            json!([{"when": "true", "verdict": "deny", "code": "Bad_Code", "message": "m"}]),
            "config key `rule[0].code`: code \"Bad_Code\" is not 1..64 characters",
        ),
        (
            json!([{"when": "true", "verdict": "deny", "message": "m"}]),
            "config key `rule[0]`: `code` is missing",
        ),
        (
            json!([{"when": "true", "verdict": "deny", "code": "c", "message": "m", "priority": 1}]),
            "config key `rule[0]` (code `c`): unknown key `priority`",
        ),
        (
            json!([{"when": "true", "verdict": "deny", "code": "c", "message": " "}]),
            "message must be",
        ),
        (
            json!([{"verdict": "deny", "code": "c", "message": "m"}]),
            "`when` is missing",
        ),
        (
            json!([{"when": "true", "verdict": "deny", "code": "c", "message": "m", "on_error": "deny"}]),
            "on_error must be",
        ),
        (json!(["true"]), "config key `rule[0]`: a rule is a table"),
    ];
    for (rules, fragment) in cases {
        match policy(rules.clone()) {
            Ok(_) => panic!("{rules}: accepted"),
            Err(e) => assert!(
                e.0.contains(fragment),
                "{rules}:\n  {e}\n  wanted {fragment:?}"
            ),
        }
    }
    // An unknown top-level key, from the SDK.
    let e = parse_config::<Config>(r#"{"rule": [], "rules": []}"#)
        .err()
        .unwrap_or_else(|| ConfigError(String::new()));
    assert!(e.0.contains("`rules`"), "{e}");
}

#[test]
fn the_standard_library_passes_the_check() {
    for when in [
        "size(params) > 0 && params.all(k, k.size() > 0)",
        "params.exists_one(k, k == 'a') || [1, 2].map(x, x * 2) == [2, 4]",
        "[1, 2].filter(x, x > 1).size() == 1 && type(amount) == double",
        "string(1) == '1' && int('2') == 2 && double(1) == 1.0 && uint(1) == 1u",
        "duration('1h') > duration('1m') && timestamp('2026-01-01T00:00:00Z') < time",
        "action.startsWith('delete_') || action.endsWith('_x') || action.contains('y')",
        "'a'.matches('a') && {'a': 1}.a == 1 && (true ? 1 : 2) == 1 && -1 < 0 && 3 % 2 == 1",
        "time.getFullYear() > 2000 && time.getMonth() >= 0 && time.getDate() > 0 && time.getMinutes() >= 0",
    ] {
        if let Err(e) = policy(json!([rule(when, "deny", "a")])) {
            panic!("{when}: {e}");
        }
    }
}

#[test]
fn action_gates_read_only_top_level_conjuncts() {
    // (when, action, whether the gate admits it)
    let cases = [
        (
            "action == 'issue_refund' && amount > 500.0",
            "issue_refund",
            true,
        ),
        (
            "action == 'issue_refund' && amount > 500.0",
            "search",
            false,
        ),
        ("'issue_refund' == action", "search", false),
        ("amount > 5.0 && action in ['a', 'b']", "b", true),
        ("amount > 5.0 && action in ['a', 'b']", "c", false),
        (
            "action.startsWith('wire_') && params.x == 1",
            "wire_out",
            true,
        ),
        ("action.startsWith('wire_') && params.x == 1", "wir", false),
        (
            "(action == 'a' && amount > 1.0) && action.startsWith('a')",
            "b",
            false,
        ),
        // Not a conjunction of gates: every action.
        ("action == 'a' || action == 'b'", "c", true),
        ("!(action == 'a')", "a", true),
        ("[1].exists(action, action == 'zz')", "b", true),
        ("action in [params.x]", "b", true),
        ("action == params.x", "b", true),
        ("amount > 1.0", "b", true),
    ];
    for (when, action, admitted) in cases {
        let p = policy(json!([rule(when, "deny", "a")])).unwrap();
        assert_eq!(
            p.rules[0].gate.admits(action),
            admitted,
            "{when} on {action}"
        );
    }
}

#[test]
fn a_rule_its_gate_refuses_is_false_even_where_another_conjunct_fails() {
    // Soundness of skipping: for every action a gate refuses, running the
    // rule gives `false` (never an error), whatever the other conjuncts do.
    let expressions = [
        "action == 'issue_refund' && amount > 500.0",
        "amount > 500.0 && action == 'issue_refund'",
        "params.missing.deeper == 1 && action in ['a', 'b']",
        "action.startsWith('wire_') && params.missing > 3",
        "(amount > 1.0 && params.nope) && (action == 'a' && params.x == 'y')",
        "approved_count('session', 'x', '1h') > 1 && action == 'a'",
        "completed('verify') && action.startsWith('pay')",
    ];
    let actions = ["a", "b", "issue_refund", "wire_out", "pay_now", "x"];
    for when in expressions {
        let p = policy(json!([rule(when, "deny", "a")])).unwrap();
        let gate = &p.rules[0].gate;
        assert!(!gate.is_open(), "{when}");
        for action in actions {
            let r = request(action, None, json!({}));
            let context = activation::context(&p.env, &r, &p.needs).unwrap();
            let got = p.rules[0].holds(&context);
            if !gate.admits(&identifier_key(action)) {
                assert_eq!(got, Ok(false), "{when} on {action}");
            }
        }
    }
    // And through evaluate: on_error = "match" does not turn a skipped rule
    // into a match.
    let p = policy(json!([{
        "when": "amount > 500.0 && action == 'issue_refund'",
        "verdict": "deny", "code": "big", "message": "m", "on_error": "match"
    }]))
    .unwrap();
    assert!(p.evaluate(&request("search", None, json!({}))).is_approve());
    assert!(
        p.evaluate(&request("issue_refund", None, json!({})))
            .is_deny()
    );
}
