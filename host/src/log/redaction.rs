//! Redaction: what the log must not hold.
//!
//! - Param values at the operator's configured paths (`redact = [...]` in
//!   `policies.toml`) are replaced by a keyed hash.
//! - Every string in which a policy reported a finding (`pii-egress`
//!   reports the paths where it found PII) is stored only as a keyed hash,
//!   with the kinds found.
//!
//! The hash is HMAC-SHA-256 under the data directory's redaction key,
//! truncated to 128 bits: equal values give equal hashes (so an auditor can
//! correlate), but without the key nobody can test a guess.

use super::entry::Redaction;
use crate::decision::Finding;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// The prefix of every redacted value.
pub const REDACTED_PREFIX: &str = "redacted:hmac-sha256:";

/// One step of a param path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    /// `[*]`: every element of an array.
    AnyIndex,
}

/// A configured redaction path: `params.password`, `params.card.number`,
/// `params.items[*].ssn`, `params.items[0]`, `params["odd key"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactionPath {
    text: String,
    steps: Vec<Step>,
}

impl RedactionPath {
    /// Parse a path; it must start with `params`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("params")
            .ok_or_else(|| format!("`{text}`: a redaction path starts with `params`"))?;
        let steps = parse_steps(rest).map_err(|e| format!("`{text}`: {e}"))?;
        if steps.is_empty() {
            return Err(format!(
                "`{text}`: name a value inside params, not params itself"
            ));
        }
        Ok(RedactionPath {
            text: text.to_owned(),
            steps,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Parse the steps after `params` (also used for finding paths, which use
/// the same syntax without wildcards).
fn parse_steps(mut rest: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let (key, tail) = after.split_at(end);
            if key.is_empty() {
                return Err("empty key".to_owned());
            }
            steps.push(Step::Key(key.to_owned()));
            rest = tail;
        } else if let Some(after) = rest.strip_prefix("[\"") {
            // A JSON string key: find its closing quote, honouring escapes.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in after.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or("unterminated quoted key")?;
            let (quoted, tail) = after.split_at(end);
            let key: String = serde_json::from_str(&format!("\"{quoted}\""))
                .map_err(|e| format!("bad quoted key: {e}"))?;
            let tail = tail
                .strip_prefix("\"]")
                .ok_or("expected `\"]` after a quoted key")?;
            steps.push(Step::Key(key));
            rest = tail;
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or("unterminated `[`")?;
            let (inner, tail) = after.split_at(end);
            steps.push(match inner {
                "*" => Step::AnyIndex,
                n => Step::Index(
                    n.parse()
                        .map_err(|_| format!("`[{n}]` is not an index or `[*]`"))?,
                ),
            });
            rest = tail.get(1..).unwrap_or("");
        } else {
            return Err(format!(
                "unexpected `{}`",
                rest.chars().next().unwrap_or(' ')
            ));
        }
    }
    Ok(steps)
}

/// Applies redaction with one key.
#[derive(Clone)]
pub struct Redactor {
    key: [u8; 32],
    paths: Vec<RedactionPath>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// A redactor with `key` and the configured `paths`.
    pub fn new(key: [u8; 32], paths: Vec<RedactionPath>) -> Self {
        Redactor { key, paths }
    }

    /// The keyed hash of a value, as stored.
    pub fn hash(&self, value: &Value) -> String {
        let bytes = match value {
            Value::String(s) => s.as_bytes().to_vec(),
            other => other.to_string().into_bytes(),
        };
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        let digest = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mut mac) => {
                mac.update(&bytes);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => vec![0u8; 32],
        };
        format!(
            "{REDACTED_PREFIX}{}",
            hex::encode(digest.get(..16).unwrap_or(&digest))
        )
    }

    /// Redact `params` in place: configured paths first, then every
    /// finding a policy reported. Returns what was redacted.
    pub fn redact(&self, params: &mut Map<String, Value>, findings: &[Finding]) -> Vec<Redaction> {
        let mut done: Vec<Redaction> = Vec::new();
        for path in &self.paths {
            let mut hit = Vec::new();
            visit(
                params,
                &path.steps,
                "params".to_owned(),
                &mut |value, at| {
                    if !is_redacted(value) {
                        *value = Value::String(self.hash(value));
                    }
                    hit.push(at);
                },
            );
            for at in hit {
                merge(&mut done, at, "configured");
            }
        }
        for finding in findings {
            let mut hit = false;
            visit_finding(params, finding, &mut |value| {
                if !is_redacted(value) {
                    *value = Value::String(self.hash(value));
                }
                hit = true;
            });
            if hit {
                for kind in &finding.kinds {
                    merge(&mut done, finding.path.clone(), kind);
                }
            }
        }
        done
    }
}

/// Replace every value a finding names (paths as policies report them,
/// starting at `params`) with `[redacted: KINDS]`, for an answer a reader
/// sees rather than a record. Returns how many values were replaced.
pub fn mask_findings(params: &mut Map<String, Value>, findings: &[Finding]) -> usize {
    let mut masked = 0;
    for finding in findings {
        let text = format!("[redacted: {}]", finding.kinds.join(", "));
        visit_finding(params, finding, &mut |value| {
            *value = Value::String(text.clone());
            masked += 1;
        });
    }
    masked
}

/// Call `f` on every value `finding` names (a path from `params`; a
/// finding on `params` itself names every value in it). A path that does
/// not parse names nothing.
fn visit_finding(
    params: &mut Map<String, Value>,
    finding: &Finding,
    f: &mut dyn FnMut(&mut Value),
) {
    let Ok(steps) = finding
        .path
        .strip_prefix("params")
        .map_or(Err(String::new()), parse_steps)
    else {
        return;
    };
    if steps.is_empty() {
        for value in params.values_mut() {
            f(value);
        }
    } else {
        visit(params, &steps, "params".to_owned(), &mut |value, _| {
            f(value)
        });
    }
}

fn is_redacted(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.starts_with(REDACTED_PREFIX))
}

