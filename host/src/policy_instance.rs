//! One live instance of a policy: its store, its exports and its
//! configured `evaluator` resource, for whichever `gavel:policy` version
//! the component was built against.

use crate::bindings::{self, current as wit, v0_1, v0_2, v0_3};
use crate::engine::PolicyEngine;
use crate::history::{Fact, FactSource};
use crate::manifest::Limits;
use crate::policy_failure::{PolicyFailure, check_outcome};
use crate::sandbox::Sandbox;
use wasmtime::Store;
use wasmtime::component::{InstancePre, ResourceAny};

/// A component ready to instantiate, by contract version.
#[derive(Clone)]
pub enum PolicyPre {
    /// Built against `gavel:policy@0.1.0`.
    V0_1(v0_1::PolicyWorldPre<Sandbox>),
    /// Built against `gavel:policy@0.2.0`.
    V0_2(v0_2::PolicyWorldPre<Sandbox>),
    /// Built against `gavel:policy@0.3.0`.
    V0_3(v0_3::PolicyWorldPre<Sandbox>),
}

impl std::fmt::Debug for PolicyPre {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.version())
    }
}

impl PolicyPre {
    /// Match a linked component against every supported version, newest
    /// first. The error lists why each version did not fit.
    pub fn new(pre: InstancePre<Sandbox>) -> Result<Self, String> {
        let newest = match v0_3::PolicyWorldPre::new(pre.clone()) {
            Ok(p) => return Ok(PolicyPre::V0_3(p)),
            Err(e) => format!("gavel:policy@0.3.0: {e:#}"),
        };
        let middle = match v0_2::PolicyWorldPre::new(pre.clone()) {
            Ok(p) => return Ok(PolicyPre::V0_2(p)),
            Err(e) => format!("gavel:policy@0.2.0: {e:#}"),
        };
        match v0_1::PolicyWorldPre::new(pre) {
            Ok(p) => Ok(PolicyPre::V0_1(p)),
            Err(e) => Err(format!("{newest}; {middle}; gavel:policy@0.1.0: {e:#}")),
        }
    }

    /// The contract version, e.g. `0.2.0`.
    pub fn version(&self) -> &'static str {
        match self {
            PolicyPre::V0_1(_) => "0.1.0",
            PolicyPre::V0_2(_) => "0.2.0",
            PolicyPre::V0_3(_) => "0.3.0",
        }
    }
}

enum Exports {
    V0_1(v0_1::PolicyWorld),
    V0_2(v0_2::PolicyWorld),
    V0_3(v0_3::PolicyWorld),
}

/// Why an instance could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceError {
    /// The policy refused its config.
    ConfigRejected(String),
    /// Instantiation or the constructor failed.
    Failed(PolicyFailure),
}

/// A store with an instantiated policy and its evaluator.
pub struct PolicyInstance {
    store: Store<Sandbox>,
    exports: Exports,
    evaluator: ResourceAny,
}

impl std::fmt::Debug for PolicyInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyInstance").finish_non_exhaustive()
    }
}

impl PolicyInstance {
    /// Instantiate the policy and build its evaluator from `config`, under
    /// `limits` (fresh fuel and deadline for the constructor). This takes
    /// none of the pool's shares (see [`crate::engine::POOL_SLOTS`]):
    /// [`crate::policy::Policy`] holds a checkout slot around every call;
    /// other callers that keep instances must hold one too.
    pub fn new(
        engine: &PolicyEngine,
        pre: &PolicyPre,
        limits: &Limits,
        config: &str,
    ) -> Result<Self, InstanceError> {
        let mut store = Store::new(engine.engine(), Sandbox::new(limits.memory_bytes));
        store.limiter(|sandbox| &mut sandbox.limiter);
        arm(&mut store, limits).map_err(InstanceError::Failed)?;
        let failed = |e: wasmtime::Error| InstanceError::Failed(instantiate_failure(&e, limits));
        let (exports, created) = match pre {
            PolicyPre::V0_1(pre) => {
                let b = pre.instantiate(&mut store).map_err(failed)?;
                let created = b
                    .gavel_policy_policy()
                    .evaluator()
                    .call_create(&mut store, config)
                    .map_err(failed)?;
                (Exports::V0_1(b), created)
            }
            PolicyPre::V0_2(pre) => {
                let b = pre.instantiate(&mut store).map_err(failed)?;
                let created = b
                    .gavel_policy_policy()
                    .evaluator()
                    .call_create(&mut store, config)
                    .map_err(failed)?;
                (Exports::V0_2(b), created)
            }
            PolicyPre::V0_3(pre) => {
                let b = pre.instantiate(&mut store).map_err(failed)?;
                let created = b
                    .gavel_policy_policy()
                    .evaluator()
                    .call_create(&mut store, config)
                    .map_err(failed)?;
                (Exports::V0_3(b), created)
            }
        };
        let evaluator = created.map_err(InstanceError::ConfigRejected)?;
        Ok(PolicyInstance {
            store,
            exports,
            evaluator,
        })
    }

