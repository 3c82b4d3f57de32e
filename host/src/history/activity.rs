//! [`Activity`]: the approved actions and completed outcomes the host
//! holds, which policies read as history facts.
//!
//! Held in memory, for the last [`MAX_FACT_WINDOW_MS`], and rebuilt from the
//! decision log when a runtime starts (see `Runtime::start_with`), so a
//! restart forgets nothing a question may ask about. At most
//! [`MAX_ACTIVITY`] approved actions are held; past that the oldest are
//! dropped, and a question whose window reaches back before what is held
//! gets an error, never a short count.

use super::fact::{MAX_FACT_WINDOW_MS, Scope, Tally};
use crate::action_pattern::ActionPattern;
use crate::identifier::identifier_key;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, PoisonError, RwLock};

/// Most approved actions held.
pub const MAX_ACTIVITY: usize = 1_000_000;

/// Inserts between sweeps of scopes nobody touched.
const SWEEP_EVERY: u64 = 4096;

/// Who is asking: the request a policy is judging, and the host's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The request's agent.
    pub agent: String,
    /// The request's session.
    pub session: Option<String>,
    /// The request's user.
    pub user: Option<String>,
    /// The decision time (UTC ms): windows end here.
    pub now_ms: i64,
}

/// What policies may ask about the past (see the `history` WIT interface).
pub trait HistoryView: Send + Sync + std::fmt::Debug {
    /// Approved actions matching `pattern` in `scope` within the last
    /// `window_ms`.
    fn approved(
        &self,
        subject: &Subject,
        scope: Scope,
        pattern: &ActionPattern,
        window_ms: u64,
    ) -> Result<Tally, String>;

    /// Whether an action matching `pattern` completed earlier in the
    /// subject's session.
    fn completed(&self, subject: &Subject, pattern: &ActionPattern) -> Result<bool, String>;
}

/// What the host remembers as actions are approved and complete.
pub trait HistoryRecord: HistoryView {
    /// Remember an approved action.
    fn record_approved(&self, act: &ApprovedAction);
    /// Remember that an approved action completed.
    fn record_completed(&self, session: &str, action: &str, time_ms: i64);
    /// Forget a completion (its outcome record could not be written).
    fn forget_completed(&self, session: &str, action: &str, time_ms: i64);
}

impl HistoryRecord for Activity {
    fn record_approved(&self, act: &ApprovedAction) {
        Activity::record_approved(self, act);
    }

    fn record_completed(&self, session: &str, action: &str, time_ms: i64) {
        Activity::record_completed(self, session, action, time_ms);
    }

    fn forget_completed(&self, session: &str, action: &str, time_ms: i64) {
        Activity::forget_completed(self, session, action, time_ms);
    }
}

/// One approved action.
#[derive(Debug, Clone)]
struct Act {
    time_ms: i64,
    action: Arc<str>,
    amount: f64,
}

/// An approved action to remember.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovedAction {
    /// When it was approved (UTC ms).
    pub time_ms: i64,
    /// Its agent.
    pub agent: String,
    /// Its session.
    pub session: Option<String>,
    /// Its user.
    pub user: Option<String>,
    /// Its action name.
    pub action: String,
    /// Its amount.
    pub amount: Option<f64>,
}

#[derive(Debug, Default)]
struct Inner {
    fleet: VecDeque<Act>,
    scoped: HashMap<(Scope, String), VecDeque<Act>>,
    /// session → (action key, when) of completed actions.
    completed: HashMap<String, Vec<(Arc<str>, i64)>>,
    /// Nothing before this time is held (UTC ms).
    horizon_ms: i64,
    inserts: u64,
}

/// The host's memory of approved and completed actions.
#[derive(Debug)]
pub struct Activity {
    inner: RwLock<Inner>,
}

impl Activity {
    /// Holding everything since `horizon_ms` (nothing yet): a fresh
    /// runtime's horizon is where its rebuild from the log started.
    pub fn new(horizon_ms: i64) -> Self {
        Activity {
            inner: RwLock::new(Inner {
                horizon_ms,
                ..Inner::default()
            }),
        }
    }

    /// An empty history that holds everything (for evaluations outside a
    /// runtime: no past actions).
    pub fn empty() -> Self {
        Self::new(i64::MIN)
    }

