//! The runtime's human controls: the kill switch and escalation review.
//! Every change is a log record committed (durably, whatever the log
//! mode) in the same transaction as the state it changes.

use super::Runtime;
use crate::escalation::{Escalation, EscalationError, EscalationStatus, Escalations, Resolution};
use crate::kill_switch::{Engagement, KillSwitch, KillSwitchState};
use crate::log::{LogError, LogEvent, now_ms};
use std::sync::Arc;

impl Runtime {
    /// The kill switch.
    pub fn kill_switch(&self) -> &KillSwitch {
        &self.kill_switch
    }

    /// Every escalation.
    pub fn escalations(&self) -> &Escalations {
        &self.escalations
    }

    /// Engage or release the fleet-wide kill switch (`agent: None`) or one
    /// agent's, and record who did it and why.
    pub fn set_kill_switch(
        &self,
        engaged: bool,
        agent: Option<&str>,
        actor: &str,
        reason: &str,
    ) -> Result<Arc<KillSwitchState>, LogError> {
        let engagement = engaged.then(|| Engagement {
            actor: actor.to_owned(),
            reason: reason.to_owned(),
            since_ms: now_ms(),
        });
        let event = LogEvent::KillSwitch {
            engaged,
            actor: actor.to_owned(),
            reason: reason.to_owned(),
            agent: agent.map(str::to_owned),
        };
        self.kill_switch.set(engagement, agent, |write| {
            self.log
                .append_committed(&event, self.generation(), vec![write])
                .map(drop)
        })
    }

    /// A reviewer approves (`approve`) or denies a pending escalation. An
    /// escalation past its deadline expires instead, and the answer is
    /// [`EscalationError::NotPending`].
    pub fn resolve_escalation(
        &self,
        id: &str,
        approve: bool,
        reviewer: &str,
        comment: &str,
    ) -> Result<Escalation, EscalationError> {
        if reviewer.trim().is_empty() {
            return Err(EscalationError::NoReviewer);
        }
        let now = now_ms();
        if self
            .escalations
            .get(id)
            .is_some_and(|e| e.status == EscalationStatus::Pending && e.deadline_ms <= now)
        {
            self.expire(id, now)?;
        }
        let status = if approve {
            EscalationStatus::Approved
        } else {
            EscalationStatus::Denied
        };
        let resolution = Resolution {
            reviewer: Some(reviewer.to_owned()),
            comment: comment.to_owned(),
            at_ms: now,
        };
        if self.escalations.get(id).is_none() {
            // Opened by another node of the fleet, perhaps.
            return self.resolve_foreign(id, status, resolution);
        }
        if !self.claim_in_fleet(id, status, &resolution)? {
            let status = self
                .escalations
                .get(id)
                .map_or(EscalationStatus::Pending, |e| e.status);
            return Err(EscalationError::NotPending {
                id: id.to_owned(),
                status: status.as_str(),
            });
        }
        self.transition(id, status, resolution, true)
    }

    /// Expire every pending escalation whose deadline has passed; returns
    /// those expired now.
    pub fn expire_escalations(&self) -> Result<Vec<Escalation>, EscalationError> {
        let now = now_ms();
        let mut expired = Vec::new();
        for id in self.escalations.due(now) {
            if let Some(e) = self.expire(&id, now)? {
                expired.push(e);
            }
        }
        Ok(expired)
    }

    /// Expire one escalation; `None` if someone resolved it first.
    fn expire(&self, id: &str, now: i64) -> Result<Option<Escalation>, EscalationError> {
        let resolution = Resolution {
            reviewer: None,
            comment: String::new(),
            at_ms: now,
        };
        // Expiry is a deny: if the fleet cannot be asked, expire anyway.
        match self.claim_in_fleet(id, EscalationStatus::Expired, &resolution) {
            Ok(true) | Err(_) => {}
            Ok(false) => return Ok(None),
        }
        match self.transition(id, EscalationStatus::Expired, resolution, true) {
            Ok(e) => Ok(Some(e)),
            Err(EscalationError::NotPending { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Resolve a local escalation. `reserve`: also change its decision's
    /// reservations (not when another node resolved it and did so).
    pub(super) fn transition(
        &self,
        id: &str,
        status: EscalationStatus,
        resolution: Resolution,
        reserve: bool,
    ) -> Result<Escalation, EscalationError> {
        // The escalated decision's reservations: kept (open, settling from
        // now) if approved, freed if denied or expired; changed in the
        // resolution's own transaction.
        let request_id = self.escalations.get(id).map(|e| e.request.request_id);
        let plan = match (&request_id, status, reserve) {
            (Some(r), EscalationStatus::Approved, true) => {
                self.ledger.plan_approve(r, resolution.at_ms)
            }
            (Some(r), EscalationStatus::Denied | EscalationStatus::Expired, true) => {
                self.ledger.plan_release(r)
            }
            _ => crate::ledger::Plan::default(),
        };
        let resolved = self.escalations.resolve(id, status, resolution, |next| {
            let event = LogEvent::EscalationResolved {
                id: next.id.clone(),
                request_id: next.request.request_id.clone(),
                status,
                reviewer: next.resolution.as_ref().and_then(|r| r.reviewer.clone()),
                comment: next
                    .resolution
                    .as_ref()
                    .map(|r| r.comment.clone())
                    .unwrap_or_default(),
            };
            let mut writes = vec![next.state_write()?];
            writes.extend(plan.writes.iter().cloned());
            self.log
                .append_committed(&event, self.generation(), writes)
                .map(drop)
        })?;
        self.ledger.apply(plan);
        if status == EscalationStatus::Approved {
            let r = &resolved.request;
            self.activity
                .record_approved(&crate::history::ApprovedAction {
                    time_ms: resolved
                        .resolution
                        .as_ref()
                        .map_or_else(now_ms, |x| x.at_ms),
                    agent: r.agent_id.clone(),
                    session: r.session_id.clone(),
                    user: r.user_id.clone(),
                    action: r.action.clone(),
                    amount: r.amount,
                });
        }
        Ok(resolved)
    }

    /// Count a deny of `agent` toward the breaker of the live set, and
    /// engage that agent's kill switch if it trips. Only the tripping
    /// agent is stopped; a failure to record the engagement is logged and
    /// the breaker tries again on the next denial.
    pub(super) fn breaker_saw_deny(
        &self,
        live: &crate::generation::Generation,
        agent: &str,
        now: i64,
    ) {
        let Some(config) = live.set.breaker() else {
            return;
        };
        if !self.breaker.saw_deny(config, agent, now) {
            return;
        }
        let reason = format!("the breaker tripped: {}", config.describe());
        match self.set_kill_switch(true, Some(agent), crate::breaker::BREAKER_ACTOR, &reason) {
            Ok(_) => {
                tracing::warn!(
                    "agent `{agent}` stopped by the breaker: {}",
                    config.describe()
                );
                self.breaker_trips
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!("the breaker could not engage agent `{agent}`'s kill switch: {e}")
            }
        }
    }

    /// How many times the breaker engaged a kill switch since start.
    pub fn breaker_trips(&self) -> u64 {
        self.breaker_trips
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the runtime can decide: a policy set is live (always, once
    /// started) and the log accepts writes. `Err` says why not.
    pub fn ready(&self) -> Result<(), String> {
        self.log.writable()
    }
}
