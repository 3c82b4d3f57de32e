//! Shared counters in Redis, against a real `redis-server` and two real
//! `gavel serve` nodes: 64 callers spread across both get exactly 100
//! approves of a 1,000 USD budget and exactly 30 of a rate of 30 per hour;
//! a retry through the other node is not charged twice; with Redis killed
//! mid-run no approve passes a limit, decisions that charge nothing are
//! unaffected, and the nodes recover by themselves when it is back; a
//! stopped (hung) Redis is a timeout, refused the same way.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::policy_dir;
use common::redis::RedisServer;
use common::server::Server;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A budget of 1,000 USD a day and a rate of 30 an hour for one agent,
/// both on `execute_transaction`; `send_email` charges nothing.
const POLICIES: &str = r#"
[[policy]]
name = "budget"
component = "{shipped}/budget.wasm"
priority = 95
[policy.config]
actions = ["execute_transaction"]
currency = "USD"
period = "day"
per_agent = { financial-advisor = 1000, default = 0 }

[[policy]]
name = "rate-limit"
component = "{shipped}/rate_limit.wasm"
priority = 96
[policy.config.actions]
call_api = { limit = 30, per = "1h" }
"#;

fn action(id: &str, action: &str, amount: Option<f64>) -> Value {
    let mut a = json!({
        "request_id": id,
        "agent_id": "financial-advisor",
        "action": action,
        "currency": "USD",
    });
    if let Some(amount) = amount {
        a["amount"] = amount.into();
    }
    a
}

fn code(decision: &Value) -> Option<&str> {
    decision["reasons"]
        .as_array()
        .and_then(|r| r.last())
        .and_then(|r| r["code"].as_str())
}

/// Two nodes sharing `redis`.
fn fleet(redis: &RedisServer) -> (tempfile::TempDir, Vec<(Server, tempfile::TempDir)>) {
    let policies = policy_dir(POLICIES);
    let nodes = (0..2)
        .map(|_| {
            let data = tempfile::tempdir().unwrap();
            let server = Server::start(
                policies.path(),
                data.path(),
                &["--usage", &redis.url(), "--usage-timeout", "300ms"],
                &[],
            );
            (server, data)
        })
        .collect();
    (policies, nodes)
}

