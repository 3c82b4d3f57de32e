//! Memory over HTTP, against a real `gavel serve`: 64 concurrent callers
//! get exactly 100 approves of a 1,000 USD budget and exactly 30 of a rate
//! of 30 per hour (the rest `budget-exceeded` / `rate-limited` with a retry
//! time), `GET /v1/usage`, `gavel usage` and `/metrics` show the full
//! counters; after a SIGKILL under load the counters a restarted server
//! reports are exactly the charges of the approves in the log, and the log
//! verifies; outcomes free, are reported once, and are refused for a
//! denied or unknown decision.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::policy_dir;
use common::server::{ADMIN_TOKEN, Server};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const BUDGET: &str = r#"
[[policy]]
name = "budget"
component = "{shipped}/budget.wasm"
priority = 95
[policy.config]
actions = ["execute_transaction"]
currency = "USD"
period = "day"
per_agent = { financial-advisor = 1000, default = 0 }
"#;

const RATE: &str = r#"
[[policy]]
name = "rate-limit"
component = "{shipped}/rate_limit.wasm"
priority = 96
[policy.config]
per_agent = { limit = 30, per = "1h" }
"#;

/// A rate that never stops the crash test's load: every approve charges
/// both counters.
const WIDE_RATE: &str = r#"
[[policy]]
name = "rate-limit"
component = "{shipped}/rate_limit.wasm"
priority = 96
[policy.config]
per_agent = { limit = 100000, per = "1h" }
"#;

const EVAL_TOKEN: &str = "test-eval-token-0123456789abcdef";

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

/// The last reason's code, if any.
fn code(decision: &Value) -> Option<&str> {
    decision["reasons"]
        .as_array()
        .and_then(|r| r.last())
        .and_then(|r| r["code"].as_str())
}

