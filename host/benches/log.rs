//! `make bench`: the decision log's throughput and latency, and what the
//! log adds to a decision.
//!
//! 1. `append`: 1, 8 and 64 threads call `DecisionLog::append` in a loop for
//!    a fixed time, in each mode, with a realistic ~1 KB decision record
//!    (the shipped policies' decision on a transaction, built the way the
//!    runtime builds it). Per (mode, callers): records/s, per-call latency
//!    p50/p99, and for buffered mode the time `close` takes to commit what
//!    is still queued.
//! 2. `decide`: single caller, `Runtime::decide` (policies + redaction +
//!    log) against `PolicySet::evaluate` alone, in each mode.
//!
//! The logs live in a temporary directory under `target/` — on the real
//! disk, since `/tmp` may be a RAM disk that makes fsync free. A plain
//! `main` (criterion measures one caller at a time). Set
//! `GAVEL_BENCH_SECS` to change the time per configuration (default 2.5).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "benchmark code: a failed step is a failed run"
)]

use gavel::log::{LogEvent, LogMode, LogOptions};
use gavel::{DecisionLog, Request, Runtime};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// A transaction on a Wednesday afternoon in New York: every shipped
/// policy that applies runs, and the params look like a real payment.
const REQUEST: &str = r#"{
  "request_id": "req-7f3a9c2e-5b1d-4e8f-9a6c-2d4b8e1f3a7c",
  "agent_id": "financial-advisor",
  "action": "execute_transaction",
  "amount": 742.5,
  "currency": "USD",
  "timestamp": "2026-11-18T19:30:00Z",
  "session_id": "sess-20261118-a41f",
  "user_id": "user-88213",
  "params": {
    "from_account": "acct-checking-0042",
    "to_account": "acct-vendor-9911",
    "payee": "Northwind Office Supplies LLC",
    "memo": "Invoice INV-2026-11-2291: Q4 office supplies, net 30",
    "reference": "PO-55120",
    "line_items": [
      {"sku": "PAPER-A4-5000", "qty": 12, "unit_price": 24.5},
      {"sku": "TONER-HP-26X", "qty": 3, "unit_price": 149.0}
    ]
  }
}"#;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where the logs go: under the target directory, on the real disk.
fn bench_base() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("bench-log")
}

/// A temporary directory on the real disk.
fn disk_tempdir(tag: &str) -> tempfile::TempDir {
    let base = bench_base();
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix(tag)
        .tempdir_in(base)
        .unwrap()
}

fn options(mode: LogMode) -> LogOptions {
    LogOptions {
        mode,
        ..LogOptions::default()
    }
}

fn mode_name(mode: LogMode) -> &'static str {
    match mode {
        LogMode::Durable => "durable",
        LogMode::Buffered => "buffered",
    }
}

/// Latency percentile of sorted nanoseconds, in microseconds.
fn pct(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i] as f64 / 1000.0
}

struct AppendRow {
    mode: LogMode,
    callers: usize,
    records: usize,
    secs: f64,
    p50: f64,
    p99: f64,
    close: Option<Duration>,
}

