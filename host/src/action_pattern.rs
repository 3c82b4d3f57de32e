//! The manifest's `applies_to` patterns: an exact action name, `*` for
//! every action, or a prefix wildcard such as `send_*`.

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
    /// Parse a pattern. Only a trailing `*` is a wildcard.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("an action pattern must not be empty".to_owned());
        }
        let (body, wildcard) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return Err(format!("`{text}`: `*` is allowed only at the end"));
        }
        Ok(match (body.is_empty(), wildcard) {
            (true, _) => ActionPattern::Any,
            (false, true) => ActionPattern::Prefix(body.to_owned()),
            (false, false) => ActionPattern::Exact(body.to_owned()),
        })
    }

    /// Whether `action` matches.
    pub fn matches(&self, action: &str) -> bool {
        match self {
            ActionPattern::Any => true,
            ActionPattern::Prefix(p) => action.starts_with(p.as_str()),
            ActionPattern::Exact(e) => action == e,
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
        ];
        for (pattern, action, expected) in cases {
            let p = ActionPattern::parse(pattern).unwrap();
            assert_eq!(p.matches(action), expected, "{pattern} vs {action}");
        }
    }

    #[test]
    fn refuses_inner_wildcards() {
        for bad in ["", "a*b", "**", "*a"] {
            assert!(ActionPattern::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(text in "[a-z_]{0,8}\\*?") {
            if let Ok(p) = ActionPattern::parse(&text) {
                prop_assert_eq!(ActionPattern::parse(&p.to_string()).unwrap(), p);
            }
        }

        #[test]
        fn prefix_matches_exactly_the_extensions(prefix in "[a-z_]{1,6}", rest in "[a-z_]{0,6}", other in "[a-z_]{1,12}") {
            let p = ActionPattern::parse(&format!("{prefix}*")).unwrap();
            let extended = format!("{prefix}{rest}");
            prop_assert!(p.matches(&extended));
            prop_assert_eq!(p.matches(&other), other.starts_with(&prefix));
        }
    }
}
