//! JSON parsing that refuses duplicate object keys.
//!
//! `serde_json` keeps the last of two equal keys. A host whose own parser
//! keeps the first would then act on a different request than the one
//! Gavel decided (`{"action":"delete_account","action":"read_docs"}`), so
//! every request body is parsed here, and a duplicate at any depth is an
//! error naming the key.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Why a text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrictJsonError {
    /// Not JSON.
    #[error("not valid JSON: {0}")]
    Syntax(String),
    /// A key appears twice in one object (`top_level`: in the outermost
    /// object).
    #[error("duplicate key `{key}`")]
    Duplicate {
        /// The key.
        key: String,
        /// Whether the object is the outermost one.
        top_level: bool,
    },
}

const DUPLICATE: &str = "\u{0}duplicate\u{0}";

/// Parse `text`, refusing duplicate keys.
pub fn parse(text: &str) -> Result<Value, StrictJsonError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Seed { depth: 0 }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| {
            let message = e.to_string();
            match message.split(DUPLICATE).collect::<Vec<_>>().as_slice() {
                [_, depth, key, ..] => StrictJsonError::Duplicate {
                    key: (*key).to_owned(),
                    top_level: *depth == "0",
                },
                _ => StrictJsonError::Syntax(message),
            }
        })?;
    Ok(value)
}

struct Seed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed {
            depth: self.depth + 1,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Seed {
                depth: self.depth + 1,
            })?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "{DUPLICATE}{}{DUPLICATE}{key}{DUPLICATE}",
                    self.depth
                )));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert_eq!(
            parse(r#"{"action":"a","action":"b"}"#),
            Err(StrictJsonError::Duplicate {
                key: "action".to_owned(),
                top_level: true
            })
        );
        assert_eq!(
            parse(r#"{"params":{"x":[{"k":1,"k":2}]}}"#),
            Err(StrictJsonError::Duplicate {
                key: "k".to_owned(),
                top_level: false
            })
        );
        assert!(matches!(parse("{"), Err(StrictJsonError::Syntax(_))));
        assert!(matches!(parse("{} x"), Err(StrictJsonError::Syntax(_))));
    }

    proptest! {
        /// Without duplicates, the strict parse equals serde_json's.
        #[test]
        fn agrees_with_serde_json(text in "[\\[\\]{}\",:0-9a-c. -]{0,40}") {
            let strict = parse(&text);
            let plain: Result<Value, _> = serde_json::from_str(&text);
            match (strict, plain) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(StrictJsonError::Syntax(_)), Err(_)) => {}
                (Err(StrictJsonError::Duplicate { .. }), Ok(_)) => {}
                (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
            }
        }

        #[test]
        fn round_trips_values(v in any::<u32>(), s in "\\PC{0,8}") {
            let value = serde_json::json!({"a": v, "b": [s.clone(), {"c": s}], "d": null, "e": 1.5});
            prop_assert_eq!(parse(&value.to_string()).ok(), Some(value));
        }
    }
}
