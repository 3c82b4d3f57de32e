//! # Gavel
//!
//! A runtime that governs what autonomous AI agents may do. Before an agent
//! acts, its host asks Gavel; Gavel runs every applicable policy (each a
//! sandboxed WebAssembly component implementing the `gavel:policy` WIT
//! world) in priority order, under fuel, memory and time limits, and
//! returns a [`Decision`]: approve, deny or escalate.
//!
//! ```no_run
//! use gavel::{ArtifactCache, PolicyEngine, PolicySet, Request};
//! use std::path::Path;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = PolicyEngine::new()?;
//! let cache = ArtifactCache::open(Path::new("gavel-data"), engine.engine())?;
//! let policies = PolicySet::load(Path::new("policies-wasm"), &engine, &cache)?;
//! let request = Request::from_json(r#"{"agent_id":"financial-advisor","action":"delete_account"}"#)?;
//! let decision = policies.evaluate(&request);
//! println!("{}", decision.to_json());
//! # Ok(())
//! # }
//! ```

pub mod action_pattern;
pub mod artifact_cache;
pub mod bindings;
pub mod bounded_read;
pub mod breaker;
pub mod case_file;
pub mod case_history;
pub mod case_runner;
pub mod componentize;
pub mod decision;
pub mod dispatch;
pub mod engine;
pub mod escalation;
pub mod generation;
pub mod history;
pub mod identifier;
pub mod kill_switch;
pub mod ledger;
pub mod load_error;
pub mod log;
pub mod manifest;
pub mod mcp;
pub mod metrics;
pub mod oci;
pub mod policy;
pub mod policy_failure;
pub mod policy_instance;
pub mod policy_set;
pub mod policy_watcher;
pub mod replay;
pub mod request;
pub mod runtime;
pub mod sandbox;
pub mod service;
pub mod ship;
pub mod strict_json;
pub mod tls;
pub mod webhook;

pub use artifact_cache::ArtifactCache;
pub use case_file::{CaseFile, CaseFileError};
pub use case_runner::{CaseOutcome, CaseRunner};
pub use decision::{Decision, Finding, PolicyRun, Reason, RunVerdict, Verdict};
pub use engine::PolicyEngine;
pub use escalation::{Escalation, EscalationError, EscalationStatus, Escalations};
pub use generation::Generation;
pub use kill_switch::{KillSwitch, KillSwitchState};
pub use load_error::LoadError;
pub use log::{DecisionLog, LogMode, LogOptions};
pub use manifest::{Isolation, Manifest, Mode, OnError};
pub use policy::Policy;
pub use policy_failure::PolicyFailure;
pub use policy_set::PolicySet;
pub use policy_watcher::PolicyWatcher;
pub use request::{Request, RequestError};
pub use runtime::{
    GenerationChange, ReloadOutcome, Runtime, RuntimeError, RuntimeOptions, STATUS_FILE, Status,
    StatusFile, UsageStore,
};
