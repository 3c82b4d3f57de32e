//! `pii-egress`: keeps personal data and credentials from leaving through
//! an agent's outbound actions.
//!
//! For an action matching `actions` (a trailing `*` is a prefix wildcard),
//! every string anywhere in `params` is scanned for the kinds in `detect`
//! (default: all of them): `email`, `phone`, `ssn`, `credit_card`, `iban`,
//! `ip_address`, `secret`. Any finding → deny `pii-detected`, with a
//! message naming the kinds and the JSON paths where they were found, and
//! never the matched text. Addresses at `allow_email_domains` (or their
//! subdomains) are not findings. Other actions, and clean params, are
//! approved.

mod bytes;
mod card;
mod email;
mod iban;
mod ip;
pub mod kind;
mod phone;
pub mod scan;
mod secret;
mod ssn;

pub use kind::{Kind, KindSet};
pub use scan::{Scanner, scan};

use gavel_sdk::{ActionPattern, ConfigError, Metadata, Policy, Request, Verdict, export_policy};
use serde::Deserialize;

/// At most this many fields are named in a message; the rest are counted.
const MAX_LISTED_FIELDS: usize = 20;

#[derive(Deserialize)]
pub struct Config {
    actions: Vec<String>,
    detect: Option<Vec<String>>,
    #[serde(default)]
    allow_email_domains: Vec<String>,
}

pub struct PiiEgress {
    actions: Vec<ActionPattern>,
    scanner: Scanner,
}

impl Policy for PiiEgress {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "pii-egress",
            env!("CARGO_PKG_VERSION"),
            "Denies listed actions whose params carry PII or secrets.",
        )
    }

    fn new(config: Config) -> Result<Self, ConfigError> {
        let actions = ActionPattern::parse_list("actions", &config.actions)?;
        let enabled = match &config.detect {
            None => KindSet::ALL,
            Some(names) => {
                if names.is_empty() {
                    return Err(ConfigError::key(
                        "detect",
                        "must name at least one kind (omit it to detect every kind)",
                    ));
                }
                let mut set = KindSet::EMPTY;
                for (i, name) in names.iter().enumerate() {
                    let kind = Kind::from_name(name).ok_or_else(|| {
                        ConfigError::key(
                            &format!("detect[{i}]"),
                            format!("unknown kind `{name}`; expected one of {}", kind_names()),
                        )
                    })?;
                    set.insert(kind);
                }
                set
            }
        };
        for (i, domain) in config.allow_email_domains.iter().enumerate() {
            let d = domain.trim_start_matches('@').trim_end_matches('.');
            let ok = !d.is_empty()
                && d.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.');
            if !ok {
                return Err(ConfigError::key(
                    &format!("allow_email_domains[{i}]"),
                    format!("`{domain}` is not a domain name"),
                ));
            }
        }
        Ok(PiiEgress {
            actions,
            scanner: Scanner::new(enabled, config.allow_email_domains),
        })
    }

    /// The listed actions: the host approves the others without a call.
    fn interest(&self) -> Option<Vec<String>> {
        ActionPattern::interest(&self.actions)
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        if !ActionPattern::any_matches(&self.actions, &request.action) {
            return Verdict::approve();
        }
        let mut fields: Vec<(String, KindSet)> = Vec::new();
        for param in request.param_strings() {
            let found = self.scanner.scan(param.value);
            if !found.is_empty() {
                fields.push((param.path, found));
            }
        }
        if fields.is_empty() {
            return Verdict::approve();
        }
        mark_findings(request, &fields);
        Verdict::deny("pii-detected", message(&fields))
    }
}

