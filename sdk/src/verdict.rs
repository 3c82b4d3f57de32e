//! What a policy answers.

use crate::Charge;
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

/// Approve, deny or escalate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerdictKind {
    /// The action may go ahead as far as this policy is concerned.
    Approve,
    /// The action is refused. The first deny is final.
    Deny(Reason),
    /// A human must decide. Later policies still run; a later deny wins.
    Escalate(Reason),
}

/// A policy's answer to one request: approve, deny or escalate, and what
/// the action costs against the host's counters if it goes ahead.
///
/// ```
/// use gavel_sdk::{Charge, Period, Scope, Verdict, Window};
///
/// let day = Window::calendar(Period::Day, "UTC");
/// let v = Verdict::approve()
///     .with_charge(Charge::budget("budget", Scope::Agent, day, 120.0, 5000.0).escalate_above(0.9));
/// assert!(v.is_approve());
/// assert_eq!(v.charges.len(), 1);
/// assert_eq!(Verdict::deny("over-limit", "too much").code(), Some("over-limit"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Approve, deny or escalate, with the reason.
    pub kind: VerdictKind,
    /// Charges against the host's counters, applied when the final
    /// decision approves or escalates (see [`Charge`]). The charges of a
    /// deny are never sent: a denied action is not counted.
    pub charges: Vec<Charge>,
}

impl Verdict {
    /// Approve the action.
    pub fn approve() -> Self {
        Verdict {
            kind: VerdictKind::Approve,
            charges: Vec::new(),
        }
    }

    /// Deny the action with a stable `code` and a human `message`.
    pub fn deny(code: impl Into<String>, message: impl Into<String>) -> Self {
        Verdict {
            kind: VerdictKind::Deny(Reason {
                code: code.into(),
                message: message.into(),
            }),
            charges: Vec::new(),
        }
    }

    /// Escalate the action to a human with a stable `code` and a `message`.
    pub fn escalate(code: impl Into<String>, message: impl Into<String>) -> Self {
        Verdict {
            kind: VerdictKind::Escalate(Reason {
                code: code.into(),
                message: message.into(),
            }),
            charges: Vec::new(),
        }
    }

    /// Add a charge: what the action costs against one of the host's
    /// counters if the decision lets it go ahead.
    pub fn with_charge(mut self, charge: Charge) -> Self {
        self.charges.push(charge);
        self
    }

    /// Add several charges.
    pub fn with_charges(mut self, charges: impl IntoIterator<Item = Charge>) -> Self {
        self.charges.extend(charges);
        self
    }

    /// True for an approve.
    pub fn is_approve(&self) -> bool {
        matches!(self.kind, VerdictKind::Approve)
    }

    /// True for a deny.
    pub fn is_deny(&self) -> bool {
        matches!(self.kind, VerdictKind::Deny(_))
    }

    /// True for an escalate.
    pub fn is_escalate(&self) -> bool {
        matches!(self.kind, VerdictKind::Escalate(_))
    }

    /// The reason of a deny or an escalate.
    pub fn reason(&self) -> Option<&Reason> {
        match &self.kind {
            VerdictKind::Approve => None,
            VerdictKind::Deny(r) | VerdictKind::Escalate(r) => Some(r),
        }
    }

    /// The reason's code, for a deny or an escalate.
    pub fn code(&self) -> Option<&str> {
        self.reason().map(|r| r.code.as_str())
    }

    /// Split into the contract's verdict and charges. A deny's charges are
    /// dropped: the host ignores them.
    pub(crate) fn into_wit(self) -> (wit::Verdict, Vec<wit::Charge>) {
        let charges = if self.is_deny() {
            Vec::new()
        } else {
            self.charges.into_iter().map(Into::into).collect()
        };
        let verdict = match self.kind {
            VerdictKind::Approve => wit::Verdict::Approve,
            VerdictKind::Deny(r) => wit::Verdict::Deny(wit::Reason {
                code: r.code,
                message: r.message,
            }),
            VerdictKind::Escalate(r) => wit::Verdict::Escalate(wit::Reason {
                code: r.code,
                message: r.message,
            }),
        };
        (verdict, charges)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Period, Scope, Window};

    fn charge(counter: &str) -> Charge {
        Charge::rate(counter, Scope::Agent, Window::rolling_ms(1_000), 3)
    }

    #[test]
    fn charges_travel_with_approve_and_escalate_only() {
        // (verdict, contract verdict, counters sent)
        let cases = [
            (Verdict::approve(), "approve", vec![]),
            (
                Verdict::approve()
                    .with_charge(charge("a"))
                    .with_charge(charge("b")),
                "approve",
                vec!["a", "b"],
            ),
            (
                Verdict::escalate("check", "m").with_charges([charge("a")]),
                "escalate check",
                vec!["a"],
            ),
            (
                Verdict::deny("no", "m").with_charge(charge("a")),
                "deny no",
                vec![],
            ),
        ];
        for (verdict, expected, counters) in cases {
            let (v, charges) = verdict.clone().into_wit();
            let got = match v {
                wit::Verdict::Approve => "approve".to_owned(),
                wit::Verdict::Deny(r) => format!("deny {}", r.code),
                wit::Verdict::Escalate(r) => format!("escalate {}", r.code),
            };
            assert_eq!(got, expected, "{verdict:?}");
            let got: Vec<String> = charges.into_iter().map(|c| c.counter).collect();
            assert_eq!(got, counters, "{verdict:?}");
        }
    }

    #[test]
    fn accessors() {
        // (verdict, approve, deny, escalate, code)
        let cases = [
            (Verdict::approve(), true, false, false, None),
            (Verdict::deny("d", "m"), false, true, false, Some("d")),
            (Verdict::escalate("e", "m"), false, false, true, Some("e")),
        ];
        for (v, approve, deny, escalate, code) in cases {
            assert_eq!(
                (v.is_approve(), v.is_deny(), v.is_escalate(), v.code()),
                (approve, deny, escalate, code),
                "{v:?}"
            );
        }
        let day = Window::calendar(Period::Day, "UTC");
        let v = Verdict::approve().with_charge(Charge::budget("b", Scope::Agent, day, 1.0, 2.0));
        assert!(v.is_approve() && v.reason().is_none());
    }
}
