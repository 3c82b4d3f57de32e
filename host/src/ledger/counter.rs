//! One counter instance (a name, a scope's subject, a window) and its
//! reservations, as held in memory and stored in the `charges` table.

use super::charge::{Charge, ChargeKind, Window, amount, units};
use super::usage::UsageRow;
use crate::history::Scope;
use crate::log::{StateTable, StateWrite};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// Between the parts of a row key.
pub const KEY_SEPARATOR: &str = "\u{1f}";

/// The row key of one reservation: its counter instance, when it was
/// made (16 hex digits, ordered), and the request id. Rows of one counter
/// are thus written in time order, at the end of its key range, so a
/// commit touches few pages of the table.
pub fn row_key(instance: &str, time_ms: i64, request_id: &str) -> String {
    // Flipping the sign bit orders negative times before positive ones.
    let ordered = (time_ms as u64) ^ (1 << 63);
    format!("{instance}{KEY_SEPARATOR}{ordered:016x}{KEY_SEPARATOR}{request_id}")
}

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// Its decision is escalated: held until a reviewer answers.
    Held,
    /// Approved; waiting for an outcome until `settle_at_ms`, then settled.
    Open,
    /// An outcome settled it.
    Final,
}

/// One request's reservation on one counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// When it was reserved (UTC ms): rolling windows count from here.
    pub time_ms: i64,
    /// How much, in millionths.
    pub units: i64,
    /// Where it stands.
    pub status: EntryStatus,
    /// When an open reservation settles as charged.
    pub settle_at_ms: i64,
}

impl Entry {
    /// When it settled, if it has by `now_ms`.
    pub fn settled_at(&self, now_ms: i64) -> Option<i64> {
        match self.status {
            EntryStatus::Held => None,
            EntryStatus::Open => (self.settle_at_ms <= now_ms).then_some(self.settle_at_ms),
            EntryStatus::Final => Some(self.settle_at_ms.min(now_ms)),
        }
    }
}

/// A stored row: the entry with everything needed to rebuild its counter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stored {
    /// The counter instance key.
    pub instance: String,
    /// The request.
    pub request_id: String,
    /// The counter's name.
    pub counter: String,
    /// Budget or rate.
    pub kind: ChargeKind,
    /// Whose.
    pub scope: Scope,
    /// The subject's id.
    pub subject: String,
    /// The window.
    pub window: Window,
    /// Calendar window start (UTC ms).
    pub start_ms: i64,
    /// Calendar window end (UTC ms).
    pub end_ms: i64,
    /// The limit the last charge named.
    pub limit: f64,
    /// The reservation.
    pub entry: Entry,
}

/// A counter instance in memory.
#[derive(Debug, Clone)]
pub struct Counter {
    counter: String,
    /// Budget or rate.
    pub kind: ChargeKind,
    scope: Scope,
    subject: String,
    window: Window,
    start_ms: i64,
    end_ms: i64,
    limit: f64,
    entries: HashMap<String, Entry>,
    /// (time, request id), for rolling windows and retry times.
    order: BTreeSet<(i64, String)>,
    /// The sum of every entry's units.
    pub total: i64,
}

impl Counter {
    /// An empty counter for `charge`.
    pub fn new(charge: &Charge, subject: &str, start_ms: i64, end_ms: i64) -> Self {
        Counter {
            counter: charge.counter.clone(),
            kind: charge.kind,
            scope: charge.scope,
            subject: subject.to_owned(),
            window: charge.window.clone(),
            start_ms,
            end_ms,
            limit: charge.limit,
            entries: HashMap::new(),
            order: BTreeSet::new(),
            total: 0,
        }
    }

    /// An empty counter for a stored row.
    pub fn from_stored(s: &Stored) -> Self {
        Counter {
            counter: s.counter.clone(),
            kind: s.kind,
            scope: s.scope,
            subject: s.subject.clone(),
            window: s.window.clone(),
            start_ms: s.start_ms,
            end_ms: s.end_ms,
            limit: s.limit,
            entries: HashMap::new(),
            order: BTreeSet::new(),
            total: 0,
        }
    }

    /// Whether `request_id` holds a reservation here.
    pub fn holds(&self, request_id: &str) -> bool {
        self.entries.contains_key(request_id)
    }

    /// `request_id`'s reservation.
    pub fn get(&self, request_id: &str) -> Option<&Entry> {
        self.entries.get(request_id)
    }