fn merge(done: &mut Vec<Redaction>, path: String, kind: &str) {
    match done.iter_mut().find(|r| r.path == path) {
        Some(r) if !r.kinds.iter().any(|k| k == kind) => r.kinds.push(kind.to_owned()),
        Some(_) => {}
        None => done.push(Redaction {
            path,
            kinds: vec![kind.to_owned()],
        }),
    }
}

/// The path of `key` below `parent`, as the SDK writes it: `.key` for
/// plain keys, `["odd key"]` otherwise.
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

/// Call `f` on every value at `steps` below `params`.
fn visit(
    params: &mut Map<String, Value>,
    steps: &[Step],
    at: String,
    f: &mut dyn FnMut(&mut Value, String),
) {
    let Some((Step::Key(key), rest)) = steps.split_first() else {
        return;
    };
    if let Some(child) = params.get_mut(key) {
        visit_value(child, rest, child_path(&at, key), f);
    }
}

fn visit_value(
    value: &mut Value,
    steps: &[Step],
    at: String,
    f: &mut dyn FnMut(&mut Value, String),
) {
    let Some((step, rest)) = steps.split_first() else {
        f(value, at);
        return;
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => {
            if let Some(child) = map.get_mut(key) {
                visit_value(child, rest, child_path(&at, key), f);
            }
        }
        (Step::Index(i), Value::Array(items)) => {
            if let Some(child) = items.get_mut(*i) {
                visit_value(child, rest, format!("{at}[{i}]"), f);
            }
        }
        (Step::AnyIndex, Value::Array(items)) => {
            for (i, child) in items.iter_mut().enumerate() {
                visit_value(child, rest, format!("{at}[{i}]"), f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn redactor(paths: &[&str]) -> Redactor {
        Redactor::new(
            [3u8; 32],
            paths
                .iter()
                .map(|p| RedactionPath::parse(p).unwrap())
                .collect(),
        )
    }

    #[test]
    fn redacts_configured_paths_and_findings() {
        let r = redactor(&[
            "params.password",
            "params.items[*].ssn",
            "params[\"odd key\"]",
        ]);
        let mut params = json!({
            "password": "hunter2",
            "items": [{"ssn": "123-45-6789"}, {"ssn": 5}, {"other": "x"}],
            "odd key": {"deep": true},
            "body": "mail jane@example.com",
            "keep": "visible"
        })
        .as_object()
        .unwrap()
        .clone();
        let findings = vec![Finding {
            path: "params.body".into(),
            kinds: vec!["email".into()],
        }];
        let done = r.redact(&mut params, &findings);
        let text = serde_json::to_string(&params).unwrap();
        for secret in ["hunter2", "123-45-6789", "jane@example.com", "deep"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("visible"));
        let paths: Vec<_> = done
            .iter()
            .map(|d| (d.path.as_str(), d.kinds.join(",")))
            .collect();
        assert_eq!(
            paths,
            [
                ("params.password", "configured".to_owned()),
                ("params.items[0].ssn", "configured".to_owned()),
                ("params.items[1].ssn", "configured".to_owned()),
                ("params[\"odd key\"]", "configured".to_owned()),
                ("params.body", "email".to_owned()),
            ]
        );
        // Equal values give equal hashes; the key matters.
        assert_eq!(r.hash(&json!("a")), r.hash(&json!("a")));
        assert_ne!(
            r.hash(&json!("a")),
            Redactor::new([4u8; 32], vec![]).hash(&json!("a"))
        );
    }

    #[test]
    fn a_finding_on_params_itself_hashes_every_value() {
        let r = redactor(&[]);
        let mut params = json!({"a": "x@y.com", "b": {"c": "4111 1111 1111 1111"}})
            .as_object()
            .unwrap()
            .clone();
        let done = r.redact(
            &mut params,
            &[Finding {
                path: "params".into(),
                kinds: vec!["email".into()],
            }],
        );
        let text = serde_json::to_string(&params).unwrap();
        assert!(
            !text.contains("x@y.com") && !text.contains("4111"),
            "{text}"
        );
        assert_eq!(done[0].path, "params");
    }

    #[test]
    fn refuses_bad_paths() {
        for bad in [
            "password",
            "params",
            "params.",
            "params[x]",
            "params[\"a]",
            "params..a",
        ] {
            assert!(RedactionPath::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn path_parser_never_panics(text in "params\\PC{0,40}") {
            let _ = RedactionPath::parse(&text);
        }

        /// Whatever the params, a redacted value never survives in the output.
        #[test]
        fn redacted_strings_vanish(secret in "[a-z0-9@.]{6,20}", key in "[a-z]{1,8}") {
            let r = redactor(&[]);
            let mut params = json!({ key.clone(): [{"v": secret.clone()}] }).as_object().unwrap().clone();
            let findings = vec![Finding { path: format!("params.{key}[0].v"), kinds: vec!["email".into()] }];
            let done = r.redact(&mut params, &findings);
            prop_assert_eq!(done.len(), 1);
            prop_assert!(!serde_json::to_string(&params).unwrap().contains(&secret));
        }
    }
}
