use super::*;
use gavel_sdk::serde_json::{Value, json};
use gavel_sdk::{Agent, ChargeKind, parse_config};

fn policy(config: Value) -> Result<Budget, ConfigError> {
    Budget::new(parse_config(&config.to_string())?)
}

/// The manifest's example config.
fn standard() -> Value {
    json!({
        "actions": ["execute_transaction", "issue_refund", "make_payment"],
        "currency": "USD",
        "period": "day",
        "timezone": "UTC",
        "escalate_above": 0.9,
        "per_agent": {"financial-advisor": 5000, "customer-support": 2000, "default": 0},
        "fleet": {"limit": 20000}
    })
}

/// `config` with `key` set to `value`, or removed when `value` is null.
fn with(mut config: Value, key: &str, value: Value) -> Value {
    let object = config.as_object_mut().unwrap();
    match value {
        Value::Null => object.remove(key),
        v => object.insert(key.to_owned(), v),
    };
    config
}

fn request(agent: &str, action: &str, amount: Option<f64>, currency: Option<&str>) -> Request {
    Request {
        request_id: "r".into(),
        agent: Agent {
            id: agent.into(),
            ..Default::default()
        },
        action: action.into(),
        amount,
        currency: currency.map(Into::into),
        timestamp_ms: 1_764_374_400_000,
        session_id: Some("s1".into()),
        ..Default::default()
    }
}

/// A verdict as one line: `approve budget=100/5000@0.9 budget.fleet=...`
/// or `deny code`.
fn summary(v: &Verdict) -> String {
    let mut out = match v.code() {
        None => "approve".to_owned(),
        Some(code) if v.is_deny() => format!("deny {code}"),
        Some(code) => format!("escalate {code}"),
    };
    for c in &v.charges {
        out.push_str(&format!(" {}={}/{}", c.counter, c.amount, c.limit));
        if let Some(f) = c.escalate_above {
            out.push_str(&format!("@{f}"));
        }
    }
    out
}

#[test]
fn verdicts_and_charges() {
    let p = policy(standard()).unwrap();
    // (agent, action, amount, currency, summary)
    let cases = [
        (
            "financial-advisor",
            "execute_transaction",
            Some(100.0),
            Some("USD"),
            "approve budget=100/5000@0.9 budget.fleet=100/20000@0.9",
        ),
        // Agent ids and actions match ASCII-case-insensitively, currencies too.
        (
            "Financial-Advisor",
            "Issue_Refund",
            Some(12.5),
            Some("usd"),
            "approve budget=12.5/5000@0.9 budget.fleet=12.5/20000@0.9",
        ),
        (
            "customer-support",
            "make_payment",
            Some(0.0),
            None,
            "approve budget=0/2000@0.9 budget.fleet=0/20000@0.9",
        ),
        // Not listed: the default limit.
        (
            "research-assistant",
            "make_payment",
            Some(1.0),
            Some("USD"),
            "approve budget=1/0@0.9 budget.fleet=1/20000@0.9",
        ),
        // Over the limit is the host's to deny: the policy charges.
        (
            "customer-support",
            "make_payment",
            Some(2500.0),
            Some("USD"),
            "approve budget=2500/2000@0.9 budget.fleet=2500/20000@0.9",
        ),
        (
            "financial-advisor",
            "execute_transaction",
            None,
            Some("USD"),
            "deny amount-required",
        ),
        (
            "financial-advisor",
            "execute_transaction",
            Some(1.0),
            Some("EUR"),
            "deny currency-mismatch",
        ),
        (
            "financial-advisor",
            "execute_transaction",
            Some(f64::NAN),
            None,
            "deny invalid-amount",
        ),
        (
            "financial-advisor",
            "execute_transaction",
            Some(-1.0),
            None,
            "deny invalid-amount",
        ),
        (
            "financial-advisor",
            "execute_transaction",
            Some(2e15),
            None,
            "deny invalid-amount",
        ),
        // Other actions: approved, no charge, whatever they carry.
        (
            "financial-advisor",
            "send_email",
            None,
            Some("EUR"),
            "approve",
        ),
        (
            "financial-advisor",
            "execute_transactions",
            Some(1.0),
            None,
            "approve",
        ),
    ];
    for (agent, action, amount, currency, expected) in cases {
        let v = p.evaluate(&request(agent, action, amount, currency));
        assert_eq!(
            summary(&v),
            expected,
            "{agent} {action} {amount:?} {currency:?}"
        );
    }
}

#[test]
fn charges_are_budgets_in_the_configured_window() {
    // (timezone, period, window)
    let cases = [
        (json!(null), "day", Window::calendar(Period::Day, "UTC")),
        (json!("utc"), "Hour", Window::calendar(Period::Hour, "UTC")),
        (
            json!("america/new_york"),
            "month",
            Window::calendar(Period::Month, "America/New_York"),
        ),
    ];
    for (timezone, period, window) in cases {
        let config = with(
            with(standard(), "timezone", timezone),
            "period",
            json!(period),
        );
        let v = policy(config).unwrap().evaluate(&request(
            "financial-advisor",
            "make_payment",
            Some(5.0),
            None,
        ));
        let got: Vec<_> = v
            .charges
            .iter()
            .map(|c| (c.counter.as_str(), c.kind, c.scope, &c.window))
            .collect();
        assert_eq!(
            got,
            vec![
                (AGENT_COUNTER, ChargeKind::Budget, Scope::Agent, &window),
                (FLEET_COUNTER, ChargeKind::Budget, Scope::Fleet, &window),
            ],
            "{period}"
        );
        assert!(v.charges.iter().all(|c| c.problem().is_none()), "{v:?}");
    }
}

