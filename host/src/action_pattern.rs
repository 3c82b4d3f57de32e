//! The manifest's `applies_to` patterns: an exact action name, `*` for
//! every action, or a prefix wildcard such as `send_*`.
//!
//! Patterns match ASCII-case-insensitively, like every list of names (see
//! [`crate::identifier`]): `send_*` matches `SEND_email`, and
//! `delete_account` matches `Delete_Account`. A pattern's text follows the
//! action-name contract (with an optional trailing `*`), since a pattern
//! holding a space or an invisible character could never match a valid
//! action and would leave its policy silently unapplied.

use crate::identifier::validate_identifier;
use std::fmt;

/// A pattern over action names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionPattern {
    /// `*`
    Any,
    /// `prefix*`
    Prefix(String),
    /// An exact name.
    Exact(String),
}

impl ActionPattern {
    /// Parse a pattern. Only a trailing `*` is a wildcard; the rest is an
    /// action name.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("an action pattern must not be empty".to_owned());
        }
        let (body, wildcard) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return Err(format!(
                "`{}`: `*` is allowed only at the end",
                text.escape_default()
            ));
        }
        if !body.is_empty() {
            validate_identifier(body).map_err(|e| {
                format!(
                    "`{}`: an action pattern is an action name, optionally ending in `*`; it {e}",
                    text.escape_default()
                )
            })?;
        }
        Ok(match (body.is_empty(), wildcard) {
            (true, _) => ActionPattern::Any,
            (false, true) => ActionPattern::Prefix(body.to_owned()),
            (false, false) => ActionPattern::Exact(body.to_owned()),
        })
    }

    /// Whether `action` matches, ASCII case folded.
    pub fn matches(&self, action: &str) -> bool {
        match self {
            ActionPattern::Any => true,
            ActionPattern::Prefix(p) => action
                .as_bytes()
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes())),
            ActionPattern::Exact(e) => action.eq_ignore_ascii_case(e),
        }
    }
}

impl fmt::Display for ActionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionPattern::Any => f.write_str("*"),
            ActionPattern::Prefix(p) => write!(f, "{p}*"),
            ActionPattern::Exact(e) => f.write_str(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_by_kind() {
        let cases = [
            ("*", "anything", true),
            ("send_*", "send_email", true),
            ("send_*", "resend_email", false),
            ("send_email", "send_email", true),
            ("send_email", "send_email2", false),
            // ASCII case is folded, both ways.
            ("send_*", "SEND_email", true),
            ("SEND_*", "send_email", true),
            ("delete_account", "Delete_Account", true),
            ("Delete_Account", "delete_account", true),
            ("delete_account", "DELETE_ACCOUNT_2", false),
            // Nothing else is folded or trimmed.
            ("delete_account", "delete_account ", false),
            ("delete_account", "delete\u{200b}account", false),
            ("delete_*", "dеlete_account", false), // Cyrillic `е`
            ("delete_*", "ｄelete_account", false), // full-width `ｄ`
            ("delete_*", "delete", false),
        ];
        for (pattern, action, expected) in cases {
            let p = ActionPattern::parse(pattern).unwrap();
            assert_eq!(p.matches(action), expected, "{pattern} vs {action:?}");
        }
    }

    #[test]
    fn refuses_inner_wildcards_and_names_outside_the_contract() {
        // (pattern, a part of the error)
        let cases = [
            ("", "must not be empty"),
            ("a*b", "only at the end"),
            ("**", "only at the end"),
            ("*a", "only at the end"),
            ("delete_account ", "U+0020 (space) at character 14"),
            ("delete\u{200b}account", "U+200B (zero-width space)"),
            ("delete\u{200b}*", "U+200B (zero-width space)"),
            ("dеlete_account", "U+0435"),
            ("send email*", "U+0020 (space)"),
        ];
        for (bad, expected) in cases {
            let e = ActionPattern::parse(bad).unwrap_err();
            assert!(e.contains(expected), "{bad:?}: {e}");
            assert!(!e.contains('\u{200b}'), "{bad:?}: {e}");
        }
        assert!(ActionPattern::parse(&"a".repeat(128)).is_ok());
        assert!(ActionPattern::parse(&format!("{}*", "a".repeat(128))).is_ok());
        assert!(ActionPattern::parse(&"a".repeat(129)).is_err());
    }

    proptest! {
        #[test]
        fn display_round_trips(text in "[a-zA-Z_]{0,8}\\*?") {
            if let Ok(p) = ActionPattern::parse(&text) {
                prop_assert_eq!(ActionPattern::parse(&p.to_string()).unwrap(), p);
            }
        }

        #[test]
        fn prefix_matches_exactly_the_extensions(prefix in "[a-zA-Z_]{1,6}", rest in "[a-zA-Z_]{0,6}", other in "[a-zA-Z_]{1,12}") {
            let p = ActionPattern::parse(&format!("{prefix}*")).unwrap();
            let extended = format!("{prefix}{rest}");
            prop_assert!(p.matches(&extended));
            prop_assert!(p.matches(&extended.to_ascii_uppercase()));
            prop_assert_eq!(
                p.matches(&other),
                other.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase())
            );
        }

        #[test]
        fn exact_matches_modulo_ascii_case(name in "[a-zA-Z_]{1,12}", other in "[a-zA-Z_]{1,12}") {
            let p = ActionPattern::parse(&name).unwrap();
            prop_assert_eq!(p.matches(&other), name.eq_ignore_ascii_case(&other));
        }
    }
}
