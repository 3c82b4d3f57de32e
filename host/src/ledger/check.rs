//! The limit arithmetic, as a pure function: given each charge and what
//! its counter held before it, does the decision fit, escalate, or stop?
//!
//! The ledger runs it under its lock on live counters; `gavel replay` runs
//! it on the counter values the decision recorded, so a replay reproduces
//! the host's part of a verdict too.

use super::charge::{Charge, ChargeKind, Window, amount, units};
use serde::{Deserialize, Serialize};

/// The code of a deny past a budget's limit.
pub const BUDGET_EXCEEDED: &str = "budget-exceeded";
/// The code of a deny past a rate's limit.
pub const RATE_LIMITED: &str = "rate-limited";
/// The code of an escalate past a charge's `escalate-above` mark.
pub const BUDGET_NEAR_LIMIT: &str = "budget-near-limit";
/// The code of a deny for a charge scoped to a session or user the request
/// does not have.
pub const SCOPE_MISSING: &str = "scope-missing";
/// The code of a deny for a charge the host cannot count (an unknown time
/// zone).
pub const COUNTER_INVALID: &str = "counter-invalid";
/// The code of a deny for a charge whose counters cannot be reached (the
/// shared counters' server is down or slow): fail closed.
pub const USAGE_UNAVAILABLE: &str = "usage-unavailable";

/// One charge as the ledger saw it: the counter's state before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRecord {
    /// The policy that asked for it.
    pub policy: String,
    /// The charge.
    #[serde(flatten)]
    pub charge: Charge,
    /// Whose counter (agent id, session id, user id, or `*` for the fleet).
    pub subject: String,
    /// Used and reserved in the window before this charge.
    pub before: f64,
    /// The same request was already charged on this counter: it is not
    /// charged again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// For a rate (or a budget) past its limit: when a unit frees up, in
    /// ms from the decision (absent when it never will in this window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// What the host says about a decision's charges.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// Every charge fits; these (counter, message) crossed their
    /// escalate-above mark.
    Fits(Vec<(String, String)>),
    /// A charge would pass its limit (or cannot be counted).
    Stops(Stop),
}

/// Why the charges stop the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// `budget-exceeded`, `rate-limited`, `scope-missing`, `counter-invalid`.
    pub code: &'static str,
    /// For humans: the counter and its numbers.
    pub message: String,
    /// When to try again (rates).
    pub retry_after_ms: Option<u64>,
}

/// The stop for a charge scoped to a session or user the request lacks.
pub fn scope_missing(policy: &str, charge: &Charge) -> Stop {
    Stop {
        code: SCOPE_MISSING,
        message: format!(
            "the charge `{}` of policy `{policy}` counts per {}, and the request has no {}_id",
            charge.counter,
            charge.scope.as_str(),
            charge.scope.as_str()
        ),
        retry_after_ms: None,
    }
}

/// The stop for a charge the host cannot count (`why`: an unknown zone).
pub fn counter_invalid(policy: &str, charge: &Charge, why: &str) -> Stop {
    Stop {
        code: COUNTER_INVALID,
        message: format!(
            "the charge `{}` of policy `{policy}` cannot be counted: {why}",
            charge.counter
        ),
        retry_after_ms: None,
    }
}

/// The stop for charges whose counters cannot be reached.
pub fn usage_unavailable(why: &str) -> Stop {
    Stop {
        code: USAGE_UNAVAILABLE,
        message: format!(
            "the decision charges a counter, and the counters cannot be reached, so it is refused: {why}"
        ),
        retry_after_ms: None,
    }
}

