//! Outcomes: what happened to an approved action, reported by its host.
//!
//! `completed` settles the decision's reservations (with the actual
//! amount, if given, replacing the estimate on budget counters) and is
//! what prerequisite rules see; `failed` frees them. Each outcome is a log
//! record in the chain, committed with the reservation changes and the
//! `outcomes` row that makes a second report for the same decision a
//! conflict.

use super::Runtime;
use crate::decision::Verdict;
use crate::escalation::EscalationStatus;
use crate::ledger::{MAX_AMOUNT, SettleError};
use crate::log::{
    LogError, LogEvent, OUTCOMES, OutcomeStatus, StateTable, StateWrite, get_record, now_ms,
};
use serde::Serialize;
use std::sync::PoisonError;

/// Why an outcome was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutcomeError {
    /// No decision record has this sequence number.
    #[error("no decision has seq {0}")]
    UnknownDecision(u64),
    /// The decision was not approved (denied, or escalated and not
    /// approved by a reviewer): nothing happened to report.
    #[error("decision {seq} was not approved ({why}); only an approved action has an outcome")]
    NotApproved {
        /// The decision.
        seq: u64,
        /// Its verdict or escalation status.
        why: String,
    },
    /// An outcome was already reported for this decision.
    #[error("decision {seq} already has an outcome ({status}); an outcome is reported once")]
    AlreadyReported {
        /// The decision.
        seq: u64,
        /// The outcome recorded.
        status: String,
    },
    /// The reservation settled as charged before this outcome came.
    #[error("decision {seq}: {source}")]
    Settled {
        /// The decision.
        seq: u64,
        /// When it settled.
        source: SettleError,
    },
    /// The amount is not a finite number in 0..=9e9.
    #[error("amount {0} is not a finite number from 0 to 9e9")]
    BadAmount(f64),
    /// The log could not be read or written.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// What an outcome report did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeReport {
    /// The outcome record's sequence number.
    pub seq: u64,
    /// The decision it reports on.
    pub decision: u64,
    /// Completed or failed.
    pub status: OutcomeStatus,
    /// The actual amount, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// How many reservations it freed (failed) or settled (completed).
    pub reservations: usize,
}

impl Runtime {
    /// Record what happened to the approved action of decision `seq`.
    pub fn report_outcome(
        &self,
        seq: u64,
        status: OutcomeStatus,
        amount: Option<f64>,
    ) -> Result<OutcomeReport, OutcomeError> {
        if let Some(a) = amount
            && !(a.is_finite() && (0.0..=MAX_AMOUNT).contains(&a))
        {
            return Err(OutcomeError::BadAmount(a));
        }
        let _one_at_a_time = self
            .reporting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(previous) = self.recorded_outcome(seq)? {
            return Err(OutcomeError::AlreadyReported {
                seq,
                status: previous,
            });
        }
        let record =
            get_record(self.log.database(), seq)?.ok_or(OutcomeError::UnknownDecision(seq))?;
        let LogEvent::Decision(decision) = record.event else {
            return Err(OutcomeError::UnknownDecision(seq));
        };
        match decision.verdict {
            Verdict::Approve => {}
            Verdict::Deny => {
                return Err(OutcomeError::NotApproved {
                    seq,
                    why: "it was denied".to_owned(),
                });
            }
            Verdict::Escalate => {
                let status = decision
                    .escalation
                    .as_ref()
                    .and_then(|t| self.escalations.get(&t.id))
                    .map(|e| e.status);
                if status != Some(EscalationStatus::Approved) {
                    return Err(OutcomeError::NotApproved {
                        seq,
                        why: format!(
                            "it was escalated, and the escalation is {}",
                            status.map_or("unknown", EscalationStatus::as_str)
                        ),
                    });
                }
            }
        }
        let request = decision.request;
        let now = now_ms();
        let plan = self
            .ledger
            .plan_outcome(
                &request.request_id,
                status == OutcomeStatus::Failed,
                amount,
                now,
            )
            .map_err(|source| OutcomeError::Settled { seq, source })?;
        let reservations = plan.changes.len();
        let mut writes = plan.writes.clone();
        writes.push(StateWrite {
            table: StateTable::Outcomes,
            key: seq.to_string(),
            value: Some(status.as_str().as_bytes().to_vec()),
        });
        let event = LogEvent::Outcome {
            decision: seq,
            request_id: request.request_id.clone(),
            agent_id: request.agent_id.clone(),
            action: request.action.clone(),
            session_id: request.session_id.clone(),
            status,
            amount,
        };
        let outcome_seq = self
            .log
            .append_committed(&event, self.generation(), writes)?;
        self.ledger.apply(plan);
        if status == OutcomeStatus::Completed
            && let Some(session) = &request.session_id
        {
            self.activity
                .record_completed(session, &request.action, now);
        }
        Ok(OutcomeReport {
            seq: outcome_seq,
            decision: seq,
            status,
            amount,
            reservations,
        })
    }

    /// The outcome already recorded for decision `seq`, if any.
    fn recorded_outcome(&self, seq: u64) -> Result<Option<String>, LogError> {
        use redb::ReadableDatabase;
        let storage = |e: &dyn std::fmt::Display| LogError::Storage(e.to_string());
        let txn = self.log.database().begin_read().map_err(|e| storage(&e))?;
        let table = txn.open_table(OUTCOMES).map_err(|e| storage(&e))?;
        let found = table
            .get(seq.to_string().as_str())
            .map_err(|e| storage(&e))?;
        Ok(found.map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }
}
