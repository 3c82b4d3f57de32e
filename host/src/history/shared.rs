//! [`SharedActivity`]: the approved and completed actions policies ask
//! about (prerequisites, sequences), in Redis next to the shared counters,
//! so that what an agent did through one node counts on every node.
//!
//! - Approved actions: one sorted set per scope and subject (agent,
//!   session, user, fleet), scored by time, each member
//!   `time:nonce:amount:action`; trimmed to [`MAX_FACT_WINDOW_MS`] on write
//!   and expiring after it.
//! - Completed actions: one sorted set per session.
//! - A question Redis cannot answer is an error to the policy (which fails
//!   closed on it), never an empty answer.

use super::activity::{
    ApprovedAction, HistoryRecord, HistoryView, Subject, scope_subject, window_start,
};
use super::fact::{MAX_FACT_WINDOW_MS, Scope, Tally};
use crate::action_pattern::ActionPattern;
use crate::identifier::identifier_key;
use crate::ledger::shared::KEY_PREFIX;
use crate::ledger::shared::link::RedisLink;
use std::sync::Arc;

/// Most approved actions one question reads; past it the answer is an
/// error, never a short count.
pub const MAX_READ: usize = 200_000;

/// Approved and completed actions in Redis.
#[derive(Debug)]
pub struct SharedActivity {
    link: Arc<RedisLink>,
}

fn window_ms() -> i64 {
    i64::try_from(MAX_FACT_WINDOW_MS).unwrap_or(i64::MAX)
}

fn approved_key(scope: Scope, subject: &str) -> String {
    format!("{KEY_PREFIX}act:{}:{subject}", scope.as_str())
}

fn completed_key(session: &str) -> String {
    format!("{KEY_PREFIX}done:{session}")
}

impl SharedActivity {
    /// On the shared counters' link.
    pub fn new(link: Arc<RedisLink>) -> Self {
        SharedActivity { link }
    }
}

impl HistoryRecord for SharedActivity {
    fn record_approved(&self, act: &ApprovedAction) {
        let amount = act.amount.filter(|a| a.is_finite()).unwrap_or(0.0);
        let member = format!(
            "{}:{}:{amount}:{}",
            act.time_ms,
            hex::encode(rand::random::<[u8; 6]>()),
            identifier_key(&act.action)
        );
        let keys = [
            Some(approved_key(Scope::Agent, &identifier_key(&act.agent))),
            act.session
                .as_ref()
                .map(|s| approved_key(Scope::Session, s)),
            act.user.as_ref().map(|u| approved_key(Scope::User, u)),
            Some(approved_key(Scope::Fleet, "*")),
        ];
        let cutoff = act.time_ms.saturating_sub(window_ms());
        let mut pipe = redis::pipe();
        for key in keys.into_iter().flatten() {
            pipe.cmd("ZADD")
                .arg(&key)
                .arg(act.time_ms)
                .arg(&member)
                .ignore();
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(format!("({cutoff}"))
                .ignore();
            pipe.cmd("PEXPIRE").arg(&key).arg(window_ms()).ignore();
        }
        if let Err(e) = self.link.with(|con| pipe.exec(con)) {
            tracing::warn!(error = %e, action = %act.action, "an approved action could not be remembered in the shared history; questions about it will miss it");
        }
    }

    fn record_completed(&self, session: &str, action: &str, time_ms: i64) {
        let key = completed_key(session);
        let member = format!("{time_ms}:{}", identifier_key(action));
        let result = self.link.with(|con| {
            redis::pipe()
                .cmd("ZADD")
                .arg(&key)
                .arg(time_ms)
                .arg(&member)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(window_ms())
                .ignore()
                .exec(con)
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, session, action, "a completed action could not be remembered in the shared history");
        }
    }

    fn forget_completed(&self, session: &str, action: &str, time_ms: i64) {
        let member = format!("{time_ms}:{}", identifier_key(action));
        let result = self.link.with(|con| {
            redis::cmd("ZREM")
                .arg(completed_key(session))
                .arg(&member)
                .exec(con)
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, session, action, "a completion could not be forgotten in the shared history");
        }
    }
}

impl HistoryView for SharedActivity {
    fn approved(
        &self,
        subject: &Subject,
        scope: Scope,
        pattern: &ActionPattern,
        window_ms: u64,
    ) -> Result<Tally, String> {
        let start = window_start(subject, window_ms)?;
        let key = approved_key(scope, &scope_subject(subject, scope)?);
        let members: Vec<String> = self
            .link
            .with(|con| {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&key)
                    .arg(format!("({start}"))
                    .arg(subject.now_ms)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(MAX_READ + 1)
                    .query(con)
            })
            .map_err(|e| e.to_string())?;
        if members.len() > MAX_READ {
            return Err(format!(
                "more than {MAX_READ} approved actions in the window: too many to count"
            ));
        }
        let mut tally = Tally::default();
        for m in &members {
            let mut parts = m.splitn(4, ':');
            let (_, _, amount, action) = (parts.next(), parts.next(), parts.next(), parts.next());
            let (Some(amount), Some(action)) = (amount, action) else {
                return Err(format!("an unreadable remembered action: {m:?}"));
            };
            if pattern.matches(action) {
                tally.count += 1;
                tally.sum += amount.parse::<f64>().unwrap_or(0.0);
            }
        }
        Ok(tally)
    }

    fn completed(&self, subject: &Subject, pattern: &ActionPattern) -> Result<bool, String> {
        let session = subject
            .session
            .as_deref()
            .ok_or("the request has no session_id: completed actions are kept per session")?;
        let members: Vec<String> = self
            .link
            .with(|con| {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(completed_key(session))
                    .arg("-inf")
                    .arg(subject.now_ms)
                    .query(con)
            })
            .map_err(|e| e.to_string())?;
        Ok(members.iter().any(|m| {
            m.split_once(':')
                .is_some_and(|(_, action)| pattern.matches(action))
        }))
    }
}
