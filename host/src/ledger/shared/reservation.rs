//! The ledger's operations when its counters are [`SharedCounters`]:
//! reserve, undo, plan and apply, with the same results as in memory.
//!
//! A failure to reach Redis never approves: a reservation that cannot be
//! made is a `usage-unavailable` stop. A change that cannot be applied
//! after its record was committed (an approval, a release, an outcome)
//! leaves the reservation as it was, which over-counts: the safe side.

use super::{Planned, SharedCounters};
use crate::ledger::check::{ChargeRecord, Judgement, judge, usage_unavailable};
use crate::ledger::counter::{Entry, EntryStatus};
use crate::ledger::{
    Change, ChargeKind, Ledger, Plan, PolicyCharge, Reservation, SettleError, Who, Window, amount,
    calendar_bounds, counter_invalid, instance_key, scope_missing, stopped, subject,
};

impl Ledger {
    /// [`Ledger::reserve`] against the shared counters.
    pub(in crate::ledger) fn reserve_shared(
        &self,
        shared: &SharedCounters,
        request_id: &str,
        who: Who<'_>,
        charges: &[PolicyCharge],
        now_ms: i64,
        escalating: bool,
    ) -> Reservation {
        let mut planned = Vec::with_capacity(charges.len());
        for pc in charges {
            let c = &pc.charge;
            let Some(subject) = subject(c.scope, who) else {
                return stopped(Vec::new(), scope_missing(&pc.policy, c), Vec::new());
            };
            let bounds = match &c.window {
                Window::Calendar { period, timezone } => self
                    .lock()
                    .zone(timezone)
                    .and_then(|tz| calendar_bounds(*period, &tz, now_ms)),
                Window::Rolling { .. } => Ok((i64::MIN, i64::MAX)),
            };
            let (start_ms, end_ms) = match bounds {
                Ok(b) => b,
                Err(e) => {
                    return stopped(Vec::new(), counter_invalid(&pc.policy, c, &e), Vec::new());
                }
            };
            planned.push(Planned {
                charge: c,
                instance: instance_key(c, &subject, start_ms),
                start_ms,
                end_ms,
                subject,
            });
        }
        let settle_at_ms = now_ms.saturating_add(self.settle_after_ms);
        let (reserved, seen) =
            match shared.reserve(request_id, &planned, now_ms, escalating, settle_at_ms) {
                Ok(answer) => answer,
                Err(e) => {
                    return stopped(Vec::new(), usage_unavailable(&e.to_string()), Vec::new());
                }
            };
        let records: Vec<ChargeRecord> = charges
            .iter()
            .zip(&planned)
            .zip(&seen)
            .map(|((pc, p), s)| ChargeRecord {
                policy: pc.policy.clone(),
                charge: pc.charge.clone(),
                subject: p.subject.clone(),
                before: amount(s.before),
                duplicate: s.duplicate,
                retry_after_ms: s.retry_after_ms,
            })
            .collect();
        let mut made: Vec<String> = Vec::new();
        for (p, s) in planned.iter().zip(&seen) {
            if !s.duplicate && !made.contains(&p.instance) {
                made.push(p.instance.clone());
            }
        }
        let judgement = judge(&records);
        match (&judgement, reserved) {
            (Judgement::Fits(_), true) => Reservation {
                records,
                judgement,
                writes: Vec::new(),
                reserved: true,
                made,
            },
            (Judgement::Fits(_), false) if made.is_empty() => Reservation {
                records,
                judgement,
                writes: Vec::new(),
                reserved: false,
                made: Vec::new(),
            },
            (Judgement::Fits(_), false) => {
                // The server found a limit passed that the records do not
                // show: never approve without the reservation.
                let stop = usage_unavailable(&format!(
                    "the counters at {} did not reserve charges that fit; refused",
                    shared.server()
                ));
                stopped(records, stop, Vec::new())
            }
            (Judgement::Stops(_), true) => {
                let reservation = Reservation {
                    records,
                    judgement,
                    writes: Vec::new(),
                    reserved: true,
                    made,
                };
                undo(shared, request_id, &reservation);
                Reservation {
                    reserved: false,
                    made: Vec::new(),
                    ..reservation
                }
            }
            (Judgement::Stops(_), false) => Reservation {
                records,
                judgement,
                writes: Vec::new(),
                reserved: false,
                made: Vec::new(),
            },
        }
    }
}

/// Take back what a reservation made (its record could not be written).
pub fn undo(shared: &SharedCounters, request_id: &str, reservation: &Reservation) {
    let changes: Vec<(String, Option<Entry>)> =
        reservation.made.iter().map(|i| (i.clone(), None)).collect();
    if let Err(e) = shared.change(request_id, &changes) {
        tracing::warn!(request_id, error = %e, "a reservation whose record failed could not be taken back; it counts until its window ends");
    }
}

/// Plan a change of every reservation `request_id` holds.
pub fn plan(
    shared: &SharedCounters,
    request_id: &str,
    next: impl Fn(ChargeKind, &Entry) -> Result<Option<Entry>, SettleError>,
) -> Result<Plan, SettleError> {
    let held = match shared.held(request_id) {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(request_id, error = %e, "the reservations of a request could not be read; they stay as they are");
            return Ok(Plan::default());
        }
    };
    let mut plan = Plan::default();
    for h in held {
        let after = next(h.meta.kind(), &h.entry)?;
        plan.changes.push(Change {
            instance: h.instance,
            request_id: request_id.to_owned(),
            next: after,
        });
    }
    Ok(plan)
}

/// Apply a plan whose record was committed.
pub fn apply(shared: &SharedCounters, plan: Plan) {
    let Some(first) = plan.changes.first() else {
        return;
    };
    let request_id = first.request_id.clone();
    let changes: Vec<(String, Option<Entry>)> = plan
        .changes
        .into_iter()
        .filter(|c| c.request_id == request_id)
        .map(|c| (c.instance, c.next))
        .collect();
    if let Err(e) = shared.change(&request_id, &changes) {
        let held = changes
            .iter()
            .any(|(_, n)| n.as_ref().is_some_and(|e| e.status == EntryStatus::Open));
        tracing::warn!(
            request_id,
            error = %e,
            approval = held,
            "a recorded change of reservations could not be applied to the shared counters; they stay as they were (counted)"
        );
    }
}
