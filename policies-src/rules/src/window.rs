//! History windows, as rules write them: `"1h"`, `"30m"`, `"7d"`,
//! `"500ms"`, or a CEL duration (`duration("90m")`).

use gavel_sdk::history::MAX_WINDOW_MS;

/// The units a window string may use, in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parse a window string: digits then one unit of `ms`, `s`, `m`, `h`,
/// `d`; 1 ms .. 31 days.
pub fn parse_window(text: &str) -> Result<u64, String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let factor = UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, f)| *f)
        .filter(|_| !number.is_empty())
        .ok_or_else(|| {
            format!("window {text:?} is not a number and a unit (ms, s, m, h or d), e.g. \"1h\"")
        })?;
    let ms = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .unwrap_or(u64::MAX);
    check_window_ms(ms).map_err(|e| format!("window {text:?}: {e}"))
}

/// Check a window length: 1 ms .. 31 days.
pub fn check_window_ms(ms: u64) -> Result<u64, String> {
    if ms == 0 || ms > MAX_WINDOW_MS {
        return Err("a window is 1 ms .. 31 days".to_owned());
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_row_by_row() {
        // (text, milliseconds or a part of the error)
        let cases: [(&str, Result<u64, &str>); 10] = [
            ("1h", Ok(3_600_000)),
            ("30m", Ok(1_800_000)),
            ("500ms", Ok(500)),
            ("7d", Ok(7 * 86_400_000)),
            ("31d", Ok(MAX_WINDOW_MS)),
            ("32d", Err("1 ms .. 31 days")),
            ("0s", Err("1 ms .. 31 days")),
            ("h", Err("a number and a unit")),
            ("1.5h", Err("a number and a unit")),
            ("99999999999999999999d", Err("1 ms .. 31 days")),
        ];
        for (text, expected) in cases {
            match (parse_window(text), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(e), Err(part)) => assert!(e.contains(part), "{text}: {e}"),
                (got, _) => panic!("{text}: expected {expected:?}, got {got:?}"),
            }
        }
    }
}
