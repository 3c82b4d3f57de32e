use super::*;
use gavel_sdk::serde_json::{Map, Value, json};
use gavel_sdk::{Agent, ChargeKind, parse_config};

fn policy(config: Value) -> Result<RateLimit, ConfigError> {
    RateLimit::new(parse_config(&config.to_string())?)
}

fn request(action: &str) -> Request {
    Request {
        request_id: "r".into(),
        agent: Agent {
            id: "financial-advisor".into(),
            ..Default::default()
        },
        action: action.into(),
        ..Default::default()
    }
}

/// The charges as `counter=limit/per_ms`.
fn charges(v: &Verdict) -> Vec<String> {
    assert!(v.is_approve(), "{v:?}");
    v.charges
        .iter()
        .map(|c| {
            assert_eq!(
                (c.kind, c.scope, c.amount),
                (ChargeKind::Rate, Scope::Agent, 1.0)
            );
            assert_eq!(c.escalate_above, None);
            assert_eq!(c.problem(), None, "{c:?}");
            match c.window {
                Window::Rolling { ms } => format!("{}={}/{ms}", c.counter, c.limit),
                Window::Calendar { .. } => panic!("{c:?}"),
            }
        })
        .collect()
}

#[test]
fn charges_per_agent_and_per_matching_entry() {
    let both = json!({
        "per_agent": {"limit": 500, "per": "1h"},
        "actions": {
            "send_email": {"limit": 50, "per": "1h"},
            "send_*": {"limit": 80, "per": "30m"},
            "delete_*": {"limit": 5, "per": "1d"}
        }
    });
    let only_actions = json!({"actions": {"Send_Email": {"limit": 2, "per": "10s"}}});
    // (config, action, charges)
    let cases = [
        (
            &both,
            "send_email",
            vec![
                "rate=500/3600000",
                "rate.prefix:send_=80/1800000",
                "rate:send_email=50/3600000",
            ],
        ),
        (
            &both,
            "SEND_EMAIL",
            vec![
                "rate=500/3600000",
                "rate.prefix:send_=80/1800000",
                "rate:send_email=50/3600000",
            ],
        ),
        (
            &both,
            "send_sms",
            vec!["rate=500/3600000", "rate.prefix:send_=80/1800000"],
        ),
        (
            &both,
            "delete_user",
            vec!["rate=500/3600000", "rate.prefix:delete_=5/86400000"],
        ),
        (&both, "read_file", vec!["rate=500/3600000"]),
        (&only_actions, "send_email", vec!["rate:send_email=2/10000"]),
        (&only_actions, "read_file", vec![]),
    ];
    for (config, action, expected) in cases {
        let v = policy(config.clone()).unwrap().evaluate(&request(action));
        assert_eq!(charges(&v), expected, "{action}");
    }
}

