//! Memory through the library: budgets and rates reserved atomically
//! under concurrency, escalations holding their reservation, outcomes,
//! prerequisites, restarts, replay and the breaker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::policy_dir;
use gavel::log::{LogOptions, OutcomeStatus};
use gavel::runtime::{OutcomeError, Runtime, RuntimeOptions};
use gavel::{Decision, Request, Verdict};
use std::path::Path;
use std::sync::Arc;
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
timezone = "Europe/Paris"
[policy.config.per_agent]
financial-advisor = 1000
default = 0
"#;

const RATE: &str = r#"
[[policy]]
name = "rate-limit"
component = "{shipped}/rate_limit.wasm"
priority = 96
[policy.config]
per_agent = { limit = 30, per = "1h" }
"#;

const NEAR: &str = r#"
[[policy]]
name = "budget"
component = "{shipped}/budget.wasm"
priority = 95
[policy.config]
actions = ["execute_transaction"]
currency = "USD"
period = "day"
escalate_above = 0.9
[policy.config.per_agent]
financial-advisor = 100
default = 0
"#;

const PREREQUISITES: &str = r#"
[[policy]]
name = "prerequisites"
component = "{shipped}/prerequisites.wasm"
priority = 85
[policy.config.requires]
send_contract = ["verify_identity"]
"#;

fn start(policies: &Path, data: &Path, options: RuntimeOptions) -> Runtime {
    Runtime::start_with(policies, data, options).expect("runtime starts")
}

fn options() -> RuntimeOptions {
    RuntimeOptions {
        log: LogOptions::default(),
        ..RuntimeOptions::default()
    }
}

fn request(id: &str, action: &str, amount: Option<f64>, session: Option<&str>) -> Request {
    let mut json = serde_json::json!({
        "request_id": id,
        "agent_id": "financial-advisor",
        "action": action,
        "currency": "USD",
    });
    if let Some(a) = amount {
        json["amount"] = a.into();
    }
    if let Some(s) = session {
        json["session_id"] = s.into();
    }
    Request::from_json(&json.to_string()).expect("request")
}

fn code(d: &Decision) -> Option<&str> {
    d.reasons.last().map(|r| r.code.as_str())
}

