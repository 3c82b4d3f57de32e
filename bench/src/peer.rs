//! What every system under test implements.

use std::fmt;

/// A system that decides actions: Gavel itself, or a peer.
pub trait Peer {
    /// Short name for reports.
    fn name(&self) -> &'static str;
    /// The verdict, and the code of the reason that decided it (None for approve).
    fn decide(&self, request: &gavel::Request) -> Outcome;
}

/// A peer's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Approve, deny or escalate.
    pub verdict: gavel::Verdict,
    /// The code of the reason that decided the verdict: the deny's code for
    /// a deny, the first escalation's code for an escalate, `None` for an
    /// approve.
    pub code: Option<String>,
}

impl Outcome {
    /// An approve.
    pub fn approve() -> Self {
        Outcome {
            verdict: gavel::Verdict::Approve,
            code: None,
        }
    }

    /// A deny with `code`.
    pub fn deny(code: &str) -> Self {
        Outcome {
            verdict: gavel::Verdict::Deny,
            code: Some(code.to_owned()),
        }
    }

    /// An escalate with `code`.
    pub fn escalate(code: &str) -> Self {
        Outcome {
            verdict: gavel::Verdict::Escalate,
            code: Some(code.to_owned()),
        }
    }
}

impl fmt::Display for Outcome {
    /// `deny (over-limit)`, `approve`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} ({code})", self.verdict.as_str()),
            None => f.write_str(self.verdict.as_str()),
        }
    }
}
