//! The counter each `[actions]` entry charges, named after its pattern.
//!
//! Counter names follow the name contract of actions (1–128 ASCII letters,
//! digits, `_`, `-`, `.`, `:` or `/`), so a pattern's `*` cannot appear in
//! one:
//!
//! - an action name → `rate:` and the name: `send_email` → `rate:send_email`;
//! - a prefix → `rate.prefix:` and the prefix: `send_*` → `rate.prefix:send_`,
//!   and `*` → `rate.prefix:`.
//!
//! Names are in ASCII lower case, as patterns match: `Send_Email` and
//! `send_email` are one counter. The limit of every agent's own actions
//! (`per_agent`) is the counter `rate`.

use gavel_sdk::{ActionPattern, MAX_IDENTIFIER_CHARS};

/// The counter of `per_agent`.
pub const AGENT_COUNTER: &str = "rate";

/// The counter of an `[actions]` entry, or why the pattern is too long to
/// name one.
pub fn counter_for(pattern: &ActionPattern) -> Result<String, String> {
    let name = match pattern {
        ActionPattern::Exact(name) => format!("rate:{}", name.to_ascii_lowercase()),
        ActionPattern::Prefix(prefix) => format!("rate.prefix:{}", prefix.to_ascii_lowercase()),
        ActionPattern::Any => "rate.prefix:".to_owned(),
    };
    if name.len() > MAX_IDENTIFIER_CHARS {
        return Err(format!(
            "the pattern is too long to name its counter `rate:<name>` or `rate.prefix:<prefix>` (at most {MAX_IDENTIFIER_CHARS} characters)"
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_sdk::identifier_problem;

    #[test]
    fn names_row_by_row() {
        let long = "a".repeat(123);
        let too_long = "a".repeat(124);
        let long_prefix = format!("{}*", "a".repeat(116));
        let too_long_prefix = format!("{}*", "a".repeat(117));
        // (pattern, counter or None when too long)
        let cases: [(&str, Option<String>); 8] = [
            ("send_email", Some("rate:send_email".into())),
            ("Send_Email", Some("rate:send_email".into())),
            ("mcp:shop/pay.v2", Some("rate:mcp:shop/pay.v2".into())),
            ("send_*", Some("rate.prefix:send_".into())),
            ("*", Some("rate.prefix:".into())),
            (&long, Some(format!("rate:{long}"))),
            (&too_long, None),
            (&too_long_prefix, None),
        ];
        for (pattern, expected) in cases {
            let got = counter_for(&ActionPattern::parse(pattern).unwrap()).ok();
            assert_eq!(got, expected, "{pattern}");
            if let Some(name) = got {
                assert_eq!(identifier_problem(&name), None, "{name}");
            }
        }
        let name = counter_for(&ActionPattern::parse(&long_prefix).unwrap()).unwrap();
        assert_eq!(name.len(), MAX_IDENTIFIER_CHARS);
    }
}
