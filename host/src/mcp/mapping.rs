//! How a `tools/call` becomes a Gavel request, and the digest that binds
//! a reviewer's approval to one exact call.

use super::servers::ToolMapping;
use crate::identifier::identifier_key;
use crate::request::{Request, RequestError};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// One tool call, as the gateway sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall<'a> {
    /// The agent, from the transport (`--agent`, or the bearer token).
    pub agent: &'a str,
    /// The action name: the server's prefix and the tool's name.
    pub action: &'a str,
    /// The tool's arguments (an empty object when the client sent none).
    pub arguments: &'a Map<String, Value>,
    /// The MCP session, where the transport has one.
    pub session: Option<&'a str>,
    /// Unique per call.
    pub request_id: &'a str,
}

/// Why a call could not become a request. The call is refused without
/// any policy run, and without reaching the upstream.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    /// The value at the amount pointer is not a number.
    #[error("argument `{pointer}` (the amount) is {found}, not a number")]
    AmountNotNumber {
        /// The pointer.
        pointer: String,
        /// What was there, described.
        found: String,
    },
    /// The value at the currency pointer is not a string.
    #[error("argument `{pointer}` (the currency) is {found}, not a string")]
    CurrencyNotString {
        /// The pointer.
        pointer: String,
        /// What was there, described.
        found: String,
    },
    /// The request broke the request contract (a bad action name, a
    /// negative amount, ...).
    #[error("{0}")]
    Request(#[from] RequestError),
}

/// The Gavel request for `call`, with `mapping`'s pointers applied.
pub fn to_request(
    call: &ToolCall<'_>,
    mapping: Option<&ToolMapping>,
) -> Result<Request, MappingError> {
    let mut request = Map::new();
    request.insert("request_id".into(), Value::from(call.request_id));
    request.insert("agent_id".into(), Value::from(call.agent));
    request.insert("action".into(), Value::from(call.action));
    request.insert("params".into(), Value::Object(call.arguments.clone()));
    if let Some(session) = call.session {
        request.insert("session_id".into(), Value::from(session));
    }
    if let Some(m) = mapping {
        if let Some(pointer) = &m.amount
            && let Some(found) = at(call.arguments, pointer)
        {
            match found {
                Value::Number(n) => {
                    request.insert("amount".into(), Value::Number(n.clone()));
                }
                Value::Null => {}
                other => {
                    return Err(MappingError::AmountNotNumber {
                        pointer: pointer.clone(),
                        found: describe(other),
                    });
                }
            }
        }
        if let Some(pointer) = &m.currency
            && let Some(found) = at(call.arguments, pointer)
        {
            match found {
                Value::String(s) => {
                    request.insert("currency".into(), Value::String(s.clone()));
                }
                Value::Null => {}
                other => {
                    return Err(MappingError::CurrencyNotString {
                        pointer: pointer.clone(),
                        found: describe(other),
                    });
                }
            }
        }
    }
    Ok(Request::from_value(Value::Object(request))?)
}

/// The value at a JSON pointer (RFC 6901) inside the arguments object.
fn at<'a>(arguments: &'a Map<String, Value>, pointer: &str) -> Option<&'a Value> {
    let rest = pointer.strip_prefix('/')?;
    let (first, tail) = match rest.split_once('/') {
        Some((first, tail)) => (first, Some(tail)),
        None => (rest, None),
    };
    let key = first.replace("~1", "/").replace("~0", "~");
    let value = arguments.get(&key)?;
    match tail {
        Some(tail) => value.pointer(&format!("/{tail}")),
        None => Some(value),
    }
}