    /// The policy's own metadata.
    pub fn metadata(&mut self, limits: &Limits) -> Result<wit::PolicyMetadata, PolicyFailure> {
        arm(&mut self.store, limits)?;
        let result = match &self.exports {
            Exports::V0_1(b) => b
                .gavel_policy_policy()
                .call_metadata(&mut self.store)
                .map(bindings::metadata_from_v0_1),
            Exports::V0_2(b) => b
                .gavel_policy_policy()
                .call_metadata(&mut self.store)
                .map(bindings::metadata_from_v0_2),
            Exports::V0_3(b) => b.gavel_policy_policy().call_metadata(&mut self.store),
        };
        result.map_err(|e| PolicyFailure::from_call_error(&e, limits))
    }

    /// The actions the evaluator declared it judges (0.3.0 and later);
    /// `None` for every action (and for older components).
    pub fn interest(&mut self, limits: &Limits) -> Result<Option<Vec<String>>, PolicyFailure> {
        arm(&mut self.store, limits)?;
        match &self.exports {
            Exports::V0_1(_) | Exports::V0_2(_) => Ok(None),
            Exports::V0_3(b) => b
                .gavel_policy_policy()
                .evaluator()
                .call_interest(&mut self.store, self.evaluator)
                .map_err(|e| PolicyFailure::from_call_error(&e, limits)),
        }
    }

    /// Judge one request under `limits`. Returns the checked outcome (or
    /// the failure) and the fuel used. After a failure the instance must
    /// be dropped: a trapped instance cannot be entered again.
    pub fn evaluate(
        &mut self,
        request: &wit::Request,
        limits: &Limits,
        facts: FactSource,
    ) -> Evaluated {
        if let Err(failure) = arm(&mut self.store, limits) {
            return Evaluated {
                outcome: Err(failure),
                fuel: 0,
                facts: Vec::new(),
            };
        }
        self.store.data().clock.set(request.timestamp_ms);
        self.store.data_mut().facts.open(facts);
        let result = match &self.exports {
            Exports::V0_1(b) => b
                .gavel_policy_policy()
                .evaluator()
                .call_evaluate(
                    &mut self.store,
                    self.evaluator,
                    &bindings::request_to_v0_1(request),
                )
                .map(bindings::outcome_from_v0_1),
            Exports::V0_2(b) => b
                .gavel_policy_policy()
                .evaluator()
                .call_evaluate(
                    &mut self.store,
                    self.evaluator,
                    &bindings::request_to_v0_2(request),
                )
                .map(bindings::outcome_from_v0_2),
            Exports::V0_3(b) => b.gavel_policy_policy().evaluator().call_evaluate(
                &mut self.store,
                self.evaluator,
                request,
            ),
        };
        let facts = self.store.data_mut().facts.close();
        let left = self.store.get_fuel().unwrap_or(0);
        let used = limits.fuel.saturating_sub(left);
        let outcome = result
            .map_err(|e| PolicyFailure::from_call_error(&e, limits))
            .and_then(|o| check_outcome(&o).map(|()| o));
        Evaluated {
            outcome,
            fuel: used,
            facts,
        }
    }
}

/// What one call of `evaluate` gave.
#[derive(Debug)]
pub struct Evaluated {
    /// The checked outcome, or the failure.
    pub outcome: Result<wit::Outcome, PolicyFailure>,
    /// Fuel used.
    pub fuel: u64,
    /// The history facts the policy read, in order.
    pub facts: Vec<Fact>,
}

/// Give the store a full tank of fuel and a fresh deadline.
fn arm(store: &mut Store<Sandbox>, limits: &Limits) -> Result<(), PolicyFailure> {
    store
        .set_fuel(limits.fuel)
        .map_err(|e| PolicyFailure::Instantiate(format!("cannot set fuel: {e}")))?;
    store.set_epoch_deadline(PolicyEngine::deadline_ticks(limits.timeout));
    Ok(())
}

/// A failure while starting an instance: limits are reported as such,
/// anything else as an instantiation failure.
fn instantiate_failure(error: &wasmtime::Error, limits: &Limits) -> PolicyFailure {
    match PolicyFailure::from_call_error(error, limits) {
        PolicyFailure::Trap(what) => PolicyFailure::Instantiate(what),
        other => other,
    }
}