/// 64 callers, half on each node, each sending `per_caller` actions.
fn hammer(
    nodes: &[(Server, tempfile::TempDir)],
    tag: &str,
    name: &str,
    amount: Option<f64>,
    per_caller: usize,
) -> Vec<Value> {
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..64)
            .map(|t| {
                let server = &nodes[t % 2].0;
                s.spawn(move || {
                    (0..per_caller)
                        .map(|i| server.evaluate(&action(&format!("{tag}-{t}-{i}"), name, amount)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        callers
            .into_iter()
            .flat_map(|c| c.join().expect("caller"))
            .collect()
    })
}

fn verdicts(decisions: &[Value]) -> (usize, BTreeMap<String, usize>) {
    let approved = decisions
        .iter()
        .filter(|d| d["verdict"] == "approve")
        .count();
    let mut codes = BTreeMap::new();
    for d in decisions.iter().filter(|d| d["verdict"] != "approve") {
        assert_eq!(d["verdict"], "deny", "{d}");
        *codes
            .entry(code(d).unwrap_or("none").to_owned())
            .or_default() += 1;
    }
    (approved, codes)
}

/// What node `server` reports for the agent's budget: used + reserved.
fn budget_taken(server: &Server) -> f64 {
    let (status, answer) =
        server.get("/v1/usage?scope=agent&subject=financial-advisor&counter=budget");
    assert_eq!(status, 200, "{answer}");
    let rows = answer["counters"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{answer}");
    rows[0]["used"].as_f64().unwrap() + rows[0]["reserved"].as_f64().unwrap()
}

#[test]
fn a_budget_is_exact_across_two_nodes() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (_policies, nodes) = fleet(&redis);
    let decisions = hammer(&nodes, "b", "execute_transaction", Some(10.0), 3);
    let (approved, codes) = verdicts(&decisions);
    assert_eq!(approved, 100, "{codes:?}");
    assert_eq!(
        codes,
        BTreeMap::from([("budget-exceeded".to_owned(), 192 - 100)])
    );
    // Both nodes approved some, and both see the whole budget taken.
    for (server, _) in &nodes {
        assert_eq!(budget_taken(server), 1000.0);
    }
    let per_node: Vec<usize> = (0..2)
        .map(|n| {
            decisions
                .iter()
                .enumerate()
                .filter(|(i, d)| (i / 3) % 2 == n && d["verdict"] == "approve")
                .count()
        })
        .collect();
    assert!(per_node.iter().all(|&n| n > 0), "{per_node:?}");
    // A denial names the numbers.
    let denied = decisions
        .iter()
        .find(|d| code(d) == Some("budget-exceeded"))
        .unwrap();
    let message = denied["reasons"].as_array().unwrap().last().unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("limit 1000"), "{message}");
}

#[test]
fn a_retry_through_the_other_node_is_not_charged_twice() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (_policies, nodes) = fleet(&redis);
    let first = nodes[0]
        .0
        .evaluate(&action("same-request", "execute_transaction", Some(600.0)));
    assert_eq!(first["verdict"], "approve", "{first}");
    // The same request id again, through node B: not charged again.
    let retry = nodes[1]
        .0
        .evaluate(&action("same-request", "execute_transaction", Some(600.0)));
    assert_eq!(retry["verdict"], "approve", "{retry}");
    assert_eq!(retry["charges"][0]["duplicate"], true, "{retry}");
    assert_eq!(budget_taken(&nodes[1].0), 600.0);
    // A new request of 600 does not fit the 400 left.
    let other = nodes[1]
        .0
        .evaluate(&action("other-request", "execute_transaction", Some(600.0)));
    assert_eq!(code(&other), Some("budget-exceeded"), "{other}");
}

#[test]
fn a_rate_is_exact_across_two_nodes() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (_policies, nodes) = fleet(&redis);
    let decisions = hammer(&nodes, "r", "call_api", None, 1);
    let (approved, codes) = verdicts(&decisions);
    assert_eq!(approved, 30, "{codes:?}");
    assert_eq!(
        codes,
        BTreeMap::from([("rate-limited".to_owned(), 64 - 30)])
    );
    // Every refusal says when a unit frees up (within the hour).
    for d in decisions.iter().filter(|d| d["verdict"] == "deny") {
        let retry = d["charges"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|c| c["retry_after_ms"].as_u64())
            .unwrap_or_else(|| panic!("no retry time: {d}"));
        assert!(retry > 0 && retry <= 3_600_000, "{d}");
    }
}

#[test]
fn redis_killed_mid_run_never_approves_past_a_limit_and_recovers() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (_policies, nodes) = fleet(&redis);
    // Some spend first: 30 approves of 10.
    let early = hammer(&nodes, "early", "execute_transaction", Some(10.0), 1);
    let early_approved = verdicts(&early[..30]).0 + verdicts(&early[30..]).0;
    assert_eq!(early_approved, 64);

    // Kill Redis while 64 callers keep spending; restart it mid-run.
    let decisions = std::thread::scope(|s| {
        let load = s.spawn(|| hammer(&nodes, "mid", "execute_transaction", Some(10.0), 4));
        std::thread::sleep(Duration::from_millis(30));
        redis.kill();
        std::thread::sleep(Duration::from_millis(600));
        redis.restart();
        load.join().unwrap()
    });
    let (approved, codes) = verdicts(&decisions);
    // Never past the limit: 64 early + what the run approved <= 100.
    assert!(
        64 + approved <= 100,
        "{approved} approved after 64: {codes:?}"
    );
    for code in codes.keys() {
        assert!(
            code == "budget-exceeded" || code == "usage-unavailable",
            "{codes:?}"
        );
    }

    // While Redis is down, decisions that charge a counter are refused
    // with usage-unavailable, and those that charge nothing still pass.
    redis.kill();
    let refused = nodes[0]
        .0
        .evaluate(&action("down-1", "execute_transaction", Some(1.0)));
    assert_eq!(refused["verdict"], "deny", "{refused}");
    assert_eq!(code(&refused), Some("usage-unavailable"), "{refused}");
    let message = refused["reasons"].as_array().unwrap().last().unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(message.contains(&redis.url()), "{message}");
    let free = nodes[1].0.evaluate(&action("down-2", "send_email", None));
    assert_eq!(free["verdict"], "approve", "{free}");
    let (status, answer) = nodes[0].0.get("/v1/usage");
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "usage-unavailable", "{answer}");

    // Back: both nodes recover by themselves, and fill the budget exactly
    // (a reservation whose answer was lost when Redis died is taken back).
    redis.restart();
    for (n, (server, _)) in nodes.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let d = server.evaluate(&action(
                &format!("probe-{n}"),
                "execute_transaction",
                Some(0.0),
            ));
            if d["verdict"] == "approve" {
                break;
            }
            assert!(Instant::now() < deadline, "no recovery: {d}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let rest = hammer(&nodes, "after", "execute_transaction", Some(10.0), 2);
    let after = verdicts(&rest).0;
    assert_eq!(64 + approved + after, 100, "{approved} then {after}");
    for (server, _) in &nodes {
        assert_eq!(budget_taken(server), 1000.0);
    }
}