#[test]
fn without_fleet_or_escalation_one_plain_charge() {
    let config = with(
        with(standard(), "fleet", Value::Null),
        "escalate_above",
        Value::Null,
    );
    let v = policy(config).unwrap().evaluate(&request(
        "customer-support",
        "make_payment",
        Some(7.0),
        None,
    ));
    assert_eq!(summary(&v), "approve budget=7/2000");
}

#[test]
fn messages_name_numbers_and_names_never_params_or_odd_currencies() {
    let p = policy(standard()).unwrap();
    // (request, message)
    let cases = [
        (
            request("financial-advisor", "make_payment", None, None),
            "action `make_payment` spends from a budget and must state an amount",
        ),
        (
            request("financial-advisor", "make_payment", Some(1.0), Some("eur")),
            "currency eur does not match the budget's currency USD; budgets are in USD",
        ),
        (
            request(
                "financial-advisor",
                "make_payment",
                Some(1.0),
                Some("<b>secret</b>"),
            ),
            "the request's currency does not match the budget's currency USD",
        ),
    ];
    for (mut r, expected) in cases {
        r.params = json!({"note": "card 4111 1111 1111 1111"}).into();
        let v = p.evaluate(&r);
        assert_eq!(v.reason().map(|r| r.message.as_str()), Some(expected));
    }
}

#[test]
fn interest_is_the_actions() {
    // (actions, interest)
    let cases = [
        (json!(["pay", "refund_*"]), Some(vec!["pay", "refund_*"])),
        (json!(["*"]), None),
    ];
    for (actions, expected) in cases {
        let p = policy(with(standard(), "actions", actions.clone())).unwrap();
        let expected = expected.map(|e| e.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(p.interest(), expected, "{actions}");
    }
}

#[test]
fn bad_configs_name_the_key() {
    // (key, value (null removes it), a part of the error)
    let cases = [
        (
            "actions",
            json!([]),
            "config key `actions`: must list at least one action",
        ),
        ("actions", json!(["a*b"]), "config key `actions[0]`"),
        ("actions", json!(null), "missing field `actions`"),
        ("currency", json!(""), "config key `currency`"),
        ("currency", json!(" USD"), "config key `currency`"),
        ("currency", json!(null), "missing field `currency`"),
        (
            "period",
            json!("week"),
            "config key `period`: `week` is not a period",
        ),
        ("period", json!(null), "missing field `period`"),
        (
            "timezone",
            json!("Mars/Olympus_Mons"),
            "config key `timezone`: `Mars/Olympus_Mons` is not an IANA time zone",
        ),
        ("timezone", json!(""), "config key `timezone`"),
        ("timezone", json!(3), "config key `timezone`"),
        (
            "escalate_above",
            json!(0),
            "config key `escalate_above`: must be a fraction of the limit in (0, 1], got 0",
        ),
        ("escalate_above", json!(1.5), "config key `escalate_above`"),
        ("escalate_above", json!(-0.1), "config key `escalate_above`"),
        (
            "per_agent",
            json!({"a": 1}),
            "config key `per_agent`: needs a `default` entry",
        ),
        (
            "per_agent",
            json!({"default": -1}),
            "config key `per_agent.default`: must be a finite number >= 0",
        ),
        (
            "per_agent",
            json!({"default": 1, "bob": 2e15}),
            "config key `per_agent.bob`: 2000000000000000 is more than the host counts",
        ),
        (
            "per_agent",
            json!({"default": 1, "bob": "lots"}),
            "config key `per_agent.bob`",
        ),
        (
            "per_agent",
            json!({"default": 1, "bob": 1, "Bob": 2}),
            "names the same agent as another entry",
        ),
        (
            "per_agent",
            json!({"default": 1, "Default": 2}),
            "config key `per_agent.Default`: the entry for agents not listed is written `default`",
        ),
        (
            "per_agent",
            json!({"default": 1, "bo b": 2}),
            "character 2 (U+0020) is not allowed",
        ),
        ("per_agent", json!(null), "missing field `per_agent`"),
        (
            "fleet",
            json!({"limit": -5}),
            "config key `fleet.limit`: must be a finite number >= 0",
        ),
        (
            "fleet",
            json!({"limit": 5, "max": 6}),
            "unknown config key `fleet.max`",
        ),
        ("fleet", json!({}), "missing field `limit`"),
        ("budgets", json!(1), "unknown config key `budgets`"),
    ];
    for (key, value, expected) in cases {
        let config = with(standard(), key, value.clone());
        match policy(config) {
            Err(e) => assert!(e.0.contains(expected), "{key}={value}: {e}"),
            Ok(_) => panic!("{key}={value}: accepted"),
        }
    }
}

#[test]
fn non_finite_limits_are_refused() {
    let config = |default: f64, fleet: f64| Config {
        actions: vec!["pay".into()],
        currency: "USD".into(),
        period: "day".into(),
        timezone: None,
        escalate_above: Some(f64::NAN),
        per_agent: BTreeMap::from([(DEFAULT_KEY.to_owned(), default)]),
        fleet: Some(FleetConfig { limit: fleet }),
    };
    let e = Budget::new(config(1.0, 1.0)).unwrap_err();
    assert!(e.0.contains("`escalate_above`"), "{e}");
    let mut c = config(f64::INFINITY, 1.0);
    c.escalate_above = None;
    let e = Budget::new(c).unwrap_err();
    assert!(e.0.contains("`per_agent.default`"), "{e}");
    let mut c = config(1.0, f64::NAN);
    c.escalate_above = None;
    let e = Budget::new(c).unwrap_err();
    assert!(e.0.contains("`fleet.limit`"), "{e}");
}
