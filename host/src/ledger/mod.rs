//! The ledger: counters that policies charge (budgets and rates), reserved
//! atomically when a decision approves.
//!
//! - **Atomic.** [`Ledger::reserve`] takes one lock, checks every charge of
//!   a decision against its counter, then reserves all of them or none. 64
//!   concurrent callers against a budget of 1,000 with charges of 10 get
//!   exactly 100 approves.
//! - **Durable.** Each reservation is a row of the log's `charges` table,
//!   written in the same transaction as the decision record that makes it
//!   (and removed in the transaction of the record that releases it), so
//!   after a crash the counters are exactly what the log's approves
//!   charged. A runtime rebuilds them from that table when it starts.
//! - **Only approves count.** A decision that is denied (by a policy, by a
//!   limit, or because its record could not be written) reserves nothing.
//! - **Idempotent.** A request id already charged on a counter is not
//!   charged again.
//! - **Held while escalated.** An escalated decision's reservation is held
//!   until a reviewer answers: approved keeps it, denied or expired frees
//!   it.
//! - **Outcomes.** A reservation stays open until the host reports what
//!   happened, or until it settles as charged after `settle_after`:
//!   `failed` frees it, an actual amount replaces the estimate.
//! - **Exact windows.** Calendar windows follow their time zone; rolling
//!   windows count every reservation in `(now - N, now]`, so no span of N
//!   ever holds more than the limit.

mod charge;
mod check;
mod counter;
pub mod shared;
mod usage;
mod window;

pub use charge::{
    Charge, ChargeKind, MAX_AMOUNT, MAX_CHARGES_PER_OUTCOME, MAX_ROLLING_MS, Period, Window,
    amount, units,
};
pub use check::{
    BUDGET_EXCEEDED, BUDGET_NEAR_LIMIT, COUNTER_INVALID, ChargeRecord, Judgement, RATE_LIMITED,
    SCOPE_MISSING, Stop, USAGE_UNAVAILABLE, counter_invalid, judge, scope_missing,
    usage_unavailable,
};
pub use counter::{Entry, EntryStatus};
pub use shared::escalations::Claim;
pub use shared::link::DEFAULT_TIMEOUT as DEFAULT_USAGE_TIMEOUT;
pub use shared::{SharedCounters, UsageError};
pub use usage::UsageRow;
pub use window::{calendar_bounds, time_zone};

use crate::history::Scope;
use crate::identifier::identifier_key;
use crate::log::{CHARGES, LogError, StateTable, StateWrite};
use counter::{Counter, Stored};
use jiff::tz::TimeZone;
use redb::{ReadableDatabase, ReadableTable};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a reservation waits for an outcome before it settles as
/// charged, unless configured otherwise.
pub const DEFAULT_SETTLE_AFTER: Duration = Duration::from_secs(3600);

/// Reservations between sweeps of expired counters.
const SWEEP_EVERY: u64 = 1024;

/// Whose counters a request charges.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// The agent.
    pub agent: &'a str,
    /// The session, if any.
    pub session: Option<&'a str>,
    /// The user, if any.
    pub user: Option<&'a str>,
}

/// A policy's charge, as a decision hands it to the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyCharge {
    /// The policy.
    pub policy: String,
    /// The charge.
    pub charge: Charge,
}

/// What [`Ledger::reserve`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    /// Each charge and its counter before it (for the log record).
    pub records: Vec<ChargeRecord>,
    /// Fits (maybe escalating) or stops.
    pub judgement: Judgement,
    /// The table rows to write with the decision record (reservations
    /// made, and expired ones removed).
    pub writes: Vec<StateWrite>,
    /// Whether anything was reserved (to undo if the record fails).
    pub reserved: bool,
    /// The counter instances this reservation made entries in.
    made: Vec<String>,
}

/// A change of one reservation, planned before its record is written and
/// applied after.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    instance: String,
    request_id: String,
    next: Option<Entry>,
}

/// A planned change of a request's reservations: the rows for its record,
/// and what to apply once it is committed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Rows to write with the record.
    pub writes: Vec<StateWrite>,
    /// Changes to apply after the commit.
    pub changes: Vec<Change>,
}