/// Tell the host where the PII is, so that its decision log keeps those
/// values only as keyed hashes. A path whose object key itself holds PII is
/// reported at the parent (the whole parent value is then hashed). Past the
/// host's limit on findings, the whole of `params` is reported.
fn mark_findings(request: &Request, fields: &[(String, KindSet)]) {
    if fields.len() > MAX_FINDINGS {
        let mut all = KindSet::EMPTY;
        for kind in fields.iter().flat_map(|(_, kinds)| kinds.iter()) {
            all.insert(kind);
        }
        let names: Vec<&str> = all.iter().map(Kind::name).collect();
        request.mark_sensitive("params", &names);
        return;
    }
    for (path, kinds) in fields {
        let names: Vec<&str> = kinds.iter().map(Kind::name).collect();
        request.mark_sensitive(safe_prefix(path), &names);
    }
}

/// The most findings the host accepts in one outcome.
const MAX_FINDINGS: usize = 256;

/// `PII in params.body: email, credit_card; params.to: email`.
fn message(fields: &[(String, KindSet)]) -> String {
    let listed: Vec<String> = fields
        .iter()
        .take(MAX_LISTED_FIELDS)
        .map(|(path, kinds)| {
            let names: Vec<&str> = kinds.iter().map(Kind::name).collect();
            format!("{}: {}", display_path(path), names.join(", "))
        })
        .collect();
    let mut out = format!("PII in {}", listed.join("; "));
    if fields.len() > MAX_LISTED_FIELDS {
        out.push_str(&format!(
            "; and {} more fields",
            fields.len() - MAX_LISTED_FIELDS
        ));
    }
    out
}

/// The path as shown. Object keys are data too: the path is cut before
/// the first segment (`.key` or `[...]`) that itself holds PII.
fn display_path(path: &str) -> String {
    let safe = safe_prefix(path);
    if safe.len() == path.len() {
        path.to_owned()
    } else {
        format!("{safe}[<redacted key>]")
    }
}

/// The longest prefix of `path` before the first segment that itself holds
/// PII (the whole path when no segment does).
fn safe_prefix(path: &str) -> &str {
    let b = path.as_bytes();
    let mut start = 0;
    let mut in_quote = false;
    let mut escaped = false;
    for i in 0..=b.len() {
        let c = b.get(i).copied();
        if in_quote {
            match c {
                _ if escaped => escaped = false,
                Some(b'\\') => escaped = true,
                Some(b'"') => in_quote = false,
                _ => {}
            }
            continue;
        }
        match c {
            Some(b'"') => in_quote = true,
            Some(b'.') | Some(b'[') | None => {
                if !scan(&path[start..i]).is_empty() {
                    return &path[..start];
                }
                start = i;
            }
            _ => {}
        }
    }
    path
}

fn kind_names() -> String {
    Kind::ALL.map(Kind::name).join(", ")
}

