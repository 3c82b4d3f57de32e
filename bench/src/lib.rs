//! Groundwork for benchmarking Gavel against peers.
//!
//! - [`workload`]: a deterministic stream of realistic agent actions;
//! - [`peer`]: the [`Peer`](peer::Peer) trait every system under test
//!   implements;
//! - [`facts`]: what a harness computes for peers that cannot (local time
//!   in the policy's zone, PII kinds);
//! - [`native`]: the four shipped policies as plain Rust with Gavel's
//!   evaluation semantics, the "native floor";
//! - [`gavel_peer`]: Gavel itself, on the shipped policy directory, in warm
//!   or fresh isolation;
//! - `cedar` (with the `cedar` feature): the shipped policies in Cedar
//!   (`cedar-policy`), with the harness's facts;
//! - [`rego`]: the shipped policies in Rego (`regorus`), with the harness's
//!   facts;
//! - [`check`]: the cross-check of peers' verdicts against a reference;
//! - [`stateful_chain`]: the shipped stateful set deciding with memory
//!   and no log; [`memory_figures`] and [`dispatch_scaling`]: what memory
//!   and interest dispatch cost;
//! - [`log_writer`]: the decision log writer's own throughput, without
//!   policies;
//! - [`call_cost`] and [`rules_scaling`]: one policy in every authoring
//!   language, and `rules.wasm` with 1, 10 and 100 rules;
//! - [`mcp_overhead`]: what the MCP gateway adds to a tool call, and the
//!   trivial upstream it is measured against (`gavel-bench mcp-upstream`).

use std::path::PathBuf;

pub mod call_cost;
#[cfg(feature = "cedar")]
pub mod cedar;
pub mod check;
pub mod comparison;
pub mod dispatch_scaling;
pub mod facts;
pub mod fixture;
pub mod gavel_peer;
pub mod latency;
pub mod log_writer;
pub mod mcp_overhead;
pub mod memory;
pub mod memory_figures;
pub mod native;
pub mod peer;
pub mod rego;
pub mod report;
pub mod rules_scaling;
pub mod scaling;
pub mod startup;
pub mod stateful_chain;
pub mod stats;
pub mod throughput;
pub mod workload;

/// Errors from loading a peer.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The stateless reference set every peer implements (`bench/stateless/`:
/// the four stateless shipped policies, with their shipped configs, on the
/// components in `policies-wasm/`).
pub fn shipped_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/stateless"));
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// The shipped policy directory (`policies-wasm/`): the four stateless
/// policies with `budget`, `rate-limit` and `prerequisites`.
pub fn stateful_dir() -> PathBuf {
    components_dir()
}

/// Where the shipped components are (`policies-wasm/`, beside the
/// shipped manifest); [`shipped_dir`] holds a manifest only.
pub fn components_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies-wasm"));
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// The pii-egress policy's scanner, compiled from the policy's own source
/// (`policies-src/pii-egress/src`) rather than copied: only the modules
/// that do not touch the SDK (`lib.rs` does) are included. They name each
/// other `crate::bytes`, `crate::scan`, ..., so they are re-exported at
/// this crate's root below.
#[path = "../../policies-src/pii-egress/src"]
#[allow(
    dead_code,
    unreachable_pub,
    clippy::indexing_slicing,
    clippy::all,
    reason = "the policy's source, included unchanged: it is linted in its own workspace, not here"
)]
mod pii_egress_src {
    pub mod bytes;
    pub mod card;
    pub mod email;
    pub mod iban;
    pub mod ip;
    pub mod kind;
    pub mod phone;
    pub mod scan;
    pub mod secret;
    pub mod ssn;
}

use pii_egress_src::{bytes, card, email, iban, ip, kind, phone, scan, secret, ssn};

/// The pii-egress scanner's public face.
pub mod pii {
    pub use crate::pii_egress_src::kind::{Kind, KindSet};
    pub use crate::pii_egress_src::scan::Scanner;
}
