//! `per`: a window's length, written as an integer and a unit.

use gavel_sdk::MAX_ROLLING_MS;

/// The units of `per`, and their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// The length of `text` in milliseconds: an integer and a unit `ms`, `s`,
/// `m`, `h` or `d` (`30m`, `1h`, `1d`), from 1 ms to 366 days. The error
/// says what is wrong, without the key.
pub fn parse_per(text: &str) -> Result<u64, String> {
    let grammar = || {
        format!(
            "`{}` is not a duration: write an integer and a unit ms, s, m, h or d, e.g. `30m` or `1h`",
            text.escape_default()
        )
    };
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at_checked(digits).ok_or_else(grammar)?;
    let factor = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, factor)| *factor)
        .ok_or_else(grammar)?;
    // At most 12 digits: any more is past 366 days in every unit.
    if number.is_empty() || number.len() > 12 {
        return Err(grammar());
    }
    let n: u64 = number.parse().map_err(|_| grammar())?;
    let ms = n.saturating_mul(factor);
    if ms == 0 || ms > MAX_ROLLING_MS {
        return Err(format!(
            "`{text}` is outside 1ms..366d (a rolling window of 1 ms to 366 days)"
        ));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_row_by_row() {
        // (text, milliseconds or a part of the error)
        let cases: [(&str, Result<u64, &str>); 18] = [
            ("1ms", Ok(1)),
            ("30s", Ok(30_000)),
            ("30m", Ok(1_800_000)),
            ("1h", Ok(3_600_000)),
            ("1d", Ok(86_400_000)),
            ("366d", Ok(MAX_ROLLING_MS)),
            ("8784h", Ok(MAX_ROLLING_MS)),
            ("0500ms", Ok(500)),
            ("367d", Err("outside 1ms..366d")),
            ("0s", Err("outside 1ms..366d")),
            ("999999999999d", Err("outside 1ms..366d")),
            ("9999999999999ms", Err("is not a duration")),
            ("1w", Err("is not a duration")),
            ("1H", Err("is not a duration")),
            ("h", Err("is not a duration")),
            ("1 h", Err("is not a duration")),
            ("-1h", Err("is not a duration")),
            ("1.5h", Err("is not a duration")),
        ];
        for (text, expected) in cases {
            match (parse_per(text), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(e), Err(part)) => assert!(e.contains(part), "{text}: {e}"),
                (got, _) => panic!("{text}: expected {expected:?}, got {got:?}"),
            }
        }
        assert!(parse_per("").is_err());
    }
}
