//! Where a fresh-instance evaluation's time goes, per shipped policy:
//! instantiate and construct the evaluator from the config, evaluate one
//! ordinary request, drop (return the pooled slot). Averages of 3,000.
//!
//! `cargo run --release -p gavel-bench --example instance_lifecycle`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a profiling tool: a failed step is a failed run"
)]
use gavel::policy_instance::{PolicyInstance, PolicyPre};
use gavel::{ArtifactCache, PolicyEngine};
use sha2::Digest;
use std::time::Instant;

fn main() {
    let engine = PolicyEngine::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(data.path(), engine.engine()).unwrap();
    let dir = gavel_bench::shipped_dir();
    let manifest = gavel::Manifest::load(&dir).unwrap();
    let request = gavel_bench::call_cost::request();
    for entry in &manifest.policies {
        let bytes = std::fs::read(&entry.component).unwrap();
        let digest = hex::encode(sha2::Sha256::digest(&bytes));
        let (component, _) = cache.load(engine.engine(), &digest, &bytes).unwrap();
        let pre = PolicyPre::new(engine.linker().instantiate_pre(&component).unwrap()).unwrap();
        let n = 3000;
        let (mut t_new, mut t_eval, mut t_drop) = (0u128, 0u128, 0u128);
        let mut fuel = 0;
        for _ in 0..n {
            let a = Instant::now();
            let mut inst =
                PolicyInstance::new(&engine, &pre, &entry.limits, &entry.config).unwrap();
            let b = Instant::now();
            let evaluated =
                inst.evaluate(&request, &entry.limits, gavel::history::FactSource::Closed);
            fuel = evaluated.fuel;
            evaluated.outcome.unwrap();
            let c = Instant::now();
            drop(inst);
            let d = Instant::now();
            t_new += (b - a).as_nanos();
            t_eval += (c - b).as_nanos();
            t_drop += (d - c).as_nanos();
        }
        println!(
            "{:20} new+create {:6.1} µs  evaluate {:6.1} µs  drop {:6.1} µs  eval fuel {fuel}",
            entry.name,
            t_new as f64 / n as f64 / 1e3,
            t_eval as f64 / n as f64 / 1e3,
            t_drop as f64 / n as f64 / 1e3
        );
    }
}
