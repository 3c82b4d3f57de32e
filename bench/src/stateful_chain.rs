//! The shipped stateful set (`policies-wasm/`: the four stateless policies
//! with `budget`, `rate-limit` and `prerequisites`) deciding with memory
//! but no log, as `gavel test` decides a case ([`CaseHistory`]): history
//! facts from an [`Activity`](gavel::history::Activity), the decision's
//! charges reserved in a [`Ledger`](gavel::ledger::Ledger) or refused, and
//! approves recorded into the history.
//!
//! The limits are raised ([`BIG_LIMITS`]) so that the charges of a long run
//! are reserved, not refused: a benchmark whose budgets ran out would time
//! cheap denies. [`Tally`] counts what the decisions did, so a figure can
//! say (and a test can check) how many of them reserved charges.

use crate::fixture::{self, BigLimits, Derive};
use gavel::case_history::CaseHistory;
use gavel::ledger::{BUDGET_EXCEEDED, RATE_LIMITED};
use gavel::{ArtifactCache, Decision, PolicyEngine, PolicySet, Request, Verdict};
use std::path::Path;
use tempfile::TempDir;

/// The limits of the benchmark's stateful set: budgets of 9 × 10^9 (the
/// most the host counts) per agent
/// and for the fleet, and rates at the rate-limit policy's largest limit
/// (100,000 per window).
pub const BIG_LIMITS: BigLimits = BigLimits {
    amount: 9_000_000_000,
    count: 100_000,
};

/// A loaded stateful set and its memory.
#[derive(Debug)]
pub struct StatefulChain {
    set: PolicySet,
    memory: CaseHistory,
    /// The derived manifest.
    _dir: TempDir,
}

/// The derived directory: `dir`'s manifest with [`BIG_LIMITS`].
pub fn big_limits_dir(dir: &Path) -> Result<TempDir, crate::Error> {
    fixture::derive(
        dir,
        &Derive {
            big_limits: Some(BIG_LIMITS),
            ..Derive::default()
        },
    )
}

impl StatefulChain {
    /// Load `dir` (the shipped stateful directory) with [`BIG_LIMITS`],
    /// warm, sharing `engine` and `cache`, with empty memory.
    pub fn load(
        dir: &Path,
        engine: &PolicyEngine,
        cache: &ArtifactCache,
    ) -> Result<Self, crate::Error> {
        let derived = big_limits_dir(dir)?;
        let set = PolicySet::load(derived.path(), engine, cache)?;
        let memory = CaseHistory::replay(&set, &placeholder()?, &[])?;
        Ok(StatefulChain {
            set,
            memory,
            _dir: derived,
        })
    }

    /// The loaded policy set.
    pub fn set(&self) -> &PolicySet {
        &self.set
    }

    /// Decide `request` at `now_ms` (UTC ms) with this memory: facts, the
    /// policies, then the charges reserved or refused.
    pub fn decide(&self, request: &Request, now_ms: i64) -> Decision {
        self.memory.decide(&self.set, request, now_ms)
    }
}

/// A request for [`CaseHistory::replay`] with no steps (which reads none
/// of it).
fn placeholder() -> Result<Request, crate::Error> {
    Ok(Request::from_json(
        r#"{"request_id":"bench-start","agent_id":"bench","action":"start"}"#,
    )?)
}

/// What a run of decisions did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Decisions.
    pub decisions: usize,
    /// Approved.
    pub approve: usize,
    /// Escalated.
    pub escalate: usize,
    /// Denied (by a policy or by a limit).
    pub deny: usize,
    /// Decisions that reserved at least one charge (approved or escalated,
    /// with a charge that was not already held).
    pub reserved: usize,
    /// Denied because a counter was full (`budget-exceeded`,
    /// `rate-limited`): with [`BIG_LIMITS`], none should be.
    pub refused_by_limit: usize,
}

impl Tally {
    /// Count `decision`.
    pub fn add(&mut self, decision: &Decision) {
        self.decisions += 1;
        match decision.verdict {
            Verdict::Approve => self.approve += 1,
            Verdict::Escalate => self.escalate += 1,
            Verdict::Deny => self.deny += 1,
        }
        if decision.verdict != Verdict::Deny && decision.charges.iter().any(|c| !c.duplicate) {
            self.reserved += 1;
        }
        if decision.verdict == Verdict::Deny
            && decision
                .reasons
                .iter()
                .any(|r| r.code == BUDGET_EXCEEDED || r.code == RATE_LIMITED)
        {
            self.refused_by_limit += 1;
        }
    }

    /// The share of decisions that reserved charges, 0.0–1.0.
    pub fn reserved_share(&self) -> f64 {
        if self.decisions == 0 {
            0.0
        } else {
            self.reserved as f64 / self.decisions as f64
        }
    }
}

/// `request` under a request id of its own (`<id>-<tag>`), so that its
/// charges are not those of an earlier decision of the same request (a
/// request id is charged once).
pub fn renamed(request: &Request, tag: &str) -> Request {
    let mut copy = request.clone();
    copy.request_id = format!("{}-{tag}", request.request_id);
    copy
}