#[test]
fn interest_is_everything_with_per_agent() {
    // (config, interest)
    let cases = [
        (json!({"per_agent": {"limit": 1, "per": "1s"}}), None),
        (
            json!({"per_agent": {"limit": 1, "per": "1s"}, "actions": {"a": {"limit": 1, "per": "1s"}}}),
            None,
        ),
        (
            json!({"actions": {"send_*": {"limit": 1, "per": "1s"}, "pay": {"limit": 1, "per": "1s"}}}),
            Some(vec!["pay", "send_*"]),
        ),
        (json!({"actions": {"*": {"limit": 1, "per": "1s"}}}), None),
    ];
    for (config, expected) in cases {
        let p = policy(config.clone()).unwrap();
        let expected = expected.map(|e| e.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(p.interest(), expected, "{config}");
    }
}

#[test]
fn charges_per_outcome_stay_within_the_hosts_cap() {
    let rate = json!({"limit": 1, "per": "1m"});
    // Fifteen nested prefixes and the name itself: 16 entries match `aaaaaaaaaaaaaaaa`.
    let mut nested = Map::new();
    for n in 1..=15 {
        nested.insert(format!("{}*", "a".repeat(n)), rate.clone());
    }
    nested.insert("a".repeat(16), rate.clone());
    let nested = Value::Object(nested);
    // Many entries, none overlapping.
    let mut flat = Map::new();
    for n in 0..40 {
        flat.insert(format!("action_{n}"), rate.clone());
    }
    let flat = Value::Object(flat);
    // (config, accepted)
    let cases = [
        (json!({ "actions": nested }), true),
        (json!({ "actions": nested, "per_agent": rate }), false),
        (json!({ "actions": flat, "per_agent": rate }), true),
    ];
    for (config, accepted) in cases {
        match policy(config) {
            Ok(p) => {
                assert!(accepted, "accepted");
                let n = p.evaluate(&request(&"a".repeat(16))).charges.len();
                assert!(n <= MAX_CHARGES, "{n}");
            }
            Err(e) => {
                assert!(!accepted, "{e}");
                assert!(e.0.contains("could match 17 limits"), "{e}");
            }
        }
    }
}

#[test]
fn bad_configs_name_the_key() {
    let long = "a".repeat(124);
    // (config, a part of the error)
    let cases = [
        (json!({}), "set `per_agent`, `actions` or both"),
        (json!({"actions": {}}), "set `per_agent`, `actions` or both"),
        (
            json!({"per_agent": {"limit": 0, "per": "1h"}}),
            "config key `per_agent.limit`: must be an integer from 1 to 100000, got 0",
        ),
        (
            json!({"per_agent": {"limit": 100001, "per": "1h"}}),
            "config key `per_agent.limit`",
        ),
        (
            json!({"per_agent": {"limit": -1, "per": "1h"}}),
            "config key `per_agent.limit`",
        ),
        (
            json!({"per_agent": {"limit": 1.5, "per": "1h"}}),
            "config key `per_agent.limit`",
        ),
        (
            json!({"per_agent": {"limit": 1, "per": "1w"}}),
            "config key `per_agent.per`: `1w` is not a duration",
        ),
        (
            json!({"per_agent": {"limit": 1, "per": "367d"}}),
            "config key `per_agent.per`: `367d` is outside 1ms..366d",
        ),
        (
            json!({"per_agent": {"limit": 1, "per": 60}}),
            "config key `per_agent.per`",
        ),
        (json!({"per_agent": {"limit": 1}}), "missing field `per`"),
        (
            json!({"per_agent": {"limit": 1, "per": "1h", "burst": 2}}),
            "unknown config key `per_agent.burst`",
        ),
        (
            json!({"actions": {"send_email": {"limit": 1, "per": "0ms"}}}),
            "config key `actions.send_email.per`",
        ),
        (
            json!({"actions": {"send_email": {"limit": 0, "per": "1s"}}}),
            "config key `actions.send_email.limit`",
        ),
        (
            json!({"actions": {"a*b": {"limit": 1, "per": "1s"}}}),
            "config key `actions.a*b`: action pattern `a*b`",
        ),
        (
            json!({"actions": {"send email": {"limit": 1, "per": "1s"}}}),
            "config key `actions.send email`: an action pattern is an action name",
        ),
        (
            json!({"actions": {"send_email": {"limit": 1, "per": "1s"}, "Send_Email": {"limit": 2, "per": "1s"}}}),
            "names the same actions as another entry",
        ),
        (
            json!({"actions": { long.clone(): {"limit": 1, "per": "1s"}}}),
            "too long to name its counter",
        ),
        (
            json!({"per_agent": {"limit": 1, "per": "1h"}, "extra": 1}),
            "unknown config key `extra`",
        ),
    ];
    for (config, expected) in cases {
        match policy(config.clone()) {
            Err(e) => assert!(e.0.contains(expected), "{config}: {e}"),
            Ok(_) => panic!("{config}: accepted"),
        }
    }
}