    /// The reservations still inside the window at `now_ms` (none once a
    /// calendar window has ended; a rolling window's last N ms).
    pub fn live_entries(&self, now_ms: i64) -> impl Iterator<Item = &Entry> {
        let cutoff = match self.window {
            Window::Rolling { ms } => now_ms.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX)),
            Window::Calendar { .. } if self.end_ms <= now_ms => i64::MAX,
            Window::Calendar { .. } => i64::MIN,
        };
        self.entries.values().filter(move |e| e.time_ms > cutoff)
    }

    /// Whether nothing is reserved.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Set `request_id`'s reservation.
    pub fn insert(&mut self, request_id: &str, entry: Entry) {
        self.remove(request_id);
        self.total = self.total.saturating_add(entry.units);
        self.order.insert((entry.time_ms, request_id.to_owned()));
        self.entries.insert(request_id.to_owned(), entry);
    }

    /// Drop `request_id`'s reservation.
    pub fn remove(&mut self, request_id: &str) {
        if let Some(old) = self.entries.remove(request_id) {
            self.total = self.total.saturating_sub(old.units);
            self.order.remove(&(old.time_ms, request_id.to_owned()));
        }
    }

    /// The row that stores `entry` for `request_id`.
    pub fn row(&self, instance: &str, request_id: &str, entry: &Entry) -> StateWrite {
        let stored = Stored {
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
            entry: entry.clone(),
        };
        StateWrite {
            table: StateTable::Charges,
            key: row_key(instance, entry.time_ms, request_id),
            // Plain structs of strings and numbers always serialize.
            value: Some(serde_json::to_vec(&stored).unwrap_or_default()),
        }
    }

    /// Drop what is outside the window at `now_ms` (a rolling window's
    /// old reservations; everything of a calendar window that ended),
    /// adding the row removals to `writes` and the (instance, request)
    /// pairs to `gone`.
    pub fn prune(
        &mut self,
        now_ms: i64,
        instance: &str,
        writes: &mut Vec<StateWrite>,
        gone: &mut Vec<(String, String)>,
    ) {
        let cutoff = match self.window {
            // (now - ms, now]: a reservation at exactly now - ms is out.
            Window::Rolling { ms } => now_ms.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX)),
            Window::Calendar { .. } if self.end_ms <= now_ms => i64::MAX,
            Window::Calendar { .. } => return,
        };
        while let Some((time_ms, request_id)) = self.order.first().cloned() {
            if time_ms > cutoff {
                break;
            }
            self.remove(&request_id);
            writes.push(StateWrite {
                table: StateTable::Charges,
                key: row_key(instance, time_ms, &request_id),
                value: None,
            });
            gone.push((instance.to_owned(), request_id));
        }
    }

    /// When `need` more units fit under `limit`, in ms from `now_ms`: for
    /// a rolling window, when enough of the oldest reservations leave it;
    /// for a calendar window, when the next one starts. `None` when they
    /// fit now, or never will.
    pub fn retry_after(&self, now_ms: i64, need: i64, limit: i64) -> Option<u64> {
        if need > limit {
            return None;
        }
        let excess = self.total.saturating_add(need).saturating_sub(limit);
        if excess <= 0 {
            // It fits now: there is nothing to wait for.
            return None;
        }
        match self.window {
            Window::Calendar { .. } => u64::try_from(self.end_ms.saturating_sub(now_ms)).ok(),
            Window::Rolling { ms } => {
                let ms = i64::try_from(ms).unwrap_or(i64::MAX);
                let mut freed = 0i64;
                for (time_ms, request_id) in &self.order {
                    freed =
                        freed.saturating_add(self.entries.get(request_id).map_or(0, |e| e.units));
                    if freed >= excess {
                        // It leaves the window (now - ms, now] when now = time + ms.
                        return u64::try_from(time_ms.saturating_add(ms).saturating_sub(now_ms))
                            .ok();
                    }
                }
                None
            }
        }
    }

    /// The counter as `gavel usage` shows it.
    pub fn usage(&self, now_ms: i64) -> UsageRow {
        let (mut used, mut reserved) = (0i64, 0i64);
        for e in self.live_entries(now_ms) {
            if e.settled_at(now_ms).is_some() {
                used = used.saturating_add(e.units);
            } else {
                reserved = reserved.saturating_add(e.units);
            }
        }
        let (start_ms, end_ms) = match self.window {
            Window::Calendar { .. } => (Some(self.start_ms), Some(self.end_ms)),
            Window::Rolling { .. } => (None, None),
        };
        UsageRow {
            counter: self.counter.clone(),
            kind: self.kind,
            scope: self.scope,
            subject: self.subject.clone(),
            window: self.window.clone(),
            window_start_ms: start_ms,
            window_end_ms: end_ms,
            used: amount(used),
            reserved: amount(reserved),
            limit: self.limit,
            left: amount(
                units(self.limit)
                    .saturating_sub(used.saturating_add(reserved))
                    .max(0),
            ),
            reservations: self.live_entries(now_ms).count(),
        }
    }
}
