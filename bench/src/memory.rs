//! Figure 5: memory per loaded policy and per concurrent evaluation, as
//! resident set size (RSS, `/proc/self/statm`) growth.
//!
//! Each measurement runs in a child process of its own ([`probe`], via
//! `gavel-bench probe-memory WHAT`), so that memory freed by an earlier
//! measurement cannot be reused by a later one and hide its cost. The
//! child first loads one copy of the components and drops it (so that the
//! engine, the artifact cache and the allocator's arenas exist), then
//! measures. Pooled instance slots keep the pages an instance dirtied
//! resident for the next instance, so an instance costs the pages it
//! writes; pages it only reads are shared with the component's image.
//!
//! - `warm`: 64 policies (the four shipped ones, 16 times under new
//!   names) in warm isolation: each holds one live instance (store,
//!   linear memory, evaluator) besides its compiled code;
//! - `fresh`: the same 64 in fresh isolation: compiled code only;
//! - `python`: 8 copies of the Python `sensitive-actions`, warm;
//! - `concurrent`: the four shipped policies, warm, then 64 threads
//!   deciding at once (a barrier between calls), so that every policy
//!   needs 64 instances: the growth per caller.

use crate::fixture::{self, Derive};
use gavel::{ArtifactCache, PolicyEngine, PolicySet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Barrier};

/// What a probe measures, and how many units it divides by.
pub const PROBES: [(&str, &str, usize); 4] = [
    (
        "warm",
        "a loaded Rust policy, warm (compiled code + one live instance)",
        64,
    ),
    (
        "fresh",
        "a loaded Rust policy, fresh (compiled code only)",
        64,
    ),
    ("python", "a loaded Python policy, warm", 8),
    (
        "concurrent",
        "a concurrent evaluation of the 4-policy chain (4 instances)",
        64,
    ),
];

/// Resident bytes of this process.
pub fn rss_bytes() -> Result<u64, crate::Error> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .ok_or("/proc/self/statm has no resident field")?
        .parse()?;
    Ok(pages * 4096)
}

fn load(
    shipped: &Path,
    derive: &Derive<'_>,
    engine: &PolicyEngine,
    cache: &ArtifactCache,
) -> Result<PolicySet, crate::Error> {
    let dir = fixture::derive(shipped, derive)?;
    Ok(PolicySet::load(dir.path(), engine, cache)?)
}

/// Run one probe in this process: the RSS growth per unit, in bytes.
pub fn probe(what: &str, shipped: &Path, requests: &[gavel::Request]) -> Result<f64, crate::Error> {
    let engine = PolicyEngine::new()?;
    let data = tempfile::tempdir()?;
    let cache = ArtifactCache::open(data.path(), engine.engine())?;
    let (derive, units) = match what {
        "warm" => (
            Derive {
                isolation: Some("warm"),
                copies: 16,
                ..Derive::default()
            },
            64,
        ),
        "fresh" => (
            Derive {
                isolation: Some("fresh"),
                copies: 16,
                ..Derive::default()
            },
            64,
        ),
        probe if probe.starts_with("instance-") => {
            let (isolation, key) = probe
                .trim_start_matches("instance-")
                .split_once(':')
                .ok_or_else(|| format!("unknown memory probe `{probe}`"))?;
            let language = crate::call_cost::language(key)
                .ok_or_else(|| format!("memory probe `{probe}`: unknown language `{key}`"))?;
            let dir = crate::call_cost::policy_dir(&language, isolation)?;
            return copies_growth(dir.path(), 8, &engine, &cache);
        }
        "python" => {
            let dir = fixture::sensitive_actions(
                &crate::components_dir().join("sensitive_actions_py.wasm"),
                "warm",
            )?;
            return copies_growth(dir.path(), 8, &engine, &cache);
        }
        "concurrent" => {
            let set = Arc::new(load(shipped, &Derive::default(), &engine, &cache)?);
            let short: Arc<Vec<gavel::Request>> = Arc::new(
                requests
                    .iter()
                    .filter(|r| crate::latency::is_short(r))
                    .take(256)
                    .cloned()
                    .collect(),
            );
            // One caller first, so that the baseline holds one instance each.
            for r in short.iter() {
                std::hint::black_box(set.evaluate(r));
            }
            let before = rss_bytes()?;
            let callers = 64;
            let barrier = Arc::new(Barrier::new(callers));
            let threads: Vec<_> = (0..callers)
                .map(|_| {
                    let (set, short, barrier) = (set.clone(), short.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        for r in short.iter().take(32) {
                            barrier.wait();
                            std::hint::black_box(set.evaluate(r));
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().map_err(|_| "a caller panicked")?;
            }
            let after = rss_bytes()?;
            return Ok(after.saturating_sub(before) as f64 / callers as f64);
        }
        other => return Err(format!("unknown memory probe `{other}`").into()),
    };
    // Warm up on the four policies alone: the artifacts get cached and the
    // engine's lazy state exists, while only four pooled slots have been
    // touched (a slot keeps its dirtied pages resident for reuse, so
    // warming up on all 64 would hide their instances).
    drop(load(shipped, &Derive::default(), &engine, &cache)?);
    let before = rss_bytes()?;
    let set = load(shipped, &derive, &engine, &cache)?;
    let after = rss_bytes()?;
    drop(set);
    Ok(after.saturating_sub(before) as f64 / units as f64)
}

/// The RSS growth per copy of loading `copies` copies of the policy in
/// `dir` (after one copy was loaded and dropped, so that its artifact is
/// cached and the engine warmed up).
fn copies_growth(
    dir: &Path,
    copies: usize,
    engine: &PolicyEngine,
    cache: &ArtifactCache,
) -> Result<f64, crate::Error> {
    drop(load(dir, &Derive::default(), engine, cache)?);
    let derive = Derive {
        copies,
        ..Derive::default()
    };
    let before = rss_bytes()?;
    let set = load(dir, &derive, engine, cache)?;
    let after = rss_bytes()?;
    drop(set);
    Ok(after.saturating_sub(before) as f64 / copies as f64)
}

/// Run one probe in a child process (`exe probe-memory WHAT`): the bytes
/// it reports.
pub fn probe_in_child(exe: &Path, what: &str) -> Result<f64, crate::Error> {
    let out = std::process::Command::new(exe)
        .args(["probe-memory", what])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "memory probe {what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// The markdown section: every probe, each in a child process
/// (`exe probe-memory WHAT`).
pub fn run(exe: &Path) -> Result<String, crate::Error> {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| what | RSS growth per unit | units |\n|---|---:|---:|"
    );
    for (what, label, units) in PROBES {
        let bytes = probe_in_child(exe, what)?;
        let _ = writeln!(
            md,
            "| {label} | {} | {units} |",
            crate::stats::show_bytes(bytes)
        );
    }
    Ok(md)
}
