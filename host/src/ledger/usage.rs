//! [`UsageRow`]: one counter as operators see it (`gavel usage`,
//! `GET /v1/usage`).

use super::charge::{ChargeKind, Window};
use crate::history::Scope;
use serde::{Deserialize, Serialize};

/// One live counter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    /// The counter's name.
    pub counter: String,
    /// Budget or rate.
    pub kind: ChargeKind,
    /// Whose.
    pub scope: Scope,
    /// The agent, session or user id (`*` for the fleet).
    pub subject: String,
    /// Its window.
    pub window: Window,
    /// A calendar window's start (UTC ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start_ms: Option<i64>,
    /// A calendar window's end (UTC ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end_ms: Option<i64>,
    /// Settled: charged for good (an outcome came, or its time passed).
    pub used: f64,
    /// Reserved and not yet settled (held by an escalation, or waiting
    /// for an outcome).
    pub reserved: f64,
    /// The limit its last charge named.
    pub limit: f64,
    /// What is left under the limit.
    pub left: f64,
    /// How many reservations it holds.
    pub reservations: usize,
}

impl UsageRow {
    /// Used and reserved, as a fraction of the limit (0 when the limit is 0
    /// and nothing is used; 1 when the limit is 0 and something is).
    pub fn utilisation(&self) -> f64 {
        let taken = self.used + self.reserved;
        if self.limit > 0.0 {
            taken / self.limit
        } else if taken > 0.0 {
            1.0
        } else {
            0.0
        }
    }
}
