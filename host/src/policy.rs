//! A loaded policy: its manifest entry, its compiled component (ready to
//! instantiate), and a pool of warm instances.

use crate::action_pattern::ActionPattern;
use crate::artifact_cache::{ArtifactCache, ArtifactSource};
use crate::bindings::current as wit;
use crate::bounded_read::{BoundedReadError, read_regular};
use crate::engine::{IdleSlot, MAX_MEMORIES_PER_COMPONENT, MAX_TABLES_PER_COMPONENT, PolicyEngine};
use crate::history::FactSource;
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
pub const POLICY_INTERFACE: &str = "gavel:policy/policy@0.3.0";

/// Most action patterns a policy may declare interest in.
pub const MAX_INTEREST: usize = 4096;

/// Most idle warm instances kept per policy (all policies together keep
/// at most [`crate::engine::IDLE_SLOTS`]).
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
    /// The history facts the policy read, in order.
    pub facts: Vec<crate::history::Fact>,
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
    /// The actions the policy declared it judges (`None`: every action).
    pub interest: Option<Vec<ActionPattern>>,
    engine: PolicyEngine,
    pre: PolicyPre,
    idle: Mutex<Idle>,
}

/// A policy's warm instances, each holding one of the engine's idle
/// slots.
#[derive(Debug, Default)]
struct Idle {
    warm: Vec<(PolicyInstance, IdleSlot)>,
    /// Set while the policy's generation is not live: instances given
    /// back are dropped instead of kept.
    parked: bool,
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
        let bytes = read_regular(&entry.component, entry.max_component_bytes).map_err(|e| {
            let hint = match e {
                BoundedReadError::TooLarge { .. } => " (raise `max_component_mb` in policies.toml)",
                _ => "",
            };
            error(format!("component {} {e}{hint}", entry.component.display()))
        })?;
        Self::from_bytes(engine, cache, entry, manifest_file, &bytes)
    }

    /// Load `entry` from its component's bytes, already read (so that a
    /// set goes live from exactly the bytes that were fingerprinted): check
    /// the header, hash, compile (or take from the cache), check its world,
    /// instantiate it once with its config and read its metadata.
    pub fn from_bytes(
        engine: &PolicyEngine,
        cache: &ArtifactCache,
        entry: PolicyEntry,
        manifest_file: &Path,
        bytes: &[u8],
    ) -> Result<Self, LoadError> {
        let error = |problem: String| LoadError::Policy {
            file: manifest_file.to_path_buf(),
            policy: entry.name.clone(),
            problem,
        };
        if let Some(what) = not_a_component(bytes) {
            return Err(error(format!(
                "{} is not a WebAssembly component: {what}",
                entry.component.display()
            )));
        }
        let digest_hex = hex::encode(Sha256::digest(bytes));
        let (component, artifact) =
            cache
                .load(engine.engine(), &digest_hex, bytes)
                .map_err(|e| {
                    error(format!(
                        "{} is not a valid WebAssembly component: {e}",
                        entry.component.display()
                    ))
                })?;
        if let Some(needs) = component.resources_required() {
            if needs.num_memories > MAX_MEMORIES_PER_COMPONENT {
                return Err(error(format!(
                    "{} defines {} linear memories; a policy may have at most {MAX_MEMORIES_PER_COMPONENT}",
                    entry.component.display(),
                    needs.num_memories
                )));
            }
            if needs.num_tables > MAX_TABLES_PER_COMPONENT {
                return Err(error(format!(
                    "{} defines {} tables; a policy may have at most {MAX_TABLES_PER_COMPONENT}",
                    entry.component.display(),
                    needs.num_tables
                )));
            }
        }
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
        let checkout = engine.checkout();
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
        let interest = first
            .interest(&entry.limits)
            .map_err(|f| error(format!("interest call failed: {}", f.message(&entry.name))))?
            .map(|patterns| {
                if patterns.len() > MAX_INTEREST {
                    return Err(error(format!(
                        "it declares interest in {} action patterns; the limit is {MAX_INTEREST}",
                        patterns.len()
                    )));
                }
                patterns
                    .iter()
                    .map(|p| {
                        ActionPattern::parse(p).map_err(|e| {
                            error(format!(
                                "its declared interest {p:?} is not an action pattern: {e}"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let mut idle = Idle::default();
        let slot = match entry.isolation {
            Isolation::Warm => engine.idle_slot(),
            Isolation::Fresh => None,
        };
        match slot {
            Some(slot) => idle.warm.push((first, slot)),
            None => drop(first),
        }
        // Only now: the instance is idle (holding an idle slot) or gone.
        drop(checkout);
        Ok(Policy {
            digest: format!("sha256:{digest_hex}"),
            metadata: Metadata {
                name: meta.name,
                version: meta.version,
                description: meta.description,
            },
            artifact,
            interest,
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

    /// Whether the policy judges `action`: its `applies_to` matches, and
    /// so does its declared interest, if it declared one.
    pub fn applies_to(&self, action: &str) -> bool {
        self.entry.applies_to.iter().any(|p| p.matches(action))
            && self
                .interest
                .as_ref()
                .is_none_or(|interest| interest.iter().any(|p| p.matches(action)))
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.entry.limits
    }

    /// Judge one request. Never panics; every failure is contained and
    /// returned as a [`PolicyFailure`].
    pub fn evaluate(&self, request: &wit::Request, facts: FactSource) -> PolicyResult {
        let started = Instant::now();
        let limits = &self.entry.limits;
        let checkout = self.engine.checkout();
        let mut instance = match self.take_instance() {
            Ok(instance) => instance,
            Err(failure) => {
                return PolicyResult {
                    outcome: Err(failure),
                    fuel: 0,
                    micros: micros_since(started),
                    facts: Vec::new(),
                };
            }
        };
        let crate::policy_instance::Evaluated {
            outcome,
            fuel,
            facts,
        } = instance.evaluate(request, limits, facts);
        if outcome.is_ok() && self.entry.isolation == Isolation::Warm {
            self.return_instance(instance);
        } else {
            // After a trap an instance is unusable, and in fresh mode it
            // is used once.
            drop(instance);
        }
        // Only now: the instance is idle (holding an idle slot) or gone.
        drop(checkout);
        PolicyResult {
            outcome,
            fuel,
            micros: micros_since(started),
            facts,
        }
    }

    /// Drop every idle instance and keep none until [`Policy::unpark`]:
    /// for a policy whose generation is no longer live, so that its warm
    /// instances give their slots back to the live set. Instances in use
    /// by decisions still running on it are dropped when given back.
    pub fn park(&self) {
        let warm = {
            let mut idle = self.lock_idle();
            idle.parked = true;
            std::mem::take(&mut idle.warm)
        };
        drop(warm);
    }

    /// Keep warm instances again (the policy's generation is live); they
    /// are made on demand.
    pub fn unpark(&self) {
        self.lock_idle().parked = false;
    }

    /// Warm instances kept idle now.
    pub fn idle_instances(&self) -> usize {
        self.lock_idle().warm.len()
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle instance, or a new one. The caller holds a checkout slot.
    fn take_instance(&self) -> Result<PolicyInstance, PolicyFailure> {
        if self.entry.isolation == Isolation::Warm {
            let reused = self.lock_idle().warm.pop();
            if let Some((instance, _slot)) = reused {
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

    /// Keep `instance` warm, unless the policy is parked or has enough
    /// idle instances, or the engine's idle slots are all taken: then it
    /// is dropped (outside the lock: dropping a store takes microseconds).
    fn return_instance(&self, instance: PolicyInstance) {
        let mut idle = self.lock_idle();
        if idle.parked || idle.warm.len() >= MAX_IDLE_INSTANCES {
            drop(idle);
            drop(instance);
            return;
        }
        match self.engine.idle_slot() {
            Some(slot) => idle.warm.push((instance, slot)),
            None => {
                drop(idle);
                drop(instance);
            }
        }
    }
}

/// Why `bytes` cannot be a component, described without quoting them (a
/// file named by mistake may hold anything, `/etc/passwd` included), or
/// `None` when its header is a component's.
fn not_a_component(bytes: &[u8]) -> Option<String> {
    const MAGIC: &[u8; 4] = b"\0asm";
    let Some(header) = bytes.get(..8) else {
        return Some(format!(
            "it is {} bytes long, shorter than a WebAssembly header",
            bytes.len()
        ));
    };
    if !header.starts_with(MAGIC) {
        return Some(format!(
            "it does not start with the WebAssembly magic number (a {}-byte file of something else)",
            bytes.len()
        ));
    }
    // Bytes 4..8: version 1 and layer 0 is a core module; layer 1 is a
    // component.
    match header.get(6..8) {
        Some([1, 0]) => None,
        Some([0, 0]) => Some(
            "it is a core WebAssembly module, not a component (build for wasm32-wasip2, or run `wasm-tools component new`)".to_owned(),
        ),
        _ => Some("its WebAssembly header has an unknown version or layer".to_owned()),
    }
}

fn micros_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}
