//! Action-name patterns: an exact name, `*` for every action, or a prefix
//! wildcard such as `delete_*`.

/// A pattern over action names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionPattern {
    /// `*`: every action.
    Any,
    /// `prefix*`: every action that starts with the prefix.
    Prefix(String),
    /// An exact action name.
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
            return Err(format!(
                "action pattern `{text}`: `*` is allowed only at the end"
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

    /// Whether `action` matches.
    pub fn matches(&self, action: &str) -> bool {
        match self {
            ActionPattern::Any => true,
            ActionPattern::Prefix(p) => action.starts_with(p.as_str()),
            ActionPattern::Exact(e) => action == e,
        }
    }

    /// Whether any pattern in `patterns` matches `action`.
    pub fn any_matches(patterns: &[Self], action: &str) -> bool {
        patterns.iter().any(|p| p.matches(action))
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
        ];
        for (pattern, action, expected) in cases {
            let p = ActionPattern::parse(pattern).unwrap();
            assert_eq!(p.matches(action), expected, "{pattern} vs {action}");
        }
    }

    #[test]
    fn refuses_bad_patterns() {
        assert!(ActionPattern::parse("").is_err());
        assert!(ActionPattern::parse("a*b").is_err());
        assert!(ActionPattern::parse("**").is_err());
    }
}
