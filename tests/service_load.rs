//! The service under load: concurrent clients over loopback for a bounded
//! time (GAVEL_LOAD_SECS, default 30) and request count, with a hot reload
//! and a kill-switch toggle mid-run. No request may fail, every
//! acknowledged decision must be in the log under its sequence number,
//! and the server's memory must stay flat. Prints requests/s and p50/p99.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::server::{Server, shipped_copy};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
const MAX_REQUESTS: u64 = 2_000_000;

/// (action, verdict outside the kill switch)
fn mix() -> Vec<(Value, &'static str)> {
    vec![
        (
            json!({"agent_id": "research-assistant", "action": "search_web", "params": {"query": "Q3 revenue"}}),
            "approve",
        ),
        (
            json!({"agent_id": "customer-support", "action": "issue_refund", "amount": 50, "currency": "USD", "params": {"order": "1"}}),
            "approve",
        ),
        (
            json!({"agent_id": "customer-support", "action": "issue_refund", "amount": 650, "currency": "USD"}),
            "deny",
        ),
        (
            json!({"agent_id": "financial-advisor", "action": "delete_account"}),
            "deny",
        ),
        (
            json!({"agent_id": "customer-support", "action": "send_email",
                "params": {"to": "someone@gmail.com", "body": "card 4111 1111 1111 1111, thanks"}}),
            "deny",
        ),
        (
            json!({"agent_id": "research-assistant", "action": "send_email",
                "params": {"to": "team@example-corp.com", "body": "the weekly summary is attached"}}),
            "approve",
        ),
    ]
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn load_with_a_reload_and_a_kill_switch_toggle() {
    let secs: u64 = std::env::var("GAVEL_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let run_for = Duration::from_secs(secs);
    // The stateless shipped policies: budgets and rate limits would
    // (rightly) stop a load this long; tests/http_memory.rs loads those.
    let policies = shipped_copy();
    let stateless = std::fs::read_to_string(common::root().join("bench/stateless/policies.toml"))
        .unwrap()
        .replace("../../policies-wasm/", "");
    std::fs::write(policies.path().join("policies.toml"), stateless).unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(policies.path(), data.path(), &[], &[]);
    let mix = mix();
    let sent = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let killed_seen = AtomicU64::new(0);
    let acked: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let killed: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let latencies: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
    let generations: Mutex<std::collections::BTreeSet<u64>> = Mutex::default();
    let mut rss = Vec::new();
    let started = Instant::now();
    std::thread::scope(|s| {
        for client in 0..CLIENTS {
            let (server, mix, sent, stop) = (&server, &mix, &sent, &stop);
            let (acked, latencies, killed_seen, generations, killed) =
                (&acked, &latencies, &killed_seen, &generations, &killed);
            s.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(30)))
                    .http_status_as_error(false)
                    .build()
                    .into();
                let url = format!("{}/v1/evaluate", server.url);
                let (mut mine, mut times, mut gens) =
                    (Vec::new(), Vec::new(), std::collections::BTreeSet::new());
                let mut stopped = Vec::new();
                let mut n = client;
                while !stop.load(Ordering::Relaxed)
                    && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS
                {
                    let (action, expected) = &mix[n % mix.len()];
                    n += 1;
                    let mut action = action.clone();
                    let id = format!("load-{client}-{n}");
                    action["request_id"] = json!(id);
                    let t = Instant::now();
                    let response = agent
                        .post(&url)
                        .send(action.to_string().as_bytes())
                        .unwrap_or_else(|e| panic!("request error: {e}"));
                    let status = response.status().as_u16();
                    let body: Value = response.into_body().read_json().unwrap();
                    times.push(t.elapsed());
                    assert_eq!(status, 200, "{body}");
                    assert_eq!(body["request_id"], id.as_str());
                    let verdict = body["verdict"].as_str().unwrap();
                    gens.insert(body["generation"].as_u64().unwrap());
                    if body["reasons"][0]["code"] == "kill-switch" {
                        // Queued for the log, not waited for: no seq.
                        assert_eq!(verdict, "deny");
                        assert!(body["seq"].is_null());
                        killed_seen.fetch_add(1, Ordering::Relaxed);
                        stopped.push(id);
                    } else {
                        assert_eq!(verdict, *expected, "{body}");
                        let seq = body["seq"]
                            .as_u64()
                            .expect("a committed decision has a seq");
                        mine.push((seq, id));
                    }
                }
                acked.lock().unwrap().extend(mine);
                killed.lock().unwrap().extend(stopped);
                latencies.lock().unwrap().extend(times);
                generations.lock().unwrap().extend(gens);
            });
        }
        // The operator, meanwhile.
        let step = run_for / 6;
        std::thread::sleep(step);
        rss.push(rss_kib(server.pid()));
        // A hot reload: a change that keeps every verdict of the mix.
        let manifest = policies.path().join("policies.toml");
        let text = std::fs::read_to_string(&manifest)
            .unwrap()
            .replace("max = 1000", "max = 1001");
        std::fs::write(&manifest, text).unwrap();
        std::thread::sleep(step);
        rss.push(rss_kib(server.pid()));
        let (status, _) = server.post(
            "/v1/killswitch",
            &json!({"engaged": true, "reason": "load drill", "actor": "load-test"}),
        );
        assert_eq!(status, 200);
        std::thread::sleep(Duration::from_millis(500));
        let (status, _) = server.post(
            "/v1/killswitch",
            &json!({"engaged": false, "reason": "drill over", "actor": "load-test"}),
        );
        assert_eq!(status, 200);
        while started.elapsed() < run_for {
            std::thread::sleep(Duration::from_millis(500));
            rss.push(rss_kib(server.pid()));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = started.elapsed();
    let acked = acked.into_inner().unwrap();
    let mut latencies = latencies.into_inner().unwrap();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let total = acked.len() + killed_seen.load(Ordering::Relaxed) as usize;
    println!(
        "load: {} requests from {CLIENTS} clients in {elapsed:.1?}: {:.0} requests/s, p50 {:?}, p99 {:?}, max {:?}; \
         {} denied by the kill switch; server RSS KiB {rss:?}",
        total,
        total as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies.last().unwrap(),
        killed_seen.load(Ordering::Relaxed),
    );
    assert!(acked.len() > 1000, "too few requests: {}", acked.len());
    assert!(
        killed_seen.load(Ordering::Relaxed) > 0,
        "the kill switch was never seen"
    );
    let generations = generations.into_inner().unwrap();
    assert_eq!(
        generations.iter().copied().collect::<Vec<_>>(),
        [1, 2],
        "the reload was not seen"
    );
    // Flat memory: over the second half of the load, within 5% + 4 MiB.
    // The first half fills bounded caches (redb's page cache alone is
    // `CACHE_BYTES`, 32 MiB) and adds the reloaded generation, kept for
    // rollback; a leak keeps growing through the second half too.
    let steady = rss[rss.len() / 2];
    let last = *rss.last().unwrap();
    assert!(
        last <= steady + steady / 20 + 4 * 1024,
        "RSS grew from {steady} KiB to {last} KiB over the second half: {rss:?}"
    );
    assert!(
        last <= rss[1] + gavel::log::CACHE_BYTES as u64 / 1024 + rss[1] / 10 + 8 * 1024,
        "RSS grew from {} KiB to {last} KiB, beyond the log's cache: {rss:?}",
        rss[1]
    );
    server.stop();

    // Every acknowledged decision is in the log, under its seq.
    let db = gavel::log::open_read_only(&data.path().join(gavel::log::LOG_FILE)).unwrap();
    let mut seqs = std::collections::HashSet::new();
    for (seq, id) in &acked {
        assert!(seqs.insert(*seq), "seq {seq} acknowledged twice");
        let record = gavel::log::get_record(&db, *seq)
            .unwrap()
            .unwrap_or_else(|| panic!("seq {seq} missing"));
        match record.event {
            gavel::log::LogEvent::Decision(d) => assert_eq!(&d.request.request_id, id),
            other => panic!("seq {seq} is {}", other.kind()),
        }
    }
    // The kill-switch denies were queued, not waited for; after a clean
    // stop every one of them is in the log too.
    let mut logged = std::collections::HashSet::new();
    let last = gavel::log::last_seq(&db).unwrap();
    let mut after = 0;
    while after < last {
        let batch = gavel::log::records_after(&db, after, 10_000).unwrap();
        for record in &batch {
            if let gavel::log::LogEvent::Decision(d) = &record.event
                && d.reasons.first().is_some_and(|r| r.code == "kill-switch")
            {
                logged.insert(d.request.request_id.clone());
            }
        }
        after = batch.last().map_or(last, |r| r.seq);
    }
    let killed = killed.into_inner().unwrap();
    assert_eq!(logged.len(), killed.len());
    assert!(killed.iter().all(|id| logged.contains(id)));
    drop(db);
    let verify = common::gavel(&["log", "verify"], data.path(), None);
    assert!(verify.status.success(), "{}", common::stderr(&verify));
}
