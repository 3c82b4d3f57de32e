//! One live instance of a policy: its store, its exports and its
//! configured `evaluator` resource.

use crate::bindings::v0_1 as wit;
use crate::engine::PolicyEngine;
use crate::manifest::Limits;
use crate::policy_failure::{PolicyFailure, check_verdict};
use crate::sandbox::Sandbox;
use wasmtime::Store;
use wasmtime::component::ResourceAny;

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
    bindings: wit::PolicyWorld,
    evaluator: ResourceAny,
}

impl std::fmt::Debug for PolicyInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyInstance").finish_non_exhaustive()
    }
}

impl PolicyInstance {
    /// Instantiate the policy and build its evaluator from `config`, under
    /// `limits` (fresh fuel and deadline for the constructor).
    pub fn new(
        engine: &PolicyEngine,
        pre: &wit::PolicyWorldPre<Sandbox>,
        limits: &Limits,
        config: &str,
    ) -> Result<Self, InstanceError> {
        let mut store = Store::new(engine.engine(), Sandbox::new(limits.memory_bytes));
        store.limiter(|sandbox| &mut sandbox.limiter);
        arm(&mut store, limits).map_err(InstanceError::Failed)?;
        let bindings = pre
            .instantiate(&mut store)
            .map_err(|e| InstanceError::Failed(instantiate_failure(&e, limits)))?;
        let created = bindings
            .gavel_policy_policy()
            .evaluator()
            .call_create(&mut store, config)
            .map_err(|e| InstanceError::Failed(instantiate_failure(&e, limits)))?;
        let evaluator = created.map_err(InstanceError::ConfigRejected)?;
        Ok(PolicyInstance {
            store,
            bindings,
            evaluator,
        })
    }

    /// The policy's own metadata.
    pub fn metadata(&mut self, limits: &Limits) -> Result<wit::PolicyMetadata, PolicyFailure> {
        arm(&mut self.store, limits)?;
        self.bindings
            .gavel_policy_policy()
            .call_metadata(&mut self.store)
            .map_err(|e| PolicyFailure::from_call_error(&e, limits))
    }

    /// Judge one request under `limits`. Returns the checked verdict (or
    /// the failure) and the fuel used. After a failure the instance must
    /// be dropped: a trapped instance cannot be entered again.
    pub fn evaluate(
        &mut self,
        request: &wit::Request,
        limits: &Limits,
    ) -> (Result<wit::Verdict, PolicyFailure>, u64) {
        if let Err(failure) = arm(&mut self.store, limits) {
            return (Err(failure), 0);
        }
        self.store.data().clock.set(request.timestamp_ms);
        let result = self
            .bindings
            .gavel_policy_policy()
            .evaluator()
            .call_evaluate(&mut self.store, self.evaluator, request);
        let left = self.store.get_fuel().unwrap_or(0);
        let used = limits.fuel.saturating_sub(left);
        let verdict = result
            .map_err(|e| PolicyFailure::from_call_error(&e, limits))
            .and_then(|v| check_verdict(&v).map(|()| v));
        (verdict, used)
    }
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
