//! A stand-in for the host's history, for tests built natively.
//!
//! Each thread has its own double (the test harness runs each test on its
//! own thread), empty until a test sets it: then every call errors, as the
//! host's would when it cannot answer.
//!
//! ```
//! use gavel_sdk::history::{self, testing, Scope};
//!
//! testing::set_completed(&["verify_identity"]);
//! assert_eq!(history::completed("verify_*"), Ok(true));
//! assert_eq!(history::completed("sign_contract"), Ok(false));
//!
//! testing::set_approved(&[testing::PastAction::new(Scope::Agent, "pay", Some(40.0), 60_000)]);
//! let tally = history::approved(Scope::Agent, "pay", 3_600_000).unwrap();
//! assert_eq!((tally.count, tally.sum), (1, 40.0));
//!
//! testing::fail("history store unavailable");
//! assert!(history::completed("verify_identity").is_err());
//! ```
//!
//! Patterns and windows are checked as the host checks them, and every
//! call is recorded ([`calls`]), so a test can also assert what a policy
//! asked.

use super::{MAX_WINDOW_MS, Scope, Tally};
use crate::ActionPattern;
use std::cell::RefCell;
use std::rc::Rc;

type ApprovedFn = Rc<dyn Fn(Scope, &str, u64) -> Result<Tally, String>>;
type CompletedFn = Rc<dyn Fn(&str) -> Result<bool, String>>;

/// A call a policy made, as the double saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// [`approved`](super::approved).
    Approved {
        /// The scope asked for.
        scope: Scope,
        /// The pattern, as given.
        pattern: String,
        /// The window, as given.
        window_ms: u64,
    },
    /// [`completed`](super::completed).
    Completed {
        /// The pattern, as given.
        pattern: String,
    },
}

/// An approved action the double remembers.
#[derive(Debug, Clone, PartialEq)]
pub struct PastAction {
    /// The scope it counts in (an action of the request's agent counts in
    /// [`Scope::Agent`]; list it once per scope a test asks about).
    pub scope: Scope,
    /// The action's name.
    pub action: String,
    /// Its amount, if it had one.
    pub amount: Option<f64>,
    /// How long before the request it was approved, in milliseconds.
    pub ago_ms: u64,
}

impl PastAction {
    /// An action `action` approved `ago_ms` before the request.
    pub fn new(scope: Scope, action: &str, amount: Option<f64>, ago_ms: u64) -> Self {
        PastAction {
            scope,
            action: action.to_owned(),
            amount,
            ago_ms,
        }
    }
}

#[derive(Default)]
struct Double {
    approved: Option<ApprovedFn>,
    completed: Option<CompletedFn>,
    calls: Vec<Call>,
}

thread_local! {
    static DOUBLE: RefCell<Double> = RefCell::new(Double::default());
}

const UNSET: &str = "no history on this target: set a test double with gavel_sdk::history::testing";

/// Forget everything set and every call recorded.
pub fn reset() {
    DOUBLE.with(|d| *d.borrow_mut() = Double::default());
}

/// Answer [`completed`](super::completed) from these completed actions: a
/// pattern is completed when one of them matches it.
pub fn set_completed(actions: &[&str]) {
    let actions: Vec<String> = actions.iter().map(|a| (*a).to_owned()).collect();
    set_completed_with(move |pattern| {
        let pattern = ActionPattern::parse(pattern)?;
        Ok(actions.iter().any(|a| pattern.matches(a)))
    });
}

/// Answer [`completed`](super::completed) with `f` (after the pattern
/// passed the host's checks).
pub fn set_completed_with(f: impl Fn(&str) -> Result<bool, String> + 'static) {
    DOUBLE.with(|d| d.borrow_mut().completed = Some(Rc::new(f)));
}

/// Answer [`approved`](super::approved) from these approved actions: those
/// in the scope asked for, matching the pattern, less than the window ago.
pub fn set_approved(actions: &[PastAction]) {
    let actions = actions.to_vec();
    set_approved_with(move |scope, pattern, window_ms| {
        let pattern = ActionPattern::parse(pattern)?;
        let mut tally = Tally::default();
        for a in &actions {
            if a.scope == scope && pattern.matches(&a.action) && a.ago_ms < window_ms {
                tally.count += 1;
                tally.sum += a.amount.unwrap_or(0.0);
            }
        }
        Ok(tally)
    });
}

/// Answer [`approved`](super::approved) with `f` (after the pattern and
/// window passed the host's checks).
pub fn set_approved_with(f: impl Fn(Scope, &str, u64) -> Result<Tally, String> + 'static) {
    DOUBLE.with(|d| d.borrow_mut().approved = Some(Rc::new(f)));
}

/// Make every call fail with `message`, as when the host cannot answer.
pub fn fail(message: &str) {
    let approved = message.to_owned();
    let completed = message.to_owned();
    set_approved_with(move |_, _, _| Err(approved.clone()));
    set_completed_with(move |_| Err(completed.clone()));
}

