//! Host bindings for the `gavel:policy` WIT package. This is the only place
//! `bindgen!` runs in the host.
//!
//! Every package version the host has ever shipped keeps its bindings here,
//! so that components built against it keep loading: `v0_1` from
//! `wit/policy.wit` and `v0_2` from `wit/v0.2.0/` (both frozen), and `v0_3`
//! from `wit/v0.3.0/` (current). The rest of the host speaks the current
//! version's types; an older component's requests and outcomes are
//! converted at the boundary (see `policy_instance`).
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

pub mod v0_3 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.3.0",
        world: "gavel:policy/policy-world@0.3.0",
    });

    pub use self::gavel::policy::history::{Host as HistoryHost, Scope, Tally};
    pub use exports::gavel::policy::policy::{
        Agent, Calendar, Charge, ChargeKind, Finding, Outcome, Period, PolicyMetadata, Reason,
        Request, Verdict, Window,
    };
}

/// The current version, which the host speaks internally.
pub use v0_3 as current;

/// A 0.3.0 request as 0.2.0 sees it (the same fields).
pub fn request_to_v0_2(r: &v0_3::Request) -> v0_2::Request {
    v0_2::Request {
        request_id: r.request_id.clone(),
        agent: v0_2::Agent {
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

/// A 0.3.0 request as 0.1.0 sees it (the same fields).
pub fn request_to_v0_1(r: &v0_3::Request) -> v0_1::Request {
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

/// A 0.1.0 verdict as a current outcome (no findings, no charges).
pub fn outcome_from_v0_1(v: v0_1::Verdict) -> v0_3::Outcome {
    let reason = |r: v0_1::Reason| v0_3::Reason {
        code: r.code,
        message: r.message,
    };
    let verdict = match v {
        v0_1::Verdict::Approve => v0_3::Verdict::Approve,
        v0_1::Verdict::Deny(r) => v0_3::Verdict::Deny(reason(r)),
        v0_1::Verdict::Escalate(r) => v0_3::Verdict::Escalate(reason(r)),
    };
    v0_3::Outcome {
        verdict,
        findings: Vec::new(),
        charges: Vec::new(),
    }
}

/// A 0.2.0 outcome as a current one (no charges).
pub fn outcome_from_v0_2(o: v0_2::Outcome) -> v0_3::Outcome {
    let reason = |r: v0_2::Reason| v0_3::Reason {
        code: r.code,
        message: r.message,
    };
    let verdict = match o.verdict {
        v0_2::Verdict::Approve => v0_3::Verdict::Approve,
        v0_2::Verdict::Deny(r) => v0_3::Verdict::Deny(reason(r)),
        v0_2::Verdict::Escalate(r) => v0_3::Verdict::Escalate(reason(r)),
    };
    v0_3::Outcome {
        verdict,
        findings: o
            .findings
            .into_iter()
            .map(|f| v0_3::Finding {
                path: f.path,
                kinds: f.kinds,
            })
            .collect(),
        charges: Vec::new(),
    }
}

/// 0.1.0 metadata in current form.
pub fn metadata_from_v0_1(m: v0_1::PolicyMetadata) -> v0_3::PolicyMetadata {
    v0_3::PolicyMetadata {
        name: m.name,
        version: m.version,
        description: m.description,
    }
}

/// 0.2.0 metadata in current form.
pub fn metadata_from_v0_2(m: v0_2::PolicyMetadata) -> v0_3::PolicyMetadata {
    v0_3::PolicyMetadata {
        name: m.name,
        version: m.version,
        description: m.description,
    }
}
