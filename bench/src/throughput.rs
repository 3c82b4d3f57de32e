//! Figure 3: decisions per second through [`Runtime::decide`] (policies,
//! redaction, the decision log) with the log durable and buffered, for 1,
//! 8 and 64 callers.
//!
//! Each caller thread walks the workload's short actions from its own
//! offset for the time budget, timing every call. The log lives under
//! `target/bench-log`, on the real disk (a RAM-backed `/tmp` would make
//! fsync free). In buffered mode the time `close` then takes to commit
//! what is still queued is reported, and counted in the rate.
//!
//! The log's own commits are observed too (`DecisionLog::observe_commits`):
//! how many records each commit carried, and how long the writer spent in
//! commits per record. Durable throughput is bounded by the first (every
//! caller waits, so a commit carries at most one record per caller), and
//! buffered throughput by the second (one writer thread).
//!
//! Callers are threads calling [`Runtime::decide`], or (durable rows
//! marked "tasks") async tasks calling [`Runtime::decide_async`] on a
//! tokio runtime with one worker per core, as a server's requests are:
//! a task waiting for its record costs no thread of its own.
//!
//! With [`Ids::Fresh`] every call decides its action under a request id
//! of its own, so that a stateful set's charges are reserved on every
//! call (a request id is charged once); [`compare`] uses it to set the
//! stateful shipped set beside the stateless one.

use crate::stats::{Samples, show_opt, show_rate};
use gavel::{LogMode, LogOptions, Request, Runtime};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Caller counts, as the issue asks.
pub const CALLERS: [usize; 3] = [1, 8, 64];

/// Caller counts for the durable rows with async tasks as callers.
pub const TASKS: [usize; 2] = [64, 256];

/// Where benchmark logs go: `target/bench-log` (or under
/// `CARGO_TARGET_DIR`).
pub fn disk_base() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("bench-log")
}

/// A temporary directory on the real disk.
pub fn disk_tempdir(tag: &str) -> Result<tempfile::TempDir, crate::Error> {
    let base = disk_base();
    std::fs::create_dir_all(&base)?;
    Ok(tempfile::Builder::new().prefix(tag).tempdir_in(base)?)
}

/// What a caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// A thread each, blocked while its record is written.
    Threads,
    /// An async task each, on one worker thread per core.
    Tasks,
}

/// Which request ids the callers send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// The workload's own: a caller that comes round again repeats them.
    Reuse,
    /// A new id for every call (the workload's, with a suffix naming the
    /// caller and the call), made before the call is timed.
    Fresh,
}

struct Row {
    decisions: usize,
    /// Decisions that were not denied and reserved a charge.
    reserved: usize,
    took: Duration,
    close: Option<Duration>,
    latency: Samples,
    /// One sample per commit of the log, and the records it carried.
    commits: Samples,
    committed: usize,
    /// Total time the writer spent in commits.
    in_commits: Duration,
}

/// What the log's writer reports about its commits.
#[derive(Default)]
struct Commits {
    times: Samples,
    records: usize,
    total: Duration,
}