export_policy!(PiiEgress);

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_sdk::serde_json::{Value, json};
    use gavel_sdk::{Agent, VerdictKind, parse_config};

    fn policy(config: Value) -> Result<PiiEgress, ConfigError> {
        PiiEgress::new(parse_config(&config.to_string())?)
    }

    fn request(action: &str, params: Value) -> Request {
        Request {
            request_id: "r".into(),
            agent: Agent {
                id: "a".into(),
                registered: false,
                risk_tier: None,
                owner: None,
            },
            action: action.into(),
            params: params.into(),
            amount: None,
            currency: None,
            timestamp_ms: 0,
            session_id: None,
            user_id: None,
            ..Default::default()
        }
    }

    fn deny_message(v: Verdict) -> String {
        match v.kind {
            VerdictKind::Deny(r) => {
                assert_eq!(r.code, "pii-detected");
                r.message
            }
            other => panic!("expected deny, got {other:?}"),
        }
    }

    #[test]
    fn lists_kinds_and_paths_without_the_text() {
        let p = policy(json!({"actions": ["send_*"]})).unwrap();
        let v = p.evaluate(&request(
            "send_email",
            json!({
                "to": "jane.doe@gmail.com",
                "body": "card 4111 1111 1111 1111, mail jane.doe@gmail.com",
                "items": [{"note": "ok"}, {"note": "call (415) 555-2671"}]
            }),
        ));
        let m = deny_message(v);
        assert_eq!(
            m,
            "PII in params.body: email, credit_card; params.items[1].note: phone; params.to: email"
        );
    }

    #[test]
    fn interest_is_the_actions() {
        // (actions, interest)
        let cases = [
            (
                json!(["send_*", "post_message"]),
                Some(vec!["send_*", "post_message"]),
            ),
            (json!(["*"]), None),
        ];
        for (actions, expected) in cases {
            let p = policy(json!({ "actions": actions })).unwrap();
            let expected = expected.map(|e| e.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(p.interest(), expected, "{actions}");
        }
    }

    #[test]
    fn unlisted_and_clean_approve() {
        let p = policy(json!({"actions": ["send_email"]})).unwrap();
        let pii = json!({"body": "jane@gmail.com"});
        assert_eq!(
            p.evaluate(&request("read_file", pii)).kind,
            VerdictKind::Approve
        );
        let clean = json!({"body": "order 4155552671 costs $1,234.56"});
        assert_eq!(
            p.evaluate(&request("send_email", clean)).kind,
            VerdictKind::Approve
        );
    }

    #[test]
    fn allowed_domains_and_subdomains() {
        let p =
            policy(json!({"actions": ["*"], "allow_email_domains": ["Example-Corp.com"]})).unwrap();
        let ok = json!({"to": "a@example-corp.com", "cc": "b@eu.EXAMPLE-corp.com"});
        assert_eq!(p.evaluate(&request("x", ok)).kind, VerdictKind::Approve);
        let bad = json!({"to": "a@notexample-corp.com"});
        assert!(deny_message(p.evaluate(&request("x", bad))).contains("params.to: email"));
    }

    #[test]
    fn detect_subset() {
        let p = policy(json!({"actions": ["*"], "detect": ["ssn"]})).unwrap();
        let v = json!({"a": "jane@gmail.com 10.0.0.1", "b": "123-45-6789"});
        assert_eq!(
            deny_message(p.evaluate(&request("x", v))),
            "PII in params.b: ssn"
        );
    }

    #[test]
    fn keys_holding_pii_are_cut_from_the_path() {
        let p = policy(json!({"actions": ["*"]})).unwrap();
        let v = json!({"contacts": {"jane@gmail.com": {"tel": "+44 20 7946 0958"}}});
        let m = deny_message(p.evaluate(&request("x", v)));
        assert_eq!(m, "PII in params.contacts[<redacted key>]: phone");
    }

    #[test]
    fn long_lists_are_counted() {
        let p = policy(json!({"actions": ["*"]})).unwrap();
        let items: Vec<Value> = (0..25).map(|_| json!("10.0.0.1")).collect();
        let m = deny_message(p.evaluate(&request("x", json!({ "ips": items }))));
        assert!(m.ends_with("; and 5 more fields"), "{m}");
    }

    #[test]
    fn config_errors_name_the_key() {
        let e = policy(json!({"actions": ["a"], "detect": ["email", "emial"]}))
            .err()
            .unwrap();
        assert!(e.0.contains("detect[1]") && e.0.contains("emial"), "{e}");
        let e = policy(json!({"actions": ["a"], "detekt": ["email"]}))
            .err()
            .unwrap();
        assert!(e.0.contains("detekt"), "{e}");
        let e = policy(json!({"actions": ["a"], "detect": []}))
            .err()
            .unwrap();
        assert!(e.0.contains("detect"), "{e}");
        let e = policy(json!({"detect": ["email"]})).err().unwrap();
        assert!(e.0.contains("actions"), "{e}");
        let e = policy(json!({"actions": ["a"], "allow_email_domains": ["a b"]}))
            .err()
            .unwrap();
        assert!(e.0.contains("allow_email_domains[0]"), "{e}");
    }
}