#[test]
fn a_hung_redis_is_a_timeout_and_refused() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (_policies, nodes) = fleet(&redis);
    let ok = nodes[0]
        .0
        .evaluate(&action("before", "execute_transaction", Some(1.0)));
    assert_eq!(ok["verdict"], "approve", "{ok}");
    let pid = redis.pid().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name} {pid}");
    };
    signal("-STOP");
    let started = Instant::now();
    let refused = nodes[0]
        .0
        .evaluate(&action("hung", "execute_transaction", Some(1.0)));
    let waited = started.elapsed();
    signal("-CONT");
    assert_eq!(code(&refused), Some("usage-unavailable"), "{refused}");
    let message = refused["reasons"].as_array().unwrap().last().unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("no answer within 300 ms"), "{message}");
    // Bounded by the timeouts, not hung (a loose bound: the connect and
    // the call each have theirs).
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = nodes[0]
            .0
            .evaluate(&action("after", "execute_transaction", Some(1.0)));
        if d["verdict"] == "approve" {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {d}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The refused request reserved nothing: 1 + 1 spent.
    assert_eq!(budget_taken(&nodes[1].0), 2.0);
}

/// The budget of POLICIES, escalating past 90% of it.
const ESCALATING: &str = r#"
[[policy]]
name = "budget"
component = "{shipped}/budget.wasm"
priority = 95
[policy.config]
actions = ["execute_transaction"]
currency = "USD"
period = "day"
escalate_above = 0.9
per_agent = { financial-advisor = 1000, default = 0 }
"#;

fn reservations(server: &Server) -> Value {
    let (status, answer) = server.get("/v1/usage");
    assert_eq!(status, 200, "{answer}");
    answer["reservations"].clone()
}

