//! Action-name patterns: an exact name, `*` for every action, or a prefix
//! wildcard such as `delete_*`.
//!
//! Patterns match ASCII-case-insensitively: `delete_account` matches
//! `Delete_Account` and `send_*` matches `SEND_email`, as the host's
//! `applies_to` does. Nothing else is folded or trimmed; the host never
//! hands a policy an action with a space, a control character or a
//! character outside ASCII (see [`crate::identifier_problem`]). A pattern
//! is an action name, optionally ending in `*`: one that holds a character
//! no action can hold could never match, so it is refused.

use crate::identifier::identifier_problem;

/// A pattern over action names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionPattern {
    /// `*`: every action.
    Any,
    /// `prefix*`: every action that starts with the prefix (ASCII case
    /// folded).
    Prefix(String),
    /// An exact action name (ASCII case folded).
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
                "action pattern `{text}`: `*` is allowed only at the end"
            ));
        }
        if !body.is_empty()
            && let Some(problem) = identifier_problem(body)
        {
            return Err(format!(
                "an action pattern is an action name, optionally ending in `*`: {problem}"
            ));
        }
        Ok(match (body.is_empty(), wildcard) {
            (true, _) => ActionPattern::Any,
            (false, true) => ActionPattern::Prefix(body.to_owned()),
            (false, false) => ActionPattern::Exact(body.to_owned()),
        })
    }

    /// Parse a list of patterns; the error names the config `key`.
    pub fn parse_list(key: &str, texts: &[String]) -> Result<Vec<Self>, crate::ConfigError> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Self::parse(t).map_err(|e| crate::ConfigError::key(&format!("{key}[{i}]"), e))
            })
            .collect()
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

    /// Whether any pattern in `patterns` matches `action`.
    pub fn any_matches(patterns: &[Self], action: &str) -> bool {
        patterns.iter().any(|p| p.matches(action))
    }

    /// The interest of a policy that judges exactly the actions matching
    /// `patterns` (see [`Policy::interest`](crate::Policy::interest)):
    /// the patterns as text, or `None` when one of them is `*`.
    pub fn interest(patterns: &[Self]) -> Option<Vec<String>> {
        if patterns.contains(&ActionPattern::Any) {
            return None;
        }
        Some(patterns.iter().map(ToString::to_string).collect())
    }
}

/// The pattern as written: `*`, `prefix*` or the name.
impl std::fmt::Display for ActionPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

    #[test]
    fn matches_by_kind() {
        let cases = [
            ("*", "anything", true),
            ("delete_*", "delete_user", true),
            ("delete_*", "delete_", true),
            ("delete_*", "undelete_user", false),
            ("send_email", "send_email", true),
            ("send_email", "send_emails", false),
            // ASCII case is folded, both ways.
            ("delete_account", "Delete_Account", true),
            ("Delete_Account", "delete_account", true),
            ("send_*", "SEND_email", true),
            ("SEND_*", "send_email", true),
            // Nothing else is.
            ("delete_account", "delete_account ", false),
            ("delete_account", "delete\u{200b}account", false),
            ("delete_*", "dеlete_user", false),
            ("delete_*", "ｄelete_user", false),
            ("delete_*", "delete", false),
        ];
        for (pattern, action, expected) in cases {
            let p = ActionPattern::parse(pattern).unwrap();
            assert_eq!(p.matches(action), expected, "{pattern} vs {action:?}");
        }
    }

    #[test]
    fn interest_is_the_patterns_unless_one_is_everything() {
        // (patterns, interest)
        let cases: [(&[&str], Option<&[&str]>); 4] = [
            (&[], Some(&[])),
            (
                &["send_email", "Delete_*"],
                Some(&["send_email", "Delete_*"]),
            ),
            (&["send_email", "*"], None),
            (&["*"], None),
        ];
        for (texts, expected) in cases {
            let patterns: Vec<ActionPattern> = texts
                .iter()
                .map(|t| ActionPattern::parse(t).unwrap())
                .collect();
            let expected = expected.map(|e| e.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
            assert_eq!(ActionPattern::interest(&patterns), expected, "{texts:?}");
        }
    }

    #[test]
    fn refuses_bad_patterns() {
        // (pattern, a part of the error)
        let cases = [
            ("", "must not be empty"),
            ("a*b", "only at the end"),
            ("**", "only at the end"),
            ("delete_account ", "character 14 (U+0020) is not allowed"),
            ("delete\u{200b}*", "character 6 (U+200B) is not allowed"),
            ("dеlete_account", "character 1 (U+0435) is not allowed"),
        ];
        for (pattern, expected) in cases {
            let e = ActionPattern::parse(pattern).unwrap_err();
            assert!(e.contains(expected), "{pattern:?}: {e}");
            assert!(!e.contains('\u{200b}'), "{e}");
        }
        let e =
            ActionPattern::parse_list("forbidden", &["ok".into(), "bad one".into()]).unwrap_err();
        assert!(e.0.starts_with("config key `forbidden[1]`: "), "{e}");
    }
}
