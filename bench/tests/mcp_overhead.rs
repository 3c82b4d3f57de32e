//! Figure 8 end to end with a tiny budget: the four paths (direct and
//! through `gavel mcp-gateway`, stdio and HTTP) answer every call as
//! approved, and the decision is timed on the same policies.
//!
//! Needs the release `gavel` binary beside `gavel-bench` (`cargo build
//! --release --workspace --bins`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gavel_bench::mcp_overhead::{Budget, Programs, markdown, measure};
use std::path::Path;

#[test]
fn every_path_answers_approved_calls_and_is_timed() {
    let programs = Programs::beside(Path::new(env!("CARGO_BIN_EXE_gavel-bench")))
        .expect("the gavel binary beside gavel-bench");
    let budget = Budget {
        warmup: 2,
        calls: 6,
        rounds: 2,
    };
    let measured = measure(&gavel_bench::shipped_dir(), &programs, budget).unwrap();
    for p in [
        &measured.stdio.0,
        &measured.stdio.1,
        &measured.http.0,
        &measured.http.1,
    ] {
        assert_eq!(p.samples.len(), 6, "{}", p.name);
    }
    assert_eq!(measured.decision.len(), 6);
    let md = markdown(&measured);
    for row in [
        "| direct stdio |",
        "| gateway stdio |",
        "| direct HTTP |",
        "| gateway HTTP |",
    ] {
        assert!(md.contains(row), "missing {row} in\n{md}");
    }
}

#[test]
fn a_gateway_that_refuses_the_call_fails_the_figure() {
    // A policy directory whose only policy forbids `echo`: the gateway
    // answers with an error result, which must end the figure.
    let programs = Programs::beside(Path::new(env!("CARGO_BIN_EXE_gavel-bench")))
        .expect("the gavel binary beside gavel-bench");
    let dir = tempfile::tempdir().unwrap();
    let component = gavel_bench::components_dir().join("sensitive_actions.wasm");
    std::fs::write(
        dir.path().join("policies.toml"),
        format!(
            "[[policy]]\nname = \"sensitive-actions\"\ncomponent = {:?}\npriority = 100\napplies_to = [\"*\"]\n[policy.config]\nforbidden = [\"echo\"]\n",
            component.display().to_string()
        ),
    )
    .unwrap();
    let budget = Budget {
        warmup: 1,
        calls: 1,
        rounds: 1,
    };
    let error = measure(dir.path(), &programs, budget)
        .expect_err("a denied echo must not be timed")
        .to_string();
    assert!(
        error.contains("gateway stdio") && error.contains("not answered as approved"),
        "{error}"
    );
}