/// Judge the charges of one decision.
pub fn judge(records: &[ChargeRecord]) -> Judgement {
    let mut near = Vec::new();
    for r in records {
        if r.duplicate {
            continue;
        }
        let c = &r.charge;
        let before = units(r.before);
        let after = before.saturating_add(units(c.amount));
        let limit = units(c.limit);
        let what = describe(r);
        if after > limit {
            let left = amount(limit.saturating_sub(before).max(0));
            return Judgement::Stops(match c.kind {
                ChargeKind::Budget => Stop {
                    code: BUDGET_EXCEEDED,
                    message: format!(
                        "{what}: limit {}, spent {}, left {left}; this action needs {}",
                        c.limit, r.before, c.amount
                    ),
                    retry_after_ms: r.retry_after_ms,
                },
                ChargeKind::Rate => Stop {
                    code: RATE_LIMITED,
                    message: match r.retry_after_ms {
                        Some(ms) => format!(
                            "{what}: limit {} reached ({} used); retry after {ms} ms",
                            c.limit, r.before
                        ),
                        None => format!(
                            "{what}: limit {} reached ({} used); no retry can fit in this window",
                            c.limit, r.before
                        ),
                    },
                    retry_after_ms: r.retry_after_ms,
                },
            });
        }
        if let Some(fraction) = c.escalate_above {
            let mark = (c.limit * fraction * super::charge::UNITS_PER_ONE).round() as i64;
            if after > mark {
                near.push((
                    c.counter.clone(),
                    format!(
                        "{what}: this action takes it to {} of its limit {} (past {}%), so a human decides",
                        amount(after),
                        c.limit,
                        fraction * 100.0
                    ),
                ));
            }
        }
    }
    Judgement::Fits(near)
}

/// `budget `budget` (agent financial-advisor, day in UTC)`.
fn describe(r: &ChargeRecord) -> String {
    let window = match &r.charge.window {
        Window::Calendar { period, timezone } => format!("{} in {timezone}", period.as_str()),
        Window::Rolling { ms } => format!("rolling {ms} ms"),
    };
    format!(
        "{} `{}` ({} {}, {window})",
        r.charge.kind.as_str(),
        r.charge.counter,
        r.charge.scope.as_str(),
        r.subject
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Scope;
    use crate::ledger::charge::Period;

    fn record(
        kind: ChargeKind,
        before: f64,
        amount: f64,
        limit: f64,
        above: Option<f64>,
    ) -> ChargeRecord {
        ChargeRecord {
            policy: "p".to_owned(),
            charge: Charge {
                counter: "c".to_owned(),
                kind,
                scope: Scope::Agent,
                window: Window::Calendar {
                    period: Period::Day,
                    timezone: "UTC".to_owned(),
                },
                amount,
                limit,
                escalate_above: above,
            },
            subject: "a".to_owned(),
            before,
            duplicate: false,
            retry_after_ms: Some(5),
        }
    }

    #[test]
    fn limits_and_marks_to_the_unit() {
        use ChargeKind::{Budget, Rate};
        // (kind, before, amount, limit, escalate_above, expected code or None, escalates)
        let cases = [
            (Budget, 990.0, 10.0, 1000.0, None, None, false),
            (
                Budget,
                990.0,
                10.01,
                1000.0,
                None,
                Some(BUDGET_EXCEEDED),
                false,
            ),
            (Budget, 0.9, 0.1, 1.0, None, None, false),
            (Budget, 0.0, 0.0, 0.0, None, None, false),
            (Budget, 0.0, 0.01, 0.0, None, Some(BUDGET_EXCEEDED), false),
            (Rate, 29.0, 1.0, 30.0, None, None, false),
            (Rate, 30.0, 1.0, 30.0, None, Some(RATE_LIMITED), false),
            (Budget, 800.0, 100.0, 1000.0, Some(0.9), None, false),
            (Budget, 800.0, 100.01, 1000.0, Some(0.9), None, true),
            (
                Budget,
                950.0,
                60.0,
                1000.0,
                Some(0.9),
                Some(BUDGET_EXCEEDED),
                false,
            ),
        ];
        for (kind, before, amount, limit, above, code, escalates) in cases {
            let j = judge(&[record(kind, before, amount, limit, above)]);
            match (&j, code) {
                (Judgement::Stops(s), Some(code)) => assert_eq!(s.code, code),
                (Judgement::Fits(near), None) => assert_eq!(!near.is_empty(), escalates, "{j:?}"),
                _ => panic!("{kind:?} {before} {amount} {limit}: {j:?}"),
            }
        }
    }

    #[test]
    fn a_duplicate_is_not_charged_again_and_messages_name_the_numbers() {
        let mut r = record(ChargeKind::Budget, 1000.0, 10.0, 1000.0, None);
        r.duplicate = true;
        assert_eq!(judge(&[r]), Judgement::Fits(Vec::new()));
        let Judgement::Stops(s) = judge(&[record(ChargeKind::Budget, 995.0, 10.0, 1000.0, None)])
        else {
            panic!()
        };
        assert_eq!(
            s.message,
            "budget `c` (agent a, day in UTC): limit 1000, spent 995, left 5; this action needs 10"
        );
    }
}