fn append_run(event: &LogEvent, mode: LogMode, callers: usize, run: Duration) -> AppendRow {
    let dir = disk_tempdir("append");
    let log = Arc::new(DecisionLog::open(dir.path(), options(mode)).unwrap());
    // One record first, so the tables exist and the file is warm.
    log.append(event, 1).unwrap();
    let start = Arc::new(Barrier::new(callers + 1));
    let threads: Vec<_> = (0..callers)
        .map(|_| {
            let (log, start, event) = (log.clone(), start.clone(), event.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(1 << 16);
                start.wait();
                let began = Instant::now();
                while began.elapsed() < run {
                    let t = Instant::now();
                    black_box(log.append(&event, 1).unwrap());
                    lat.push(t.elapsed().as_nanos() as u64);
                }
                lat
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let mut lat: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let secs = began.elapsed().as_secs_f64();
    let log = Arc::into_inner(log).unwrap();
    let closing = Instant::now();
    log.close().unwrap();
    let close = closing.elapsed();
    lat.sort_unstable();
    AppendRow {
        mode,
        callers,
        records: lat.len(),
        secs,
        p50: pct(&lat, 0.50),
        p99: pct(&lat, 0.99),
        close: (mode == LogMode::Buffered).then_some(close),
    }
}

struct LatencyRow {
    what: String,
    calls: usize,
    mean: f64,
    p50: f64,
    p99: f64,
}

fn time_loop(what: &str, run: Duration, mut f: impl FnMut()) -> LatencyRow {
    // Warm up.
    for _ in 0..100 {
        f();
    }
    let mut lat = Vec::with_capacity(1 << 16);
    let began = Instant::now();
    while began.elapsed() < run {
        let t = Instant::now();
        f();
        lat.push(t.elapsed().as_nanos() as u64);
    }
    let total: u64 = lat.iter().sum();
    lat.sort_unstable();
    LatencyRow {
        what: what.to_owned(),
        calls: lat.len(),
        mean: total as f64 / lat.len().max(1) as f64 / 1000.0,
        p50: pct(&lat, 0.50),
        p99: pct(&lat, 0.99),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; accept and ignore arguments.
    let run = Duration::from_secs_f64(
        std::env::var("GAVEL_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2.5),
    );
    let request = Request::from_json(REQUEST).unwrap();
    let policies = root().join("policies-wasm");

    // The record: exactly what the runtime logs for this decision.
    let event = {
        let dir = disk_tempdir("entry");
        let runtime = Runtime::start(&policies, dir.path(), options(LogMode::Buffered)).unwrap();
        let decision = runtime.policies().evaluate(&request);
        let entry = runtime.entry(&request, &decision);
        runtime.close().unwrap();
        LogEvent::Decision(entry)
    };
    let bytes = serde_json::to_vec(&event).unwrap().len();
    println!(
        "decision log benchmark: {bytes}-byte decision records, {:.1} s per configuration, logs in {}",
        run.as_secs_f64(),
        bench_base().display()
    );
    println!();
    println!("append (DecisionLog::append, N threads calling concurrently)");
    println!(
        "{:<9} {:>7} {:>9} {:>11} {:>10} {:>10} {:>12}",
        "mode", "callers", "records", "records/s", "p50 µs", "p99 µs", "close ms"
    );
    for mode in [LogMode::Durable, LogMode::Buffered] {
        for callers in [1, 8, 64] {
            let row = append_run(&event, mode, callers, run);
            println!(
                "{:<9} {:>7} {:>9} {:>11.0} {:>10.1} {:>10.1} {:>12}",
                mode_name(row.mode),
                row.callers,
                row.records,
                row.records as f64 / row.secs,
                row.p50,
                row.p99,
                row.close
                    .map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
                    .unwrap_or_else(|| "-".to_owned()),
            );
        }
    }

    println!();
    println!("decide (single caller): Runtime::decide vs PolicySet::evaluate alone");
    let mut rows = Vec::new();
    for mode in [LogMode::Durable, LogMode::Buffered] {
        let dir = disk_tempdir("decide");
        let runtime = Runtime::start(&policies, dir.path(), options(mode)).unwrap();
        if mode == LogMode::Durable {
            let set = runtime.policies();
            rows.push(time_loop("PolicySet::evaluate", run, || {
                black_box(set.evaluate(black_box(&request)));
            }));
        }
        rows.push(time_loop(
            &format!("Runtime::decide, {}", mode_name(mode)),
            run,
            || {
                black_box(runtime.decide(black_box(&request)));
            },
        ));
        runtime.close().unwrap();
    }
    let base = rows.first().map(|r| r.p50).unwrap_or(f64::NAN);
    println!(
        "{:<28} {:>8} {:>10} {:>10} {:>10} {:>12}",
        "", "calls", "mean µs", "p50 µs", "p99 µs", "p50 ratio"
    );
    for r in &rows {
        println!(
            "{:<28} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>11.1}×",
            r.what,
            r.calls,
            r.mean,
            r.p50,
            r.p99,
            r.p50 / base
        );
    }
}
