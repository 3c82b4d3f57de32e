//! [`CaseHistory`]: the memory a `gavel test` case starts from (its
//! `[[case.history]]` steps), built by deciding each step through the
//! case's policy with a ledger and a history of its own, as a runtime
//! would (without a log).

use crate::case_file::HistoryStep;
use crate::decision::{Decision, Verdict};
use crate::history::{Activity, HistoryView};
use crate::ledger::{DEFAULT_SETTLE_AFTER, Ledger};
use crate::log::OutcomeStatus;
use crate::policy_set::{Facts, PolicySet};
use crate::request::Request;
use crate::runtime::{approved_action, charge_decision};
use std::sync::Arc;

/// A case's counters and history.
#[derive(Debug)]
pub struct CaseHistory {
    ledger: Ledger,
    activity: Arc<Activity>,
}

impl CaseHistory {
    /// Decide every step, oldest first, at `ago` before `request`'s
    /// timestamp. A step that is denied, or an outcome that cannot be
    /// applied, fails the case with a message naming the step.
    pub fn replay(
        set: &PolicySet,
        request: &Request,
        steps: &[HistoryStep],
    ) -> Result<Self, String> {
        let memory = CaseHistory {
            ledger: Ledger::new(DEFAULT_SETTLE_AFTER),
            activity: Arc::new(Activity::empty()),
        };
        let now = request.timestamp_ms;
        for (i, step) in steps.iter().enumerate() {
            let at = now.saturating_sub(step.ago_ms);
            let decision = memory.decide(set, &step.request, at);
            if decision.verdict == Verdict::Deny {
                let why = decision
                    .reasons
                    .first()
                    .map(|r| format!("{}/{}: {}", r.policy, r.code, r.message))
                    .unwrap_or_default();
                return Err(format!(
                    "history[{i}] was denied ({why}); a case's history must be approved or escalated"
                ));
            }
            let id = &step.request.request_id;
            match step.outcome {
                None => {}
                Some(OutcomeStatus::Failed) => memory.ledger.apply(memory.ledger.plan_release(id)),
                Some(OutcomeStatus::Completed) => {
                    let plan = memory
                        .ledger
                        .plan_outcome(id, false, None, at)
                        .map_err(|e| format!("history[{i}]: {e}"))?;
                    memory.ledger.apply(plan);
                    if let Some(session) = &step.request.session_id {
                        memory
                            .activity
                            .record_completed(session, &step.request.action, at);
                    }
                }
            }
        }
        Ok(memory)
    }

    /// Decide `request` at `now` with this memory, as a runtime would:
    /// history facts, then the charges reserved or refused.
    pub fn decide(&self, set: &PolicySet, request: &Request, now: i64) -> Decision {
        let view: Arc<dyn HistoryView> = self.activity.clone();
        let mut decision = set.evaluate_with(request, Facts::Live { view, now_ms: now });
        charge_decision(&self.ledger, request, &mut decision, now);
        if decision.verdict == Verdict::Approve {
            self.activity
                .record_approved(&approved_action(request, now));
        }
        decision
    }
}
