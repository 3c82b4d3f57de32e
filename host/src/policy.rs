//! A loaded policy: its manifest entry, its compiled component (ready to
//! instantiate), and a pool of warm instances.

use crate::artifact_cache::{ArtifactCache, ArtifactSource};
use crate::bindings::current as wit;
use crate::engine::PolicyEngine;
use crate::load_error::LoadError;
use crate::manifest::{Isolation, Limits, PolicyEntry};
use crate::policy_failure::PolicyFailure;
use crate::policy_instance::{InstanceError, PolicyInstance, PolicyPre};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// The WIT interface a policy component must export.
pub const POLICY_INTERFACE: &str = "gavel:policy/policy@0.2.0";

/// Most idle warm instances kept per policy.
const MAX_IDLE_INSTANCES: usize = 64;

/// What a policy says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// Its own name.
    pub name: String,
    /// Its own version.
    pub version: String,
    /// One line.
    pub description: String,
}

/// The outcome of one policy call.
#[derive(Debug, Clone)]
pub struct PolicyResult {
    /// The checked verdict, or the contained failure.
    pub outcome: Result<wit::Outcome, PolicyFailure>,
    /// Fuel used by the call.
    pub fuel: u64,
    /// Wall time, including instantiation in fresh mode.
    pub micros: u64,
}

/// A policy ready to evaluate requests.
pub struct Policy {
    /// The manifest entry.
    pub entry: PolicyEntry,
    /// `sha256:<hex>` of the component file.
    pub digest: String,
    /// The policy's metadata export.
    pub metadata: Metadata,
    /// Whether the compiled artifact came from the cache.
    pub artifact: ArtifactSource,
    engine: PolicyEngine,
    pre: PolicyPre,
    idle: Mutex<Vec<PolicyInstance>>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.entry.name)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Load the component of `entry`: read, hash, compile (or take from the
    /// cache), check its world, instantiate it once with its config (which
    /// the policy may reject) and read its metadata.
    pub fn load(
        engine: &PolicyEngine,
        cache: &ArtifactCache,
        entry: PolicyEntry,
        manifest_file: &Path,
    ) -> Result<Self, LoadError> {
        let error = |problem: String| LoadError::Policy {
            file: manifest_file.to_path_buf(),
            policy: entry.name.clone(),
            problem,
        };
        let bytes = std::fs::read(&entry.component).map_err(|e| {
            error(format!(
                "cannot read component {}: {e}",
                entry.component.display()
            ))
        })?;
        let digest_hex = hex::encode(Sha256::digest(&bytes));
        let (component, artifact) =
            cache
                .load(engine.engine(), &digest_hex, &bytes)
                .map_err(|e| {
                    error(format!(
                        "{} is not a valid WebAssembly component: {e}",
                        entry.component.display()
                    ))
                })?;
        let pre = engine
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| format!("{e:#}"))
            .and_then(PolicyPre::new)
            .map_err(|e| {
                error(format!(
                    "{} does not implement the gavel:policy world (it must export `{POLICY_INTERFACE}` or an earlier supported version, and import nothing but WASI): {e}",
                    entry.component.display()
                ))
            })?;
        let mut first = PolicyInstance::new(engine, &pre, &entry.limits, &entry.config).map_err(
            |e| match e {
                InstanceError::ConfigRejected(why) => error(format!("config rejected: {why}")),
                InstanceError::Failed(f) => {
                    error(format!("failed to start: {}", f.message(&entry.name)))
                }
            },
        )?;
        let meta = first
            .metadata(&entry.limits)
            .map_err(|f| error(format!("metadata call failed: {}", f.message(&entry.name))))?;
        let idle = match entry.isolation {
            Isolation::Warm => vec![first],
            Isolation::Fresh => Vec::new(),
        };
        Ok(Policy {
            digest: format!("sha256:{digest_hex}"),
            metadata: Metadata {
                name: meta.name,
                version: meta.version,
                description: meta.description,
            },
            artifact,
            engine: engine.clone(),
            pre,
            idle: Mutex::new(idle),
            entry,
        })
    }

    /// The `gavel:policy` version the component was built against.
    pub fn contract_version(&self) -> &'static str {
        self.pre.version()
    }

    /// The manifest name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// Whether the policy judges `action`.
    pub fn applies_to(&self, action: &str) -> bool {
        self.entry.applies_to.iter().any(|p| p.matches(action))
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.entry.limits
    }

    /// Judge one request. Never panics; every failure is contained and
    /// returned as a [`PolicyFailure`].
    pub fn evaluate(&self, request: &wit::Request) -> PolicyResult {
        let started = Instant::now();
        let limits = &self.entry.limits;
        let mut instance = match self.take_instance() {
            Ok(instance) => instance,
            Err(failure) => {
                return PolicyResult {
                    outcome: Err(failure),
                    fuel: 0,
                    micros: micros_since(started),
                };
            }
        };
        let (outcome, fuel) = instance.evaluate(request, limits);
        if outcome.is_ok() && self.entry.isolation == Isolation::Warm {
            self.return_instance(instance);
        }
        // Otherwise the instance is dropped: after a trap it is unusable,
        // and in fresh mode it is used once.
        PolicyResult {
            outcome,
            fuel,
            micros: micros_since(started),
        }
    }

    fn take_instance(&self) -> Result<PolicyInstance, PolicyFailure> {
        if self.entry.isolation == Isolation::Warm {
            let reused = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            if let Some(instance) = reused {
                return Ok(instance);
            }
        }
        PolicyInstance::new(
            &self.engine,
            &self.pre,
            &self.entry.limits,
            &self.entry.config,
        )
        .map_err(|e| match e {
            InstanceError::Failed(f) => f,
            InstanceError::ConfigRejected(why) => {
                PolicyFailure::Instantiate(format!("config rejected: {why}"))
            }
        })
    }

    fn return_instance(&self, instance: PolicyInstance) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_INSTANCES {
            idle.push(instance);
        }
    }
}

fn micros_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}
