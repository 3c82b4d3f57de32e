//! The action a host asks about, as JSON, validated field by field.
//!
//! `{"request_id"?, "agent_id", "action", "params"?, "amount"?, "currency"?,
//! "timestamp"?, "session_id"?, "user_id"?}`. A `null` optional field counts
//! as absent. Anything else that is wrong is a [`RequestError`] naming the
//! field; a bad request is never evaluated.
//!
//! `action` and `agent_id` follow the name contract of
//! [`crate::identifier`] (1–128 characters of ASCII letters, digits, `_`,
//! `-`, `.`, `:` and `/`): a name with a space, a control character, an
//! invisible format character or a look-alike letter is refused, never
//! judged, so it cannot slip past a list that names the real action.

use crate::identifier::validate_identifier;
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not JSON, or not a JSON object.
    #[error("invalid request: {0}")]
    Malformed(String),
    /// A field is missing, unknown or has a bad value.
    #[error("invalid request: field `{field}`: {problem}")]
    Field {
        /// The field's name.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn field_error(field: &str, problem: impl Into<String>) -> RequestError {
    RequestError::Field {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// Longest accepted request id, currency, session or user id, in bytes
/// (`action` and `agent_id` are held to [`MAX_IDENTIFIER_CHARS`]).
///
/// [`MAX_IDENTIFIER_CHARS`]: crate::identifier::MAX_IDENTIFIER_CHARS
pub const MAX_NAME_BYTES: usize = 256;

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The caller's id, or one Gavel made up.
    pub request_id: String,
    /// Follows the name contract ([`crate::identifier`]); kept exactly as
    /// sent (matched against lists ASCII-case-insensitively).
    pub agent_id: String,
    /// Follows the name contract ([`crate::identifier`]).
    pub action: String,
    /// Always an object (empty when the caller sent none).
    pub params: Map<String, Value>,
    /// Finite and >= 0.
    pub amount: Option<f64>,
    /// As the caller sent it.
    pub currency: Option<String>,
    /// UTC milliseconds since the epoch: the caller's `timestamp`, or now.
    pub timestamp_ms: i64,
    /// The agent's session.
    pub session_id: Option<String>,
    /// The human the agent acts for.
    pub user_id: Option<String>,
}

const FIELDS: [&str; 9] = [
    "request_id",
    "agent_id",
    "action",
    "params",
    "amount",
    "currency",
    "timestamp",
    "session_id",
    "user_id",
];

impl Request {
    /// Parse and validate one JSON request.
    pub fn from_json(text: &str) -> Result<Self, RequestError> {
        let value = crate::strict_json::parse(text).map_err(|e| match e {
            crate::strict_json::StrictJsonError::Duplicate {
                key,
                top_level: true,
            } => field_error(&key, "appears twice; a request names each field once"),
            other => RequestError::Malformed(other.to_string()),
        })?;
        Self::from_value(value)
    }

    /// Validate a parsed JSON request.
    pub fn from_value(value: Value) -> Result<Self, RequestError> {
        let Value::Object(mut obj) = value else {
            return Err(RequestError::Malformed(
                "a request must be a JSON object".to_owned(),
            ));
        };
        if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(field_error(
                unknown,
                format!("unknown field; expected one of {}", FIELDS.join(", ")),
            ));
        }
        let agent_id = required_identifier(&mut obj, "agent_id")?;
        let action = required_identifier(&mut obj, "action")?;
        let request_id = optional_name(&mut obj, "request_id")?.unwrap_or_else(new_request_id);
        let params = match take(&mut obj, "params") {
            None => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(field_error(
                    "params",
                    format!("must be a JSON object, not {}", kind(&other)),
                ));
            }
        };
        let amount = match take(&mut obj, "amount") {
            None => None,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(a) if a.is_finite() && a >= 0.0 => Some(a),
                _ => {
                    return Err(field_error(
                        "amount",
                        format!("must be a finite number >= 0, not {n}"),
                    ));
                }
            },
            Some(other) => {
                return Err(field_error(
                    "amount",
                    format!("must be a finite number >= 0, not {}", kind(&other)),
                ));
            }
        };
        let currency = optional_name(&mut obj, "currency")?;
        let timestamp_ms = match take(&mut obj, "timestamp") {
            None => now_ms(),
            Some(Value::String(s)) => parse_timestamp(&s)?,
            Some(other) => {
                return Err(field_error(
                    "timestamp",
                    format!("must be an RFC 3339 string, not {}", kind(&other)),
                ));
            }
        };
        let session_id = optional_name(&mut obj, "session_id")?;
        let user_id = optional_name(&mut obj, "user_id")?;
        Ok(Request {
            request_id,
            agent_id,
            action,
            params,
            amount,
            currency,
            timestamp_ms,
            session_id,
            user_id,
        })
    }

    /// Check `agent_id` and `action` against the name contract again: a
    /// `Request` built in code, or rebuilt from an old log record, did not
    /// go through [`Request::from_value`].
    pub fn check_names(&self) -> Result<(), RequestError> {
        check_identifier("agent_id", &self.agent_id)?;
        check_identifier("action", &self.action)
    }

    /// `params` as JSON text, as policies receive it.
    pub fn params_json(&self) -> String {
        // Serializing a map of JSON values cannot fail. Were it ever to,
        // `null` is not an object: policies refuse it and the decision
        // fails closed, rather than judging empty params.
        serde_json::to_string(&self.params).unwrap_or_else(|_| "null".to_owned())
    }
}

