//! Rebuild [`Activity`] from the decision log when a runtime starts: the
//! approves, reviewer-approved escalations and completed outcomes of the
//! last [`MAX_FACT_WINDOW_MS`], so a restart forgets nothing a history
//! question may ask about.

use super::activity::{Activity, ApprovedAction};
use super::fact::MAX_FACT_WINDOW_MS;
use crate::decision::Verdict;
use crate::escalation::{EscalationStatus, Escalations};
use crate::log::{LogError, LogEvent, OutcomeStatus, TimeRange, export};
use redb::ReadableDatabase;
use std::ops::ControlFlow;

impl Activity {
    /// What the log says happened since `now_ms` minus 31 days.
    pub fn rebuild(
        db: &impl ReadableDatabase,
        escalations: &Escalations,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        let since = now_ms.saturating_sub(i64::try_from(MAX_FACT_WINDOW_MS).unwrap_or(i64::MAX));
        let activity = Activity::new(since);
        let window =
            TimeRange::new(Some(since), None).map_err(|e| LogError::Encode(e.to_string()))?;
        export(db, window, |record| {
            match &record.event {
                LogEvent::Decision(d) if d.verdict == Verdict::Approve => {
                    let r = &d.request;
                    activity.record_approved(&ApprovedAction {
                        time_ms: record.time_ms,
                        agent: r.agent_id.clone(),
                        session: r.session_id.clone(),
                        user: r.user_id.clone(),
                        action: r.action.clone(),
                        amount: r.amount,
                    });
                }
                LogEvent::EscalationResolved {
                    id,
                    status: EscalationStatus::Approved,
                    ..
                } => {
                    if let Some(e) = escalations.get(id) {
                        let r = &e.request;
                        activity.record_approved(&ApprovedAction {
                            time_ms: record.time_ms,
                            agent: r.agent_id.clone(),
                            session: r.session_id.clone(),
                            user: r.user_id.clone(),
                            action: r.action.clone(),
                            amount: r.amount,
                        });
                    }
                }
                LogEvent::Outcome {
                    status: OutcomeStatus::Completed,
                    session_id: Some(session),
                    action,
                    ..
                } => activity.record_completed(session, action, record.time_ms),
                _ => {}
            }
            ControlFlow::Continue(())
        })?;
        Ok(activity)
    }
}
