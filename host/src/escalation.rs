//! Escalations: decisions a human must make.
//!
//! An `escalate` decision opens an [`Escalation`]: pending until a reviewer
//! approves or denies it, or until its deadline passes, when it becomes
//! `expired`, which is a deny. Each escalation lives in the log's
//! `escalations` table, written in the same transaction as the record that
//! changes it (the decision that opened it, the resolution that closed
//! it), so pending escalations survive a restart and never disagree with
//! the audit trail. [`Escalations`] is the in-memory view: lookups, lists,
//! and waits for an outcome.

use crate::decision::Reason;
use crate::log::{ESCALATIONS, LogError, LoggedRequest, StateTable, StateWrite, format_time};
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// How long a reviewer has, unless configured otherwise.
pub const DEFAULT_ESCALATION_TIMEOUT: Duration = Duration::from_secs(300);

/// Where an escalation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EscalationStatus {
    /// Waiting for a reviewer.
    Pending,
    /// A reviewer approved it: the action may go ahead.
    Approved,
    /// A reviewer denied it.
    Denied,
    /// Nobody decided in time: a deny.
    Expired,
}

impl EscalationStatus {
    /// `pending`, `approved`, `denied` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationStatus::Pending => "pending",
            EscalationStatus::Approved => "approved",
            EscalationStatus::Denied => "denied",
            EscalationStatus::Expired => "expired",
        }
    }

    /// Parse a status name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(EscalationStatus::Pending),
            "approved" => Some(EscalationStatus::Approved),
            "denied" => Some(EscalationStatus::Denied),
            "expired" => Some(EscalationStatus::Expired),
            _ => None,
        }
    }
}

/// What the decision that opened an escalation records about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationTicket {
    /// The escalation's id.
    pub id: String,
    /// When it expires, UTC milliseconds.
    pub deadline_ms: i64,
}

/// A reviewer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// Who; absent when the deadline passed.
    pub reviewer: Option<String>,
    /// Their comment.
    pub comment: String,
    /// When, UTC milliseconds.
    pub at_ms: i64,
}

/// One escalation, as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Unique, random.
    pub id: String,
    /// Where it stands.
    pub status: EscalationStatus,
    /// The request, redacted as in the log.
    pub request: LoggedRequest,
    /// Why it was escalated.
    pub reasons: Vec<Reason>,
    /// When it was opened, UTC milliseconds.
    pub created_ms: i64,
    /// When it expires, UTC milliseconds.
    pub deadline_ms: i64,
    /// How it was resolved, once it is.
    pub resolution: Option<Resolution>,
}

impl Escalation {
    /// The JSON the API serves: RFC 3339 times, and the request's ids
    /// lifted to the top.
    pub fn to_view(&self) -> serde_json::Value {
        let time = |ms: i64| format_time(ms).unwrap_or_else(|| ms.to_string());
        serde_json::json!({
            "id": self.id,
            "status": self.status,
            "request_id": self.request.request_id,
            "agent_id": self.request.agent_id,
            "action": self.request.action,
            "request": self.request,
            "reasons": self.reasons,
            "created_at": time(self.created_ms),
            "deadline": time(self.deadline_ms),
            "resolution": self.resolution.as_ref().map(|r| serde_json::json!({
                "reviewer": r.reviewer,
                "comment": r.comment,
                "at": time(r.at_ms),
            })),
        })
    }

    /// The state-table write that stores this escalation.
    pub fn state_write(&self) -> Result<StateWrite, LogError> {
        Ok(StateWrite {
            table: StateTable::Escalations,
            key: self.id.clone(),
            value: Some(serde_json::to_vec(self).map_err(|e| LogError::Encode(e.to_string()))?),
        })
    }
}

/// Why an escalation could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscalationError {
    /// No escalation has this id.
    #[error("no escalation `{0}`")]
    NotFound(String),
    /// It is no longer pending.
    #[error("escalation `{id}` is already {status}")]
    NotPending {
        /// The escalation.
        id: String,
        /// Its status.
        status: &'static str,
    },
    /// The reviewer is missing.
    #[error("field `reviewer`: a reviewer id is required")]
    NoReviewer,
    /// The resolution could not be recorded, so it did not happen.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The fleet's escalations (next to the shared counters) cannot be
    /// reached, so the resolution did not happen.
    #[error("the fleet's escalations cannot be reached, so nothing was resolved: {0}")]
    Unavailable(String),
}

struct Slot {
    escalation: Escalation,
    changed: watch::Sender<EscalationStatus>,
}

