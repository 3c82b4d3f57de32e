//! Facts about past actions, read from the host on demand (the `history`
//! import of `gavel:policy@0.3.0`).
//!
//! Every answer is about the request being judged: its agent, session or
//! user, in a window that ends at the host's decision time. The host
//! records each call and its answer in the decision's log record, and
//! `gavel replay` feeds them back, so a policy that reads history stays
//! replayable.
//!
//! In a component these call the host. Built natively (a policy's unit
//! tests), they answer from a test double that the test sets with
//! [`testing`]; without one they return an error, as the host does when it
//! cannot answer. Treat an error as "unknown", never as "no": a policy
//! that needs a fact it cannot read should deny.

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

use crate::bindings::gavel::policy::history as wit;

/// The longest window [`approved`] accepts: 31 days.
pub const MAX_WINDOW_MS: u64 = 31 * 24 * 60 * 60 * 1000;

/// Whose actions: the request's agent, session or user, or every agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
}

impl From<Scope> for wit::Scope {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::Agent => wit::Scope::Agent,
            Scope::Session => wit::Scope::Session,
            Scope::User => wit::Scope::User,
            Scope::Fleet => wit::Scope::Fleet,
        }
    }
}

/// Approved actions: how many, and the sum of their amounts (actions
/// without an amount add 0).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// The sum of their amounts.
    pub sum: f64,
}

/// The approved actions in `scope` whose name matches `pattern` (an action
/// name, or a prefix ending in `*`; ASCII case folded) in the last
/// `window_ms` milliseconds (1 ms .. 31 days). An error names what was
/// wrong: a bad pattern or window, or a request without the session or
/// user the scope needs.
pub fn approved(scope: Scope, pattern: &str, window_ms: u64) -> Result<Tally, String> {
    #[cfg(target_arch = "wasm32")]
    {
        wit::approved(scope.into(), pattern, window_ms).map(|t| Tally {
            count: t.count,
            sum: t.sum,
        })
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        testing::approved(scope, pattern, window_ms)
    }
}

/// Whether an action matching `pattern` was approved and then reported
/// `completed` earlier in the request's session. An error when the request
/// has no session or the pattern is bad.
pub fn completed(pattern: &str) -> Result<bool, String> {
    #[cfg(target_arch = "wasm32")]
    {
        wit::completed(pattern)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        testing::completed(pattern)
    }
}