/// The calls made since the last [`reset`], in order.
pub fn calls() -> Vec<Call> {
    DOUBLE.with(|d| d.borrow().calls.clone())
}

fn check_pattern(pattern: &str) -> Result<(), String> {
    ActionPattern::parse(pattern).map(|_| ())
}

pub(super) fn approved(scope: Scope, pattern: &str, window_ms: u64) -> Result<Tally, String> {
    let f = DOUBLE.with(|d| {
        let mut d = d.borrow_mut();
        d.calls.push(Call::Approved {
            scope,
            pattern: pattern.to_owned(),
            window_ms,
        });
        d.approved.clone()
    });
    check_pattern(pattern)?;
    if window_ms == 0 || window_ms > MAX_WINDOW_MS {
        return Err(format!(
            "window of {window_ms} ms is outside 1..={MAX_WINDOW_MS} (31 days)"
        ));
    }
    match f {
        Some(f) => f(scope, pattern, window_ms),
        None => Err(UNSET.to_owned()),
    }
}

pub(super) fn completed(pattern: &str) -> Result<bool, String> {
    let f = DOUBLE.with(|d| {
        let mut d = d.borrow_mut();
        d.calls.push(Call::Completed {
            pattern: pattern.to_owned(),
        });
        d.completed.clone()
    });
    check_pattern(pattern)?;
    match f {
        Some(f) => f(pattern),
        None => Err(UNSET.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history;

    #[test]
    fn unset_double_errors_and_records() {
        reset();
        let e = history::completed("verify_identity").unwrap_err();
        assert!(e.contains("set a test double"), "{e}");
        assert!(history::approved(Scope::Agent, "pay", 1).is_err());
        assert_eq!(
            calls(),
            vec![
                Call::Completed {
                    pattern: "verify_identity".into()
                },
                Call::Approved {
                    scope: Scope::Agent,
                    pattern: "pay".into(),
                    window_ms: 1
                },
            ]
        );
        reset();
        assert!(calls().is_empty());
    }

    #[test]
    fn completed_matches_patterns_as_the_host_does() {
        reset();
        set_completed(&["verify_identity", "Check_KYC"]);
        // (pattern, answer or a part of the error)
        let cases: [(&str, Result<bool, &str>); 7] = [
            ("verify_identity", Ok(true)),
            ("VERIFY_IDENTITY", Ok(true)),
            ("check_kyc", Ok(true)),
            ("verify_*", Ok(true)),
            ("sign_contract", Ok(false)),
            ("a*b", Err("only at the end")),
            ("", Err("must not be empty")),
        ];
        for (pattern, expected) in cases {
            match (history::completed(pattern), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{pattern}"),
                (Err(e), Err(part)) => assert!(e.contains(part), "{pattern}: {e}"),
                (got, _) => panic!("{pattern}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn approved_tallies_scope_pattern_and_window() {
        reset();
        set_approved(&[
            PastAction::new(Scope::Agent, "pay", Some(40.0), 1_000),
            PastAction::new(Scope::Agent, "Pay_Invoice", Some(2.5), 59_999),
            PastAction::new(Scope::Agent, "pay", None, 60_000),
            PastAction::new(Scope::Fleet, "pay", Some(100.0), 1),
        ]);
        type Row = (Scope, &'static str, u64, Result<(u64, f64), &'static str>);
        // (scope, pattern, window, (count, sum) or a part of the error)
        let cases: [Row; 7] = [
            (Scope::Agent, "pay", 60_000, Ok((1, 40.0))),
            (Scope::Agent, "pay", 60_001, Ok((2, 40.0))),
            (Scope::Agent, "pay*", 60_000, Ok((2, 42.5))),
            (Scope::Fleet, "*", 60_000, Ok((1, 100.0))),
            (Scope::Session, "pay", 60_000, Ok((0, 0.0))),
            (Scope::Agent, "pay", 0, Err("window of 0 ms")),
            (Scope::Agent, "pay", MAX_WINDOW_MS + 1, Err("(31 days)")),
        ];
        for (scope, pattern, window, expected) in cases {
            match (history::approved(scope, pattern, window), expected) {
                (Ok(t), Ok(want)) => assert_eq!((t.count, t.sum), want, "{pattern} {window}"),
                (Err(e), Err(part)) => assert!(e.contains(part), "{pattern}: {e}"),
                (got, _) => panic!("{pattern} {window}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn fail_makes_every_call_an_error() {
        reset();
        set_completed(&["x"]);
        fail("store down");
        assert_eq!(history::completed("x"), Err("store down".to_owned()));
        assert_eq!(
            history::approved(Scope::User, "x", 1),
            Err("store down".to_owned())
        );
    }
}
