//! An escalated call waiting for its reviewer: progress notifications
//! while it waits, cancellation, and the answer (forward, once; or a
//! refusal naming the escalation).

use super::approvals::Held;
use super::gateway::{CallContext, Gateway};
use super::refusal::Refusal;
use crate::escalation::EscalationStatus;
use crate::log::now_ms;
use rmcp::ErrorData;
use rmcp::model::ProgressNotificationParam;
use std::time::Duration;

/// How often a waiting call tells its client it is still waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

impl Gateway {
    /// Wait for the reviewer of `held`, at most the configured wait and
    /// never past the escalation's deadline. `Ok(Ok(seq))`: approved and
    /// taken by this call, forward it.
    pub(super) async fn await_review(
        &self,
        digest: &str,
        held: Held,
        context: &CallContext,
    ) -> Result<Result<Option<u64>, Refusal>, ErrorData> {
        let escalations = self.runtime.escalations();
        let until = tokio::time::Instant::now() + self.options.escalation_wait;
        let mut ticks = 0u32;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let slice = left.min(PROGRESS_EVERY);
            let seen = tokio::select! {
                seen = escalations.wait(&held.escalation, slice) => seen,
                () = context.cancel.cancelled() => {
                    return Err(ErrorData::internal_error("the call was cancelled", None));
                }
            };
            let Some(escalation) = seen else {
                self.approvals.take(digest, &held.escalation);
                return Ok(Err(review_refusal(
                    &held,
                    "escalation-unknown",
                    "the escalation is gone",
                )));
            };
            match escalation.status {
                EscalationStatus::Approved => {
                    if self.approvals.take(digest, &held.escalation) {
                        return Ok(Ok(held.seq));
                    }
                    return Ok(Err(review_refusal(
                        &held,
                        "escalation-spent",
                        "the reviewer's approval was already used by an identical call",
                    )));
                }
                EscalationStatus::Denied | EscalationStatus::Expired => {
                    self.approvals.take(digest, &held.escalation);
                    let (code, what) = match escalation.status {
                        EscalationStatus::Denied => ("escalation-denied", "a reviewer denied it"),
                        _ => (
                            "escalation-expired",
                            "no reviewer answered before its deadline",
                        ),
                    };
                    let mut message = what.to_owned();
                    if let Some(r) = &escalation.resolution {
                        if let Some(who) = &r.reviewer {
                            message.push_str(&format!(" ({who})"));
                        }
                        if !r.comment.is_empty() {
                            message.push_str(&format!(": {}", r.comment));
                        }
                    }
                    return Ok(Err(review_refusal(&held, code, &message)));
                }
                EscalationStatus::Pending => {}
            }
            let deadline_passed = escalation.deadline_ms <= now_ms();
            if left.is_zero() || deadline_passed {
                let mut refusal = review_refusal(
                    &held,
                    "escalation-pending",
                    "still waiting for a reviewer; call again with the same arguments to pick up the answer",
                );
                refusal.verdict = "escalate";
                return Ok(Err(refusal));
            }
            ticks = ticks.saturating_add(1);
            if let Some((peer, token)) = &context.progress {
                let note =
                    ProgressNotificationParam::new(token.clone(), f64::from(ticks)).with_message(
                        format!("waiting for a reviewer (escalation {})", held.escalation),
                    );
                if let Err(e) = peer.notify_progress(note).await {
                    tracing::debug!("cannot send progress: {e}");
                }
            }
        }
    }
}

fn review_refusal(held: &Held, code: &str, message: &str) -> Refusal {
    let mut refusal = Refusal::own("deny", code, message.to_owned(), &held.request_id);
    refusal.seq = held.seq;
    refusal.escalation = Some(held.escalation.clone());
    refusal
}
