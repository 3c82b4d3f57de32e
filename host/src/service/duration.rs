//! Durations as people (and Go's `time.Duration`) write them: `500ms`,
//! `30s`, `5m`, `1.5h`, compounds such as `1h30m` or `1m0.5s`, or a bare
//! number of seconds.
//!
//! The grammar (the `Duration` schema of `openapi.yaml`): either a bare
//! number, meaning seconds, or one or more terms `<number><unit>` whose
//! units go from the largest to the smallest, each at most once. A number
//! is digits with an optional fraction (`1`, `1.5`; not `1.` or `.5`). The
//! units are `h`, `m`, `s`, `ms`, `us` (or `µs`) and `ns`. The value is
//! exact to the nanosecond; a finer fraction is dropped (`1.5ns` is 1 ns).
//! A value too long for a `Duration` saturates to `Duration::MAX` (callers
//! clamp it).

use std::time::Duration;

/// The units, largest first: name, rank (smaller is larger), length in
/// nanoseconds.
const UNITS: [(&str, u8, u128); 7] = [
    ("h", 0, 3_600_000_000_000),
    ("m", 1, 60_000_000_000),
    ("s", 2, NANOS_PER_SECOND),
    ("ms", 3, 1_000_000),
    ("us", 4, 1_000),
    ("µs", 4, 1_000),
    ("ns", 5, 1),
];

/// The rank of seconds, the unit of a bare number.
const SECONDS_RANK: u8 = 2;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Parse a duration; the error names what was wrong.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let hint = "try 500ms, 30s, 5m, 2h or 1h30m";
    if text.is_empty() {
        return Err(format!("an empty duration ({hint})"));
    }
    let mut rest = text;
    let mut total: u128 = 0;
    // The rank of the previous term's unit: each term's must be smaller.
    let mut previous: Option<(u8, &str)> = None;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let Some((whole, fraction)) = split_number(number) else {
            return Err(match number.is_empty() {
                true => format!("`{text}` is not a duration ({hint})"),
                false => format!("`{text}`: `{number}` is not a number ({hint})"),
            });
        };
        let (rank, nanos) = match unit {
            // A bare number is seconds, and only on its own.
            "" if previous.is_none() => (SECONDS_RANK, NANOS_PER_SECOND),
            "" => {
                return Err(format!(
                    "`{text}`: `{number}` has no unit (each part of a compound duration needs one: h, m, s, ms, us or ns)"
                ));
            }
            unit => UNITS
                .iter()
                .find(|(name, _, _)| *name == unit)
                .map(|(_, rank, nanos)| (*rank, *nanos))
                .ok_or_else(|| {
                    format!("`{text}`: unknown unit `{unit}` (use h, m, s, ms, us or ns)")
                })?,
        };
        if let Some((before, before_unit)) = previous
            && rank <= before
        {
            return Err(format!(
                "`{text}`: `{unit}` after `{before_unit}` (units go from the largest to the smallest, each once, as in 1h30m)"
            ));
        }
        previous = Some((rank, unit));
        total = total.saturating_add(scaled(whole, fraction, nanos));
        rest = next;
    }
    let seconds = total / NANOS_PER_SECOND;
    let nanos = total % NANOS_PER_SECOND;
    match (u64::try_from(seconds), u32::try_from(nanos)) {
        (Ok(seconds), Ok(nanos)) => Ok(Duration::new(seconds, nanos)),
        // Longer than a Duration holds: as long as it can be.
        _ => Ok(Duration::MAX),
    }
}

/// `digits` or `digits.digits`, split into the whole and fraction digits.
fn split_number(number: &str) -> Option<(&str, &str)> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match number.split_once('.') {
        Some((whole, fraction)) => (digits(whole) && digits(fraction)).then_some((whole, fraction)),
        None => digits(number).then_some((number, "")),
    }
}

