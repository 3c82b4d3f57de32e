//! Figure 2 (one policy call) finds its components.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed step is a failed test"
)]

use std::time::Duration;

/// The figures that time one component find it beside the shipped
/// manifest (`policies-wasm/`), not in `bench/stateless/` (a manifest
/// only).
#[test]
fn one_policy_call_finds_the_shipped_components() {
    let md = gavel_bench::call_cost::run(Duration::from_millis(1)).unwrap();
    assert!(md.contains("sensitive_actions_py.wasm"), "{md}");
}
