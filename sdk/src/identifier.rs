//! Action names and agent ids, as the host hands them over.
//!
//! The host refuses any request whose `action` or `agent.id` is not 1–128
//! characters of ASCII letters, digits, `_`, `-`, `.`, `:` and `/`, so a
//! policy never sees a name with a space, a control character, an
//! invisible format character or a look-alike letter. Names are matched
//! ASCII-case-insensitively everywhere (the host's `applies_to`, its agent
//! registry and kill switch, and [`ActionPattern`](crate::ActionPattern)):
//! a list naming `delete_account` must also stop `Delete_Account`. A
//! policy that compares names itself should use [`same_identifier`], or
//! key its maps by [`identifier_key`].

/// Longest action name or agent id the host accepts, in characters.
pub const MAX_IDENTIFIER_CHARS: usize = 128;

/// Whether two names are the same name (ASCII case folded).
pub fn same_identifier(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The form to key a map of names by: ASCII lower case.
pub fn identifier_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Whether `c` may appear in an action name or agent id.
pub fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')
}

/// Why `name` is not an action name or agent id the host would accept, if
/// it is not. (The message describes a bad character by position and code
/// point, never by repeating it.)
pub fn identifier_problem(name: &str) -> Option<String> {
    const RULE: &str = "1-128 ASCII letters, digits, `_`, `-`, `.`, `:` or `/`";
    if name.is_empty() {
        return Some(format!("is empty; a name is {RULE}"));
    }
    if let Some((i, c)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| !is_identifier_char(*c))
    {
        return Some(format!(
            "character {i} (U+{:04X}) is not allowed; a name is {RULE}",
            u32::from(c)
        ));
    }
    (name.len() > MAX_IDENTIFIER_CHARS)
        .then(|| format!("is {} characters long; a name is {RULE}", name.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_contract_row_by_row() {
        // (name, a part of the problem, or None when accepted)
        let long = "a".repeat(129);
        let cases: &[(&str, Option<&str>)] = &[
            ("delete_account", None),
            ("Delete_Account", None),
            ("mcp:shop/issue_refund.v2-b", None),
            ("", Some("is empty")),
            ("delete_account ", Some("character 14 (U+0020)")),
            ("delete\u{200b}account", Some("character 6 (U+200B)")),
            ("dеlete_account", Some("character 1 (U+0435)")),
            ("delete*", Some("character 6 (U+002A)")),
            (&long, Some("is 129 characters long")),
        ];
        for (name, expected) in cases {
            match (identifier_problem(name), expected) {
                (None, None) => {}
                (Some(problem), Some(part)) => {
                    assert!(problem.contains(part), "{name:?}: {problem}")
                }
                (got, _) => panic!("{name:?}: expected {expected:?}, got {got:?}"),
            }
        }
        assert_eq!(identifier_problem(&"a".repeat(128)), None);
    }

    #[test]
    fn matching_folds_ascii_case_only() {
        assert!(same_identifier("financial-advisor", "Financial-Advisor"));
        assert!(!same_identifier("financial-advisor", "financial-advisor "));
        assert!(!same_identifier("strasse", "STRASSE\u{17f}"));
        assert_eq!(identifier_key("Financial-Advisor"), "financial-advisor");
    }
}
