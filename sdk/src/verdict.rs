//! What a policy answers.

use crate::bindings::exports::gavel::policy::policy as wit;

/// Why a policy denied or escalated: a stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// Short and stable: lowercase ASCII letters, digits and `-`, 1..64
    /// characters. The host refuses any other code as garbage.
    pub code: String,
    /// For humans. Never repeat sensitive input here.
    pub message: String,
}

/// A policy's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The action may go ahead as far as this policy is concerned.
    Approve,
    /// The action is refused. The first deny is final.
    Deny(Reason),
    /// A human must decide. Later policies still run; a later deny wins.
    Escalate(Reason),
}

impl Verdict {
    /// Approve the action.
    pub fn approve() -> Self {
        Verdict::Approve
    }

    /// Deny the action with a stable `code` and a human `message`.
    pub fn deny(code: impl Into<String>, message: impl Into<String>) -> Self {
        Verdict::Deny(Reason {
            code: code.into(),
            message: message.into(),
        })
    }

    /// Escalate the action to a human with a stable `code` and a `message`.
    pub fn escalate(code: impl Into<String>, message: impl Into<String>) -> Self {
        Verdict::Escalate(Reason {
            code: code.into(),
            message: message.into(),
        })
    }

    /// True for [`Verdict::Approve`].
    pub fn is_approve(&self) -> bool {
        matches!(self, Verdict::Approve)
    }
}

impl From<Verdict> for wit::Verdict {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Approve => wit::Verdict::Approve,
            Verdict::Deny(r) => wit::Verdict::Deny(wit::Reason {
                code: r.code,
                message: r.message,
            }),
            Verdict::Escalate(r) => wit::Verdict::Escalate(wit::Reason {
                code: r.code,
                message: r.message,
            }),
        }
    }
}

/// A policy's name, version and one-line description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The policy's name, e.g. `sensitive-actions`.
    pub name: String,
    /// The policy's own version, e.g. `1.0.0`.
    pub version: String,
    /// One line.
    pub description: String,
}

impl Metadata {
    /// Build metadata from string slices.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Metadata {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
        }
    }
}

impl From<Metadata> for wit::PolicyMetadata {
    fn from(m: Metadata) -> Self {
        wit::PolicyMetadata {
            name: m.name,
            version: m.version,
            description: m.description,
        }
    }
}
