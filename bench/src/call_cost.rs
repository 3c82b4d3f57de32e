//! Figure 2: what one policy call costs, for a Rust and a Python
//! component (the shipped `sensitive-actions` policy and its Python
//! twin, same config): a call on a warm instance, a call on a fresh
//! instance (instantiate, construct the evaluator from the config, call,
//! drop), and their difference, the instantiation.

use crate::fixture;
use crate::stats::{Samples, show_opt, time_for};
use gavel::bindings::current as wit;
use gavel::{ArtifactCache, PolicyEngine, PolicySet};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

/// The request every call judges: an ordinary action (approve).
pub fn request() -> wit::Request {
    wit::Request {
        request_id: "bench-call".to_owned(),
        agent: wit::Agent {
            id: "financial-advisor".to_owned(),
            registered: true,
            risk_tier: Some(4),
            owner: Some("payments-team@example.com".to_owned()),
        },
        action: "search_knowledge_base".to_owned(),
        params: r#"{"query":"refund policy for annual plans"}"#.to_owned(),
        amount: None,
        currency: None,
        timestamp_ms: 1_795_000_000_000,
        session_id: Some("sess-1".to_owned()),
        user_id: None,
    }
}

fn one_policy(
    component: &Path,
    isolation: &str,
    engine: &PolicyEngine,
    cache: &ArtifactCache,
) -> Result<PolicySet, crate::Error> {
    let dir = fixture::sensitive_actions(component, isolation)?;
    Ok(PolicySet::load(dir.path(), engine, cache)?)
}

fn time_calls(set: &PolicySet, budget: Duration) -> Result<Samples, crate::Error> {
    let policy = set.policies().first().ok_or("no policy loaded")?;
    let request = request();
    if let Err(failure) = policy
        .evaluate(&request, gavel::history::FactSource::Closed)
        .outcome
    {
        return Err(format!("{}: {}", policy.name(), failure.message(policy.name())).into());
    }
    Ok(time_for(budget, 20, || {
        black_box(policy.evaluate(black_box(&request), gavel::history::FactSource::Closed));
    }))
}

/// The markdown section, on the components in [`crate::components_dir`].
/// `budget` is the time per measurement.
pub fn run(budget: Duration) -> Result<String, crate::Error> {
    let engine = PolicyEngine::new()?;
    let data = tempfile::tempdir()?;
    let cache = ArtifactCache::open(data.path(), engine.engine())?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| component | size | warm call p50 | warm call p99 | fresh call p50 | fresh call p99 | instantiation (fresh − warm, p50) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    for (label, file) in [
        ("Rust (`sensitive_actions.wasm`)", "sensitive_actions.wasm"),
        (
            "Python (`sensitive_actions_py.wasm`)",
            "sensitive_actions_py.wasm",
        ),
    ] {
        let component = crate::components_dir().join(file);
        let size = std::fs::metadata(&component)?.len();
        let mut warm = time_calls(&one_policy(&component, "warm", &engine, &cache)?, budget)?;
        let mut fresh = time_calls(&one_policy(&component, "fresh", &engine, &cache)?, budget)?;
        let instantiation = match (fresh.p50(), warm.p50()) {
            (Some(f), Some(w)) => Some(f.saturating_sub(w)),
            _ => None,
        };
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {} | {} | {} |",
            crate::stats::show_bytes(size as f64),
            show_opt(warm.p50()),
            show_opt(warm.p99()),
            show_opt(fresh.p50()),
            show_opt(fresh.p99()),
            show_opt(instantiation),
        );
    }
    Ok(md)
}
