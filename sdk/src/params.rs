//! An action's parameters, parsed only when a policy first looks at them.
//!
//! The host sends `params` as JSON text. Most policies judge the action,
//! the agent or the amount and never read `params`; parsing it on every
//! call would cost them most of their fuel (a `Value` tree, and a copy of
//! every string). So [`Params`] keeps the text and parses it on first use.

use serde_json::{Map, Value};
use std::cell::OnceCell;
use std::fmt;
use std::ops::Deref;

/// The action's parameters: a JSON object, read through `Deref` as a
/// [`serde_json::Value`] (`request.params.get("to")`). Build one for a test
/// with `json!({...}).into()`.
///
/// Should the host's text ever fail to parse into an object, reading it
/// gives an empty object and the problem is kept: the SDK then denies the
/// request with `invalid-request`, whatever the policy answered. A policy
/// never judges params it could not read.
#[derive(Clone, Default)]
pub struct Params {
    /// The host's JSON text, when the params came from the host.
    text: Option<String>,
    /// The parsed object, once read.
    value: OnceCell<Value>,
    /// Why the text did not parse, once read.
    problem: OnceCell<String>,
}

impl Params {
    /// Params from the host's JSON text; parsed on first read.
    pub(crate) fn from_json(text: String) -> Self {
        Params {
            text: Some(text),
            value: OnceCell::new(),
            problem: OnceCell::new(),
        }
    }

    /// The params as a JSON value (always an object).
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| match self.parse() {
            Ok(value) => value,
            Err(problem) => {
                // Keep the first problem; the cell is set exactly once here.
                let _ = self.problem.set(problem);
                Value::Object(Map::new())
            }
        })
    }

    /// Why the params could not be read, if they were read and could not
    /// be. Params never read have no problem: they did not affect the
    /// verdict.
    pub fn problem(&self) -> Option<&str> {
        self.problem.get().map(String::as_str)
    }

    fn parse(&self) -> Result<Value, String> {
        let Some(text) = &self.text else {
            return Ok(Value::Object(Map::new()));
        };
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("params is not valid JSON: {e}"))?;
        if value.is_object() {
            Ok(value)
        } else {
            Err("params is not a JSON object".to_owned())
        }
    }
}

impl Deref for Params {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl From<Value> for Params {
    /// Params from a value (for tests). A value that is not an object is
    /// kept as a problem, just as unreadable host text would be.
    fn from(value: Value) -> Self {
        let params = Params::default();
        if value.is_object() {
            let _ = params.value.set(value);
        } else {
            let _ = params.problem.set("params is not a JSON object".to_owned());
            let _ = params.value.set(Value::Object(Map::new()));
        }
        params
    }
}

impl serde::Serialize for Params {
    /// As the JSON object it reads as.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

impl PartialEq for Params {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value() && self.problem() == other.problem()
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.value.get(), &self.text) {
            (Some(value), _) => fmt::Debug::fmt(value, f),
            (None, Some(text)) => write!(f, "Params(unparsed {text:?})"),
            (None, None) => f.write_str("{}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_on_first_read_only() {
        let p = Params::from_json(r#"{"to":"a@b.c"}"#.to_owned());
        assert!(p.value.get().is_none(), "nothing parsed before a read");
        assert_eq!(p.get("to").and_then(Value::as_str), Some("a@b.c"));
        assert!(p.value.get().is_some());
        assert_eq!(p.problem(), None);
    }

    #[test]
    fn broken_text_reads_empty_and_keeps_the_problem() {
        for (text, problem) in [
            ("{", "params is not valid JSON"),
            ("[1]", "params is not a JSON object"),
            ("null", "params is not a JSON object"),
            ("", "params is not valid JSON"),
        ] {
            let p = Params::from_json(text.to_owned());
            assert_eq!(p.problem(), None, "{text}: unread params have no problem");
            assert_eq!(*p, json!({}), "{text}");
            let got = p.problem().unwrap_or_default();
            assert!(got.starts_with(problem), "{text}: {got}");
        }
    }

    #[test]
    fn values_that_are_not_objects_are_problems() {
        let p = Params::from(json!("text"));
        assert_eq!(p.problem(), Some("params is not a JSON object"));
        assert_eq!(*p, json!({}));
        assert_eq!(Params::from(json!({"a": 1})).problem(), None);
    }

    #[test]
    fn serializes_as_the_object_it_reads_as() {
        let p = Params::from_json(r#"{ "b": [1, "x"], "a": null }"#.to_owned());
        assert_eq!(
            serde_json::to_string(&p).unwrap_or_default(),
            r#"{"a":null,"b":[1,"x"]}"#
        );
    }

    #[test]
    fn equal_when_they_read_the_same() {
        let text = Params::from_json(r#"{"a":[1,"x"]}"#.to_owned());
        let value = Params::from(json!({"a": [1, "x"]}));
        assert_eq!(text, value);
        assert_eq!(Params::default(), Params::from(json!({})));
        assert_ne!(value, Params::from(json!({"a": 2})));
    }
}