/// Take a field, treating `null` as absent.
fn take(obj: &mut Map<String, Value>, field: &str) -> Option<Value> {
    obj.remove(field).filter(|v| !v.is_null())
}

fn optional_name(
    obj: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<String>, RequestError> {
    match take(obj, field) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Err(field_error(field, "must not be empty")),
        Some(Value::String(s)) if s.len() > MAX_NAME_BYTES => Err(field_error(
            field,
            format!("is {} bytes; the limit is {MAX_NAME_BYTES}", s.len()),
        )),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(field_error(
            field,
            format!("must be a string, not {}", kind(&other)),
        )),
    }
}

fn required_identifier(obj: &mut Map<String, Value>, field: &str) -> Result<String, RequestError> {
    let name = match take(obj, field) {
        None => return Err(field_error(field, "is required")),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(field_error(
                field,
                format!("must be a string, not {}", kind(&other)),
            ));
        }
    };
    check_identifier(field, &name)?;
    Ok(name)
}

fn check_identifier(field: &str, name: &str) -> Result<(), RequestError> {
    validate_identifier(name).map_err(|e| field_error(field, e.to_string()))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parse an RFC 3339 timestamp into UTC milliseconds.
pub fn parse_timestamp(text: &str) -> Result<i64, RequestError> {
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        field_error(
            "timestamp",
            format!("`{text}` is not an RFC 3339 timestamp: {e}"),
        )
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| field_error("timestamp", format!("`{text}` is out of range")))
}

