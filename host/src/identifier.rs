//! The contract for the names a host passes on: action names and agent ids.
//!
//! An agent (or a prompt-injected model behind it) often chooses the action
//! name its host forwards. A deny-list entry `delete_account` must not be
//! sidestepped by `Delete_Account`, `delete_account ` or
//! `delete\u{200b}account`. So a name is 1–128 characters of ASCII letters,
//! digits, `_`, `-`, `.`, `:` and `/` (MCP's spirit for tool names): no
//! whitespace, no control characters, nothing outside ASCII, and therefore
//! no invisible format characters. Everything that matches names against
//! lists (action patterns, the agent registry, the kill switch) compares
//! them ASCII-case-insensitively, so that case is not a way around a list
//! either.

use std::fmt;

/// Longest accepted action name or agent id, in characters (= bytes, since
/// every accepted character is ASCII).
pub const MAX_IDENTIFIER_CHARS: usize = 128;

/// Why a name was refused. The message describes the offending character
/// by code point and position, never by echoing invisible text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifierError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_IDENTIFIER_CHARS`].
    TooLong(usize),
    /// A character outside the allowed set.
    BadCharacter {
        /// 0-based character position.
        position: usize,
        /// The character.
        character: char,
    },
}

impl fmt::Display for IdentifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const RULE: &str = "1-128 characters of ASCII letters, digits, `_`, `-`, `.`, `:` and `/`";
        match self {
            IdentifierError::Empty => write!(f, "must not be empty; {RULE}"),
            IdentifierError::TooLong(n) => write!(f, "is {n} characters long; {RULE}"),
            IdentifierError::BadCharacter {
                position,
                character,
            } => write!(
                f,
                "has {} at character {position}; {RULE}",
                describe(*character)
            ),
        }
    }
}

impl std::error::Error for IdentifierError {}

/// Whether `c` may appear in an action name or agent id.
pub fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')
}

/// Check an action name or agent id against the contract.
pub fn validate_identifier(name: &str) -> Result<(), IdentifierError> {
    if name.is_empty() {
        return Err(IdentifierError::Empty);
    }
    if let Some((position, character)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| !is_identifier_char(*c))
    {
        return Err(IdentifierError::BadCharacter {
            position,
            character,
        });
    }
    // Every character is ASCII here, so bytes = characters.
    if name.len() > MAX_IDENTIFIER_CHARS {
        return Err(IdentifierError::TooLong(name.len()));
    }
    Ok(())
}

/// Whether two names are the same under the matching rule (ASCII case
/// folded).
pub fn same_identifier(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The key a name is stored under wherever names are looked up (registry,
/// kill switch): ASCII lower case.
pub fn identifier_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A character described without printing it raw: `U+200B (zero-width
/// space)`, `U+0020 (space)`, or `` `é` (U+00E9) `` for visible ones.
fn describe(c: char) -> String {
    let code = format!("U+{:04X}", u32::from(c));
    let named = match c {
        ' ' => Some("space"),
        '\t' => Some("tab"),
        '\n' => Some("line feed"),
        '\r' => Some("carriage return"),
        '\u{00A0}' => Some("no-break space"),
        '\u{00AD}' => Some("soft hyphen"),
        '\u{200B}' => Some("zero-width space"),
        '\u{200C}' => Some("zero-width non-joiner"),
        '\u{200D}' => Some("zero-width joiner"),
        '\u{2060}' => Some("word joiner"),
        '\u{FEFF}' => Some("byte order mark"),
        _ => None,
    };
    match named {
        Some(name) => format!("{code} ({name})"),
        None if c.is_control() => format!("{code} (a control character)"),
        None if c.is_whitespace() => format!("{code} (whitespace)"),
        None if c.is_alphanumeric() || c.is_ascii_punctuation() => format!("`{c}` ({code})"),
        None => format!("{code} (an invisible or format character)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_contract_row_by_row() {
        // (name, accepted)
        let cases: &[(&str, bool)] = &[
            ("delete_account", true),
            ("Delete_Account", true),
            ("mcp:shop/issue_refund", true),
            ("a.b-c_d:e/f", true),
            ("", false),
            ("delete_account ", false),
            (" delete_account", false),
            ("delete account", false),
            ("delete\u{200b}account", false),
            ("delete\u{2060}account", false),
            ("\u{feff}delete_account", false),
            ("delete\u{00ad}account", false),
            ("delete_account\n", false),
            ("delete_account\u{0}", false),
            ("delete\u{00a0}account", false),
            ("dеlete_account", false),  // Cyrillic `е`
            ("ｄelete_account", false), // full-width `ｄ`
            ("delete*", false),
            ("delete@account", false),
        ];
        for (name, accepted) in cases {
            assert_eq!(validate_identifier(name).is_ok(), *accepted, "{name:?}");
        }
        assert!(validate_identifier(&"a".repeat(128)).is_ok());
        assert_eq!(
            validate_identifier(&"a".repeat(129)),
            Err(IdentifierError::TooLong(129))
        );
    }

    #[test]
    fn errors_describe_invisible_characters_by_code_point() {
        let e = validate_identifier("delete\u{200b}account").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("U+200B (zero-width space) at character 6"),
            "{text}"
        );
        assert!(!text.contains('\u{200b}'));
    }

    #[test]
    fn matching_folds_ascii_case_only() {
        assert!(same_identifier("delete_account", "DELETE_Account"));
        assert!(!same_identifier("delete_account", "delete_accounts"));
        assert_eq!(identifier_key("Financial-Advisor"), "financial-advisor");
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_allowed_alphabet(name in "\\PC{0,140}") {
            let expected = !name.is_empty()
                && name.chars().count() <= MAX_IDENTIFIER_CHARS
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c));
            prop_assert_eq!(validate_identifier(&name).is_ok(), expected);
        }
    }
}