#[expect(clippy::too_many_arguments, reason = "one benchmark row's settings")]
fn run_one(
    dir: &Path,
    requests: &Arc<Vec<Request>>,
    mode: LogMode,
    callers: usize,
    callers_as: Callers,
    budget: Duration,
    ids: Ids,
    seed: Option<&Path>,
) -> Result<Row, crate::Error> {
    let data = disk_tempdir("throughput")?;
    if let Some(seed) = seed {
        seed_artifacts(seed, data.path())?;
    }
    let options = LogOptions {
        mode,
        ..LogOptions::default()
    };
    let runtime = Arc::new(Runtime::start(dir, data.path(), options)?);
    let commits = Arc::new(Mutex::new(Commits::default()));
    let observed = commits.clone();
    runtime
        .log()
        .observe_commits(Box::new(move |took, records| {
            let mut c = observed.lock().unwrap_or_else(PoisonError::into_inner);
            c.times.push(took);
            c.records += records;
            c.total += took;
        }));
    if callers_as == Callers::Tasks {
        let started = Instant::now();
        let (latency, reserved) = drive_tasks(&runtime, requests, callers, budget, ids)?;
        let took = started.elapsed();
        let runtime = Arc::try_unwrap(runtime).map_err(|_| "runtime still shared")?;
        runtime.close()?;
        let commits = std::mem::take(&mut *commits.lock().unwrap_or_else(PoisonError::into_inner));
        return Ok(Row {
            decisions: latency.len(),
            reserved,
            took,
            close: None,
            latency,
            commits: commits.times,
            committed: commits.records,
            in_commits: commits.total,
        });
    }
    let barrier = Arc::new(Barrier::new(callers + 1));
    let threads: Vec<_> = (0..callers)
        .map(|i| {
            let (runtime, requests, barrier) = (runtime.clone(), requests.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut caller = Caller::new(i, requests.len(), ids);
                barrier.wait();
                let until = Instant::now() + budget;
                while Instant::now() < until {
                    let Some(request) = caller.request(&requests) else {
                        break;
                    };
                    let started = Instant::now();
                    let decision = runtime.decide(&request);
                    caller.answered(started, decision);
                }
                caller.finish()
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let mut latency = Samples::default();
    let mut reserved = 0;
    for thread in threads {
        let (samples, made) = thread.join().map_err(|_| "a caller thread panicked")?;
        latency.extend(&samples);
        reserved += made;
    }
    let mut took = started.elapsed();
    let runtime = Arc::try_unwrap(runtime).map_err(|_| "runtime still shared")?;
    let closing = Instant::now();
    runtime.close()?;
    let close = (mode == LogMode::Buffered).then(|| closing.elapsed());
    if let Some(close) = close {
        took += close;
    }
    let commits = std::mem::take(&mut *commits.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Row {
        decisions: latency.len(),
        reserved,
        took,
        close,
        latency,
        commits: commits.times,
        committed: commits.records,
        in_commits: commits.total,
    })
}

/// One caller's walk through the workload, from its own offset, and what
/// it measured.
struct Caller {
    index: usize,
    next: usize,
    len: usize,
    call: u64,
    ids: Ids,
    latency: Samples,
    reserved: usize,
}

impl Caller {
    fn new(index: usize, len: usize, ids: Ids) -> Self {
        let len = len.max(1);
        Caller {
            index,
            next: index * 7919 % len,
            len,
            call: 0,
            ids,
            latency: Samples::with_capacity(4096),
            reserved: 0,
        }
    }

    /// The next request to send (under a new id with [`Ids::Fresh`],
    /// made before the call is timed).
    fn request<'a>(&self, requests: &'a [Request]) -> Option<Cow<'a, Request>> {
        let request = requests.get(self.next)?;
        Some(match self.ids {
            Ids::Reuse => Cow::Borrowed(request),
            Ids::Fresh => Cow::Owned(crate::stateful_chain::renamed(
                request,
                &format!("c{}-{}", self.index, self.call),
            )),
        })
    }

    /// Count the answer to the call started at `started`, and move on.
    fn answered(&mut self, started: Instant, decision: gavel::Decision) {
        self.latency.push(started.elapsed());
        if decision.verdict != gavel::Verdict::Deny && decision.charges.iter().any(|c| !c.duplicate)
        {
            self.reserved += 1;
        }
        std::hint::black_box(decision);
        self.next = (self.next + 1) % self.len;
        self.call += 1;
    }

    /// Every call's latency, and how many reserved a charge.
    fn finish(self) -> (Samples, usize) {
        (self.latency, self.reserved)
    }
}

/// `callers` async tasks deciding for `budget` on a runtime with one
/// worker per core: every call's latency, and how many reserved a charge.
fn drive_tasks(
    runtime: &Arc<Runtime>,
    requests: &Arc<Vec<Request>>,
    callers: usize,
    budget: Duration,
    ids: Ids,
) -> Result<(Samples, usize), crate::Error> {
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let until = Instant::now() + budget;
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let (runtime, requests) = (runtime.clone(), requests.clone());
            rt.spawn(async move {
                let mut caller = Caller::new(i, requests.len(), ids);
                while Instant::now() < until {
                    let Some(request) = caller.request(&requests) else {
                        break;
                    };
                    let started = Instant::now();
                    let decision = runtime.decide_async(&request).await;
                    caller.answered(started, decision);
                }
                caller.finish()
            })
        })
        .collect();
    let mut latency = Samples::default();
    let mut reserved = 0;
    for task in tasks {
        let (samples, made) = rt.block_on(task).map_err(|_| "a caller task panicked")?;
        latency.extend(&samples);
        reserved += made;
    }
    Ok((latency, reserved))
}

