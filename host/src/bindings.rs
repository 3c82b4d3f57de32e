//! Host bindings for the `gavel:policy` WIT package. This is the only place
//! `bindgen!` runs in the host.
//!
//! Every package version the host has ever shipped keeps its bindings here,
//! so that components built against it keep loading: `v0_1` from
//! `wit/policy.wit` (frozen) and `v0_2` from `wit/v0.2.0/` (current). The
//! rest of the host speaks the current version's types; a 0.1.0 component's
//! requests and verdicts are converted at the boundary (see
//! `policy_instance`).
#![allow(missing_docs, missing_debug_implementations, clippy::all)]

pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "gavel:policy/policy-world@0.1.0",
    });

    pub use exports::gavel::policy::policy::{Agent, PolicyMetadata, Reason, Request, Verdict};
}

pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2.0",
        world: "gavel:policy/policy-world@0.2.0",
    });

    pub use exports::gavel::policy::policy::{
        Agent, Finding, Outcome, PolicyMetadata, Reason, Request, Verdict,
    };
}

/// The current version, which the host speaks internally.
pub use v0_2 as current;

/// A 0.2.0 request as 0.1.0 sees it (the same fields).
pub fn request_to_v0_1(r: &v0_2::Request) -> v0_1::Request {
    v0_1::Request {
        request_id: r.request_id.clone(),
        agent: v0_1::Agent {
            id: r.agent.id.clone(),
            registered: r.agent.registered,
            risk_tier: r.agent.risk_tier,
            owner: r.agent.owner.clone(),
        },
        action: r.action.clone(),
        params: r.params.clone(),
        amount: r.amount,
        currency: r.currency.clone(),
        timestamp_ms: r.timestamp_ms,
        session_id: r.session_id.clone(),
        user_id: r.user_id.clone(),
    }
}

/// A 0.1.0 verdict as a 0.2.0 outcome (no findings).
pub fn outcome_from_v0_1(v: v0_1::Verdict) -> v0_2::Outcome {
    let reason = |r: v0_1::Reason| v0_2::Reason {
        code: r.code,
        message: r.message,
    };
    let verdict = match v {
        v0_1::Verdict::Approve => v0_2::Verdict::Approve,
        v0_1::Verdict::Deny(r) => v0_2::Verdict::Deny(reason(r)),
        v0_1::Verdict::Escalate(r) => v0_2::Verdict::Escalate(reason(r)),
    };
    v0_2::Outcome {
        verdict,
        findings: Vec::new(),
    }
}

/// 0.1.0 metadata in current form.
pub fn metadata_from_v0_1(m: v0_1::PolicyMetadata) -> v0_2::PolicyMetadata {
    v0_2::PolicyMetadata {
        name: m.name,
        version: m.version,
        description: m.description,
    }
}
