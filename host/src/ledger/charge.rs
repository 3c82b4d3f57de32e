//! [`Charge`]: what a policy asks the host to count against a counter, as
//! the host checks, records and applies it.

use crate::bindings::v0_3 as wit;
use crate::history::Scope;
use crate::identifier::validate_identifier;
use serde::{Deserialize, Serialize};

/// The longest rolling window: 366 days.
pub const MAX_ROLLING_MS: u64 = 366 * 24 * 3_600_000;

/// Most charges one policy may attach to one outcome.
pub const MAX_CHARGES_PER_OUTCOME: usize = 16;

/// Amounts are counted exactly, in millionths: a counter is a sum of
/// integers, so 100 charges of 10.00 fill a limit of 1,000.00 exactly.
pub const UNITS_PER_ONE: f64 = 1_000_000.0;

/// The largest amount or limit a charge may carry: 9 × 10^9. In
/// millionths that is 9 × 10^15, below 2^53, so every amount and limit is
/// an exact integer both in an `i64` and in a double (the arithmetic of
/// Redis' server-side scripts); a larger one would round, and two
/// different amounts would count as the same.
pub const MAX_AMOUNT: f64 = 9e9;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChargeKind {
    /// A spend budget (`budget-exceeded` past its limit).
    Budget,
    /// A rate (`rate-limited` past its limit).
    Rate,
}

impl ChargeKind {
    /// `budget` or `rate`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeKind::Budget => "budget",
            ChargeKind::Rate => "rate",
        }
    }
}

/// A calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// From :00 to the next hour.
    Hour,
    /// From midnight to midnight.
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
}

/// The window a counter counts in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Window {
    /// The current calendar period in a time zone.
    Calendar {
        /// Hour, day or month.
        period: Period,
        /// An IANA time zone name.
        timezone: String,
    },
    /// The last `ms` milliseconds, exactly.
    Rolling {
        /// The window's length.
        ms: u64,
    },
}

/// One charge, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Charge {
    /// The counter's name.
    pub counter: String,
    /// Budget or rate.
    pub kind: ChargeKind,
    /// Whose counter.
    pub scope: Scope,
    /// Which window.
    pub window: Window,
    /// What the action adds.
    pub amount: f64,
    /// The most the counter may hold in one window.
    pub limit: f64,
    /// The fraction of `limit` past which an approve escalates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_above: Option<f64>,
}

/// An amount in exact units.
pub fn units(amount: f64) -> i64 {
    // Checked finite and within MAX_AMOUNT before this is called; the
    // cast saturates, so even a bad value cannot wrap.
    (amount * UNITS_PER_ONE).round() as i64
}

/// Units back to an amount, for messages and usage.
pub fn amount(units: i64) -> f64 {
    units as f64 / UNITS_PER_ONE
}

impl Charge {
    /// A policy's charge, checked against the contract; the error says
    /// what is wrong (the policy's run then fails as an invalid outcome).
    pub fn from_wit(charge: &wit::Charge) -> Result<Self, String> {
        validate_identifier(&charge.counter)
            .map_err(|e| format!("charge counter {:?}: {e}", shown(&charge.counter)))?;
        let window = match &charge.window {
            wit::Window::Calendar(c) => {
                if c.timezone.is_empty() || c.timezone.len() > 64 {
                    return Err(format!(
                        "charge `{}`: timezone must be 1..64 bytes",
                        charge.counter
                    ));
                }
                Window::Calendar {
                    period: match c.period {
                        wit::Period::Hour => Period::Hour,
                        wit::Period::Day => Period::Day,
                        wit::Period::Month => Period::Month,
                    },
                    timezone: c.timezone.clone(),
                }
            }
            wit::Window::Rolling(ms) => {
                if *ms == 0 || *ms > MAX_ROLLING_MS {
                    return Err(format!(
                        "charge `{}`: a rolling window of {ms} ms is outside 1..={MAX_ROLLING_MS} (366 days)",
                        charge.counter
                    ));
                }
                Window::Rolling { ms: *ms }
            }
        };
        for (what, value) in [("amount", charge.amount), ("limit", charge.limit)] {
            if !value.is_finite() || !(0.0..=MAX_AMOUNT).contains(&value) {
                return Err(format!(
                    "charge `{}`: {what} {value} is not a finite number in 0..=9e9",
                    charge.counter
                ));
            }
        }
        if let Some(f) = charge.escalate_above
            && !(f > 0.0 && f <= 1.0)
        {
            return Err(format!(
                "charge `{}`: escalate-above {f} is not in (0, 1]",
                charge.counter
            ));
        }
        Ok(Charge {
            counter: charge.counter.clone(),
            kind: match charge.kind {
                wit::ChargeKind::Budget => ChargeKind::Budget,
                wit::ChargeKind::Rate => ChargeKind::Rate,
            },
            scope: match charge.scope {
                wit::Scope::Agent => Scope::Agent,
                wit::Scope::Session => Scope::Session,
                wit::Scope::User => Scope::User,
                wit::Scope::Fleet => Scope::Fleet,
            },
            window,
            amount: charge.amount,
            limit: charge.limit,
            escalate_above: charge.escalate_above,
        })
    }
}