/// Why an outcome cannot change a reservation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    /// The reservation already settled as charged.
    #[error(
        "the decision's reservation settled as charged at {at_ms} (UTC ms); its charges can no longer change"
    )]
    Settled {
        /// When it settled.
        at_ms: i64,
    },
}

#[derive(Debug, Default)]
struct State {
    counters: HashMap<String, Counter>,
    /// request id → the counter instances holding its reservations.
    by_request: HashMap<String, Vec<String>>,
    zones: HashMap<String, TimeZone>,
    reserves: u64,
}

/// Every live counter, and how many reservations are held, open and
/// settled.
pub type Snapshot = (Vec<UsageRow>, (u64, u64, u64));

/// Every counter: in memory, backed by the log's `charges` table; or, with
/// [`SharedCounters`], in Redis, shared by every node.
#[derive(Debug)]
pub struct Ledger {
    state: Mutex<State>,
    settle_after_ms: i64,
    shared: Option<SharedCounters>,
}

impl Ledger {
    /// An empty ledger (for tests and evaluations outside a runtime).
    pub fn new(settle_after: Duration) -> Self {
        Ledger {
            state: Mutex::new(State::default()),
            settle_after_ms: i64::try_from(settle_after.as_millis()).unwrap_or(i64::MAX),
            shared: None,
        }
    }

    /// A ledger whose counters live in Redis (nothing is kept in the
    /// log's `charges` table).
    pub fn shared(counters: SharedCounters, settle_after: Duration) -> Self {
        Ledger {
            shared: Some(counters),
            ..Ledger::new(settle_after)
        }
    }

    /// The shared counters, when they are in Redis.
    pub fn shared_counters(&self) -> Option<&SharedCounters> {
        self.shared.as_ref()
    }

    /// The shared counters' server, when the counters are in Redis.
    pub fn shared_server(&self) -> Option<&str> {
        self.shared.as_ref().map(SharedCounters::server)
    }

