//! `gavel serve` over HTTP: evaluation, bad input, authentication,
//! escalations (long-poll, review, expiry, restart), the kill switch,
//! policies and rollback, health, metrics, the webhook, and the CLI's
//! reviewer and operator commands.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::server::{ADMIN_TOKEN, Server, shipped_copy};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn refund(amount: f64) -> Value {
    json!({"agent_id": "customer-support", "action": "issue_refund", "amount": amount,
           "currency": "USD", "params": {"order": "884213"}})
}

fn start(args: &[&str]) -> (Server, tempfile::TempDir, tempfile::TempDir) {
    let policies = shipped_copy();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(policies.path(), data.path(), args, &[]);
    (server, policies, data)
}

#[test]
fn evaluate_returns_the_decision_and_its_log_record() {
    let (server, _p, _d) = start(&[]);
    // (action, expected verdict, expected first reason code)
    let cases = [
        (
            json!({"agent_id": "research-assistant", "action": "search_web"}),
            "approve",
            None,
        ),
        (
            json!({"agent_id": "financial-advisor", "action": "delete_account"}),
            "deny",
            Some("forbidden-action"),
        ),
        (refund(650.0), "deny", Some("over-limit")),
        (refund(150.0), "escalate", Some("approval-threshold")),
    ];
    for (action, verdict, code) in cases {
        let d = server.evaluate(&action);
        assert_eq!(d["verdict"], verdict, "{d}");
        assert_eq!(d["reasons"][0]["code"].as_str(), code, "{d}");
        let seq = d["seq"].as_u64().expect("durable mode returns the seq");
        let (status, record) = server.get(&format!("/v1/decisions/{seq}"));
        assert_eq!(status, 200);
        assert_eq!(record["kind"], "decision");
        assert_eq!(record["request"]["request_id"], d["request_id"]);
        assert_eq!(record["verdict"], verdict);
        assert_eq!(d["escalation"].is_null(), verdict != "escalate", "{d}");
    }
    let (status, list) = server.get("/v1/decisions?agent=customer-support&verdict=deny");
    assert_eq!(status, 200);
    assert_eq!(list["records"].as_array().unwrap().len(), 1);
    assert_eq!(list["plan"], "by-agent");
    server.stop();
}

