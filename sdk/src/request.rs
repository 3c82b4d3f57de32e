//! The request a policy judges, with typed access to its parts.

use crate::Params;
use crate::bindings::exports::gavel::policy::policy as wit;
use serde_json::Value;
use std::cell::RefCell;

/// The acting agent and what the operator's registry says about it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Agent {
    /// The agent's id, exactly as the host was sent it: 1–128 ASCII
    /// letters, digits, `_`, `-`, `.`, `:` or `/`. Compare it with
    /// [`same_identifier`](crate::same_identifier): `Financial-Advisor`
    /// is the agent `financial-advisor`.
    pub id: String,
    /// Whether the agent is in the operator's registry.
    pub registered: bool,
    /// 1 (low) .. 4 (critical), when registered.
    pub risk_tier: Option<u8>,
    /// The owning team, when registered.
    pub owner: Option<String>,
}

/// An action an agent wants to take. (`Default` is for tests: build one
/// with the fields you need and `..Default::default()`.)
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// The host's id for this request.
    pub request_id: String,
    /// Who is acting.
    pub agent: Agent,
    /// The action's name, e.g. `send_email`: 1–128 ASCII letters, digits,
    /// `_`, `-`, `.`, `:` or `/`. Match it with [`ActionPattern`] or
    /// [`same_identifier`](crate::same_identifier) (ASCII case folded).
    ///
    /// [`ActionPattern`]: crate::ActionPattern
    pub action: String,
    /// The action's parameters, a JSON object, parsed on first read.
    pub params: Params,
    /// Finite and >= 0 when present.
    pub amount: Option<f64>,
    /// The currency of `amount`, as the host gave it.
    pub currency: Option<String>,
    /// When the action was requested, in UTC milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The agent's session, if the host gave one.
    pub session_id: Option<String>,
    /// The human on whose behalf the agent acts, if the host gave one.
    pub user_id: Option<String>,
    /// Sensitive values marked with [`Request::mark_sensitive`] (use that
    /// method; the host receives these as findings).
    pub findings: RefCell<Vec<Finding>>,
}

/// A sensitive value found in `params`: its path and what it is, never the
/// value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// e.g. `params.body`.
    pub path: String,
    /// e.g. `email`, `credit_card`.
    pub kinds: Vec<String>,
}

/// One string value inside `params`, with its JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamString<'a> {
    /// Where the string sits, e.g. `params.to`, `params.items[2].note` or
    /// `params["odd key"]`.
    pub path: String,
    /// The string itself.
    pub value: &'a str,
}

impl Request {
    /// Convert the host's request. `params` stays JSON text until a policy
    /// reads it (see [`Params`]).
    pub(crate) fn from_wit(r: wit::Request) -> Self {
        Request {
            request_id: r.request_id,
            agent: Agent {
                id: r.agent.id,
                registered: r.agent.registered,
                risk_tier: r.agent.risk_tier,
                owner: r.agent.owner,
            },
            action: r.action,
            params: Params::from_json(r.params),
            amount: r.amount,
            currency: r.currency,
            timestamp_ms: r.timestamp_ms,
            session_id: r.session_id,
            user_id: r.user_id,
            findings: RefCell::new(Vec::new()),
        }
    }

    /// Mark the value at `path` (as [`Request::param_strings`] gives it) as
    /// sensitive, of the given kinds (1..64 characters of a-z, 0-9, `-`,
    /// `_` each). The host's decision log then stores that value only as a
    /// keyed hash with the kinds; the value itself is never reported.
    pub fn mark_sensitive(&self, path: &str, kinds: &[&str]) {
        let mut findings = self.findings.borrow_mut();
        match findings.iter_mut().find(|f| f.path == path) {
            Some(f) => {
                for kind in kinds {
                    if !f.kinds.iter().any(|k| k == kind) {
                        f.kinds.push((*kind).to_owned());
                    }
                }
            }
            None => findings.push(Finding {
                path: path.to_owned(),
                kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            }),
        }
    }

    /// Everything marked sensitive so far.
    pub fn findings(&self) -> Vec<Finding> {
        self.findings.borrow().clone()
    }

    /// Every string value anywhere in `params` (nested objects and arrays
    /// included), each with its JSON path, in document order.
    pub fn param_strings(&self) -> Vec<ParamString<'_>> {
        let mut out = Vec::new();
        // An explicit stack instead of recursion: the depth of `params` is
        // the caller's, not ours.
        let mut stack: Vec<(String, &Value)> = vec![("params".to_owned(), self.params.value())];
        while let Some((path, value)) = stack.pop() {
            match value {
                Value::String(s) => out.push(ParamString { path, value: s }),
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push((format!("{path}[{i}]"), item));
                    }
                }
                Value::Object(map) => {
                    let entries: Vec<_> = map.iter().collect();
                    for (key, item) in entries.into_iter().rev() {
                        stack.push((child_path(&path, key), item));
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        out
    }

    /// The string parameter `key` at the top level of `params`, if any.
    pub fn param_str(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }
}

fn child_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{}]", Value::String(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(params: Value) -> Request {
        Request {
            request_id: "r".into(),
            agent: Agent {
                id: "a".into(),
                registered: false,
                risk_tier: None,
                owner: None,
            },
            action: "x".into(),
            params: params.into(),
            amount: None,
            currency: None,
            timestamp_ms: 0,
            session_id: None,
            user_id: None,
            findings: RefCell::new(Vec::new()),
        }
    }

    #[test]
    fn walks_nested_strings_with_paths() {
        let r = request(json!({
            "to": "a@b.c",
            "n": 3,
            "items": [{"note": "x"}, "y", null],
            "odd key": {"deep": ["z"]}
        }));
        let got: Vec<(String, &str)> = r
            .param_strings()
            .into_iter()
            .map(|p| (p.path, p.value))
            .collect();
        // serde_json keeps object keys sorted.
        assert_eq!(
            got,
            vec![
                ("params.items[0].note".to_owned(), "x"),
                ("params.items[1]".to_owned(), "y"),
                ("params[\"odd key\"].deep[0]".to_owned(), "z"),
                ("params.to".to_owned(), "a@b.c"),
            ]
        );
    }

    #[test]
    fn walks_deep_nesting_without_recursion() {
        let mut v = json!("leaf");
        for _ in 0..1_000 {
            v = json!([v]);
        }
        let r = request(json!({ "deep": v }));
        let strings = r.param_strings();
        assert_eq!(strings.len(), 1);
        assert_eq!(strings[0].value, "leaf");
    }
}