/// Format UTC milliseconds as RFC 3339 (`2026-11-21T09:30:00.000Z`).
pub fn format_timestamp(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("req-{:x}-{:x}-{n}", now_ms(), std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One row per case: the request, and the field the error must name
    /// (or `None` when the request is valid).
    const CASES: &[(&str, Option<&str>)] = &[
        (r#"{"agent_id":"a","action":"x"}"#, None),
        (
            r#"{"agent_id":"a","action":"x","params":null,"amount":null}"#,
            None,
        ),
        (r#"{"agent_id":"a","action":"x","amount":0}"#, None),
        (
            r#"{"agent_id":"a","action":"delete_account","action":"read_docs"}"#,
            Some("action"),
        ),
        (
            r#"{"agent_id":"a","action":"x","amount":900,"amount":1}"#,
            Some("amount"),
        ),
        (
            r#"{"agent_id":"a","action":"x","timestamp":"2026-03-08T06:59:59-05:00"}"#,
            None,
        ),
        (r#"{"action":"x"}"#, Some("agent_id")),
        (r#"{"agent_id":"","action":"x"}"#, Some("agent_id")),
        (r#"{"agent_id":7,"action":"x"}"#, Some("agent_id")),
        (r#"{"agent_id":"a"}"#, Some("action")),
        (r#"{"agent_id":"a","action":""}"#, Some("action")),
        (
            r#"{"agent_id":"a","action":"x","params":[1]}"#,
            Some("params"),
        ),
        (
            r#"{"agent_id":"a","action":"x","params":"{}"}"#,
            Some("params"),
        ),
        (
            r#"{"agent_id":"a","action":"x","amount":-0.01}"#,
            Some("amount"),
        ),
        (
            r#"{"agent_id":"a","action":"x","amount":"10"}"#,
            Some("amount"),
        ),
        (
            r#"{"agent_id":"a","action":"x","timestamp":"yesterday"}"#,
            Some("timestamp"),
        ),
        (
            r#"{"agent_id":"a","action":"x","timestamp":"2026-01-01 10:00:00"}"#,
            Some("timestamp"),
        ),
        (
            r#"{"agent_id":"a","action":"x","timestamp":1700000000}"#,
            Some("timestamp"),
        ),
        (r#"{"agent_id":"a","action":"x","amout":5}"#, Some("amout")),
        (
            r#"{"agent_id":"a","action":"x","currency":5}"#,
            Some("currency"),
        ),
        (
            r#"{"agent_id":"a","action":"x","request_id":""}"#,
            Some("request_id"),
        ),
    ];

    #[test]
    fn validates_each_field() {
        for (text, expected) in CASES {
            match (Request::from_json(text), expected) {
                (Ok(_), None) => {}
                (Err(RequestError::Field { field, .. }), Some(f)) => {
                    assert_eq!(&field, f, "{text}")
                }
                (got, _) => panic!("{text}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    /// Names a list would not match by their bytes: each is refused,
    /// naming the field and describing the character, or (ASCII case
    /// only) accepted and kept exactly as sent.
    #[test]
    fn action_and_agent_id_follow_the_name_contract() {
        let long = "a".repeat(129);
        // (name, None when accepted / Some(part of the error))
        let cases: &[(&str, Option<&str>)] = &[
            ("delete_account", None),
            ("Delete_Account", None),
            ("mcp:shop/issue_refund.v2-b", None),
            ("delete_account ", Some("U+0020 (space) at character 14")),
            (
                "delete\u{200b}account",
                Some("U+200B (zero-width space) at character 6"),
            ),
            ("delete\u{2060}account", Some("U+2060 (word joiner)")),
            (
                "\u{feff}delete_account",
                Some("U+FEFF (byte order mark) at character 0"),
            ),
            ("delete\u{a0}account", Some("U+00A0 (no-break space)")),
            ("ｄelete_account", Some("`ｄ` (U+FF44)")),
            ("dеlete_account", Some("`е` (U+0435)")),
            ("delete\taccount", Some("U+0009 (tab)")),
            ("delete_account\n", Some("U+000A (line feed)")),
            (&long, Some("is 129 characters long")),
            ("", Some("must not be empty")),
        ];
        for field in ["action", "agent_id"] {
            for (name, expected) in cases {
                let mut v = serde_json::json!({"agent_id": "a", "action": "x"});
                v[field] = serde_json::json!(name);
                match (Request::from_json(&v.to_string()), expected) {
                    (Ok(r), None) => {
                        let kept = if field == "action" {
                            r.action
                        } else {
                            r.agent_id
                        };
                        assert_eq!(&kept, name);
                    }
                    (Err(e @ RequestError::Field { .. }), Some(part)) => {
                        let text = e.to_string();
                        assert!(
                            text.starts_with(&format!("invalid request: field `{field}`: ")),
                            "{text}"
                        );
                        assert!(text.contains(part), "{name:?}: {text}");
                    }
                    (got, _) => panic!("{field} {name:?}: expected {expected:?}, got {got:?}"),
                }
            }
        }
    }

    #[test]
    fn check_names_refuses_a_request_built_in_code() {
        let mut r = Request::from_json(r#"{"agent_id":"a","action":"x"}"#).unwrap();
        assert_eq!(r.check_names(), Ok(()));
        r.action = "delete\u{200b}account".to_owned();
        assert!(
            matches!(r.check_names(), Err(RequestError::Field { field, .. }) if field == "action")
        );
        r.action = "x".to_owned();
        r.agent_id = "financial-advisor ".to_owned();
        assert!(
            matches!(r.check_names(), Err(RequestError::Field { field, .. }) if field == "agent_id")
        );
    }

    #[test]
    fn refuses_non_objects() {
        for text in ["", "[]", "null", "\"x\"", "{", "{} {}"] {
            assert!(
                matches!(Request::from_json(text), Err(RequestError::Malformed(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn timestamp_honours_offsets() {
        let a = parse_timestamp("2026-03-08T07:00:00Z").unwrap();
        let b = parse_timestamp("2026-03-08T02:00:00-05:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, 1_772_953_200_000);
        assert_eq!(format_timestamp(a), "2026-03-08T07:00:00Z");
    }

    proptest! {
        /// Any input: a clean error or a request whose invariants hold.
        #[test]
        fn never_panics_and_keeps_invariants(text in ".{0,200}") {
            if let Ok(r) = Request::from_json(&text) {
                prop_assert!(r.check_names().is_ok());
                prop_assert!(r.amount.is_none_or(|a| a.is_finite() && a >= 0.0));
            }
        }

        #[test]
        fn structured_requests_round_trip(
            agent in "[a-z-]{1,12}",
            action in "[a-z_]{1,12}",
            amount in proptest::option::of(0.0f64..1e12),
            key in "[a-z]{1,6}",
            val in ".{0,20}",
        ) {
            let mut v = serde_json::json!({"agent_id": agent, "action": action, "params": {key.clone(): val.clone()}});
            if let Some(a) = amount { v["amount"] = serde_json::json!(a); }
            let r = Request::from_json(&v.to_string()).unwrap();
            prop_assert_eq!(r.agent_id, agent);
            prop_assert_eq!(r.action, action);
            prop_assert_eq!(r.amount, amount);
            prop_assert_eq!(r.params.get(&key).and_then(Value::as_str), Some(val.as_str()));
        }
    }
}