    /// Rebuild the counters from the `charges` table.
    pub fn load(db: &impl ReadableDatabase, settle_after: Duration) -> Result<Self, LogError> {
        let ledger = Ledger::new(settle_after);
        let storage = |e: &dyn std::fmt::Display| LogError::Storage(e.to_string());
        let txn = db.begin_read().map_err(|e| storage(&e))?;
        let table = txn.open_table(CHARGES).map_err(|e| storage(&e))?;
        {
            let mut state = ledger.lock();
            for row in table.iter().map_err(|e| storage(&e))? {
                let (key, value) = row.map_err(|e| storage(&e))?;
                let stored: Stored = serde_json::from_slice(value.value()).map_err(|e| {
                    LogError::Encode(format!("stored charge `{}`: {e}", key.value()))
                })?;
                let instance = stored.instance.clone();
                let request_id = stored.request_id.clone();
                let counter = state
                    .counters
                    .entry(instance.clone())
                    .or_insert_with(|| Counter::from_stored(&stored));
                counter.insert(&request_id, stored.entry);
                state
                    .by_request
                    .entry(request_id)
                    .or_default()
                    .push(instance);
            }
        }
        Ok(ledger)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Check every charge of one decision and reserve all of them or none
    /// (see the module documentation). `escalating`: the policies'
    /// verdict is already escalate, so the reservation is held.
    pub fn reserve(
        &self,
        request_id: &str,
        who: Who<'_>,
        charges: &[PolicyCharge],
        now_ms: i64,
        escalating: bool,
    ) -> Reservation {
        if let Some(shared) = &self.shared {
            return self.reserve_shared(shared, request_id, who, charges, now_ms, escalating);
        }
        let mut state = self.lock();
        let mut writes = Vec::new();
        state.reserves += 1;
        if state.reserves.is_multiple_of(SWEEP_EVERY) {
            state.sweep(now_ms, &mut writes);
        }
        let mut records = Vec::with_capacity(charges.len());
        // instance → (units this decision adds, the counter to create)
        let mut planned: Vec<(String, i64, Option<Counter>)> = Vec::new();
        for pc in charges {
            let c = &pc.charge;
            let Some(subject) = subject(c.scope, who) else {
                return stopped(records, scope_missing(&pc.policy, c), writes);
            };
            let bounds = match &c.window {
                Window::Calendar { period, timezone } => state
                    .zone(timezone)
                    .and_then(|tz| calendar_bounds(*period, &tz, now_ms)),
                Window::Rolling { .. } => Ok((i64::MIN, i64::MAX)),
            };
            let (start_ms, end_ms) = match bounds {
                Ok(b) => b,
                Err(e) => return stopped(records, counter_invalid(&pc.policy, c, &e), writes),
            };
            let instance = instance_key(c, &subject, start_ms);
            let add = units(c.amount);
            let already: i64 = planned
                .iter()
                .filter(|(i, _, _)| *i == instance)
                .map(|(_, u, _)| *u)
                .sum();
            let (before, duplicate, retry_after_ms) = match state.counters.get_mut(&instance) {
                Some(counter) => {
                    counter.prune(now_ms, &instance, &mut writes, &mut Vec::new());
                    (
                        counter.total.saturating_add(already),
                        counter.holds(request_id),
                        counter.retry_after(now_ms, add.saturating_add(already), units(c.limit)),
                    )
                }
                None => (
                    already,
                    false,
                    Counter::new(c, &subject, start_ms, end_ms).retry_after(
                        now_ms,
                        add.saturating_add(already),
                        units(c.limit),
                    ),
                ),
            };
            records.push(ChargeRecord {
                policy: pc.policy.clone(),
                charge: c.clone(),
                subject: subject.clone(),
                before: amount(before),
                duplicate,
                retry_after_ms,
            });
            if !duplicate {
                let fresh = (!state.counters.contains_key(&instance))
                    .then(|| Counter::new(c, &subject, start_ms, end_ms));
                planned.push((instance, add, fresh));
            }
        }
        let judgement = judge(&records);
        let Judgement::Fits(near) = &judgement else {
            return Reservation {
                records,
                judgement,
                writes,
                reserved: false,
                made: Vec::new(),
            };
        };
        let hold = escalating || !near.is_empty();
        let entry = |units: i64| Entry {
            time_ms: now_ms,
            units,
            status: if hold {
                EntryStatus::Held
            } else {
                EntryStatus::Open
            },
            settle_at_ms: now_ms.saturating_add(self.settle_after_ms),
        };
        let mut made = Vec::new();
        for (instance, add, fresh) in planned {
            let State {
                counters,
                by_request,
                ..
            } = &mut *state;
            let counter = match fresh {
                Some(c) => counters.entry(instance.clone()).or_insert(c),
                None => match counters.get_mut(&instance) {
                    Some(c) => c,
                    None => continue,
                },
            };
            let units = counter.get(request_id).map_or(0, |e| e.units) + add;
            let e = entry(units);
            writes.push(counter.row(&instance, request_id, &e));
            counter.insert(request_id, e);
            let held = by_request.entry(request_id.to_owned()).or_default();
            if !held.contains(&instance) {
                held.push(instance.clone());
            }
            if !made.contains(&instance) {
                made.push(instance);
            }
        }
        Reservation {
            records,
            judgement,
            writes,
            reserved: !made.is_empty(),
            made,
        }
    }

    /// Take back what [`Ledger::reserve`] reserved for `request_id` (its
    /// record could not be written). Reservations the request already
    /// held before (a duplicate) stay.
    pub fn undo(&self, request_id: &str, reservation: &Reservation) {
        if !reservation.reserved {
            return;
        }
        if let Some(shared) = &self.shared {
            return shared::reservation::undo(shared, request_id, reservation);
        }
        let mut state = self.lock();
        for instance in &reservation.made {
            state.remove(instance, request_id);
        }
    }

    /// Plan freeing every reservation of `request_id` (a failed outcome, a
    /// denied or expired escalation). Apply with [`Ledger::apply`] once
    /// the record is committed.
    pub fn plan_release(&self, request_id: &str) -> Plan {
        self.plan(request_id, |_, _| Ok(None)).unwrap_or_default()
    }

    /// Plan a reviewer's approval of a held reservation: it becomes open,
    /// settling after the configured time from `now_ms`.
    pub fn plan_approve(&self, request_id: &str, now_ms: i64) -> Plan {
        let settle_at_ms = now_ms.saturating_add(self.settle_after_ms);
        self.plan(request_id, |_, e| {
            Ok(Some(Entry {
                status: EntryStatus::Open,
                settle_at_ms,
                ..e.clone()
            }))
        })
        .unwrap_or_default()
    }

    /// Plan an outcome: `failed` frees the reservations; `completed`
    /// settles them, with `actual` (if given) replacing the estimated
    /// amount on budget counters. A reservation that already settled
    /// cannot be freed or changed.
    pub fn plan_outcome(
        &self,
        request_id: &str,
        failed: bool,
        actual: Option<f64>,
        now_ms: i64,
    ) -> Result<Plan, SettleError> {
        self.plan(request_id, |kind, e| {
            if let Some(at_ms) = e.settled_at(now_ms) {
                if failed || actual.is_some() {
                    return Err(SettleError::Settled { at_ms });
                }
                return Ok(Some(e.clone()));
            }
            if failed {
                return Ok(None);
            }
            let units = match (kind, actual) {
                (ChargeKind::Budget, Some(a)) => units(a),
                _ => e.units,
            };
            Ok(Some(Entry {
                units,
                status: EntryStatus::Final,
                ..e.clone()
            }))
        })
    }

    fn plan(
        &self,
        request_id: &str,
        next: impl Fn(ChargeKind, &Entry) -> Result<Option<Entry>, SettleError>,
    ) -> Result<Plan, SettleError> {
        if let Some(shared) = &self.shared {
            return shared::reservation::plan(shared, request_id, next);
        }
        let state = self.lock();
        let mut plan = Plan::default();
        for instance in state.by_request.get(request_id).into_iter().flatten() {
            let Some(counter) = state.counters.get(instance) else {
                continue;
            };
            let Some(entry) = counter.get(request_id) else {
                continue;
            };
            let after = next(counter.kind, entry)?;
            plan.writes.push(match &after {
                Some(e) => counter.row(instance, request_id, e),
                None => StateWrite {
                    table: StateTable::Charges,
                    key: counter::row_key(instance, entry.time_ms, request_id),
                    value: None,
                },
            });
            plan.changes.push(Change {
                instance: instance.clone(),
                request_id: request_id.to_owned(),
                next: after,
            });
        }
        Ok(plan)
    }

    /// Apply a plan whose record was committed.
    pub fn apply(&self, plan: Plan) {
        if let Some(shared) = &self.shared {
            return shared::reservation::apply(shared, plan);
        }
        let mut state = self.lock();
        for change in plan.changes {
            match change.next {
                Some(entry) => {
                    if let Some(counter) = state.counters.get_mut(&change.instance) {
                        counter.insert(&change.request_id, entry);
                    }
                }
                None => state.remove(&change.instance, &change.request_id),
            }
        }
    }

    /// Every live counter (used, reserved and limit) and how many
    /// reservations are held, open and settled, at `now_ms`; an error
    /// when the shared counters cannot be read.
    pub fn snapshot(&self, now_ms: i64) -> Result<Snapshot, UsageError> {
        match &self.shared {
            Some(shared) => {
                let counters = shared.counters(now_ms)?;
                Ok((
                    usage_rows(counters.iter(), now_ms),
                    counts(counters.iter(), now_ms),
                ))
            }
            None => Ok((self.usage(now_ms), self.reservation_counts(now_ms))),
        }
    }

    /// Every live counter: used, reserved and limit, at `now_ms` (none
    /// when the shared counters cannot be read: see [`Ledger::snapshot`]).
    pub fn usage(&self, now_ms: i64) -> Vec<UsageRow> {
        if self.shared.is_some() {
            return self.snapshot(now_ms).map(|s| s.0).unwrap_or_default();
        }
        let mut state = self.lock();
        let mut ignored = Vec::new();
        state.sweep(now_ms, &mut ignored);
        // The sweep's removals are in memory only here; the rows go with
        // the next decision's sweep (a removed row is not counted anyway).
        usage_rows(state.counters.values(), now_ms)
    }

    /// How many reservations are held (escalations pending), open
    /// (waiting for an outcome) and settled, at `now_ms`.
    pub fn reservation_counts(&self, now_ms: i64) -> (u64, u64, u64) {
        if self.shared.is_some() {
            return self.snapshot(now_ms).map(|s| s.1).unwrap_or_default();
        }
        counts(self.lock().counters.values(), now_ms)
    }
}

fn usage_rows<'a>(counters: impl Iterator<Item = &'a Counter>, now_ms: i64) -> Vec<UsageRow> {
    let mut rows: Vec<UsageRow> = counters.map(|c| c.usage(now_ms)).collect();
    rows.sort_by(|a, b| (&a.counter, a.scope, &a.subject).cmp(&(&b.counter, b.scope, &b.subject)));
    rows
}