#[test]
fn bad_input_is_a_clear_error_and_never_an_approve() {
    let (server, _p, _d) = start(&["--max-body", "4096", "--max-batch", "3"]);
    let big = format!(
        r#"{{"agent_id":"a","action":"b","params":{{"x":"{}"}}}}"#,
        "y".repeat(5000)
    );
    // (path, body, status, code, field)
    type Case<'a> = (&'a str, Vec<u8>, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "/v1/evaluate",
            b"not json".to_vec(),
            400,
            "invalid-request",
            None,
        ),
        (
            "/v1/evaluate",
            b"[1,2]".to_vec(),
            400,
            "invalid-request",
            None,
        ),
        ("/v1/evaluate", b"".to_vec(), 400, "invalid-request", None),
        (
            "/v1/evaluate",
            vec![0xff, 0xfe],
            400,
            "invalid-request",
            None,
        ),
        (
            "/v1/evaluate",
            br#"{"action":"x"}"#.to_vec(),
            400,
            "invalid-request",
            Some("agent_id"),
        ),
        (
            "/v1/evaluate",
            br#"{"agent_id":"a","action":"x","amount":-1}"#.to_vec(),
            400,
            "invalid-request",
            Some("amount"),
        ),
        (
            "/v1/evaluate",
            br#"{"agent_id":"a","action":"x","colour":1}"#.to_vec(),
            400,
            "invalid-request",
            Some("colour"),
        ),
        (
            "/v1/evaluate",
            br#"{"agent_id":"a","action":"x","timestamp":"noon"}"#.to_vec(),
            400,
            "invalid-request",
            Some("timestamp"),
        ),
        (
            "/v1/evaluate",
            br#"{"agent_id":"a","action":"delete_account","action":"read_docs"}"#.to_vec(),
            400,
            "invalid-request",
            Some("action"),
        ),
        (
            "/v1/evaluate",
            br#"{"agent_id":"a","action":"x","params":{"k":1,"k":2}}"#.to_vec(),
            400,
            "invalid-request",
            None,
        ),
        (
            "/v1/evaluate/batch",
            br#"{"actions":[{"agent_id":"a","action":"b","amount":900,"amount":1}]}"#.to_vec(),
            400,
            "invalid-request",
            None,
        ),
        (
            "/v1/evaluate",
            big.into_bytes(),
            413,
            "body-too-large",
            None,
        ),
        (
            "/v1/evaluate/batch",
            br#"{"actions":{}}"#.to_vec(),
            400,
            "invalid-request",
            Some("actions"),
        ),
        (
            "/v1/evaluate/batch",
            br#"{"actions":[{},{},{},{}]}"#.to_vec(),
            400,
            "invalid-request",
            Some("actions"),
        ),
        (
            "/v1/evaluate/batch",
            br#"{"acts":[]}"#.to_vec(),
            400,
            "invalid-request",
            Some("acts"),
        ),
        ("/v1/nothing", b"{}".to_vec(), 404, "not-found", None),
    ];
    for (path, body, status, code, field) in cases {
        let (got, value) = server.request("POST", path, Some(&body), None);
        assert_eq!(
            got,
            status,
            "{path} {:?}: {value}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(value["error"]["code"], code, "{value}");
        assert_eq!(value["error"]["field"].as_str(), field, "{value}");
        assert!(!value["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, value) = server.request("GET", "/v1/evaluate", None, None);
    assert_eq!(status, 405, "{value}");
    // A batch answers each action in place.
    let batch = json!({"actions": [refund(50.0), {"agent_id": "a"}, refund(650.0)]});
    let (status, value) = server.request(
        "POST",
        "/v1/evaluate/batch",
        Some(batch.to_string().as_bytes()),
        None,
    );
    assert_eq!(status, 200);
    let results = value["results"].as_array().unwrap();
    assert_eq!(results[0]["verdict"], "approve");
    assert_eq!(results[1]["error"]["field"], "action");
    assert_eq!(results[2]["verdict"], "deny");

    // Random mutations of valid bodies: each answer is a decision exactly
    // when the library accepts the body, and otherwise a 400.
    let mut rng = common::Rng(0x5eed_0006);
    let seed = br#"{"agent_id":"customer-support","action":"issue_refund","amount":150,"currency":"USD","params":{"note":"x"}}"#;
    for _ in 0..300 {
        let mut body = seed.to_vec();
        for _ in 0..rng.range(1, 3) {
            let at = rng.range(0, body.len() as u64 - 1) as usize;
            let pool = b"{}[],:\"0-e";
            match rng.range(0, 2) {
                0 => body[at] = rng.range(0, 255) as u8,
                1 => {
                    body.remove(at);
                }
                _ => body.insert(at, pool[rng.range(0, pool.len() as u64 - 1) as usize]),
            }
        }
        let accepted = std::str::from_utf8(&body)
            .ok()
            .is_some_and(|t| gavel::Request::from_json(t).is_ok());
        let (status, value) = server.request("POST", "/v1/evaluate", Some(&body), None);
        if accepted {
            assert_eq!(status, 200, "{value}");
            assert!(["approve", "deny", "escalate"].contains(&value["verdict"].as_str().unwrap()));
        } else {
            assert_eq!(status, 400, "{:?}: {value}", String::from_utf8_lossy(&body));
            assert!(value["verdict"].is_null());
        }
    }
    let (status, _) = server.request("GET", "/healthz", None, None);
    assert_eq!(status, 200, "the service survived");
    server.stop();
}

#[test]
fn admin_endpoints_need_the_admin_token() {
    let policies = shipped_copy();
    let data = tempfile::tempdir().unwrap();
    let eval_token = "test-eval-token-0123456789abcdef";
    let server = Server::start(
        policies.path(),
        data.path(),
        &[],
        &[("GAVEL_EVAL_TOKEN", eval_token)],
    );
    let admin_gets = [
        "/v1/decisions",
        "/v1/decisions/1",
        "/v1/policies",
        "/v1/killswitch",
        "/v1/escalations",
    ];
    for path in admin_gets {
        for token in [None, Some("wrong-token-0123456789abcdef"), Some(eval_token)] {
            let (status, value) = server.request("GET", path, None, token);
            assert_eq!(status, 401, "{path} {token:?}");
            assert_eq!(value["error"]["code"], "unauthorized");
            assert!(!value.to_string().contains(ADMIN_TOKEN));
        }
        assert_eq!(server.get(path).0, 200, "{path}");
    }
    let posts = [
        (
            "/v1/killswitch",
            json!({"engaged": true, "reason": "x", "actor": "y"}),
        ),
        ("/v1/policies/rollback", json!({})),
        ("/v1/escalations/esc-1/approve", json!({"reviewer": "r"})),
    ];
    for (path, body) in posts {
        let (status, _) = server.request(
            "POST",
            path,
            Some(body.to_string().as_bytes()),
            Some(eval_token),
        );
        assert_eq!(status, 401, "{path}");
    }
    let action = json!({"agent_id": "research-assistant", "action": "search_web"}).to_string();
    assert_eq!(
        server
            .request("POST", "/v1/evaluate", Some(action.as_bytes()), None)
            .0,
        401
    );
    assert_eq!(
        server
            .request(
                "POST",
                "/v1/evaluate",
                Some(action.as_bytes()),
                Some(eval_token)
            )
            .0,
        200
    );
    assert_eq!(
        server
            .request(
                "POST",
                "/v1/evaluate",
                Some(action.as_bytes()),
                Some(ADMIN_TOKEN)
            )
            .0,
        200
    );
    // A 401 says which scheme it wants (RFC 6750).
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .get(format!("{}/v1/policies", server.url))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let challenge = response.headers().get("www-authenticate").unwrap();
    assert!(challenge.to_str().unwrap().starts_with("Bearer"));
    // Health, readiness and metrics stay open.
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(server.request("GET", path, None, None).0, 200, "{path}");
    }
    server.stop();
}

#[test]
fn an_escalation_is_reviewed_waited_for_and_audited() {
    let (server, _p, _d) = start(&[]);
    let d = server.evaluate(&refund(150.0));
    let id = d["escalation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(d["escalation"]["status"], "pending");
    let (_, list) = server.get("/v1/escalations");
    assert_eq!(list["escalations"][0]["id"], id.as_str());
    assert_eq!(
        list["escalations"][0]["reasons"][0]["code"],
        "approval-threshold"
    );
    // A short wait answers pending.
    let (status, e) = server.request(
        "GET",
        &format!("/v1/escalations/{id}?wait=100ms"),
        None,
        None,
    );
    assert_eq!((status, e["status"].as_str()), (200, Some("pending")));
    // A long wait answers as soon as a reviewer approves.
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let started = Instant::now();
            let (_, e) =
                server.request("GET", &format!("/v1/escalations/{id}?wait=30s"), None, None);
            (e, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        let (status, e) = server.post(
            &format!("/v1/escalations/{id}/approve"),
            &json!({"reviewer": "alice", "comment": "customer verified"}),
        );
        assert_eq!(status, 200, "{e}");
        let (e, took) = waiter.join().unwrap();
        assert_eq!(e["status"], "approved");
        assert_eq!(e["resolution"]["reviewer"], "alice");
        assert!(
            took < Duration::from_secs(10),
            "the long-poll answered in {took:?}"
        );
    });
    // Only once; unknown ids; a reviewer is required.
    let (status, e) = server.post(
        &format!("/v1/escalations/{id}/deny"),
        &json!({"reviewer": "bob"}),
    );
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    assert_eq!(
        server
            .post(
                "/v1/escalations/esc-nope/approve",
                &json!({"reviewer": "bob"})
            )
            .0,
        404
    );
    let other = server.evaluate(&refund(120.0))["escalation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, e) = server.post(
        &format!("/v1/escalations/{other}/deny"),
        &json!({"comment": "x"}),
    );
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (400, Some("reviewer"))
    );
    let (status, e) = server.post(
        &format!("/v1/escalations/{other}/deny"),
        &json!({"reviewer": "bob", "comment": "no"}),
    );
    assert_eq!((status, e["status"].as_str()), (200, Some("denied")));
    // The audit trail: who resolved what.
    let (_, records) = server.get("/v1/decisions?kind=escalation-resolved");
    let records = records["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["id"], id.as_str());
    assert_eq!(records[1]["status"], "approved");
    assert_eq!(records[1]["reviewer"], "alice");
    assert_eq!(records[1]["comment"], "customer verified");
    assert_eq!(records[0]["status"], "denied");
    let (_, decision) = server.get(&format!("/v1/decisions/{}", d["seq"]));
    assert_eq!(decision["escalation"]["id"], id.as_str());
    server.stop();
}

#[test]
fn escalations_expire_as_denies_and_survive_a_restart() {
    let policies = shipped_copy();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        policies.path(),
        data.path(),
        &["--escalation-timeout", "1s"],
        &[],
    );
    let fast = server.evaluate(&refund(150.0))["escalation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, e) = server.request(
        "GET",
        &format!("/v1/escalations/{fast}?wait=10s"),
        None,
        None,
    );
    assert_eq!(e["status"], "expired", "{e}");
    assert!(e["resolution"]["reviewer"].is_null());
    let (_, records) = server.get("/v1/decisions?kind=escalation-resolved");
    assert_eq!(records["records"][0]["status"], "expired");
    server.stop();

    // A pending escalation survives a restart, and can be resolved after.
    let server = Server::start(
        policies.path(),
        data.path(),
        &["--escalation-timeout", "10m"],
        &[],
    );
    let slow = server.evaluate(&refund(150.0))["escalation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.stop();
    let server = Server::start(policies.path(), data.path(), &[], &[]);
    let (_, e) = server.request("GET", &format!("/v1/escalations/{slow}"), None, None);
    assert_eq!(e["status"], "pending", "{e}");
    let (_, e) = server.request("GET", &format!("/v1/escalations/{fast}"), None, None);
    assert_eq!(e["status"], "expired");
    let (status, e) = server.post(
        &format!("/v1/escalations/{slow}/approve"),
        &json!({"reviewer": "carol"}),
    );
    assert_eq!((status, e["status"].as_str()), (200, Some("approved")));
    server.stop();
    let verify = common::gavel(&["log", "verify"], data.path(), None);
    assert!(verify.status.success(), "{}", common::stderr(&verify));
}

#[test]
fn the_kill_switch_stops_everyone_or_one_agent_and_persists() {
    let policies = shipped_copy();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(policies.path(), data.path(), &[], &[]);
    let search = json!({"agent_id": "research-assistant", "action": "search_web"});
    assert_eq!(server.evaluate(&search)["verdict"], "approve");
    let (status, state) = server.post(
        "/v1/killswitch",
        &json!({"engaged": true, "reason": "runaway agent", "actor": "oncall"}),
    );
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["engaged"], true);
    let d = server.evaluate(&search);
    assert_eq!(d["verdict"], "deny");
    assert_eq!(d["reasons"][0]["code"], "kill-switch");
    assert_eq!(d["policies"].as_array().unwrap().len(), 0, "no policy ran");
    // Bad changes name the field.
    for (body, field) in [
        (json!({"reason": "x", "actor": "y"}), "engaged"),
        (
            json!({"engaged": "yes", "reason": "x", "actor": "y"}),
            "engaged",
        ),
        (json!({"engaged": true, "actor": "y"}), "reason"),
        (
            json!({"engaged": true, "reason": "x", "actor": ""}),
            "actor",
        ),
        (
            json!({"engaged": true, "reason": "x", "actor": "y", "agent": ""}),
            "agent",
        ),
        (
            json!({"engaged": false, "reason": "x", "actor": "y", "agent": null}),
            "agent",
        ),
        (
            json!({"engaged": true, "reason": "x", "actor": "y", "why": 1}),
            "why",
        ),
    ] {
        let (status, e) = server.post("/v1/killswitch", &body);
        assert_eq!(
            (status, e["error"]["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
    }
    server.stop();

    // It survives a restart; release it, then stop one agent only.
    let server = Server::start(policies.path(), data.path(), &[], &[]);
    assert_eq!(
        server.evaluate(&search)["reasons"][0]["code"],
        "kill-switch"
    );
    server.post(
        "/v1/killswitch",
        &json!({"engaged": false, "reason": "fixed", "actor": "oncall"}),
    );
    assert_eq!(server.evaluate(&search)["verdict"], "approve");
    let (_, state) = server.post("/v1/killswitch", &json!({"engaged": true, "reason": "loops", "actor": "oncall", "agent": "research-assistant"}));
    assert_eq!(state["engaged"], false);
    assert_eq!(state["agents"]["research-assistant"]["reason"], "loops");
    assert_eq!(
        server.evaluate(&search)["reasons"][0]["code"],
        "kill-switch"
    );
    assert_eq!(
        server.evaluate(&refund(50.0))["verdict"],
        "approve",
        "other agents go on"
    );
    let (_, records) = server.get("/v1/decisions?kind=kill-switch");
    let records = records["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["agent"], "research-assistant");
    assert_eq!(records[1]["engaged"], false);
    assert_eq!(records[2]["actor"], "oncall");
    server.stop();
}

#[test]
fn policies_reload_roll_back_and_report_health_and_metrics() {
    let (server, policies, _d) = start(&[]);
    let (_, live) = server.get("/v1/policies");
    assert_eq!(live["generation"], 1);
    assert_eq!(live["policies"].as_array().unwrap().len(), 7);
    // Change the directory: the watcher swaps in generation 2.
    let manifest = policies.path().join("policies.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("max = 500", "max = 700");
    std::fs::write(&manifest, text).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.get("/v1/policies").1["generation"] != 2 {
        assert!(Instant::now() < deadline, "no reload");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.evaluate(&refund(650.0))["verdict"], "escalate");
    let (status, r) = server.post("/v1/policies/rollback", &json!({}));
    assert_eq!((status, r["generation"].as_u64()), (200, Some(1)));
    assert_eq!(server.evaluate(&refund(650.0))["verdict"], "deny");
    let (status, r) = server.post("/v1/policies/rollback", &json!({"generation": 99}));
    assert_eq!(
        (status, r["error"]["code"].as_str()),
        (404, Some("not-found"))
    );
    let (status, r) = server.post("/v1/policies/rollback", &json!({"generation": "two"}));
    assert_eq!(
        (status, r["error"]["field"].as_str()),
        (400, Some("generation"))
    );
    // A broken manifest is refused; generation 1 stays live.
    std::fs::write(&manifest, "[[policy]]\nname = 3\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.get("/v1/policies").1["last_rejection"].is_null() {
        assert!(Instant::now() < deadline, "no rejection");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.get("/v1/policies").1["generation"], 1);

    let (status, ready) = server.request("GET", "/readyz", None, None);
    assert_eq!((status, ready["ready"].as_bool()), (200, Some(true)));
    let (_, text) = server.request("GET", "/metrics", None, None);
    let text = text.as_str().unwrap().to_owned();
    for needle in [
        "gavel_decisions_total{verdict=\"deny\"} 1",
        "gavel_decisions_total{verdict=\"escalate\"} 1",
        "gavel_policy_verdicts_total{policy=\"transaction-limit\",verdict=\"deny\"} 1",
        "gavel_policy_evaluation_seconds_count{policy=\"transaction-limit\"}",
        "gavel_decision_seconds_bucket{le=\"+Inf\"} 2",
        "gavel_log_commit_seconds_count",
        "gavel_reloads_total{outcome=\"accepted\"} 1",
        "gavel_reloads_total{outcome=\"rejected\"} 1",
        "gavel_escalations_pending 1",
        "gavel_kill_switch_engaged 0",
        "gavel_policy_generation 1",
        "gavel_http_requests_total{route=\"/v1/evaluate\",status=\"200\"} 2",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    server.stop();
}

#[test]
fn a_new_escalation_is_posted_to_the_webhook() {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let receiver = std::thread::spawn(move || {
        let mut bodies = Vec::new();
        // The first attempt fails with 503; the retry is accepted.
        for answer in ["503 Service Unavailable", "200 OK"] {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            bodies.push(String::from_utf8(body).unwrap());
            let mut stream = reader.into_inner();
            write!(
                stream,
                "HTTP/1.1 {answer}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .unwrap();
        }
        bodies
    });
    let (server, _p, _d) = start(&["--webhook", &hook]);
    let id = server.evaluate(&refund(150.0))["escalation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bodies = receiver.join().unwrap();
    let body: Value = serde_json::from_str(&bodies[1]).unwrap();
    assert!(
        body["text"].as_str().unwrap().contains("issue_refund"),
        "{body}"
    );
    assert_eq!(body["escalation"]["id"], id.as_str());
    assert_eq!(bodies[0], bodies[1], "the retry posts the same payload");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, text) = server.request("GET", "/metrics", None, None);
        if text
            .as_str()
            .unwrap()
            .contains("gavel_webhook_deliveries_total{outcome=\"delivered\"} 1")
        {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
}

#[test]
fn reviewers_and_operators_use_the_cli() {
    let (server, _p, data) = start(&[]);
    let id = server.evaluate(&refund(150.0))["escalation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cli = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--url", server.url.as_str()]);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(&full)
            .env("GAVEL_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("GAVEL_DATA_DIR", data.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            common::stdout(&out),
            common::stderr(&out),
        )
    };
    let (code, out, _) = cli(&["escalations", "list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains(&id) && out.contains("issue_refund"), "{out}");
    let (code, out, _) = cli(&[
        "escalations",
        "approve",
        &id,
        "--reviewer",
        "dana",
        "--comment",
        "ok",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), format!("{id} approved"));
    let (code, _, err) = cli(&["escalations", "deny", &id, "--reviewer", "dana"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("409") && err.contains("already approved"),
        "{err}"
    );
    let (code, out, _) = cli(&[
        "killswitch",
        "on",
        "--reason",
        "drill",
        "--actor",
        "ops",
        "--agent",
        "financial-advisor",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (_, out, _) = cli(&["killswitch", "status"]);
    let state: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(state["agents"]["financial-advisor"]["actor"], "ops");
    let (code, _, _) = cli(&[
        "killswitch",
        "off",
        "--reason",
        "drill over",
        "--actor",
        "ops",
        "--agent",
        "financial-advisor",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(server.get("/v1/killswitch").1["agents"], json!({}));
    // Without a token the CLI says so.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["killswitch", "status", "--url", server.url.as_str()])
        .env_remove("GAVEL_ADMIN_TOKEN")
        .env("GAVEL_DATA_DIR", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("no admin token"),
        "{}",
        common::stderr(&out)
    );
    server.stop();
}

#[test]
fn openapi_documents_exactly_the_served_routes() {
    let root = common::root();
    let spec = std::fs::read_to_string(root.join("openapi.yaml")).unwrap();
    let mut documented = Vec::new();
    let mut path = None;
    for line in spec.lines() {
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{p}"));
        } else if !line.starts_with("  ") && !line.is_empty() {
            path = None;
        } else if let (Some(p), Some(method)) = (
            &path,
            line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')),
        ) && ["get", "post"].contains(&method)
        {
            documented.push((method.to_uppercase(), p.clone()));
        }
    }
    let router = std::fs::read_to_string(root.join("host/src/service/mod.rs")).unwrap();
    let mut served = Vec::new();
    for chunk in router.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap().to_owned();
        let handlers = chunk.split(")\n").next().unwrap();
        for method in ["get", "post"] {
            if handlers.contains(&format!("{method}(")) || handlers.contains(&format!(".{method}("))
            {
                served.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
    assert_eq!(documented.len(), 17, "{documented:?}");
    // And each documented route answers (not the fallback, not 405).
    let (server, _p, _d) = start(&[]);
    for (method, path) in &documented {
        let concrete = path.replace("{seq}", "1").replace("{id}", "esc-none");
        let (status, value) = server.request(method, &concrete, Some(b"{}"), Some(ADMIN_TOKEN));
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            !value.to_string().contains("no such endpoint"),
            "{method} {path}: {value}"
        );
    }
    server.stop();
}
