//! [`FactSession`]: the history a policy may read during one evaluation,
//! and the record of what it read. The store's [`Sandbox`] holds one; the
//! `history` imports of `gavel:policy@0.3.0` answer from it.

use super::activity::{HistoryView, Subject};
use super::fact::{Fact, MAX_FACTS_PER_RUN, Scope, Tally};
use crate::action_pattern::ActionPattern;
use crate::bindings::v0_3;
use crate::sandbox::Sandbox;
use std::collections::VecDeque;
use std::sync::Arc;

/// Where the answers come from.
#[derive(Debug, Default)]
pub enum FactSource {
    /// No evaluation is running: every question is an error.
    #[default]
    Closed,
    /// The host's history, about this subject.
    Live {
        /// The history.
        view: Arc<dyn HistoryView>,
        /// Who is asking.
        subject: Arc<Subject>,
    },
    /// Replay: the facts the decision recorded, in order.
    Replay(VecDeque<Fact>),
}

/// One evaluation's history: its source and what was asked.
#[derive(Debug, Default)]
pub struct FactSession {
    source: FactSource,
    recorded: Vec<Fact>,
}

impl FactSession {
    /// Start answering from `source`.
    pub fn open(&mut self, source: FactSource) {
        self.source = source;
        self.recorded.clear();
    }

    /// Stop answering, and hand over what was asked.
    pub fn close(&mut self) -> Vec<Fact> {
        self.source = FactSource::Closed;
        std::mem::take(&mut self.recorded)
    }

    fn full(&self) -> bool {
        self.recorded.len() >= MAX_FACTS_PER_RUN
    }

    /// `history.approved`.
    pub fn approved(
        &mut self,
        scope: Scope,
        pattern: &str,
        window_ms: u64,
    ) -> Result<Tally, String> {
        if self.full() {
            return Err(format!(
                "a policy may ask at most {MAX_FACTS_PER_RUN} history questions per evaluation"
            ));
        }
        let answer = match &mut self.source {
            FactSource::Closed => Err("no history is available outside an evaluation".to_owned()),
            FactSource::Live { view, subject } => ActionPattern::parse(pattern)
                .map_err(|e| format!("pattern: {e}"))
                .and_then(|p| view.approved(subject, scope, &p, window_ms)),
            FactSource::Replay(facts) => {
                replayed(facts, |f| f.answers_approved(scope, pattern, window_ms))
            }
        };
        self.recorded
            .push(Fact::approved(scope, pattern, window_ms, &answer));
        answer
    }

    /// `history.completed`.
    pub fn completed(&mut self, pattern: &str) -> Result<bool, String> {
        if self.full() {
            return Err(format!(
                "a policy may ask at most {MAX_FACTS_PER_RUN} history questions per evaluation"
            ));
        }
        let answer = match &mut self.source {
            FactSource::Closed => Err("no history is available outside an evaluation".to_owned()),
            FactSource::Live { view, subject } => ActionPattern::parse(pattern)
                .map_err(|e| format!("pattern: {e}"))
                .and_then(|p| view.completed(subject, &p)),
            FactSource::Replay(facts) => replayed(facts, |f| f.answers_completed(pattern)),
        };
        self.recorded.push(Fact::completed(pattern, &answer));
        answer
    }
}

/// The next recorded fact, if it answers the same question; otherwise an
/// error (the policy asked something the decision did not ask).
fn replayed<T>(
    facts: &mut VecDeque<Fact>,
    answers: impl Fn(&Fact) -> Option<Result<T, String>>,
) -> Result<T, String> {
    match facts.pop_front() {
        Some(fact) => answers(&fact).unwrap_or_else(|| {
            Err(
                "replay: the policy asked a different history question than the recorded decision"
                    .to_owned(),
            )
        }),
        None => Err(
            "replay: the policy asked more history questions than the recorded decision".to_owned(),
        ),
    }
}

fn scope_from_wit(scope: v0_3::Scope) -> Scope {
    match scope {
        v0_3::Scope::Agent => Scope::Agent,
        v0_3::Scope::Session => Scope::Session,
        v0_3::Scope::User => Scope::User,
        v0_3::Scope::Fleet => Scope::Fleet,
    }
}

impl v0_3::HistoryHost for Sandbox {
    fn approved(
        &mut self,
        scope: v0_3::Scope,
        pattern: String,
        window_ms: u64,
    ) -> Result<v0_3::Tally, String> {
        self.facts
            .approved(scope_from_wit(scope), &pattern, window_ms)
            .map(|t| v0_3::Tally {
                count: t.count,
                sum: t.sum,
            })
    }

    fn completed(&mut self, pattern: String) -> Result<bool, String> {
        self.facts.completed(&pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::activity::Activity;

    #[test]
    fn live_answers_are_recorded_and_replay_gives_them_back() {
        let activity = Activity::empty();
        activity.record_completed("s1", "verify_identity", 5);
        let mut live = FactSession::default();
        live.open(FactSource::Live {
            view: Arc::new(activity),
            subject: Arc::new(Subject {
                agent: "a".to_owned(),
                session: Some("s1".to_owned()),
                user: None,
                now_ms: 10,
            }),
        });
        let first = (
            live.completed("verify_identity"),
            live.approved(Scope::User, "*", 60_000),
            live.completed("bad pattern"),
        );
        let recorded = live.close();
        assert_eq!(recorded.len(), 3);
        assert_eq!(
            live.completed("x"),
            Err("no history is available outside an evaluation".to_owned())
        );

        let mut replay = FactSession::default();
        replay.open(FactSource::Replay(recorded.clone().into()));
        let again = (
            replay.completed("verify_identity"),
            replay.approved(Scope::User, "*", 60_000),
            replay.completed("bad pattern"),
        );
        assert_eq!(first, again);
        assert_eq!(replay.close(), recorded);

        // A different question, or one more, is an error in replay.
        let mut replay = FactSession::default();
        replay.open(FactSource::Replay(recorded.into()));
        assert!(replay.completed("other").is_err());
        let _ = replay.approved(Scope::User, "*", 60_000);
        let _ = replay.completed("bad pattern");
        assert!(replay.completed("verify_identity").is_err());
    }

    #[test]
    fn questions_are_capped_per_evaluation() {
        let mut s = FactSession::default();
        s.open(FactSource::Live {
            view: Arc::new(Activity::empty()),
            subject: Arc::new(Subject {
                agent: "a".to_owned(),
                session: Some("s".to_owned()),
                user: None,
                now_ms: 0,
            }),
        });
        for _ in 0..MAX_FACTS_PER_RUN {
            assert!(s.completed("x").is_ok());
        }
        assert!(s.completed("x").is_err());
        assert_eq!(s.close().len(), MAX_FACTS_PER_RUN);
    }
}