fn counts<'a>(counters: impl Iterator<Item = &'a Counter>, now_ms: i64) -> (u64, u64, u64) {
    let mut counts = (0, 0, 0);
    for c in counters {
        for e in c.live_entries(now_ms) {
            match e.status {
                EntryStatus::Held => counts.0 += 1,
                EntryStatus::Open if e.settled_at(now_ms).is_none() => counts.1 += 1,
                _ => counts.2 += 1,
            }
        }
    }
    counts
}

impl State {
    fn zone(&mut self, name: &str) -> Result<TimeZone, String> {
        if let Some(tz) = self.zones.get(name) {
            return Ok(tz.clone());
        }
        let tz = time_zone(name)?;
        if self.zones.len() < 1024 {
            self.zones.insert(name.to_owned(), tz.clone());
        }
        Ok(tz)
    }

    fn remove(&mut self, instance: &str, request_id: &str) {
        if let Some(counter) = self.counters.get_mut(instance) {
            counter.remove(request_id);
        }
        if let Some(list) = self.by_request.get_mut(request_id) {
            list.retain(|i| i != instance);
            if list.is_empty() {
                self.by_request.remove(request_id);
            }
        }
    }

    /// Drop expired reservations and counters, adding their row removals
    /// to `writes`.
    fn sweep(&mut self, now_ms: i64, writes: &mut Vec<StateWrite>) {
        let mut gone = Vec::new();
        let mut empty = Vec::new();
        for (instance, counter) in &mut self.counters {
            counter.prune(now_ms, instance, writes, &mut gone);
            if counter.is_empty() {
                empty.push(instance.clone());
            }
        }
        for instance in empty {
            self.counters.remove(&instance);
        }
        for (instance, request_id) in gone {
            if let Some(list) = self.by_request.get_mut(&request_id) {
                list.retain(|i| *i != instance);
                if list.is_empty() {
                    self.by_request.remove(&request_id);
                }
            }
        }
    }
}

/// The id a charge's scope picks from the request.
fn subject(scope: Scope, who: Who<'_>) -> Option<String> {
    match scope {
        Scope::Agent => Some(identifier_key(who.agent)),
        Scope::Session => who.session.map(str::to_owned),
        Scope::User => who.user.map(str::to_owned),
        Scope::Fleet => Some("*".to_owned()),
    }
}

/// One counter instance: name, scope, subject and window.
fn instance_key(c: &Charge, subject: &str, start_ms: i64) -> String {
    let window = match &c.window {
        Window::Calendar { period, timezone } => {
            format!("{}@{timezone}@{start_ms}", period.as_str())
        }
        Window::Rolling { ms } => format!("rolling@{ms}"),
    };
    format!(
        "{}|{}|{}|{subject}|{window}",
        identifier_key(&c.counter),
        c.kind.as_str(),
        c.scope.as_str()
    )
}

fn stopped(records: Vec<ChargeRecord>, stop: Stop, writes: Vec<StateWrite>) -> Reservation {
    Reservation {
        records,
        judgement: Judgement::Stops(stop),
        writes,
        reserved: false,
        made: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
