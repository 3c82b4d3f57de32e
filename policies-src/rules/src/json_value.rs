//! JSON (the request's params) as CEL values.

use cel::Value;
use cel::objects::{Key, Map};
use gavel_sdk::serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;

/// A JSON value as the CEL value an expression sees: objects are maps
/// with string keys, arrays lists, integers `int` (or `uint` above
/// `int`'s range), other numbers `double`, and `null` is `null`.
///
/// The depth is the host's: params arrive as JSON text that `serde_json`
/// parses with its nesting limit (128), so the recursion is bounded.
pub fn to_cel(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i),
            (None, Some(u), _) => Value::UInt(u),
            (None, None, Some(f)) => Value::Float(f),
            (None, None, None) => Value::Null,
        },
        Json::String(s) => Value::String(Arc::new(s.clone())),
        Json::Array(items) => Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Json::Object(object) => object_to_cel(object),
    }
}

/// A JSON object as a CEL map.
pub fn object_to_cel(object: &gavel_sdk::serde_json::Map<String, Json>) -> Value {
    let map: HashMap<Key, Value> = object
        .iter()
        .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
        .collect();
    Value::Map(Map { map: Arc::new(map) })
}

/// A CEL map from string keys.
pub fn map_of(entries: Vec<(&str, Value)>) -> Value {
    let map: HashMap<Key, Value> = entries
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k.to_owned())), v))
        .collect();
    Value::Map(Map { map: Arc::new(map) })
}

/// An optional string: the string, or `null`.
pub fn string_or_null(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |s| Value::String(Arc::new(s.to_owned())))
}
