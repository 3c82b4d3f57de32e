//! [`CounterMeta`]: the descriptor stored with each counter instance, so
//! that `gavel usage` can show a counter no node holds in memory.

use crate::history::Scope;
use crate::ledger::charge::{Charge, ChargeKind, Window};
use crate::ledger::counter::{Entry, Stored};
use serde::{Deserialize, Serialize};

/// What the descriptor of a counter instance holds (for `gavel usage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterMeta {
    counter: String,
    kind: ChargeKind,
    scope: Scope,
    subject: String,
    window: Window,
    start_ms: i64,
    end_ms: i64,
    limit: f64,
}

impl CounterMeta {
    pub(super) fn new(c: &Charge, subject: &str, start_ms: i64, end_ms: i64) -> Self {
        CounterMeta {
            counter: c.counter.clone(),
            kind: c.kind,
            scope: c.scope,
            subject: subject.to_owned(),
            window: c.window.clone(),
            start_ms,
            end_ms,
            limit: c.limit,
        }
    }

    pub(super) fn stored(&self, instance: &str, request_id: &str, entry: Entry) -> Stored {
        Stored {
            instance: instance.to_owned(),
            request_id: request_id.to_owned(),
            counter: self.counter.clone(),
            kind: self.kind,
            scope: self.scope,
            subject: self.subject.clone(),
            window: self.window.clone(),
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            limit: self.limit,
            entry,
        }
    }

    /// The counter kind.
    pub fn kind(&self) -> ChargeKind {
        self.kind
    }
}