/// SHA-256 over (agent, action, arguments): the agent ASCII-folded as the
/// kill switch and registry fold it, the arguments in a canonical form
/// (object keys sorted at every level). An approval is spent
/// only by a call with the same digest.
pub fn call_digest(agent: &str, action: &str, arguments: &Map<String, Value>) -> String {
    let mut hash = Sha256::new();
    for part in [identifier_key(agent).as_bytes(), action.as_bytes()] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let args = super::catalog::canonical_json(&Value::Object(arguments.clone()));
    hash.update((args.len() as u64).to_be_bytes());
    hash.update(&args);
    format!("sha256:{}", hex::encode(hash.finalize()))
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) if s.len() <= 32 => format!("the string {value}"),
        Value::String(_) => "a string".to_owned(),
        Value::Bool(b) => format!("{b}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Null => "null".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> ToolMapping {
        ToolMapping {
            amount: Some("/amount".into()),
            currency: Some("/money/currency".into()),
        }
    }

    fn call<'a>(action: &'a str, args: &'a Map<String, Value>) -> ToolCall<'a> {
        ToolCall {
            agent: "support-bot",
            action,
            arguments: args,
            session: Some("s-1"),
            request_id: "mcp-1",
        }
    }

    /// One row per call: the arguments, and the amount and currency the
    /// request must carry, or the fragment of the refusal.
    #[test]
    fn each_call_maps_or_is_refused() {
        type Row = (
            &'static str,
            Result<(Option<f64>, Option<&'static str>), &'static str>,
        );
        let rows: &[Row] = &[
            (
                r#"{"amount": 12.5, "money": {"currency": "USD"}}"#,
                Ok((Some(12.5), Some("USD"))),
            ),
            (r#"{"amount": 7}"#, Ok((Some(7.0), None))),
            (r#"{}"#, Ok((None, None))),
            (r#"{"amount": null}"#, Ok((None, None))),
            (
                r#"{"amount": "12"}"#,
                Err("`/amount` (the amount) is the string \"12\""),
            ),
            (r#"{"amount": [1]}"#, Err("is an array, not a number")),
            (r#"{"amount": -3}"#, Err("amount")),
            (
                r#"{"money": {"currency": 5}}"#,
                Err("`/money/currency` (the currency) is 5"),
            ),
        ];
        for (args, expected) in rows {
            let args: Map<String, Value> = serde_json::from_str(args).unwrap();
            let got = to_request(&call("issue_refund", &args), Some(&mapping()));
            match (got, expected) {
                (Ok(r), Ok((amount, currency))) => {
                    assert_eq!(r.amount, *amount, "{args:?}");
                    assert_eq!(r.currency.as_deref(), *currency, "{args:?}");
                    assert_eq!(r.params, args);
                    assert_eq!(r.action, "issue_refund");
                    assert_eq!(r.agent_id, "support-bot");
                    assert_eq!(r.session_id.as_deref(), Some("s-1"));
                    assert_eq!(r.request_id, "mcp-1");
                }
                (Err(e), Err(fragment)) => {
                    assert!(e.to_string().contains(fragment), "{args:?}: {e}")
                }
                (got, want) => panic!("{args:?}: got {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn a_tool_name_outside_the_name_contract_is_refused() {
        let args = Map::new();
        let e = to_request(&call("send email", &args), None).unwrap_err();
        assert!(e.to_string().contains("action"), "{e}");
    }

    #[test]
    fn the_digest_binds_agent_action_and_arguments() {
        let a: Map<String, Value> = serde_json::from_str(r#"{"x":1,"y":"z"}"#).unwrap();
        let b: Map<String, Value> = serde_json::from_str(r#"{"y":"z","x":1}"#).unwrap();
        let c: Map<String, Value> = serde_json::from_str(r#"{"x":2,"y":"z"}"#).unwrap();
        let d = call_digest("bot", "issue_refund", &a);
        assert_eq!(
            d,
            call_digest("BOT", "issue_refund", &b),
            "key order and agent case"
        );
        assert_ne!(d, call_digest("bot", "issue_refund", &c), "arguments");
        assert_ne!(d, call_digest("bot", "delete_account", &a), "action");
        assert_ne!(d, call_digest("bot2", "issue_refund", &a), "agent");
    }

    proptest::proptest! {
        /// Any arguments map or are refused by name, never a panic.
        #[test]
        fn any_arguments_are_answered(amount in proptest::prelude::any::<f64>(), text in "\\PC{0,20}") {
            let mut args = Map::new();
            if let Some(n) = serde_json::Number::from_f64(amount) {
                args.insert("amount".into(), Value::Number(n));
            }
            args.insert("money".into(), serde_json::json!({"currency": text}));
            let _ = to_request(&call("issue_refund", &args), Some(&mapping()));
        }
    }
}
