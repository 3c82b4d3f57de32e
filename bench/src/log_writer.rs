//! Figure 3b: the decision log writer's own throughput, without policies.
//!
//! The shipped stateless set decides each of the workload's short actions
//! once, and each decision becomes the log event the runtime would record
//! (redacted, [`Runtime::entry`]); all of this before anything is timed.
//! Producer threads then call [`DecisionLog::append`] in a loop, each from
//! its own offset in those events, for the time budget; `close` follows
//! and is counted in the wall time. Buffered mode with 1 and 2 producers
//! (the machine has 2 cores), durable mode with 64 for comparison.
//!
//! The writer's commits are observed (`DecisionLog::observe_commits`): the
//! records each carried and the writer's time in it. "The writer alone" is
//! committed records ÷ the writer's total time in commits: what one writer
//! thread can commit when producers are never the limit. Its target in
//! buffered mode is [`TARGET`].

use crate::stats::{Samples, show, show_opt, show_rate, thousands};
use crate::throughput::disk_tempdir;
use gavel::log::{LogEvent, LogMode, LogOptions};
use gavel::{DecisionLog, Request, Runtime};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The buffered target: records per second through the writer alone.
pub const TARGET: f64 = 300_000.0;

/// The rows: (mode, producer threads).
pub const ROWS: [(LogMode, usize); 3] = [
    (LogMode::Buffered, 1),
    (LogMode::Buffered, 2),
    (LogMode::Durable, 64),
];

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Durable or buffered.
    pub mode: LogMode,
    /// Producer threads calling `append`.
    pub producers: usize,
    /// Records appended.
    pub records: usize,
    /// The timed window plus `close`.
    pub wall: Duration,
    /// What `close` took.
    pub close: Duration,
    /// One sample per observed commit.
    pub commits: Samples,
    /// Records the observed commits carried.
    pub committed: usize,
}

