use super::*;
use gavel_sdk::history::testing;
use gavel_sdk::serde_json::{Value, json};
use gavel_sdk::{Agent, parse_config};

fn policy(config: Value) -> Result<Prerequisites, ConfigError> {
    Prerequisites::new(parse_config(&config.to_string())?)
}

fn standard() -> Prerequisites {
    policy(json!({"requires": {
        "send_contract": ["verify_identity"],
        "wire_*": ["verify_identity", "manager_signoff"],
    }}))
    .unwrap()
}

fn request(action: &str, session: Option<&str>) -> Request {
    Request {
        request_id: "r".into(),
        agent: Agent {
            id: "financial-advisor".into(),
            ..Default::default()
        },
        action: action.into(),
        params: json!({"ssn": "123-45-6789"}).into(),
        session_id: session.map(Into::into),
        ..Default::default()
    }
}

/// How the test double answers.
#[derive(Debug, Clone, Copy)]
enum History {
    Completed(&'static [&'static str]),
    /// Every call fails.
    Down,
    /// `verify_identity` fails; the others answer from the list.
    DownFor(&'static [&'static str]),
}

fn set(history: History) {
    testing::reset();
    match history {
        History::Completed(actions) => testing::set_completed(actions),
        History::Down => testing::fail("history store unavailable"),
        History::DownFor(actions) => testing::set_completed_with(move |p| {
            if p.eq_ignore_ascii_case("verify_identity") {
                Err("history store unavailable".to_owned())
            } else {
                Ok(actions.iter().any(|a| a.eq_ignore_ascii_case(p)))
            }
        }),
    }
}

#[test]
fn every_branch_row_by_row() {
    let p = standard();
    // (history, action, session, verdict, message)
    let cases: [(History, &str, Option<&str>, &str, &str); 13] = [
        (
            History::Completed(&["verify_identity"]),
            "send_contract",
            Some("s1"),
            "approve",
            "",
        ),
        (
            History::Completed(&["Verify_Identity"]),
            "Send_Contract",
            Some("s1"),
            "approve",
            "",
        ),
        (
            History::Completed(&[]),
            "send_contract",
            Some("s1"),
            "deny prerequisite-missing",
            "action `send_contract` needs `verify_identity` completed earlier in this session",
        ),
        (
            History::Completed(&["verify_identity"]),
            "send_contract",
            None,
            "deny prerequisite-missing",
            "action `send_contract` needs `verify_identity` completed earlier in the same session, and the request has no session",
        ),
        (
            History::Down,
            "send_contract",
            Some("s1"),
            "deny history-unavailable",
            "action `send_contract` needs `verify_identity` completed earlier in this session, and the session's history could not be read: history store unavailable",
        ),
        // One of several prerequisites is enough.
        (
            History::Completed(&["manager_signoff"]),
            "wire_funds",
            Some("s1"),
            "approve",
            "",
        ),
        (
            History::Completed(&["verify_identity"]),
            "wire_funds",
            Some("s1"),
            "approve",
            "",
        ),
        (
            History::Completed(&["send_contract"]),
            "wire_funds",
            Some("s1"),
            "deny prerequisite-missing",
            "action `wire_funds` needs `verify_identity` or `manager_signoff` completed earlier in this session",
        ),
        // A known completion stands even when another cannot be read; an
        // unreadable one alone never approves.
        (
            History::DownFor(&["manager_signoff"]),
            "wire_funds",
            Some("s1"),
            "approve",
            "",
        ),
        (
            History::DownFor(&[]),
            "wire_funds",
            Some("s1"),
            "deny history-unavailable",
            "history store unavailable",
        ),
        // Other actions: approved without reading history.
        (History::Down, "send_email", Some("s1"), "approve", ""),
        (History::Down, "send_email", None, "approve", ""),
        (History::Down, "send_contracts", None, "approve", ""),
    ];
    for (history, action, session, verdict, message) in cases {
        set(history);
        let v = p.evaluate(&request(action, session));
        let got = match v.code() {
            None => "approve".to_owned(),
            Some(code) => format!("deny {code}"),
        };
        assert!(v.is_approve() || v.is_deny(), "{v:?}");
        assert!(v.charges.is_empty(), "{v:?}");
        assert_eq!(got, verdict, "{history:?} {action} {session:?}");
        let text = v.reason().map(|r| r.message.as_str()).unwrap_or("");
        assert!(text.contains(message), "{history:?} {action}: {text}");
        assert!(!text.contains("123-45-6789"), "{text}");
    }
}

#[test]
fn every_matching_key_must_be_met_and_history_is_read_only_when_needed() {
    let p = policy(json!({"requires": {
        "wire_*": ["verify_identity"],
        "wire_abroad": ["compliance_check"],
    }}))
    .unwrap();
    // (completed, action, verdict)
    let cases: [(&[&str], &str, bool); 4] = [
        (&["verify_identity"], "wire_home", true),
        (&["verify_identity"], "wire_abroad", false),
        (&["compliance_check"], "wire_abroad", false),
        (
            &["verify_identity", "compliance_check"],
            "wire_abroad",
            true,
        ),
    ];
    for (completed, action, approved) in cases {
        testing::reset();
        testing::set_completed(completed);
        assert_eq!(
            p.evaluate(&request(action, Some("s"))).is_approve(),
            approved,
            "{completed:?} {action}"
        );
    }
    testing::reset();
    testing::set_completed(&[]);
    p.evaluate(&request("read_file", Some("s")));
    assert!(testing::calls().is_empty(), "{:?}", testing::calls());
    p.evaluate(&request("wire_home", Some("s")));
    assert_eq!(
        testing::calls(),
        vec![testing::Call::Completed {
            pattern: "verify_identity".into()
        }]
    );
}

#[test]
fn interest_is_the_keys() {
    // (config, interest)
    let cases = [
        (
            json!({"requires": {"send_contract": ["v"], "wire_*": ["v"]}}),
            Some(vec!["send_contract", "wire_*"]),
        ),
        (json!({"requires": {"*": ["v"]}}), None),
    ];
    for (config, expected) in cases {
        let p = policy(config.clone()).unwrap();
        let expected = expected.map(|e| e.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(p.interest(), expected, "{config}");
    }
}

#[test]
fn bad_configs_name_the_key() {
    // (config, a part of the error)
    let cases = [
        (json!({}), "missing field `requires`"),
        (
            json!({"requires": {}}),
            "config key `requires`: must name at least one action",
        ),
        (
            json!({"requires": {"send_contract": []}}),
            "config key `requires.send_contract`: must list at least one prerequisite",
        ),
        (
            json!({"requires": {"send_contract": "verify_identity"}}),
            "config key `requires.send_contract`",
        ),
        (
            json!({"requires": {"send_contract": ["verify identity"]}}),
            "config key `requires.send_contract[0]`",
        ),
        (
            json!({"requires": {"send_contract": ["ok", "a*b"]}}),
            "config key `requires.send_contract[1]`",
        ),
        (
            json!({"requires": {"send*contract": ["v"]}}),
            "config key `requires.send*contract`",
        ),
        (
            json!({"requires": {"send_contract": ["v"], "Send_Contract": ["w"]}}),
            "names the same actions as another entry",
        ),
        (
            json!({"requires": {"a": ["v"]}, "extra": true}),
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