/// `whole.fraction` times `unit` nanoseconds, rounded down, saturating.
fn scaled(whole: &str, fraction: &str, unit: u128) -> u128 {
    let whole = whole.bytes().fold(0u128, |n, b| {
        n.saturating_mul(10).saturating_add(u128::from(b - b'0'))
    });
    // floor(0.fraction × unit) by long multiplication from the last
    // digit: the carry out of the fraction's digits is the whole part.
    let carry = fraction
        .bytes()
        .rev()
        .fold(0u128, |carry, b| (u128::from(b - b'0') * unit + carry) / 10);
    whole.saturating_mul(unit).saturating_add(carry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_grammar() {
        let ns = Duration::from_nanos;
        let s = Duration::from_secs;
        // (text, expected: Some(value) or None for an error)
        let cases: &[(&str, Option<Duration>)] = &[
            ("0", Some(Duration::ZERO)),
            ("30", Some(s(30))),
            ("1.5", Some(Duration::from_millis(1500))),
            ("500ms", Some(Duration::from_millis(500))),
            ("30s", Some(s(30))),
            ("5m", Some(s(300))),
            ("1.5h", Some(s(5400))),
            ("1ns", Some(ns(1))),
            ("1.5ns", Some(ns(1))),
            ("0.999ns", Some(ns(0))),
            ("250us", Some(Duration::from_micros(250))),
            ("250µs", Some(Duration::from_micros(250))),
            ("1.5µs", Some(ns(1500))),
            ("0.1s", Some(Duration::from_millis(100))),
            ("0.000000001s", Some(ns(1))),
            ("0.0000000019s", Some(ns(1))),
            ("0.1h", Some(s(360))),
            ("1h1m", Some(s(3660))),
            ("1h30m15s", Some(s(5415))),
            ("1h1m0s", Some(s(3660))),
            ("1m0.5s", Some(Duration::from_millis(60_500))),
            ("2h45m30s500ms", Some(Duration::from_millis(9_930_500))),
            ("1s1ms1us1ns", Some(ns(1_001_001_001))),
            ("1h0.5m", Some(s(3630))),
            ("99999999999999999999999s", Some(Duration::MAX)),
            ("99999999999999999999999h", Some(Duration::MAX)),
            ("18446744073709551615s", Some(Duration::new(u64::MAX, 0))),
            ("18446744073709551616s", Some(Duration::MAX)),
            ("", None),
            ("s", None),
            ("h1", None),
            ("5x", None),
            ("-1s", None),
            ("+1s", None),
            ("five", None),
            ("5 m", None),
            (" 5m", None),
            ("5m ", None),
            ("1.s", None),
            (".5s", None),
            ("1..5s", None),
            ("1.2.3s", None),
            ("1e3s", None),
            ("inf", None),
            ("NaN", None),
            ("1h30", None),
            ("1m1h", None),
            ("1s1s", None),
            ("1us1µs", None),
            ("1ms1s", None),
            ("1d", None),
            ("1sec", None),
            ("1H", None),
        ];
        for (text, expected) in cases {
            match expected {
                Some(value) => assert_eq!(parse_duration(text), Ok(*value), "{text:?}"),
                None => {
                    let error = parse_duration(text).expect_err(text);
                    assert!(
                        error.contains(&format!("`{text}`")) || text.is_empty(),
                        "{error}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,12}") {
            let _ = parse_duration(&text);
        }

        #[test]
        fn seconds_round_trip(n in 0u64..1_000_000) {
            prop_assert_eq!(parse_duration(&format!("{n}s")), Ok(Duration::from_secs(n)));
            prop_assert_eq!(parse_duration(&format!("{n}ms")), Ok(Duration::from_millis(n)));
            prop_assert_eq!(parse_duration(&format!("{n}ns")), Ok(Duration::from_nanos(n)));
        }

        #[test]
        fn compounds_add_up(h in 0u64..1000, m in 0u64..1000, s in 0u64..1000, ms in 0u64..1000) {
            prop_assert_eq!(
                parse_duration(&format!("{h}h{m}m{s}s{ms}ms")),
                Ok(Duration::from_secs(h * 3600 + m * 60 + s) + Duration::from_millis(ms))
            );
        }

        #[test]
        fn fractions_are_exact_to_the_nanosecond(whole in 0u64..1_000_000, nanos in 0u32..1_000_000_000) {
            prop_assert_eq!(
                parse_duration(&format!("{whole}.{nanos:09}s")),
                Ok(Duration::new(whole, nanos))
            );
        }
    }
}
