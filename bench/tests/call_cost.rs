//! Figure 2 (one policy in every language) finds its components, and every
//! language's `sensitive-actions` judges the figure's actions alike.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed step is a failed test"
)]

use std::time::Duration;

/// The figures that time one component find it beside the shipped
/// manifest (`policies-wasm/`), not in `bench/stateless/` (a manifest
/// only); memory probes are left out (they need the harness binary).
#[test]
fn one_policy_per_language_finds_every_component() {
    let budget = gavel_bench::call_cost::Budget {
        call: Duration::from_millis(1),
        cold_loads: 1,
        cached_loads: 1,
    };
    let md = gavel_bench::call_cost::run(budget, None).unwrap();
    for (_, label, file, _) in gavel_bench::call_cost::LANGUAGES {
        assert!(md.contains(file), "{label}: {md}");
    }
}

/// `rules.wasm` loads 1, 10 and 100 rules, and the last rule decides.
#[test]
fn rules_scaling_runs() {
    let md = gavel_bench::rules_scaling::run(Duration::from_millis(200)).unwrap();
    println!("{md}");
    assert_eq!(
        md.lines().count(),
        2 + gavel_bench::rules_scaling::COUNTS.len(),
        "{md}"
    );
}