fn shown(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wit_charge() -> wit::Charge {
        wit::Charge {
            counter: "budget".to_owned(),
            kind: wit::ChargeKind::Budget,
            scope: wit::Scope::Agent,
            window: wit::Window::Calendar(wit::Calendar {
                period: wit::Period::Day,
                timezone: "UTC".to_owned(),
            }),
            amount: 10.0,
            limit: 1000.0,
            escalate_above: Some(0.9),
        }
    }

    #[test]
    fn checks_every_field() {
        type Edit = fn(&mut wit::Charge);
        // (edit, accepted)
        let cases: [(Edit, bool); 15] = [
            (|_| {}, true),
            (|c| c.counter = "budget fleet".to_owned(), false),
            (|c| c.counter = String::new(), false),
            (|c| c.amount = f64::NAN, false),
            (|c| c.amount = -1.0, false),
            (|c| c.limit = f64::INFINITY, false),
            (|c| c.limit = 2e15, false),
            (|c| c.limit = 9.000_000_001e9, false),
            (|c| c.amount = 1e13, false),
            (|c| c.limit = 9e9, true),
            (|c| c.escalate_above = Some(0.0), false),
            (|c| c.escalate_above = Some(1.0), true),
            (|c| c.window = wit::Window::Rolling(0), false),
            (
                |c| c.window = wit::Window::Rolling(MAX_ROLLING_MS + 1),
                false,
            ),
            (|c| c.window = wit::Window::Rolling(3_600_000), true),
        ];
        for (i, (edit, ok)) in cases.into_iter().enumerate() {
            let mut c = wit_charge();
            edit(&mut c);
            assert_eq!(Charge::from_wit(&c).is_ok(), ok, "case {i}");
        }
    }

    #[test]
    fn units_are_exact_for_cents() {
        let total: i64 = (0..100).map(|_| units(10.0)).sum();
        assert_eq!(total, units(1000.0));
        let tenths: i64 = (0..10).map(|_| units(0.1)).sum();
        assert_eq!(tenths, units(1.0));
        assert_eq!(amount(units(12.34)), 12.34);
    }

    #[test]
    fn units_are_exact_up_to_the_largest_amount() {
        // Every amount up to MAX_AMOUNT becomes an exact integer of
        // millionths, in an i64 and in a double: sums add up exactly, and
        // cents stay distinct even at the top (where a double itself no
        // longer holds single millionths).
        let top = units(MAX_AMOUNT);
        assert_eq!(top, 9_000_000_000_000_000);
        assert!(top < 1 << 53);
        assert_eq!(top as f64 as i64, top);
        assert_eq!(units(MAX_AMOUNT - 0.01), top - 10_000);
        assert_eq!(units(1e9 + 0.000_001), 1_000_000_000_000_001);
        assert_eq!(units(4.5e9) + units(4.5e9), top);
        assert_eq!(amount(units(MAX_AMOUNT)), MAX_AMOUNT);
        // 100 charges of a hundredth of the top fill it exactly.
        let part = units(MAX_AMOUNT / 100.0);
        assert_eq!((0..100).map(|_| part).sum::<i64>(), top);
    }

    #[test]
    fn charges_round_trip_as_json() {
        let c = Charge::from_wit(&wit_charge()).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Charge>(&json).unwrap(), c);
        let rolling = Window::Rolling { ms: 5 };
        assert_eq!(
            serde_json::to_string(&rolling).unwrap(),
            r#"{"type":"rolling","ms":5}"#
        );
    }
}