    /// Remember an approved action.
    pub fn record_approved(&self, act: &ApprovedAction) {
        let entry = Act {
            time_ms: act.time_ms,
            action: Arc::from(identifier_key(&act.action)),
            amount: act.amount.filter(|a| a.is_finite()).unwrap_or(0.0),
        };
        let mut inner = self.write();
        let keys = [
            Some((Scope::Agent, identifier_key(&act.agent))),
            act.session.clone().map(|s| (Scope::Session, s)),
            act.user.clone().map(|u| (Scope::User, u)),
        ];
        for key in keys.into_iter().flatten() {
            inner
                .scoped
                .entry(key)
                .or_default()
                .push_back(entry.clone());
        }
        inner.fleet.push_back(entry);
        while inner.fleet.len() > MAX_ACTIVITY {
            if let Some(dropped) = inner.fleet.pop_front() {
                inner.horizon_ms = inner.horizon_ms.max(dropped.time_ms.saturating_add(1));
            }
        }
        inner.inserts += 1;
        if inner.inserts.is_multiple_of(SWEEP_EVERY) {
            let keep_from = inner
                .horizon_ms
                .max(act.time_ms.saturating_sub(window_i64(MAX_FACT_WINDOW_MS)));
            inner.sweep(keep_from);
        }
    }

    /// Remember that an approved action completed.
    pub fn record_completed(&self, session: &str, action: &str, time_ms: i64) {
        self.write()
            .completed
            .entry(session.to_owned())
            .or_default()
            .push((Arc::from(identifier_key(action)), time_ms));
    }

