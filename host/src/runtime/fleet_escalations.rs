//! Escalations across a fleet that shares its counters in Redis: a node
//! publishes the escalations it opens, a reviewer resolves one through any
//! node (the first resolution wins), and the node that opened it takes the
//! resolution over, records it, and wakes its waiting caller.
//!
//! Without shared counters every function here does nothing, and an
//! escalation is resolved only on the node that opened it.

use super::Runtime;
use crate::escalation::{Escalation, EscalationError, EscalationStatus, Resolution};
use crate::ledger::Claim;
use crate::log::LogEvent;

impl Runtime {
    /// Publish an escalation this node opened (a failure is logged: the
    /// escalation can then be resolved only here).
    pub(super) fn publish_to_fleet(&self, escalation: &Escalation) {
        if let Some(shared) = self.ledger.shared_counters()
            && let Err(e) = shared.publish_escalation(escalation)
        {
            tracing::warn!(
                id = %escalation.id,
                error = %e,
                "an escalation could not be published to the fleet; it can be resolved only on this node"
            );
        }
    }

    /// Claim the resolution of a local escalation in the fleet. `false`:
    /// another node resolved it first (its resolution is taken over now).
    pub(super) fn claim_in_fleet(
        &self,
        id: &str,
        status: EscalationStatus,
        resolution: &Resolution,
    ) -> Result<bool, EscalationError> {
        let Some(shared) = self.ledger.shared_counters() else {
            return Ok(true);
        };
        match shared.claim_escalation(id, status, resolution) {
            Ok(Claim::Won(_) | Claim::Unknown) => Ok(true),
            Ok(Claim::Taken(status, theirs)) => {
                self.take_over(id, status, theirs)?;
                Ok(false)
            }
            Err(e) => Err(EscalationError::Unavailable(e.to_string())),
        }
    }

    /// Resolve an escalation another node opened: claim it, change its
    /// decision's reservations, and record the resolution in this node's
    /// log. The node that opened it records it too, when it takes it over.
    pub(super) fn resolve_foreign(
        &self,
        id: &str,
        status: EscalationStatus,
        resolution: Resolution,
    ) -> Result<Escalation, EscalationError> {
        let Some(shared) = self.ledger.shared_counters() else {
            return Err(EscalationError::NotFound(id.to_owned()));
        };
        let claimed = shared
            .claim_escalation(id, status, &resolution)
            .map_err(|e| EscalationError::Unavailable(e.to_string()))?;
        let escalation = match claimed {
            Claim::Unknown => return Err(EscalationError::NotFound(id.to_owned())),
            Claim::Taken(status, _) => {
                return Err(EscalationError::NotPending {
                    id: id.to_owned(),
                    status: status.as_str(),
                });
            }
            Claim::Won(e) => *e,
        };
        let request_id = &escalation.request.request_id;
        let plan = match status {
            EscalationStatus::Approved => self.ledger.plan_approve(request_id, resolution.at_ms),
            _ => self.ledger.plan_release(request_id),
        };
        let event = LogEvent::EscalationResolved {
            id: escalation.id.clone(),
            request_id: request_id.clone(),
            status,
            reviewer: resolution.reviewer.clone(),
            comment: resolution.comment.clone(),
        };
        // The claim already stands fleet-wide: the reservations follow it
        // even if this node's record fails (the opening node records it).
        self.ledger.apply(plan);
        self.log
            .append_committed(&event, self.generation(), Vec::new())
            .map_err(EscalationError::Log)?;
        Ok(escalation)
    }

    /// Take over the resolutions other nodes made of this node's pending
    /// escalations; returns how many. Run every few hundred ms.
    pub fn sync_fleet_escalations(&self) -> Result<usize, EscalationError> {
        let Some(shared) = self.ledger.shared_counters() else {
            return Ok(0);
        };
        let pending: Vec<String> = self
            .escalations
            .list(Some(EscalationStatus::Pending))
            .into_iter()
            .map(|e| e.id)
            .collect();
        let resolved = shared
            .resolutions(&pending)
            .map_err(|e| EscalationError::Unavailable(e.to_string()))?;
        let mut taken = 0;
        for (id, status, resolution) in resolved {
            if self.take_over(&id, status, resolution)? {
                taken += 1;
            }
        }
        Ok(taken)
    }

    /// Record another node's resolution of a local escalation (its
    /// reservations were changed by that node). `false`: no longer
    /// pending here.
    fn take_over(
        &self,
        id: &str,
        status: EscalationStatus,
        resolution: Option<Resolution>,
    ) -> Result<bool, EscalationError> {
        let resolution = resolution.unwrap_or(Resolution {
            reviewer: None,
            comment: String::new(),
            at_ms: crate::log::now_ms(),
        });
        match self.transition(id, status, resolution, false) {
            Ok(_) => Ok(true),
            Err(EscalationError::NotPending { .. } | EscalationError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
