//! History facts: the questions a policy asked about past actions (the
//! `history` import of `gavel:policy@0.3.0`) and the answers it got.
//!
//! Each call is recorded with its answer in the policy's run, so that the
//! log record of a decision holds every fact the decision read and
//! `gavel replay` can feed the same answers back: a policy stays a
//! deterministic function of its config, the request and its facts.

use serde::{Deserialize, Serialize};

/// Most history calls one policy may make per evaluation; past it every
/// call answers an error (and a well-written policy fails closed).
pub const MAX_FACTS_PER_RUN: usize = 64;

/// The longest window a history question may ask about: 31 days.
pub const MAX_FACT_WINDOW_MS: u64 = 31 * 24 * 3_600_000;

/// Whose actions a question or a counter is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The request's agent.
    Agent,
    /// The request's session.
    Session,
    /// The request's user.
    User,
    /// Every agent.
    Fleet,
}

impl Scope {
    /// `agent`, `session`, `user` or `fleet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Agent => "agent",
            Scope::Session => "session",
            Scope::User => "user",
            Scope::Fleet => "fleet",
        }
    }

    /// Parse a scope name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "agent" => Some(Scope::Agent),
            "session" => Some(Scope::Session),
            "user" => Some(Scope::User),
            "fleet" => Some(Scope::Fleet),
            _ => None,
        }
    }
}

/// One question and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fn", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fact {
    /// `history.approved`: approved actions matching `pattern` in `scope`
    /// within the last `window_ms`.
    Approved {
        /// Whose actions.
        scope: Scope,
        /// The action pattern asked about.
        pattern: String,
        /// The window, in milliseconds.
        window_ms: u64,
        /// How many (absent on error).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
        /// The sum of their amounts (absent on error).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sum: Option<f64>,
        /// Why there is no answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// `history.completed`: whether an action matching `pattern` completed
    /// earlier in the session.
    Completed {
        /// The action pattern asked about.
        pattern: String,
        /// The answer (absent on error).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        completed: Option<bool>,
        /// Why there is no answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// Approved actions: how many, and the sum of their amounts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// The sum of their amounts (actions without one add 0).
    pub sum: f64,
}

impl Fact {
    /// The recorded answer of an `approved` question.
    pub fn approved(
        scope: Scope,
        pattern: &str,
        window_ms: u64,
        answer: &Result<Tally, String>,
    ) -> Self {
        Fact::Approved {
            scope,
            pattern: pattern.to_owned(),
            window_ms,
            count: answer.as_ref().ok().map(|t| t.count),
            sum: answer.as_ref().ok().map(|t| t.sum),
            error: answer.as_ref().err().cloned(),
        }
    }

    /// The recorded answer of a `completed` question.
    pub fn completed(pattern: &str, answer: &Result<bool, String>) -> Self {
        Fact::Completed {
            pattern: pattern.to_owned(),
            completed: answer.as_ref().ok().copied(),
            error: answer.as_ref().err().cloned(),
        }
    }

    /// The answer this fact recorded for `approved(scope, pattern,
    /// window_ms)`, if it is that question.
    pub fn answers_approved(
        &self,
        scope: Scope,
        pattern: &str,
        window_ms: u64,
    ) -> Option<Result<Tally, String>> {
        match self {
            Fact::Approved {
                scope: s,
                pattern: p,
                window_ms: w,
                count,
                sum,
                error,
            } if *s == scope && p == pattern && *w == window_ms => {
                Some(match (count, sum, error) {
                    (Some(count), Some(sum), None) => Ok(Tally {
                        count: *count,
                        sum: *sum,
                    }),
                    (_, _, Some(e)) => Err(e.clone()),
                    _ => Err("the recorded fact has neither an answer nor an error".to_owned()),
                })
            }
            _ => None,
        }
    }

    /// The answer this fact recorded for `completed(pattern)`, if it is
    /// that question.
    pub fn answers_completed(&self, pattern: &str) -> Option<Result<bool, String>> {
        match self {
            Fact::Completed {
                pattern: p,
                completed,
                error,
            } if p == pattern => Some(match (completed, error) {
                (Some(c), None) => Ok(*c),
                (_, Some(e)) => Err(e.clone()),
                _ => Err("the recorded fact has neither an answer nor an error".to_owned()),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_round_trip_and_refuse_unknown_fields() {
        let facts = [
            Fact::approved(
                Scope::Agent,
                "send_*",
                3_600_000,
                &Ok(Tally {
                    count: 3,
                    sum: 12.5,
                }),
            ),
            Fact::approved(Scope::Session, "x", 1, &Err("no session".to_owned())),
            Fact::completed("verify_identity", &Ok(true)),
            Fact::completed("verify_identity", &Err("no session".to_owned())),
        ];
        for fact in facts {
            let json = serde_json::to_string(&fact).unwrap();
            assert_eq!(serde_json::from_str::<Fact>(&json).unwrap(), fact, "{json}");
        }
        let bad = r#"{"fn":"completed","pattern":"x","completed":true,"extra":1}"#;
        assert!(serde_json::from_str::<Fact>(bad).is_err());
    }

    #[test]
    fn a_recorded_fact_answers_only_its_own_question() {
        let fact = Fact::approved(
            Scope::Agent,
            "pay",
            60_000,
            &Ok(Tally {
                count: 2,
                sum: 20.0,
            }),
        );
        assert_eq!(
            fact.answers_approved(Scope::Agent, "pay", 60_000),
            Some(Ok(Tally {
                count: 2,
                sum: 20.0
            }))
        );
        // (scope, pattern, window) that differ from the record
        for (scope, pattern, window) in [
            (Scope::User, "pay", 60_000),
            (Scope::Agent, "PAY", 60_000),
            (Scope::Agent, "pay", 60_001),
        ] {
            assert_eq!(fact.answers_approved(scope, pattern, window), None);
        }
        assert_eq!(fact.answers_completed("pay"), None);
    }
}