    /// Forget a completion (its outcome record could not be written).
    pub fn forget_completed(&self, session: &str, action: &str, time_ms: i64) {
        let key = identifier_key(action);
        if let Some(list) = self.write().completed.get_mut(session)
            && let Some(i) = list.iter().rposition(|(a, t)| **a == *key && *t == time_ms)
        {
            list.remove(i);
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// Drop what is older than `keep_from` everywhere, and empty scopes.
    fn sweep(&mut self, keep_from: i64) {
        self.scoped.retain(|_, acts| {
            while acts.front().is_some_and(|a| a.time_ms < keep_from) {
                acts.pop_front();
            }
            !acts.is_empty()
        });
        while self.fleet.front().is_some_and(|a| a.time_ms < keep_from) {
            self.fleet.pop_front();
        }
        self.completed.retain(|_, list| {
            list.retain(|(_, t)| *t >= keep_from);
            !list.is_empty()
        });
    }
}

fn window_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Where a question's window starts (it ends at the decision time), once
/// the window is checked; every history store asks the same way.
pub(super) fn window_start(subject: &Subject, window_ms: u64) -> Result<i64, String> {
    if window_ms == 0 || window_ms > MAX_FACT_WINDOW_MS {
        return Err(format!(
            "window-ms {window_ms} is outside 1..={MAX_FACT_WINDOW_MS} (31 days)"
        ));
    }
    Ok(subject.now_ms.saturating_sub(window_i64(window_ms)))
}

/// The id a question's scope picks from the request (`*` for the fleet).
pub(super) fn scope_subject(subject: &Subject, scope: Scope) -> Result<String, String> {
    Ok(match scope {
        Scope::Fleet => "*".to_owned(),
        Scope::Agent => identifier_key(&subject.agent),
        Scope::Session => subject
            .session
            .clone()
            .ok_or("the request has no session_id, which scope `session` needs")?,
        Scope::User => subject
            .user
            .clone()
            .ok_or("the request has no user_id, which scope `user` needs")?,
    })
}

impl HistoryView for Activity {
    fn approved(
        &self,
        subject: &Subject,
        scope: Scope,
        pattern: &ActionPattern,
        window_ms: u64,
    ) -> Result<Tally, String> {
        let start = window_start(subject, window_ms)?;
        let inner = self.read();
        if start < inner.horizon_ms {
            return Err(format!(
                "the host holds approved actions only since {} (UTC ms); the window starts at {start}",
                inner.horizon_ms
            ));
        }
        let acts = match scope {
            Scope::Fleet => Some(&inner.fleet),
            _ => inner.scoped.get(&(scope, scope_subject(subject, scope)?)),
        };
        let mut tally = Tally::default();
        for act in acts.into_iter().flat_map(|a| a.iter().rev()) {
            if act.time_ms <= start {
                break;
            }
            if act.time_ms <= subject.now_ms && pattern.matches(&act.action) {
                tally.count += 1;
                tally.sum += act.amount;
            }
        }
        Ok(tally)
    }

    fn completed(&self, subject: &Subject, pattern: &ActionPattern) -> Result<bool, String> {
        let session = subject
            .session
            .as_deref()
            .ok_or("the request has no session_id: completed actions are kept per session")?;
        let inner = self.read();
        Ok(inner.completed.get(session).is_some_and(|list| {
            list.iter()
                .any(|(action, t)| *t <= subject.now_ms && pattern.matches(action))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(now_ms: i64, session: Option<&str>) -> Subject {
        Subject {
            agent: "Agent-1".to_owned(),
            session: session.map(str::to_owned),
            user: None,
            now_ms,
        }
    }

    fn approved(
        time_ms: i64,
        agent: &str,
        session: &str,
        action: &str,
        amount: f64,
    ) -> ApprovedAction {
        ApprovedAction {
            time_ms,
            agent: agent.to_owned(),
            session: Some(session.to_owned()),
            user: None,
            action: action.to_owned(),
            amount: Some(amount),
        }
    }

    #[test]
    fn tallies_by_scope_pattern_and_window_edge() {
        let a = Activity::empty();
        a.record_approved(&approved(1_000, "agent-1", "s1", "send_email", 1.0));
        a.record_approved(&approved(2_000, "agent-1", "s2", "Send_SMS", 2.0));
        a.record_approved(&approved(3_000, "agent-2", "s1", "send_email", 4.0));
        let p = |t: &str| ActionPattern::parse(t).unwrap();
        // (scope, pattern, window, now, count, sum)
        let cases = [
            (Scope::Agent, "send_*", 10_000, 5_000, 2, 3.0),
            (Scope::Agent, "send_email", 10_000, 5_000, 1, 1.0),
            (Scope::Fleet, "send_*", 10_000, 5_000, 3, 7.0),
            (Scope::Session, "*", 10_000, 5_000, 2, 5.0),
            // the window (now - w, now]: an action exactly at now - w is out
            (Scope::Fleet, "*", 4_000, 5_000, 2, 6.0),
            (Scope::Fleet, "*", 4_001, 5_000, 3, 7.0),
            // an action after `now` is not yet history
            (Scope::Fleet, "*", 2_000, 2_500, 2, 3.0),
            (Scope::Fleet, "*", 1_000, 2_500, 1, 2.0),
        ];
        for (scope, pattern, window, now, count, sum) in cases {
            let t = a
                .approved(&subject(now, Some("s1")), scope, &p(pattern), window)
                .unwrap();
            assert_eq!(
                (t.count, t.sum),
                (count, sum),
                "{scope:?} {pattern} {window} {now}"
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        let a = Activity::new(10_000);
        let p = ActionPattern::parse("*").unwrap();
        // before the horizon, a zero or too long window, a missing session
        assert!(
            a.approved(&subject(15_000, None), Scope::Agent, &p, 6_000)
                .is_err()
        );
        assert!(
            a.approved(&subject(15_000, None), Scope::Agent, &p, 5_000)
                .is_ok()
        );
        assert!(
            a.approved(&subject(15_000, None), Scope::Agent, &p, 0)
                .is_err()
        );
        assert!(
            a.approved(
                &subject(i64::MAX, None),
                Scope::Agent,
                &p,
                MAX_FACT_WINDOW_MS + 1
            )
            .is_err()
        );
        assert!(
            a.approved(&subject(15_000, None), Scope::Session, &p, 10)
                .is_err()
        );
        assert!(a.completed(&subject(15_000, None), &p).is_err());
    }

    #[test]
    fn completions_are_per_session_and_can_be_forgotten() {
        let a = Activity::empty();
        a.record_completed("s1", "Verify_Identity", 100);
        let p = ActionPattern::parse("verify_identity").unwrap();
        assert_eq!(a.completed(&subject(100, Some("s1")), &p), Ok(true));
        assert_eq!(a.completed(&subject(99, Some("s1")), &p), Ok(false));
        assert_eq!(a.completed(&subject(200, Some("s2")), &p), Ok(false));
        a.forget_completed("s1", "verify_identity", 100);
        assert_eq!(a.completed(&subject(200, Some("s1")), &p), Ok(false));
    }
}