/// 64 callers, each sending `per_caller` actions; every decision.
fn hammer(server: &Server, name: &str, amount: Option<f64>, per_caller: usize) -> Vec<Value> {
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..64)
            .map(|t| {
                s.spawn(move || {
                    (0..per_caller)
                        .map(|i| server.evaluate(&action(&format!("r-{t}-{i}"), name, amount)))
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

/// `GET /v1/usage` (with `query`), checked for its shape.
fn usage(server: &Server, query: &str) -> Value {
    let (status, answer) = server.get(&format!("/v1/usage{query}"));
    assert_eq!(status, 200, "{answer}");
    assert!(answer["counters"].is_array(), "{answer}");
    for state in ["held", "open", "settled"] {
        assert!(answer["reservations"][state].is_u64(), "{answer}");
    }
    answer
}

/// The one counter `query` selects.
fn counter(server: &Server, query: &str) -> Value {
    let answer = usage(server, query);
    let rows = answer["counters"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{query}: {answer}");
    rows[0].clone()
}

fn taken(row: &Value) -> f64 {
    row["used"].as_f64().unwrap() + row["reserved"].as_f64().unwrap()
}

/// One sample of the Prometheus text, by its whole series text.
fn metric(server: &Server, series: &str) -> f64 {
    let (status, text) = server.request("GET", "/metrics", None, None);
    assert_eq!(status, 200);
    let text = text.as_str().unwrap().to_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// `gavel usage` against `server`, with `args`.
fn gavel_usage(server: &Server, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin.token");
    std::fs::write(&token, ADMIN_TOKEN).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .arg("usage")
        .args(["--url", &server.url, "--token-file"])
        .arg(&token)
        .args(args)
        .env_remove("GAVEL_ADMIN_TOKEN")
        .env_remove("GAVEL_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gavel usage {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn sixty_four_callers_get_exactly_a_budget_of_1000() {
    let policies = policy_dir(BUDGET);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(policies.path(), data.path(), &[], &[]);
    let decisions = hammer(&server, "execute_transaction", Some(10.0), 3);
    let (approved, codes) = verdicts(&decisions);
    assert_eq!(approved, 100, "{codes:?}");
    assert_eq!(
        codes,
        BTreeMap::from([("budget-exceeded".to_owned(), 192 - 100)])
    );

    let row = counter(
        &server,
        "?scope=agent&subject=financial-advisor&counter=budget",
    );
    assert_eq!(taken(&row), 1000.0, "{row}");
    assert_eq!(row["left"], 0.0, "{row}");
    assert_eq!(row["limit"], 1000.0, "{row}");
    assert_eq!(row["kind"], "budget", "{row}");
    assert_eq!(row["reservations"], 100, "{row}");
    let all = usage(&server, "");
    assert_eq!(
        all["reservations"],
        json!({"held": 0, "open": 100, "settled": 0})
    );
    // Filters: the subject as any case, another scope, an unknown key.
    let upper = counter(&server, "?subject=FINANCIAL-ADVISOR");
    assert_eq!(upper, row);
    assert_eq!(usage(&server, "?scope=fleet")["counters"], json!([]));
    for (query, field) in [
        ("?scope=team", "scope"),
        ("?agent=financial-advisor", "agent"),
        ("?counter=", "counter"),
    ] {
        let (status, e) = server.get(&format!("/v1/usage{query}"));
        assert_eq!(status, 400, "{query}: {e}");
        assert_eq!(e["error"]["field"], field, "{query}: {e}");
    }
    // Operators only.
    let (status, _) = server.request("GET", "/v1/usage", None, None);
    assert_eq!(status, 401);

    // The CLI: the table, the filters, the JSON.
    let table = gavel_usage(&server, &[]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "counter", "kind", "scope", "subject", "window", "used", "reserved", "limit", "left"
        ]
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "budget",
            "budget",
            "agent",
            "financial-advisor",
            "day",
            "UTC",
            "0",
            "1000",
            "1000",
            "0"
        ],
        "{table}"
    );
    assert_eq!(lines[2], "reservations: 0 held, 100 open, 0 settled");
    assert_eq!(
        gavel_usage(&server, &["--scope", "fleet", "--subject", "*"]),
        "no counters\nreservations: 0 held, 100 open, 0 settled\n"
    );
    let json: Value = serde_json::from_str(&gavel_usage(
        &server,
        &["--json", "--subject", "Financial-Advisor"],
    ))
    .unwrap();
    assert_eq!(json["counters"], json!([row]));

    // Metrics.
    assert_eq!(metric(&server, "gavel_budget_exceeded_total"), 92.0);
    assert_eq!(metric(&server, "gavel_rate_limited_total"), 0.0);
    assert_eq!(
        metric(
            &server,
            r#"gavel_counter_utilisation{counter="budget",scope="agent",subject="financial-advisor"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(&server, r#"gavel_reservations{state="open"}"#),
        100.0
    );
    assert_eq!(metric(&server, r#"gavel_reservations{state="held"}"#), 0.0);
    assert_eq!(metric(&server, "gavel_breaker_trips_total"), 0.0);
    server.stop();
}

#[test]
fn sixty_four_callers_get_exactly_a_rate_of_30_per_hour() {
    let policies = policy_dir(RATE);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(policies.path(), data.path(), &[], &[]);
    let decisions = hammer(&server, "send_email", None, 1);
    let (approved, codes) = verdicts(&decisions);
    assert_eq!(approved, 30, "{codes:?}");
    assert_eq!(codes, BTreeMap::from([("rate-limited".to_owned(), 34)]));
    for d in decisions.iter().filter(|d| d["verdict"] == "deny") {
        let retry = d["retry_after_ms"].as_u64().unwrap_or(0);
        assert!(retry > 0 && retry <= 3_600_000, "{d}");
    }
    for d in decisions.iter().filter(|d| d["verdict"] == "approve") {
        assert!(d.get("retry_after_ms").is_none(), "{d}");
        let charges = d["charges"].as_array().unwrap();
        assert_eq!(charges.len(), 1, "{d}");
        assert_eq!(charges[0]["kind"], "rate", "{d}");
        assert_eq!(charges[0]["policy"], "rate-limit", "{d}");
    }
    let row = counter(&server, "?scope=agent&subject=financial-advisor");
    assert_eq!(taken(&row), 30.0, "{row}");
    assert_eq!(row["left"], 0.0, "{row}");
    assert_eq!(row["window"], json!({"type": "rolling", "ms": 3_600_000}));
    assert_eq!(metric(&server, "gavel_rate_limited_total"), 34.0);
    assert_eq!(metric(&server, "gavel_budget_exceeded_total"), 0.0);
    let table = gavel_usage(&server, &[]);
    assert!(
        table.lines().nth(1).unwrap().contains("rolling 1h"),
        "{table}"
    );
    server.stop();
}

/// Evaluate through a plain client that tolerates a dead server.
fn try_evaluate(agent: &ureq::Agent, url: &str, body: &Value) -> Option<Value> {
    let mut response = agent
        .post(&format!("{url}/v1/evaluate"))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .ok()?;
    if response.status().as_u16() != 200 {
        return None;
    }
    serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()
}

/// Run `gavel` with `args` on `data`; its output.
fn gavel(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

#[test]
fn after_a_sigkill_under_load_the_counters_are_the_charges_in_the_log() {
    let manifest = format!("{BUDGET}\n{WIDE_RATE}");
    let policies = policy_dir(&manifest);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(policies.path(), data.path(), &[], &[]);
    let url = server.url.clone();
    // Charges of 1 USD: up to 1,000 approves, so the kill lands among them.
    let approved = AtomicUsize::new(0);
    let dead = AtomicBool::new(false);
    let seen: Vec<u64> = std::thread::scope(|s| {
        let callers: Vec<_> = (0..16)
            .map(|t| {
                let (url, approved, dead) = (&url, &approved, &dead);
                s.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .timeout_global(Some(Duration::from_secs(20)))
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let mut seqs = Vec::new();
                    for i in 0.. {
                        if dead.load(Ordering::SeqCst) {
                            break;
                        }
                        let body = action(&format!("k-{t}-{i}"), "execute_transaction", Some(1.0));
                        let Some(d) = try_evaluate(&agent, url, &body) else {
                            continue;
                        };
                        if d["verdict"] == "approve" {
                            seqs.push(d["seq"].as_u64().expect("an approve has a seq"));
                            approved.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    seqs
                })
            })
            .collect();
        let started = std::time::Instant::now();
        while approved.load(Ordering::SeqCst) < 300 {
            if started.elapsed() > Duration::from_secs(120) {
                dead.store(true, Ordering::SeqCst);
                panic!("the load never reached 300 approves");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let killed = Command::new("kill")
            .args(["-KILL", &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        // Callers keep trying a little while the server is gone.
        std::thread::sleep(Duration::from_millis(200));
        dead.store(true, Ordering::SeqCst);
        callers
            .into_iter()
            .flat_map(|c| c.join().expect("caller"))
            .collect()
    });
    drop(server);
    assert!(seen.len() >= 300);

    let server = Server::start(policies.path(), data.path(), &[], &[]);
    let rows = usage(&server, "")["counters"].as_array().unwrap().clone();
    server.stop();

    // Every charge of every approve in the log, by counter.
    let out = gavel(
        &[
            "log",
            "query",
            "--kind",
            "decision",
            "--verdict",
            "approve",
            "--limit",
            "100000",
        ],
        data.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut charged: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    let mut logged = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        logged.push(record["seq"].as_u64().unwrap());
        for c in record["charges"].as_array().into_iter().flatten() {
            if c["duplicate"] == true {
                continue;
            }
            let key = (
                c["counter"].as_str().unwrap().to_owned(),
                c["scope"].as_str().unwrap().to_owned(),
                c["subject"].as_str().unwrap().to_owned(),
            );
            *charged.entry(key).or_default() += c["amount"].as_f64().unwrap();
        }
    }
    // Every approve a caller was told of is in the log.
    for seq in &seen {
        assert!(
            logged.contains(seq),
            "approve {seq} was answered but is not in the log"
        );
    }
    let counted: BTreeMap<(String, String, String), f64> = rows
        .iter()
        .map(|r| {
            let key = (
                r["counter"].as_str().unwrap().to_owned(),
                r["scope"].as_str().unwrap().to_owned(),
                r["subject"].as_str().unwrap().to_owned(),
            );
            (key, taken(r))
        })
        .collect();
    assert_eq!(counted.len(), 2, "{counted:?}");
    assert_eq!(counted, charged);
    assert_eq!(
        counted.values().copied().fold(0.0, f64::max),
        logged.len() as f64
    );

    let verify = gavel(&["log", "verify"], data.path());
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// `POST /v1/decisions/{seq}/outcome` with `token`.
fn outcome(server: &Server, seq: &str, body: &str, token: Option<&str>) -> (u16, Value) {
    server.request(
        "POST",
        &format!("/v1/decisions/{seq}/outcome"),
        Some(body.as_bytes()),
        token,
    )
}

#[test]
fn outcomes_over_http_free_and_are_reported_once() {
    let policies = policy_dir(BUDGET);
    let data = tempfile::tempdir().unwrap();
    let tokens = tempfile::tempdir().unwrap();
    let eval_token = tokens.path().join("eval.token");
    std::fs::write(&eval_token, EVAL_TOKEN).unwrap();
    std::fs::set_permissions(
        &eval_token,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let server = Server::start(
        policies.path(),
        data.path(),
        &["--eval-token-file", eval_token.to_str().unwrap()],
        &[],
    );
    let decide = |id: &str, amount: f64| {
        let body = action(id, "execute_transaction", Some(amount)).to_string();
        let (status, d) = server.request(
            "POST",
            "/v1/evaluate",
            Some(body.as_bytes()),
            Some(EVAL_TOKEN),
        );
        assert_eq!(status, 200, "{d}");
        d
    };
    let seqs: Vec<String> = (0..10)
        .map(|i| {
            let d = decide(&format!("o-{i}"), 100.0);
            assert_eq!(d["verdict"], "approve", "{d}");
            d["seq"].as_u64().unwrap().to_string()
        })
        .collect();
    let over = decide("o-over", 100.0);
    assert_eq!(code(&over), Some("budget-exceeded"), "{over}");
    let over_seq = over["seq"].as_u64().unwrap().to_string();

    // A failed action frees its 100: the same request now fits.
    let (status, report) = outcome(
        &server,
        &seqs[0],
        r#"{"status":"failed"}"#,
        Some(EVAL_TOKEN),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["decision"], seqs[0].parse::<u64>().unwrap());
    assert_eq!(report["status"], "failed");
    assert_eq!(report["reservations"], 1);
    assert!(report["seq"].as_u64().unwrap() > over["seq"].as_u64().unwrap());
    let again = decide("o-again", 100.0);
    assert_eq!(again["verdict"], "approve", "{again}");

    // Completed with the actual amount: 40 instead of 100.
    let (status, report) = outcome(
        &server,
        &seqs[1],
        r#"{"status":"completed","amount":40}"#,
        Some(EVAL_TOKEN),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["amount"], 40.0);
    let row = counter(&server, "?counter=budget");
    assert_eq!(taken(&row), 940.0, "{row}");
    assert_eq!(row["left"], 60.0, "{row}");
    assert_eq!(row["used"], 40.0, "{row}");
    assert_eq!(
        metric(&server, r#"gavel_outcomes_total{status="failed"}"#),
        1.0
    );
    assert_eq!(
        metric(&server, r#"gavel_outcomes_total{status="completed"}"#),
        1.0
    );

    // (seq, body, token, status, error code, field)
    let completed = r#"{"status":"completed"}"#;
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        u16,
        &'a str,
        Option<&'a str>,
    );
    let cases: &[Case] = &[
        (
            &seqs[0],
            completed,
            Some(EVAL_TOKEN),
            409,
            "already-reported",
            None,
        ),
        (
            &seqs[1],
            r#"{"status":"failed"}"#,
            Some(EVAL_TOKEN),
            409,
            "already-reported",
            None,
        ),
        (
            &over_seq,
            completed,
            Some(EVAL_TOKEN),
            422,
            "not-approved",
            None,
        ),
        (
            "999999",
            completed,
            Some(EVAL_TOKEN),
            404,
            "unknown-decision",
            None,
        ),
        // The first record is the policy set's load, not a decision.
        (
            "1",
            completed,
            Some(EVAL_TOKEN),
            404,
            "unknown-decision",
            None,
        ),
        (
            "0",
            completed,
            Some(EVAL_TOKEN),
            400,
            "invalid-request",
            Some("seq"),
        ),
        (
            "-3",
            completed,
            Some(EVAL_TOKEN),
            400,
            "invalid-request",
            Some("seq"),
        ),
        (
            "abc",
            completed,
            Some(EVAL_TOKEN),
            400,
            "invalid-request",
            Some("seq"),
        ),
        (
            "99999999999999999999",
            completed,
            Some(EVAL_TOKEN),
            400,
            "invalid-request",
            Some("seq"),
        ),
        (
            &seqs[2],
            r#"{"status":"done"}"#,
            Some(EVAL_TOKEN),
            400,
            "invalid-request",
            Some("status"),
        ),
        (
            &seqs[2],
            "{}",
            Some(EVAL_TOKEN),
            400,
            "invalid-request",
            Some("status"),
        ),
        (
            &seqs[2],
            r#"{"status":"completed","amount":-5}"#,
            Some(EVAL_TOKEN),
            400,
            "invalid-request",
            Some("amount"),
        ),
        (
            &seqs[2],
            r#"{"status":"completed","amount":"5"}"#,
            Some(EVAL_TOKEN),
            400,
            "invalid-request",
            Some("amount"),
        ),
        (
            &seqs[2],
            r#"{"status":"completed","cost":5}"#,
            Some(EVAL_TOKEN),
            400,
            "invalid-request",
            Some("cost"),
        ),
        (
            &seqs[2],
            "not json",
            Some(EVAL_TOKEN),
            400,
            "invalid-request",
            None,
        ),
        (&seqs[2], completed, None, 401, "unauthorized", None),
        (
            &seqs[2],
            completed,
            Some("wrong-token-0123456789abcdef"),
            401,
            "unauthorized",
            None,
        ),
    ];
    for (seq, body, token, status, code, field) in cases {
        let (got, e) = outcome(&server, seq, body, *token);
        assert_eq!(got, *status, "{seq} {body}: {e}");
        assert_eq!(e["error"]["code"], *code, "{seq} {body}: {e}");
        assert_eq!(e["error"]["field"].as_str(), *field, "{seq} {body}: {e}");
    }
    // Usage is for operators: the eval token is not enough.
    let (status, e) = server.request("GET", "/v1/usage", None, Some(EVAL_TOKEN));
    assert_eq!(status, 401, "{e}");
    // None of the refusals changed anything; the admin token also reports.
    assert_eq!(taken(&counter(&server, "?counter=budget")), 940.0);
    let (status, report) = outcome(&server, &seqs[2], completed, Some(ADMIN_TOKEN));
    assert_eq!(status, 200, "{report}");
    server.stop();

    // A reservation that settled before its outcome came: 409 `settled`.
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        policies.path(),
        data.path(),
        &["--settle-after", "1ms"],
        &[],
    );
    let d = server.evaluate(&action("s-1", "execute_transaction", Some(10.0)));
    assert_eq!(d["verdict"], "approve", "{d}");
    std::thread::sleep(Duration::from_millis(20));
    let seq = d["seq"].as_u64().unwrap().to_string();
    let (status, e) = outcome(&server, &seq, r#"{"status":"failed"}"#, None);
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["error"]["code"], "settled", "{e}");
    let row = counter(&server, "?counter=budget");
    assert_eq!(row["used"], 10.0, "{row}");
    assert_eq!(usage(&server, "")["reservations"]["settled"], 1);
    server.stop();
}
