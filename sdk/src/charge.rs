//! Charges: what an approved action costs against the host's counters.
//!
//! A policy declares charges; the host checks and reserves them. When the
//! final decision approves (or escalates), the host applies every charge
//! of every policy atomically: a charge that would pass its limit turns
//! the decision into a deny (`budget-exceeded` or `rate-limited`), one
//! that takes its counter past `escalate_above` turns an approve into an
//! escalate (`budget-near-limit`). Only approved actions are counted.

use crate::bindings::exports::gavel::policy::policy as wit;
use crate::history::Scope;
use crate::identifier::identifier_problem;

/// The longest rolling window the host accepts: 366 days.
pub const MAX_ROLLING_MS: u64 = 366 * 24 * 60 * 60 * 1000;

/// The largest amount or limit the host counts (9 × 10^9: in millionths,
/// every one is an exact integer below 2^53).
pub const MAX_CHARGE_AMOUNT: f64 = 9e9;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChargeKind {
    /// A spend budget: over its limit the host denies `budget-exceeded`.
    Budget,
    /// A rate: over its limit the host denies `rate-limited`.
    Rate,
}

/// A calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// From :00 to the next hour.
    Hour,
    /// From local midnight to the next.
    Day,
    /// From the first of the month to the first of the next.
    Month,
}

impl Period {
    /// `hour`, `day` or `month`.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    /// The period named `text` (`hour`, `day` or `month`, any ASCII case).
    pub fn parse(text: &str) -> Option<Period> {
        [Period::Hour, Period::Day, Period::Month]
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(text))
    }
}

/// The window a counter counts in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Window {
    /// The current hour, day or month as the clock reads in `timezone`;
    /// it resets at the start of each period.
    Calendar {
        /// Hour, day or month.
        period: Period,
        /// An IANA time zone name such as `Europe/Paris`, or `UTC`.
        timezone: String,
    },
    /// The last `ms` milliseconds, exactly (1 ms .. 366 days).
    Rolling {
        /// The window's length in milliseconds.
        ms: u64,
    },
}

impl Window {
    /// The current calendar `period` in `timezone`.
    pub fn calendar(period: Period, timezone: impl Into<String>) -> Self {
        Window::Calendar {
            period,
            timezone: timezone.into(),
        }
    }

    /// The last `ms` milliseconds.
    pub fn rolling_ms(ms: u64) -> Self {
        Window::Rolling { ms }
    }
}

/// A charge against one of the host's counters: build one with
/// [`Charge::budget`] or [`Charge::rate`] and attach it to a verdict with
/// [`Verdict::with_charge`](crate::Verdict::with_charge).
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    /// The counter's name, under the name contract of actions (1–128
    /// ASCII letters, digits, `_`, `-`, `.`, `:` or `/`). The host keeps
    /// one counter per name, scope and window.
    pub counter: String,
    /// Budget or rate.
    pub kind: ChargeKind,
    /// Whose counter: the request's agent, session or user, or the fleet.
    /// A request without the session or user a charge needs is denied
    /// `scope-missing`.
    pub scope: Scope,
    /// The window the counter counts in.
    pub window: Window,
    /// What this action adds: its amount for a budget, 1 for a rate.
    pub amount: f64,
    /// The most the counter may hold in one window.
    pub limit: f64,
    /// A fraction of `limit` in (0, 1]: a charge that takes the counter
    /// past it makes an approve an escalate.
    pub escalate_above: Option<f64>,
}

impl Charge {
    /// A spend of `amount` against the budget `counter`, which may hold at
    /// most `limit` per window.
    pub fn budget(
        counter: impl Into<String>,
        scope: Scope,
        window: Window,
        amount: f64,
        limit: f64,
    ) -> Self {
        Charge {
            counter: counter.into(),
            kind: ChargeKind::Budget,
            scope,
            window,
            amount,
            limit,
            escalate_above: None,
        }
    }

    /// One action against the rate `counter`, which allows at most `limit`
    /// actions per window.
    pub fn rate(counter: impl Into<String>, scope: Scope, window: Window, limit: u64) -> Self {
        Charge {
            counter: counter.into(),
            kind: ChargeKind::Rate,
            scope,
            window,
            amount: 1.0,
            // Exact for every limit a policy could mean (up to 2^53).
            limit: limit as f64,
            escalate_above: None,
        }
    }

    /// Escalate an approve when this charge takes the counter past
    /// `fraction` of its limit (in (0, 1]).
    pub fn escalate_above(mut self, fraction: f64) -> Self {
        self.escalate_above = Some(fraction);
        self
    }

    /// Why the host would refuse this charge, if it would: the checks the
    /// host makes, for a policy's own tests. (The SDK hands every charge
    /// over as it is; the host refuses a bad one, and the policy's run
    /// then fails closed.)
    pub fn problem(&self) -> Option<String> {
        let counter = &self.counter;
        if let Some(problem) = identifier_problem(counter) {
            return Some(format!("charge counter: {problem}"));
        }
        match &self.window {
            Window::Calendar { timezone, .. } if timezone.is_empty() || timezone.len() > 64 => {
                return Some(format!("charge `{counter}`: timezone must be 1..64 bytes"));
            }
            Window::Rolling { ms } if *ms == 0 || *ms > MAX_ROLLING_MS => {
                return Some(format!(
                    "charge `{counter}`: a rolling window of {ms} ms is outside 1..={MAX_ROLLING_MS} (366 days)"
                ));
            }
            _ => {}
        }
        for (what, value) in [("amount", self.amount), ("limit", self.limit)] {
            if !value.is_finite() || !(0.0..=MAX_CHARGE_AMOUNT).contains(&value) {
                return Some(format!(
                    "charge `{counter}`: {what} {value} is not a finite number in 0..=9e9"
                ));
            }
        }
        match self.escalate_above {
            Some(f) if !(f > 0.0 && f <= 1.0) => Some(format!(
                "charge `{counter}`: escalate_above {f} is not in (0, 1]"
            )),
            _ => None,
        }
    }
}