/// 64 threads, each sending `per_thread` requests of `amount`; the
/// approves and the deny codes.
fn hammer(
    runtime: &Arc<Runtime>,
    action: &str,
    amount: Option<f64>,
    per_thread: usize,
) -> (usize, Vec<String>) {
    let results: Vec<Decision> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..64)
            .map(|t| {
                let runtime = Arc::clone(runtime);
                s.spawn(move || {
                    (0..per_thread)
                        .map(|i| {
                            runtime.decide(&request(&format!("r-{t}-{i}"), action, amount, None))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let approved = results
        .iter()
        .filter(|d| d.verdict == Verdict::Approve)
        .count();
    let mut codes: Vec<String> = results
        .iter()
        .filter(|d| d.verdict != Verdict::Approve)
        .filter_map(|d| code(d).map(str::to_owned))
        .collect();
    codes.sort();
    codes.dedup();
    (approved, codes)
}

#[test]
fn sixty_four_callers_cannot_overspend_a_budget() {
    let dir = policy_dir(BUDGET);
    let data = tempfile::tempdir().unwrap();
    let runtime = Arc::new(start(dir.path(), data.path(), options()));
    let (approved, codes) = hammer(&runtime, "execute_transaction", Some(10.0), 3);
    assert_eq!(approved, 100);
    assert_eq!(codes, ["budget-exceeded"]);
    let usage = runtime.ledger().usage(gavel::log::now_ms());
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (usage[0].used + usage[0].reserved, usage[0].left),
        (1000.0, 0.0)
    );
    // The counters come back from the data directory as they were.
    let runtime = Arc::try_unwrap(runtime).expect("one owner");
    runtime.close().unwrap();
    let runtime = start(dir.path(), data.path(), options());
    let again = runtime.ledger().usage(gavel::log::now_ms());
    assert_eq!(again, usage);
    let d = runtime.decide(&request(
        "after-restart",
        "execute_transaction",
        Some(10.0),
        None,
    ));
    assert_eq!(code(&d), Some("budget-exceeded"));
    assert!(
        d.reasons
            .last()
            .unwrap()
            .message
            .contains("limit 1000, spent 1000, left 0"),
        "{:?}",
        d.reasons
    );
}

/// The same budget through `decide_async`: 64 tasks on two workers, each
/// waiting for its record without a thread of its own.
#[test]
fn sixty_four_async_callers_cannot_overspend_a_budget() {
    let dir = policy_dir(BUDGET);
    let data = tempfile::tempdir().unwrap();
    let runtime = Arc::new(start(dir.path(), data.path(), options()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let runtime = Arc::clone(&runtime);
            rt.spawn(async move {
                let mut out = Vec::new();
                for i in 0..3 {
                    let r = request(
                        &format!("r-{t}-{i}"),
                        "execute_transaction",
                        Some(10.0),
                        None,
                    );
                    out.push(runtime.decide_async(&r).await);
                }
                out
            })
        })
        .collect();
    let results: Vec<Decision> = tasks
        .into_iter()
        .flat_map(|task| rt.block_on(task).expect("task"))
        .collect();
    let approved: Vec<&Decision> = results
        .iter()
        .filter(|d| d.verdict == Verdict::Approve)
        .collect();
    assert_eq!(approved.len(), 100);
    assert!(approved.iter().all(|d| d.seq.is_some()), "durably recorded");
    assert!(
        results
            .iter()
            .filter(|d| d.verdict != Verdict::Approve)
            .all(|d| code(d) == Some("budget-exceeded"))
    );
    // Every decision is in the log, read right after its answer.
    for d in &results {
        let seq = d.seq.expect("a seq");
        assert!(
            gavel::log::get_record(runtime.log().database(), seq)
                .unwrap()
                .is_some()
        );
    }
}

#[test]
fn sixty_four_callers_get_exactly_the_rate() {
    let dir = policy_dir(RATE);
    let data = tempfile::tempdir().unwrap();
    let runtime = Arc::new(start(dir.path(), data.path(), options()));
    let (approved, codes) = hammer(&runtime, "send_email", None, 2);
    assert_eq!(approved, 30);
    assert_eq!(codes, ["rate-limited"]);
    let d = runtime.decide(&request("late", "send_email", None, None));
    let retry = d.retry_after_ms.expect("retry_after_ms");
    assert!(retry > 3_500_000 && retry <= 3_600_000, "{retry}");
}

#[test]
fn a_request_id_sent_twice_is_charged_once() {
    let dir = policy_dir(BUDGET);
    let data = tempfile::tempdir().unwrap();
    let runtime = start(dir.path(), data.path(), options());
    for _ in 0..3 {
        let d = runtime.decide(&request("same", "execute_transaction", Some(600.0), None));
        assert_eq!(d.verdict, Verdict::Approve);
    }
    let d = runtime.decide(&request("other", "execute_transaction", Some(600.0), None));
    assert_eq!(code(&d), Some("budget-exceeded"));
}

#[test]
fn an_escalation_holds_its_reservation_until_a_reviewer_answers() {
    let dir = policy_dir(NEAR);
    let data = tempfile::tempdir().unwrap();
    let runtime = start(dir.path(), data.path(), options());
    let first = runtime.decide(&request("a", "execute_transaction", Some(80.0), None));
    assert_eq!(first.verdict, Verdict::Approve);
    // 80 + 15 passes 90% of 100: a human decides, and the 15 is held.
    let near = runtime.decide(&request("b", "execute_transaction", Some(15.0), None));
    assert_eq!(
        (near.verdict, code(&near)),
        (Verdict::Escalate, Some("budget-near-limit"))
    );
    let held = runtime.decide(&request("c", "execute_transaction", Some(10.0), None));
    assert_eq!(code(&held), Some("budget-exceeded"));
    // Denied: the 15 is freed.
    let id = near.escalation.as_ref().unwrap().id.clone();
    runtime
        .resolve_escalation(&id, false, "reviewer", "no")
        .unwrap();
    let freed = runtime.decide(&request("d", "execute_transaction", Some(5.0), None));
    assert_eq!(freed.verdict, Verdict::Approve);
    // Approved: it is kept.
    let near = runtime.decide(&request("e", "execute_transaction", Some(10.0), None));
    assert_eq!(near.verdict, Verdict::Escalate);
    let id = near.escalation.as_ref().unwrap().id.clone();
    runtime
        .resolve_escalation(&id, true, "reviewer", "ok")
        .unwrap();
    let row = &runtime.ledger().usage(gavel::log::now_ms())[0];
    assert_eq!(row.used + row.reserved, 95.0);
}

#[test]
fn an_expired_escalation_frees_its_reservation() {
    let dir = policy_dir(NEAR);
    let data = tempfile::tempdir().unwrap();
    let runtime = start(
        dir.path(),
        data.path(),
        RuntimeOptions {
            escalation_timeout: Duration::from_millis(1),
            ..options()
        },
    );
    let near = runtime.decide(&request("a", "execute_transaction", Some(95.0), None));
    assert_eq!(near.verdict, Verdict::Escalate);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(runtime.expire_escalations().unwrap().len(), 1);
    assert!(
        runtime
            .ledger()
            .usage(gavel::log::now_ms())
            .iter()
            .all(|r| r.reservations == 0)
    );
    let d = runtime.decide(&request("b", "execute_transaction", Some(85.0), None));
    assert_eq!(d.verdict, Verdict::Approve);
}

#[test]
fn outcomes_free_replace_and_are_reported_once() {
    let dir = policy_dir(BUDGET);
    let data = tempfile::tempdir().unwrap();
    let runtime = start(dir.path(), data.path(), options());
    let a = runtime.decide(&request("a", "execute_transaction", Some(700.0), None));
    let b = runtime.decide(&request("b", "execute_transaction", Some(300.0), None));
    let over = runtime.decide(&request("c", "execute_transaction", Some(200.0), None));
    assert_eq!(code(&over), Some("budget-exceeded"));
    // (seq, status, amount, expected)
    let (a, b, over) = (a.seq.unwrap(), b.seq.unwrap(), over.seq.unwrap());
    let failed = runtime
        .report_outcome(a, OutcomeStatus::Failed, None)
        .unwrap();
    assert_eq!(failed.reservations, 1);
    assert!(matches!(
        runtime.report_outcome(a, OutcomeStatus::Completed, None),
        Err(OutcomeError::AlreadyReported { .. })
    ));
    assert!(matches!(
        runtime.report_outcome(over, OutcomeStatus::Completed, None),
        Err(OutcomeError::NotApproved { .. })
    ));
    assert!(matches!(
        runtime.report_outcome(9_999, OutcomeStatus::Completed, None),
        Err(OutcomeError::UnknownDecision(9_999))
    ));
    assert!(matches!(
        runtime.report_outcome(b, OutcomeStatus::Completed, Some(f64::NAN)),
        Err(OutcomeError::BadAmount(_))
    ));
    // The actual cost replaces the estimate.
    runtime
        .report_outcome(b, OutcomeStatus::Completed, Some(250.0))
        .unwrap();
    let row = &runtime.ledger().usage(gavel::log::now_ms())[0];
    assert_eq!((row.used, row.reserved, row.left), (250.0, 0.0, 750.0));
    let d = runtime.decide(&request("d", "execute_transaction", Some(750.0), None));
    assert_eq!(d.verdict, Verdict::Approve);
}

#[test]
fn a_prerequisite_is_met_only_by_a_completed_action_in_the_same_session() {
    let dir = policy_dir(PREREQUISITES);
    let data = tempfile::tempdir().unwrap();
    let runtime = start(dir.path(), data.path(), options());
    let send = |id: &str, session: Option<&str>| {
        runtime.decide(&request(id, "send_contract", None, session))
    };
    assert_eq!(code(&send("s0", Some("s1"))), Some("prerequisite-missing"));
    assert_eq!(code(&send("s0b", None)), Some("prerequisite-missing"));
    let verify = runtime.decide(&request("v1", "verify_identity", None, Some("s1")));
    assert_eq!(verify.verdict, Verdict::Approve);
    // Approved is not completed.
    assert_eq!(code(&send("s2", Some("s1"))), Some("prerequisite-missing"));
    let failed = runtime.decide(&request("v2", "verify_identity", None, Some("s2")));
    runtime
        .report_outcome(failed.seq.unwrap(), OutcomeStatus::Failed, None)
        .unwrap();
    assert_eq!(code(&send("s3", Some("s2"))), Some("prerequisite-missing"));
    runtime
        .report_outcome(verify.seq.unwrap(), OutcomeStatus::Completed, None)
        .unwrap();
    let ok = send("s4", Some("s1"));
    assert_eq!(ok.verdict, Verdict::Approve, "{:?}", ok.reasons);
    assert_eq!(code(&send("s5", Some("s3"))), Some("prerequisite-missing"));
    // The completion survives a restart (the history is rebuilt from the log).
    runtime.close().unwrap();
    let runtime = start(dir.path(), data.path(), options());
    let again = runtime.decide(&request("s6", "send_contract", None, Some("s1")));
    assert_eq!(again.verdict, Verdict::Approve, "{:?}", again.reasons);
    // Every stateful verdict replays exactly: facts and counters come from the record.
    runtime.close().unwrap();
    let db = gavel::log::open_read_only(&data.path().join(gavel::log::LOG_FILE))
        .map_err(|e| e.to_string())
        .unwrap();
    let set = gavel::replay::load_candidate(dir.path(), &data.path().join("replay")).unwrap();
    let report = gavel::replay::replay(&db, &set).unwrap();
    assert_eq!(report.summary.changed, 0, "{:?}", report.changes);
    assert!(report.summary.replayed >= 9);
}

#[test]
fn budget_decisions_replay_exactly() {
    let dir = policy_dir(&format!(
        "{BUDGET}\n{}",
        RATE.replace("limit = 30", "limit = 5")
    ));
    let data = tempfile::tempdir().unwrap();
    let runtime = start(dir.path(), data.path(), options());
    let mut verdicts = Vec::new();
    for i in 0..8 {
        let d = runtime.decide(&request(
            &format!("r{i}"),
            "execute_transaction",
            Some(100.0),
            None,
        ));
        verdicts.push(code(&d).map(str::to_owned));
    }
    assert_eq!(
        verdicts,
        [
            None,
            None,
            None,
            None,
            None,
            Some("rate-limited"),
            Some("rate-limited"),
            Some("rate-limited")
        ]
        .map(|c| c.map(str::to_owned))
    );
    runtime.close().unwrap();
    let db = gavel::log::open_read_only(&data.path().join(gavel::log::LOG_FILE)).unwrap();
    let set = gavel::replay::load_candidate(dir.path(), &data.path().join("replay")).unwrap();
    let report = gavel::replay::replay(&db, &set).unwrap();
    assert_eq!(
        (report.summary.replayed, report.summary.changed),
        (8, 0),
        "{:?}",
        report.changes
    );
}

#[test]
fn the_breaker_stops_only_the_agent_that_tripped_it() {
    let manifest = format!("[breaker]\ndenials = 3\nwithin = \"1m\"\n{BUDGET}");
    let dir = policy_dir(&manifest);
    let data = tempfile::tempdir().unwrap();
    let runtime = start(dir.path(), data.path(), options());
    let other = |id: &str| {
        let r = Request::from_json(&format!(
            r#"{{"request_id":"{id}","agent_id":"research-assistant","action":"read_docs"}}"#
        ))
        .unwrap();
        runtime.decide(&r)
    };
    for i in 0..3 {
        let d = runtime.decide(&request(
            &format!("big{i}"),
            "execute_transaction",
            Some(5_000.0),
            None,
        ));
        assert_eq!(code(&d), Some("budget-exceeded"));
    }
    assert_eq!(runtime.breaker_trips(), 1);
    let stopped = runtime.decide(&request("small", "execute_transaction", Some(1.0), None));
    assert_eq!(code(&stopped), Some("kill-switch"));
    assert!(
        stopped.reasons[0].message.contains("breaker"),
        "{:?}",
        stopped.reasons
    );
    assert_eq!(other("x").verdict, Verdict::Approve);
    let state = runtime.kill_switch().state();
    let engagement = state.agents.get("financial-advisor").expect("engaged");
    assert_eq!(engagement.actor, "breaker");
    // Only an operator releases it.
    runtime
        .set_kill_switch(false, Some("financial-advisor"), "operator", "checked")
        .unwrap();
    let d = runtime.decide(&request("after", "execute_transaction", Some(1.0), None));
    assert_eq!(d.verdict, Verdict::Approve);
}