/// Every escalation, in memory, loaded from the log at start.
pub struct Escalations {
    slots: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for Escalations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Escalations")
            .field("count", &self.lock().len())
            .finish()
    }
}

impl Escalations {
    /// Load every stored escalation.
    pub fn load(db: &impl ReadableDatabase) -> Result<Self, LogError> {
        let storage = |e: &dyn std::fmt::Display| LogError::Storage(e.to_string());
        let txn = db.begin_read().map_err(|e| storage(&e))?;
        let table = txn.open_table(ESCALATIONS).map_err(|e| storage(&e))?;
        let mut slots = HashMap::new();
        for row in table.iter().map_err(|e| storage(&e))? {
            let (key, value) = row.map_err(|e| storage(&e))?;
            let escalation: Escalation = serde_json::from_slice(value.value()).map_err(|e| {
                LogError::Encode(format!("stored escalation `{}`: {e}", key.value()))
            })?;
            let (changed, _) = watch::channel(escalation.status);
            slots.insert(
                escalation.id.clone(),
                Slot {
                    escalation,
                    changed,
                },
            );
        }
        Ok(Escalations {
            slots: Mutex::new(slots),
        })
    }

    /// A new escalation id: 128 random bits, hex.
    pub fn new_id() -> String {
        format!("esc-{}", hex::encode(rand::random::<[u8; 16]>()))
    }

    /// Track an escalation whose opening record is written (or queued).
    pub fn insert(&self, escalation: Escalation) {
        let (changed, _) = watch::channel(escalation.status);
        self.lock().insert(
            escalation.id.clone(),
            Slot {
                escalation,
                changed,
            },
        );
    }

    /// One escalation.
    pub fn get(&self, id: &str) -> Option<Escalation> {
        self.lock().get(id).map(|s| s.escalation.clone())
    }

    /// Escalations with this status (all when `None`), oldest first.
    pub fn list(&self, status: Option<EscalationStatus>) -> Vec<Escalation> {
        let mut out: Vec<Escalation> = self
            .lock()
            .values()
            .filter(|s| status.is_none_or(|st| s.escalation.status == st))
            .map(|s| s.escalation.clone())
            .collect();
        out.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        out
    }

    /// How many are pending.
    pub fn pending(&self) -> usize {
        self.lock()
            .values()
            .filter(|s| s.escalation.status == EscalationStatus::Pending)
            .count()
    }

    /// The ids of pending escalations whose deadline is at or before `now_ms`.
    pub fn due(&self, now_ms: i64) -> Vec<String> {
        self.lock()
            .values()
            .filter(|s| {
                s.escalation.status == EscalationStatus::Pending
                    && s.escalation.deadline_ms <= now_ms
            })
            .map(|s| s.escalation.id.clone())
            .collect()
    }

    /// Move a pending escalation to `status`, if `record` (which writes the
    /// log record and the new state in one transaction) succeeds. The lock
    /// is held meanwhile, so two resolutions of one escalation cannot both
    /// win.
    pub fn resolve(
        &self,
        id: &str,
        status: EscalationStatus,
        resolution: Resolution,
        record: impl FnOnce(&Escalation) -> Result<(), LogError>,
    ) -> Result<Escalation, EscalationError> {
        let mut slots = self.lock();
        let slot = slots
            .get_mut(id)
            .ok_or_else(|| EscalationError::NotFound(id.to_owned()))?;
        if slot.escalation.status != EscalationStatus::Pending {
            return Err(EscalationError::NotPending {
                id: id.to_owned(),
                status: slot.escalation.status.as_str(),
            });
        }
        let mut next = slot.escalation.clone();
        next.status = status;
        next.resolution = Some(resolution);
        record(&next)?;
        slot.escalation = next.clone();
        slot.changed.send_replace(status);
        Ok(next)
    }

    /// Wait until the escalation is no longer pending, or `wait` passes;
    /// then return it as it is. `None` if there is no such escalation.
    pub async fn wait(&self, id: &str, wait: Duration) -> Option<Escalation> {
        let mut changes = {
            let slots = self.lock();
            let slot = slots.get(id)?;
            if slot.escalation.status != EscalationStatus::Pending {
                return Some(slot.escalation.clone());
            }
            slot.changed.subscribe()
        };
        // Either outcome (changed, or time is up) ends in a fresh read.
        let _ =
            tokio::time::timeout(wait, changes.wait_for(|s| *s != EscalationStatus::Pending)).await;
        self.get(id)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