impl From<Charge> for wit::Charge {
    fn from(c: Charge) -> Self {
        wit::Charge {
            counter: c.counter,
            kind: match c.kind {
                ChargeKind::Budget => wit::ChargeKind::Budget,
                ChargeKind::Rate => wit::ChargeKind::Rate,
            },
            scope: c.scope.into(),
            window: match c.window {
                Window::Calendar { period, timezone } => wit::Window::Calendar(wit::Calendar {
                    period: match period {
                        Period::Hour => wit::Period::Hour,
                        Period::Day => wit::Period::Day,
                        Period::Month => wit::Period::Month,
                    },
                    timezone,
                }),
                Window::Rolling { ms } => wit::Window::Rolling(ms),
            },
            amount: c.amount,
            limit: c.limit,
            escalate_above: c.escalate_above,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> Window {
        Window::calendar(Period::Day, "UTC")
    }

    #[test]
    fn problems_are_the_hosts_checks() {
        // (charge, a part of the problem, or None when the host accepts it)
        let cases: Vec<(Charge, Option<&str>)> = vec![
            (
                Charge::budget("budget", Scope::Agent, day(), 10.0, 100.0),
                None,
            ),
            (
                Charge::budget("budget", Scope::Agent, day(), 0.0, 0.0).escalate_above(1.0),
                None,
            ),
            (
                Charge::rate("rate:send_email", Scope::Agent, Window::rolling_ms(1), 1),
                None,
            ),
            (
                Charge::rate("rate", Scope::Agent, Window::rolling_ms(MAX_ROLLING_MS), 1),
                None,
            ),
            (
                Charge::rate("rate*", Scope::Agent, Window::rolling_ms(1), 1),
                Some("charge counter: character 4 (U+002A)"),
            ),
            (
                Charge::rate("", Scope::Agent, Window::rolling_ms(1), 1),
                Some("charge counter: is empty"),
            ),
            (
                Charge::rate("rate", Scope::Agent, Window::rolling_ms(0), 1),
                Some("rolling window of 0 ms"),
            ),
            (
                Charge::rate(
                    "rate",
                    Scope::Agent,
                    Window::rolling_ms(MAX_ROLLING_MS + 1),
                    1,
                ),
                Some("(366 days)"),
            ),
            (
                Charge::budget(
                    "b",
                    Scope::Fleet,
                    Window::calendar(Period::Hour, ""),
                    1.0,
                    1.0,
                ),
                Some("timezone must be 1..64 bytes"),
            ),
            (
                Charge::budget("b", Scope::Agent, day(), -1.0, 1.0),
                Some("amount -1 is not"),
            ),
            (
                Charge::budget("b", Scope::Agent, day(), f64::NAN, 1.0),
                Some("amount NaN is not"),
            ),
            (
                Charge::budget("b", Scope::Agent, day(), 1.0, 2e15),
                Some("limit 2000000000000000 is not"),
            ),
            (
                Charge::budget("b", Scope::Agent, day(), 1.0, 1.0).escalate_above(0.0),
                Some("escalate_above 0 is not in (0, 1]"),
            ),
            (
                Charge::budget("b", Scope::Agent, day(), 1.0, 1.0).escalate_above(1.5),
                Some("escalate_above 1.5 is not in (0, 1]"),
            ),
        ];
        for (charge, expected) in cases {
            match (charge.problem(), expected) {
                (None, None) => {}
                (Some(problem), Some(part)) => {
                    assert!(problem.contains(part), "{charge:?}: {problem}")
                }
                (got, _) => panic!("{charge:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn converts_to_the_contract() {
        let charge = Charge::budget(
            "budget.fleet",
            Scope::Fleet,
            Window::calendar(Period::Month, "Europe/Paris"),
            12.5,
            1000.0,
        )
        .escalate_above(0.9);
        let wit::Charge {
            counter,
            kind,
            scope,
            window,
            amount,
            limit,
            escalate_above,
        } = charge.into();
        assert_eq!(counter, "budget.fleet");
        assert!(matches!(kind, wit::ChargeKind::Budget));
        assert!(matches!(
            scope,
            crate::bindings::gavel::policy::history::Scope::Fleet
        ));
        assert!(matches!(
            window,
            wit::Window::Calendar(wit::Calendar { period: wit::Period::Month, ref timezone })
                if timezone == "Europe/Paris"
        ));
        assert_eq!((amount, limit, escalate_above), (12.5, 1000.0, Some(0.9)));
        let rate: wit::Charge =
            Charge::rate("rate", Scope::Session, Window::rolling_ms(60_000), 5).into();
        assert!(matches!(rate.kind, wit::ChargeKind::Rate));
        assert!(matches!(rate.window, wit::Window::Rolling(60_000)));
        assert_eq!(
            (rate.amount, rate.limit, rate.escalate_above),
            (1.0, 5.0, None)
        );
    }

    #[test]
    fn periods_by_name() {
        let cases = [
            ("hour", Some(Period::Hour)),
            ("Day", Some(Period::Day)),
            ("MONTH", Some(Period::Month)),
            ("week", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(Period::parse(text), expected, "{text}");
        }
    }
}