/// Decide for `budget` with `callers` threads and `mode`; the rate
/// (decisions per second, counting a buffered log's close). For profiling.
pub fn rate(
    dir: &Path,
    short: Vec<Request>,
    mode: LogMode,
    callers: usize,
    callers_as: Callers,
    budget: Duration,
) -> Result<f64, crate::Error> {
    let row = run_one(
        dir,
        &Arc::new(short),
        mode,
        callers,
        callers_as,
        budget,
        Ids::Reuse,
        None,
    )?;
    Ok(row.decisions as f64 / row.took.as_secs_f64().max(1e-9))
}

/// The markdown section: one row per (mode, callers).
pub fn run(dir: &Path, short: Vec<Request>, budget: Duration) -> Result<String, crate::Error> {
    let requests = Arc::new(short);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| log | callers | decisions | decisions/s | p50 per call | p99 per call | close (buffered) | records per commit | commit p50 | writer time per record |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let rows = [LogMode::Durable, LogMode::Buffered]
        .into_iter()
        .flat_map(|mode| CALLERS.map(|callers| (mode, callers, Callers::Threads)))
        .chain(TASKS.map(|callers| (LogMode::Durable, callers, Callers::Tasks)));
    for (mode, callers, callers_as) in rows {
        {
            let mut row = run_one(
                dir,
                &requests,
                mode,
                callers,
                callers_as,
                budget,
                Ids::Reuse,
                None,
            )?;
            let per_commit = row.committed as f64 / (row.commits.len().max(1)) as f64;
            let per_record = row
                .in_commits
                .checked_div(u32::try_from(row.committed.max(1)).unwrap_or(u32::MAX));
            let _ = writeln!(
                md,
                "| {} | {callers}{} | {} | {} | {} | {} | {} | {per_commit:.1} | {} | {} |",
                match mode {
                    LogMode::Durable => "durable",
                    LogMode::Buffered => "buffered",
                },
                match callers_as {
                    Callers::Threads => "",
                    Callers::Tasks => " tasks",
                },
                crate::stats::thousands(row.decisions as u64),
                show_rate(row.decisions as f64 / row.took.as_secs_f64().max(1e-9)),
                show_opt(row.latency.p50()),
                show_opt(row.latency.p99()),
                show_opt(row.close),
                show_opt(row.commits.p50()),
                show_opt(per_record),
            );
        }
    }
    Ok(md)
}

/// One set's throughput in [`compare`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Decisions made.
    pub decisions: usize,
    /// Decisions per second.
    pub per_second: f64,
    /// Decisions that reserved a charge.
    pub reserved: usize,
    /// The median call.
    pub p50: Option<Duration>,
    /// Records per commit of the log, mean.
    pub per_commit: f64,
    /// The log writer's time in commits per record.
    pub writer_per_record: Option<Duration>,
}

/// Copy the compiled components of the data directory `from` (its
/// `artifacts/`) into the data directory `to`, so that a runtime started
/// there loads them rather than compiling them again (as a runtime
/// restarted on its data directory does).
fn seed_artifacts(from: &Path, to: &Path) -> Result<(), crate::Error> {
    let (from, to) = (from.join("artifacts"), to.join("artifacts"));
    std::fs::create_dir_all(&to)?;
    for entry in std::fs::read_dir(&from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// `Runtime::decide` on each of `dirs` in turn, with `callers` threads,
/// the log in `mode`, a fresh request id for every call, for `budget`
/// each; in the order of `dirs`. `seed`: a data directory whose compiled
/// components each runtime starts with (see [`gavel::ArtifactCache`]).
pub fn compare(
    dirs: &[&Path],
    short: Vec<Request>,
    mode: LogMode,
    callers: usize,
    budget: Duration,
    seed: Option<&Path>,
) -> Result<Vec<Measured>, crate::Error> {
    let requests = Arc::new(short);
    let mut out = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let mut row = run_one(
            dir,
            &requests,
            mode,
            callers,
            Callers::Threads,
            budget,
            Ids::Fresh,
            seed,
        )?;
        out.push(Measured {
            decisions: row.decisions,
            per_second: row.decisions as f64 / row.took.as_secs_f64().max(1e-9),
            reserved: row.reserved,
            p50: row.latency.p50(),
            per_commit: row.committed as f64 / (row.commits.len().max(1)) as f64,
            writer_per_record: row
                .in_commits
                .checked_div(u32::try_from(row.committed.max(1)).unwrap_or(u32::MAX)),
        });
    }
    Ok(out)
}
