//! Figure 4: cold start with the four shipped policies, from an empty
//! artifact cache and from a warm one, and hot-reload latency.
//!
//! - `load`: a new [`PolicyEngine`], the cache opened, and
//!   [`PolicySet::load`] (read, hash, compile or take from the cache,
//!   link, instantiate with the config, read the metadata), smoke test
//!   included;
//! - `Runtime::start`: everything a process does before its first
//!   decision: the engine, the cache, opening (or creating) the log and its
//!   keys, the kill switch and escalations, the policy set, and the
//!   `policy-set-loaded` record (durable).
//!
//! "Empty cache" uses a new data directory each time; "warm cache" reuses
//! one whose cache holds the four artifacts.
//!
//! Hot reload: a config change (the financial advisor's limit) written
//! into the policy directory, then (a) `Runtime::reload` called directly:
//! the rebuild and swap; (b) the real watcher: from the rename that lands
//! the manifest to the new generation serving, debounce included.

use crate::fixture::{self, Derive};
use crate::stats::{Samples, show_opt};
use gavel::policy_watcher::DEFAULT_DEBOUNCE;
use gavel::{
    ArtifactCache, GenerationChange, LogOptions, PolicyEngine, PolicySet, PolicyWatcher,
    ReloadOutcome, Runtime,
};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn load_once(dir: &Path, data: &Path) -> Result<Duration, crate::Error> {
    let started = Instant::now();
    let engine = PolicyEngine::new()?;
    let cache = ArtifactCache::open(data, engine.engine())?;
    let set = PolicySet::load(dir, &engine, &cache)?;
    set.smoke_test()?;
    let took = started.elapsed();
    drop(set);
    Ok(took)
}

fn start_once(dir: &Path, data: &Path) -> Result<Duration, crate::Error> {
    let started = Instant::now();
    let runtime = Runtime::start(dir, data, LogOptions::default())?;
    let took = started.elapsed();
    runtime.close()?;
    Ok(took)
}

/// Rewrite the manifest in `dir` with the financial advisor's limit set
/// to `max`, atomically (temporary file, rename).
fn set_limit(dir: &Path, original: &str, max: usize) -> Result<(), crate::Error> {
    let text = original.replacen("max = 1000", &format!("max = {max}"), 1);
    if text == original {
        return Err("the manifest has no `max = 1000` to change".into());
    }
    let file = dir.join(gavel::manifest::MANIFEST_FILE);
    let landing = dir.join("policies.toml.landing.tmp");
    std::fs::write(&landing, text)?;
    std::fs::rename(&landing, &file)?;
    Ok(())
}

/// `runs` times each: `once` with a new data directory (empty cache), then
/// with one data directory it has already filled (warm cache).
fn cold_and_warm(
    dir: &Path,
    runs: usize,
    once: fn(&Path, &Path) -> Result<Duration, crate::Error>,
) -> Result<(Samples, Samples), crate::Error> {
    let mut empty = Samples::default();
    for _ in 0..runs {
        let data = crate::throughput::disk_tempdir("cold")?;
        empty.push(once(dir, data.path())?);
    }
    let data = crate::throughput::disk_tempdir("warm")?;
    once(dir, data.path())?;
    let mut warm = Samples::default();
    for _ in 0..runs {
        warm.push(once(dir, data.path())?);
    }
    Ok((empty, warm))
}

/// The markdown section. `runs` repetitions of each measurement.
pub fn run(shipped: &Path, runs: usize) -> Result<String, crate::Error> {
    let dir = fixture::derive(shipped, &Derive::default())?;
    let runs = runs.max(1);
    let mut rows: Vec<(&str, Samples)> = Vec::new();

    type Once = fn(&Path, &Path) -> Result<Duration, crate::Error>;
    let starts: [(&str, &str, Once); 2] = [
        ("load, empty cache (compile)", "load, warm cache", load_once),
        (
            "`Runtime::start`, empty cache, new log",
            "`Runtime::start`, warm cache, existing log",
            start_once,
        ),
    ];
    for (empty_label, warm_label, once) in starts {
        let (empty, warm) = cold_and_warm(dir.path(), runs, once)?;
        rows.push((empty_label, empty));
        rows.push((warm_label, warm));
    }

    // Hot reload.
    let manifest = std::fs::read_to_string(dir.path().join(gavel::manifest::MANIFEST_FILE))?;
    let data = crate::throughput::disk_tempdir("reload")?;
    let runtime = Arc::new(Runtime::start(
        dir.path(),
        data.path(),
        LogOptions::default(),
    )?);
    let mut direct = Samples::default();
    for k in 0..runs.max(5) {
        set_limit(dir.path(), &manifest, 2000 + k)?;
        let started = Instant::now();
        match runtime.reload()? {
            ReloadOutcome::Swapped(_) => direct.push(started.elapsed()),
            ReloadOutcome::Unchanged => return Err("reload saw no change".into()),
        }
    }
    rows.push(("hot reload: `Runtime::reload` (rebuild + swap)", direct));
    let changes = runtime.subscribe();
    let watcher = PolicyWatcher::start(runtime.clone(), DEFAULT_DEBOUNCE)?;
    let mut watched = Samples::default();
    for k in 0..runs.max(5) {
        // Let the watcher settle between changes.
        std::thread::sleep(DEFAULT_DEBOUNCE * 2);
        let started = Instant::now();
        set_limit(dir.path(), &manifest, 3000 + k)?;
        match changes.recv_timeout(Duration::from_secs(30)) {
            Ok(GenerationChange::Live { .. }) => watched.push(started.elapsed()),
            Ok(other) => return Err(format!("reload refused: {other:?}").into()),
            Err(e) => return Err(format!("the watcher did not react: {e}").into()),
        }
    }
    rows.push((
        "hot reload: file landed → serving (watcher, debounce included)",
        watched,
    ));
    drop(watcher);

    let mut md = String::new();
    let _ = writeln!(
        md,
        "| what | p50 | min | max | runs |\n|---|---:|---:|---:|---:|"
    );
    for (what, mut samples) in rows {
        let _ = writeln!(
            md,
            "| {what} | {} | {} | {} | {} |",
            show_opt(samples.p50()),
            show_opt(samples.quantile(0.0)),
            show_opt(samples.quantile(1.0)),
            samples.len()
        );
    }
    let _ = writeln!(
        md,
        "\nThe watcher waits for {} ms of quiet after the last change before it reloads (`DEFAULT_DEBOUNCE`).",
        DEFAULT_DEBOUNCE.as_millis()
    );
    Ok(md)
}