#[test]
fn an_escalation_held_on_one_node_is_resolved_through_the_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let policies = policy_dir(ESCALATING);
    let start = |data: &tempfile::TempDir| {
        Server::start(
            policies.path(),
            data.path(),
            &["--usage", &redis.url()],
            &[],
        )
    };
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (start(&data_a), start(&data_b));

    let spent = a.evaluate(&action("e-850", "execute_transaction", Some(850.0)));
    assert_eq!(spent["verdict"], "approve", "{spent}");
    // Past 90%: escalated on A, its 100 held.
    let held = a.evaluate(&action("e-100", "execute_transaction", Some(100.0)));
    assert_eq!(held["verdict"], "escalate", "{held}");
    let id = held["escalation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(budget_taken(&b), 950.0);
    assert_eq!(
        reservations(&b),
        json!({"held": 1, "open": 1, "settled": 0})
    );
    // B counts the held reservation: 60 more does not fit.
    let over = b.evaluate(&action("e-60", "execute_transaction", Some(60.0)));
    assert_eq!(code(&over), Some("budget-exceeded"), "{over}");

    // Approved through B, which never saw the escalation.
    let (status, approved) = b.post(
        &format!("/v1/escalations/{id}/approve"),
        &json!({"reviewer": "rita", "comment": "known vendor"}),
    );
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved", "{approved}");
    assert_eq!(
        reservations(&a),
        json!({"held": 0, "open": 2, "settled": 0})
    );
    // A takes it over: its escalation shows B's resolution.
    let deadline = Instant::now() + Duration::from_secs(10);
    let on_a = loop {
        let (status, e) = a.get(&format!("/v1/escalations/{id}"));
        assert_eq!(status, 200, "{e}");
        if e["status"] != "pending" {
            break e;
        }
        assert!(Instant::now() < deadline, "A never took it over: {e}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(on_a["status"], "approved", "{on_a}");
    assert_eq!(on_a["resolution"]["reviewer"], "rita", "{on_a}");
    assert_eq!(on_a["resolution"]["comment"], "known vendor", "{on_a}");
    // A second answer, on either node, is a conflict.
    for node in [&a, &b] {
        let (status, e) = node.post(
            &format!("/v1/escalations/{id}/deny"),
            &json!({"reviewer": "sam"}),
        );
        assert_eq!(status, 409, "{e}");
    }
    // An unknown id is still unknown.
    let (status, e) = b.post(
        "/v1/escalations/esc-0000000000000000/approve",
        &json!({"reviewer": "sam"}),
    );
    assert_eq!(status, 404, "{e}");

    // Denied through B: the held reservation is freed fleet-wide.
    let second = a.evaluate(&action("e-40", "execute_transaction", Some(40.0)));
    assert_eq!(second["verdict"], "escalate", "{second}");
    let id2 = second["escalation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(budget_taken(&b), 990.0);
    let (status, denied) = b.post(
        &format!("/v1/escalations/{id2}/deny"),
        &json!({"reviewer": "rita", "comment": "no"}),
    );
    assert_eq!(status, 200, "{denied}");
    assert_eq!(budget_taken(&a), 950.0);
    // Each node's log verifies, B's with the resolution it recorded.
    a.stop();
    b.stop();
    for data in [&data_a, &data_b] {
        let out = common::gavel(&["log", "verify"], data.path(), None);
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
}

/// A prerequisite: a contract only after identity was verified (approved
/// and reported completed) earlier in the session.
const PREREQUISITE: &str = r#"
[[policy]]
name = "prerequisites"
component = "{shipped}/prerequisites.wasm"
priority = 85
[policy.config.requires]
send_contract = ["verify_identity"]
"#;

#[test]
fn a_prerequisite_met_through_one_node_counts_on_the_other() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let policies = policy_dir(PREREQUISITE);
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let start = |data: &tempfile::TempDir| {
        Server::start(
            policies.path(),
            data.path(),
            &["--usage", &redis.url()],
            &[],
        )
    };
    let (a, b) = (start(&data_a), start(&data_b));
    let in_session = |id: &str, name: &str| {
        let mut x = action(id, name, None);
        x["session_id"] = "s-1".into();
        x
    };
    let early = b.evaluate(&in_session("c-0", "send_contract"));
    assert_eq!(code(&early), Some("prerequisite-missing"), "{early}");

    let verified = a.evaluate(&in_session("v-1", "verify_identity"));
    assert_eq!(verified["verdict"], "approve", "{verified}");
    let seq = verified["seq"].as_u64().unwrap();
    let (status, report) = a.request(
        "POST",
        &format!("/v1/decisions/{seq}/outcome"),
        Some(br#"{"status":"completed"}"#),
        None,
    );
    assert_eq!(status, 200, "{report}");
    // Completed through A, so B lets the contract through.
    let contract = b.evaluate(&in_session("c-1", "send_contract"));
    assert_eq!(contract["verdict"], "approve", "{contract}");
    // Another session has not verified anything.
    let mut other = action("c-2", "send_contract", None);
    other["session_id"] = "s-2".into();
    let other = b.evaluate(&other);
    assert_eq!(code(&other), Some("prerequisite-missing"), "{other}");

    // The shared history unreachable: an unknown fact never approves.
    redis.kill();
    let unknown = b.evaluate(&in_session("c-3", "send_contract"));
    assert_eq!(unknown["verdict"], "deny", "{unknown}");
    assert_eq!(code(&unknown), Some("history-unavailable"), "{unknown}");
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = b.evaluate(&in_session("c-4", "send_contract"));
        if d["verdict"] == "approve" {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {d}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
