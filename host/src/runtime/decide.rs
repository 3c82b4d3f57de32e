//! Deciding: run the live policies, reserve the charges, record the
//! decision, then act on it (open the escalation, remember the approved
//! action, feed the breaker).
//!
//! [`Runtime::decide`] waits for the record on its thread;
//! [`Runtime::decide_async`] awaits it, so that a server's callers cost a
//! task each instead of a blocked thread (the policies themselves run on
//! the caller's thread either way: fuel and deadlines bound them).

use super::{Runtime, approved_action, charge_decision, entry, fail_closed, stopped};
use crate::decision::{Decision, Verdict};
use crate::escalation::{Escalation, EscalationStatus, EscalationTicket, Escalations};
use crate::generation::Generation;
use crate::history::HistoryView;
use crate::ledger::Reservation;
use crate::log::{Appended, LogError, LogEvent, StateWrite, now_ms};
use crate::policy_set::Facts;
use crate::request::Request;
use std::sync::Arc;

/// A decision made, and what it still needs.
enum Prepared {
    /// Answered without waiting for the log.
    Answered(Decision),
    /// To record, then [`Runtime::finish`].
    Record(Box<Pending>),
}

/// A decision's record, and what acting on it needs.
struct Pending {
    event: LogEvent,
    state: Vec<StateWrite>,
    after: Recorded,
}

/// What acting on a recorded decision needs.
struct Recorded {
    live: Arc<Generation>,
    decision: Decision,
    reservation: Option<Reservation>,
    opened: Option<Escalation>,
    now: i64,
}

impl Runtime {
    /// Decide and record, on the generation live when the call began. If
    /// the record cannot be written, the answer is a deny with code
    /// `log-unavailable`: nothing is ever approved without a trail. While
    /// a kill switch stops the agent, the answer is a deny with code
    /// `kill-switch`: no policy runs, and the record is queued without
    /// waiting for its commit, so the deny answers at once. An escalate opens an
    /// [`Escalation`], recorded in the same transaction as the decision.
    pub fn decide(&self, request: &Request) -> Decision {
        match self.prepare(request) {
            Prepared::Answered(decision) => decision,
            Prepared::Record(pending) => {
                let Pending {
                    event,
                    state,
                    after,
                } = *pending;
                let appended = self.log.append_with_state(&event, after.live.number, state);
                self.finish(request, after, appended)
            }
        }
    }

    /// [`Runtime::decide`] for an async caller: the same decision, and the
    /// task (not its thread) waits for the record.
    pub async fn decide_async(&self, request: &Request) -> Decision {
        match self.prepare(request) {
            Prepared::Answered(decision) => decision,
            Prepared::Record(pending) => {
                let Pending {
                    event,
                    state,
                    after,
                } = *pending;
                let appended = self
                    .log
                    .append_with_state_async(&event, after.live.number, state)
                    .await;
                self.finish(request, after, appended)
            }
        }
    }

    /// Run the policies and reserve the charges: the decision and its
    /// record, or the answer when nothing is to wait for.
    fn prepare(&self, request: &Request) -> Prepared {
        let live = self.live.load_full();
        if let Some((engagement, global)) = self.kill_switch.check(&request.agent_id) {
            // No policy runs, and the deny does not wait for the disk: it
            // is queued for the log whatever the mode (it has no `seq`).
            let mut decision = stopped(request, &engagement, global);
            decision.generation = live.number;
            let entry = entry(&live.redactor, request, &decision);
            if let Err(e) = self
                .log
                .append_queued(&LogEvent::Decision(entry), live.number)
            {
                return Prepared::Answered(fail_closed(decision, &e));
            }
            return Prepared::Answered(decision);
        }
        let now = now_ms();
        let view: Arc<dyn HistoryView> = self.activity.clone();
        let mut decision = live
            .set
            .evaluate_with(request, Facts::Live { view, now_ms: now });
        decision.generation = live.number;
        let reservation = charge_decision(&self.ledger, request, &mut decision, now);
        let mut entry = entry(&live.redactor, request, &decision);
        let mut state = reservation
            .as_ref()
            .map(|r| r.writes.clone())
            .unwrap_or_default();
        let mut opened = None;
        if decision.verdict == Verdict::Escalate {
            let timeout = i64::try_from(self.escalation_timeout.as_millis()).unwrap_or(i64::MAX);
            let ticket = EscalationTicket {
                id: Escalations::new_id(),
                deadline_ms: now.saturating_add(timeout),
            };
            let escalation = Escalation {
                id: ticket.id.clone(),
                status: EscalationStatus::Pending,
                request: entry.request.clone(),
                reasons: decision.reasons.clone(),
                created_ms: now,
                deadline_ms: ticket.deadline_ms,
                resolution: None,
            };
            match escalation.state_write() {
                Ok(write) => state.push(write),
                Err(e) => {
                    self.undo(request, reservation.as_ref());
                    return Prepared::Answered(fail_closed(decision, &e));
                }
            }
            entry.escalation = Some(ticket.clone());
            decision.escalation = Some(ticket);
            opened = Some(escalation);
        }
        Prepared::Record(Box::new(Pending {
            event: LogEvent::Decision(entry),
            state,
            after: Recorded {
                live,
                decision,
                reservation,
                opened,
                now,
            },
        }))
    }

    /// Act on a decision once its record is written (`appended`), or fail
    /// it closed and take its reservation back when it could not be.
    fn finish(
        &self,
        request: &Request,
        after: Recorded,
        appended: Result<Appended, LogError>,
    ) -> Decision {
        let Recorded {
            live,
            mut decision,
            reservation,
            opened,
            now,
        } = after;
        match appended {
            Ok(appended) => {
                decision.seq = match appended {
                    Appended::Committed(seq) => Some(seq),
                    Appended::Queued => None,
                };
                if let Some(escalation) = opened {
                    self.publish_to_fleet(&escalation);
                    self.escalations.insert(escalation);
                }
                if decision.verdict == Verdict::Approve {
                    self.activity
                        .record_approved(&approved_action(request, now));
                }
                if decision.verdict == Verdict::Deny {
                    self.breaker_saw_deny(&live, &request.agent_id, now);
                }
                decision
            }
            Err(e) => {
                self.undo(request, reservation.as_ref());
                fail_closed(decision, &e)
            }
        }
    }
}