impl Row {
    /// Appended records per second of wall time (`close` included).
    pub fn wall_rate(&self) -> f64 {
        self.records as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Committed records per second of the writer's time in commits.
    pub fn writer_rate(&self) -> f64 {
        self.committed as f64 / self.commits.total().as_secs_f64().max(1e-9)
    }
}

/// The log events of `short` as the runtime on `dir` records them: one
/// decision each, by the live set, redacted.
pub fn events(dir: &Path, short: &[Request]) -> Result<Vec<LogEvent>, crate::Error> {
    let data = disk_tempdir("log-writer-events")?;
    let options = LogOptions {
        mode: LogMode::Buffered,
        ..LogOptions::default()
    };
    let runtime = Runtime::start(dir, data.path(), options)?;
    let set = runtime.policies();
    let events = short
        .iter()
        .map(|request| LogEvent::Decision(runtime.entry(request, &set.evaluate(request))))
        .collect();
    drop(set);
    runtime.close()?;
    Ok(events)
}

/// Append `events` from `producers` threads for `budget` in `mode`, then
/// close the log.
pub fn measure(
    events: &Arc<Vec<LogEvent>>,
    mode: LogMode,
    producers: usize,
    budget: Duration,
) -> Result<Row, crate::Error> {
    let first = events.first().ok_or("no events to append")?;
    let data = disk_tempdir("log-writer")?;
    let log = DecisionLog::open(
        data.path(),
        LogOptions {
            mode,
            ..LogOptions::default()
        },
    )?;
    // One committed record first, so that the tables exist; observed after.
    log.append_committed(first, 1, Vec::new())?;
    let observed = Arc::new(Mutex::new((Samples::with_capacity(1 << 14), 0usize)));
    let sink = observed.clone();
    log.observe_commits(Box::new(move |took, records| {
        let mut seen = sink.lock().unwrap_or_else(PoisonError::into_inner);
        seen.0.push(took);
        seen.1 += records;
    }));
    let log = Arc::new(log);
    let barrier = Arc::new(Barrier::new(producers + 1));
    let threads: Vec<_> = (0..producers)
        .map(|i| {
            let (log, events, barrier) = (log.clone(), events.clone(), barrier.clone());
            std::thread::spawn(move || -> Result<usize, gavel::log::LogError> {
                let n = events.len().max(1);
                let mut next = i * 7919 % n;
                let mut appended = 0usize;
                barrier.wait();
                let until = Instant::now() + budget;
                while Instant::now() < until {
                    let Some(event) = events.get(next) else { break };
                    log.append(event, 1)?;
                    appended += 1;
                    next = (next + 1) % n;
                }
                Ok(appended)
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let mut records = 0;
    for thread in threads {
        records += thread.join().map_err(|_| "a producer thread panicked")??;
    }
    let log = Arc::try_unwrap(log).map_err(|_| "log still shared")?;
    let closing = Instant::now();
    log.close()?;
    let close = closing.elapsed();
    let wall = started.elapsed();
    let (commits, committed) =
        std::mem::take(&mut *observed.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Row {
        mode,
        producers,
        records,
        wall,
        close,
        commits,
        committed,
    })
}

fn mode_name(mode: LogMode) -> &'static str {
    match mode {
        LogMode::Durable => "durable",
        LogMode::Buffered => "buffered",
    }
}

/// The sentence on [`TARGET`]: met only when every buffered row meets it.
pub fn verdict(rows: &[Row]) -> String {
    let buffered: Vec<&Row> = rows
        .iter()
        .filter(|r| r.mode == LogMode::Buffered)
        .collect();
    let each: Vec<String> = buffered
        .iter()
        .map(|r| {
            let s = if r.producers == 1 { "" } else { "s" };
            format!(
                "{} ({} producer{s})",
                show_rate(r.writer_rate()),
                r.producers
            )
        })
        .collect();
    let met = !buffered.is_empty() && buffered.iter().all(|r| r.writer_rate() >= TARGET);
    format!(
        "Target: buffered, ≥ {} through the writer alone; measured {}: {}.",
        show_rate(TARGET),
        each.join(" and "),
        if met { "**met**" } else { "**not met**" }
    )
}

/// The section: what is measured, one row per [`ROWS`], and the target.
pub fn run(dir: &Path, short: &[Request], budget: Duration) -> Result<String, crate::Error> {
    let events = Arc::new(events(dir, short)?);
    let mut bytes = 0usize;
    for event in events.iter() {
        bytes += serde_json::to_vec(event)?.len();
    }
    let mean_bytes = bytes / events.len().max(1);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "`DecisionLog::append` alone, without policies: the shipped stateless set's decisions on the workload's {} short actions, made into the log events the runtime records (mean {mean_bytes} bytes as JSON) before anything is timed. Producer threads append them in a loop, each from its own offset, for {:.1} s; `close` follows and counts in the wall rate. Buffered with 1 and 2 producers (the machine's cores), durable with 64 for comparison. The last four columns are the writer's own (`observe_commits`): records per commit (mean), the time of one commit, the writer's time in commits per record, and its inverse, the writer alone (committed records ÷ time in commits). In durable mode a commit is the writer's part: the journal's append, and, every 50 ms, one redb commit (without a sync) of the batches staged since; the journal's sync runs on its own thread beside the next commit, and counts in the wall rate, since each producer waits for it.\n",
        events.len(),
        budget.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| log | producers | records | records/s (wall) | close | records per commit | commit p50 | writer time per record | writer alone |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::with_capacity(ROWS.len());
    for (mode, producers) in ROWS {
        let mut row = measure(&events, mode, producers, budget)?;
        let committed = u32::try_from(row.committed.max(1)).unwrap_or(u32::MAX);
        let _ = writeln!(
            md,
            "| {} | {producers} | {} | {} | {} | {:.1} | {} | {} | {} |",
            mode_name(mode),
            thousands(row.records as u64),
            show_rate(row.wall_rate()),
            show(row.close),
            row.committed as f64 / row.commits.len().max(1) as f64,
            show_opt(row.commits.p50()),
            show_opt(row.commits.total().checked_div(committed)),
            show_rate(row.writer_rate()),
        );
        rows.push(row);
    }
    let _ = writeln!(md, "\n{}", verdict(&rows));
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mode: LogMode, producers: usize, committed: usize) -> Row {
        let mut commits = Samples::default();
        commits.push(Duration::from_secs(1));
        Row {
            mode,
            producers,
            records: committed,
            wall: Duration::from_secs(1),
            close: Duration::ZERO,
            commits,
            committed,
        }
    }

    #[test]
    fn the_target_is_met_only_by_every_buffered_row() {
        let fast = row(LogMode::Buffered, 1, 400_000);
        let slow = row(LogMode::Buffered, 2, 200_000);
        let durable = row(LogMode::Durable, 64, 10);
        assert!(verdict(&[fast.clone(), durable.clone()]).ends_with("**met**."));
        assert!(verdict(&[fast, slow, durable.clone()]).ends_with("**not met**."));
        assert!(verdict(&[durable]).ends_with("**not met**."));
    }

    #[test]
    fn the_section_runs_every_row() {
        let short: Vec<Request> = crate::workload::workload(200)
            .into_iter()
            .filter(crate::latency::is_short)
            .collect();
        let md = run(&crate::shipped_dir(), &short, Duration::from_millis(50)).unwrap();
        for (mode, producers) in ROWS {
            let row = format!("| {} | {producers} |", mode_name(mode));
            assert!(md.contains(&row), "{row} missing:\n{md}");
        }
        assert!(md.contains("Target: buffered"), "{md}");
    }

    #[test]
    fn writer_and_wall_rates() {
        let r = row(LogMode::Buffered, 1, 1000);
        assert!((r.writer_rate() - 1000.0).abs() < 1e-6);
        assert!((r.wall_rate() - 1000.0).abs() < 1e-6);
    }
}
