//! Escalations visible to the whole fleet: a node that opens one publishes
//! it next to the shared counters, so that a reviewer can resolve it
//! through any node. The first resolution wins (`claim.lua`), on whichever
//! node it arrives; the node that opened it takes the resolution over and
//! wakes its waiting caller.

use super::{KEY_PREFIX, SharedCounters, UsageError};
use crate::escalation::{Escalation, EscalationStatus, Resolution};
use redis::Script;
use std::sync::LazyLock;

static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("claim.lua")));

/// A published escalation outlives its deadline by this much, so that a
/// late reviewer learns it expired rather than that it never existed.
const KEPT_AFTER_DEADLINE_MS: i64 = 3_600_000;

/// What a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// No node published this escalation.
    Unknown,
    /// Someone resolved it first: its status and resolution.
    Taken(EscalationStatus, Option<Resolution>),
    /// This resolution won; the escalation as published.
    Won(Box<Escalation>),
}

fn key(id: &str) -> String {
    format!("{KEY_PREFIX}esc:{id}")
}

impl SharedCounters {
    /// Publish a pending escalation.
    pub fn publish_escalation(&self, e: &Escalation) -> Result<(), UsageError> {
        // Plain structs of strings and numbers always serialize.
        let record = serde_json::to_string(e).unwrap_or_default();
        let expire = e.deadline_ms.saturating_add(KEPT_AFTER_DEADLINE_MS);
        self.link.with(|con| {
            redis::pipe()
                .atomic()
                .cmd("HSET")
                .arg(key(&e.id))
                .arg("record")
                .arg(&record)
                .arg("status")
                .arg(EscalationStatus::Pending.as_str())
                .ignore()
                .cmd("PEXPIREAT")
                .arg(key(&e.id))
                .arg(expire)
                .ignore()
                .exec(con)
        })
    }

    /// Resolve escalation `id` to `status`, unless someone did first.
    pub fn claim_escalation(
        &self,
        id: &str,
        status: EscalationStatus,
        resolution: &Resolution,
    ) -> Result<Claim, UsageError> {
        let json = serde_json::to_string(resolution).unwrap_or_default();
        let mut inv = CLAIM.prepare_invoke();
        inv.key(key(id)).arg(status.as_str()).arg(json);
        let out: Vec<String> = self.link.with(|con| inv.invoke(con))?;
        let bad = |what: &str| UsageError::Refused {
            server: self.server().to_owned(),
            reason: format!("unreadable published escalation `{id}`: {what}"),
        };
        match out.as_slice() {
            [tag] if tag == "none" => Ok(Claim::Unknown),
            [tag, status, resolution] if tag == "taken" => Ok(Claim::Taken(
                EscalationStatus::parse(status).ok_or_else(|| bad(status))?,
                serde_json::from_str(resolution).ok(),
            )),
            [tag, record] if tag == "ok" => {
                let mut e: Escalation =
                    serde_json::from_str(record).map_err(|e| bad(&e.to_string()))?;
                e.status = status;
                e.resolution = Some(resolution.clone());
                Ok(Claim::Won(Box::new(e)))
            }
            _ => Err(bad("an unexpected answer")),
        }
    }

    /// The resolutions other nodes made of these escalations (the pending
    /// ones are left out).
    pub fn resolutions(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, EscalationStatus, Option<Resolution>)>, UsageError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HMGET")
                .arg(key(id))
                .arg("status")
                .arg("resolution");
        }
        let rows: Vec<(Option<String>, Option<String>)> = self.link.with(|con| pipe.query(con))?;
        Ok(ids
            .iter()
            .zip(rows)
            .filter_map(|(id, (status, resolution))| {
                let status = EscalationStatus::parse(status.as_deref()?)?;
                (status != EscalationStatus::Pending).then(|| {
                    (
                        id.clone(),
                        status,
                        resolution.and_then(|r| serde_json::from_str(&r).ok()),
                    )
                })
            })
            .collect())
    }
}
