//! `transaction-limit`: per-agent caps on money-moving actions.
//!
//! For an action matching `actions` (a trailing `*` is a prefix wildcard):
//!
//! - no `amount` → deny `amount-required`;
//! - `currency` configured and the request names another one (compared
//!   ASCII-case-insensitively) → deny `currency-mismatch`; a request without
//!   a currency is judged in the configured one;
//! - no entry in `limits` for the agent and no `default` entry → deny
//!   `no-limit-configured`;
//! - `amount > max` → deny `over-limit`;
//! - `amount > approval_above` → escalate `approval-threshold`;
//! - else approve. Both bounds are inclusive: `amount == max` and
//!   `amount == approval_above` are approved.
//!
//! Every other action is approved.
//!
//! Action patterns and agent ids match ASCII-case-insensitively: a limit
//! for `financial-advisor` applies to `Financial-Advisor`, and
//! `Execute_Transaction` must state an amount like `execute_transaction`.
//! Two `limits` entries for one agent modulo case are refused.
//!
//! ```toml
//! [policy.config]
//! actions = ["execute_transaction", "transfer_*"]
//! currency = "USD"
//! [policy.config.limits.default]
//! max = 100
//! [policy.config.limits.financial-advisor]
//! max = 10000
//! approval_above = 1000
//! ```

use std::collections::BTreeMap;

use gavel_sdk::{
    ActionPattern, ConfigError, Metadata, Policy, Request, Verdict, identifier_key,
    identifier_problem,
};
use serde::Deserialize;

/// The key in `limits` that applies to agents without their own entry.
pub const DEFAULT_KEY: &str = "default";

/// The config, from `[policy.config]`.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// The money-moving actions this policy judges.
    pub actions: Vec<String>,
    /// The currency the limits are written in; requests in another one are
    /// denied.
    pub currency: Option<String>,
    /// Agent id (or `default`) → its limits.
    pub limits: BTreeMap<String, LimitConfig>,
}

/// One agent's limits, as configured.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct LimitConfig {
    /// Largest amount allowed at all (inclusive).
    pub max: f64,
    /// Amounts above this (and up to `max`) need a human's approval.
    pub approval_above: Option<f64>,
}

/// One agent's limits, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Limit {
    max: f64,
    approval_above: Option<f64>,
}

/// The policy.
#[derive(Debug)]
pub struct TransactionLimit {
    actions: Vec<ActionPattern>,
    currency: Option<String>,
    /// Keyed by [`identifier_key`] of the agent id (or `default`).
    limits: BTreeMap<String, Limit>,
}

fn check_amount(key: &str, value: f64) -> Result<f64, ConfigError> {
    if !value.is_finite() {
        return Err(ConfigError::key(key, "must be a finite number"));
    }
    if value < 0.0 {
        return Err(ConfigError::key(
            key,
            format!("must be >= 0, got {}", fmt_amount(value)),
        ));
    }
    Ok(value)
}

/// An amount as people write it: `1500`, `12.5`.
fn fmt_amount(value: f64) -> String {
    // `Display` for f64 prints integral values without a fractional part
    // and never uses exponent notation.
    format!("{value}")
}

/// A currency code from the request, fit to be repeated in a message.
fn printable_currency(code: &str) -> Option<&str> {
    (!code.is_empty() && code.len() <= 8 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(code)
}

impl TransactionLimit {
    fn limit_for(&self, agent_id: &str) -> Option<(&'static str, Limit)> {
        if let Some(limit) = self.limits.get(&identifier_key(agent_id)) {
            return Some(("", *limit));
        }
        self.limits
            .get(DEFAULT_KEY)
            .map(|limit| (" (default limit)", *limit))
    }
}

impl Policy for TransactionLimit {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "transaction-limit",
            env!("CARGO_PKG_VERSION"),
            "Caps the amount of money-moving actions per agent: deny above the limit, escalate above the approval threshold.",
        )
    }

    fn new(config: Config) -> Result<Self, ConfigError> {
        if config.actions.is_empty() {
            return Err(ConfigError::key("actions", "must list at least one action"));
        }
        let actions = ActionPattern::parse_list("actions", &config.actions)?;
        let currency = match config.currency {
            None => None,
            Some(c) => {
                let trimmed = c.trim();
                if trimmed.is_empty() || trimmed != c {
                    return Err(ConfigError::key(
                        "currency",
                        "must be a non-empty currency code without surrounding spaces",
                    ));
                }
                Some(c)
            }
        };
        let mut limits = BTreeMap::new();
        for (agent, l) in config.limits {
            if agent.is_empty() {
                return Err(ConfigError::key("limits", "an agent id must not be empty"));
            }
            if let Some(problem) = identifier_problem(&agent) {
                return Err(ConfigError::key(
                    "limits",
                    format!(
                        "agent id `{}` could never match an agent: {problem}",
                        agent.escape_default()
                    ),
                ));
            }
            let key = identifier_key(&agent);
            if limits.contains_key(&key) {
                return Err(ConfigError::key(
                    &format!("limits.{agent}"),
                    "names the same agent as another entry (agent ids match ASCII-case-insensitively)",
                ));
            }
            let max = check_amount(&format!("limits.{agent}.max"), l.max)?;
            let approval_above = match l.approval_above {
                None => None,
                Some(a) => {
                    let key = format!("limits.{agent}.approval_above");
                    let a = check_amount(&key, a)?;
                    if a > max {
                        return Err(ConfigError::key(
                            &key,
                            format!(
                                "must be <= max ({}), got {}",
                                fmt_amount(max),
                                fmt_amount(a)
                            ),
                        ));
                    }
                    Some(a)
                }
            };
            limits.insert(
                key,
                Limit {
                    max,
                    approval_above,
                },
            );
        }
        Ok(TransactionLimit {
            actions,
            currency,
            limits,
        })
    }

    /// The listed actions: the host approves the others without a call.
    fn interest(&self) -> Option<Vec<String>> {
        ActionPattern::interest(&self.actions)
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        let action = request.action.as_str();
        if !ActionPattern::any_matches(&self.actions, action) {
            return Verdict::approve();
        }
        let agent = request.agent.id.as_str();
        let amount = match request.amount {
            None => {
                return Verdict::deny(
                    "amount-required",
                    format!("action `{action}` moves money and must state an amount"),
                );
            }
            // The host never sends these; fail closed should one arrive.
            Some(a) if !a.is_finite() || a < 0.0 => {
                return Verdict::deny(
                    "invalid-amount",
                    format!("action `{action}` has an amount that is not a finite number >= 0"),
                );
            }
            Some(a) => a,
        };
        if let (Some(configured), Some(given)) = (&self.currency, &request.currency)
            && !configured.eq_ignore_ascii_case(given)
        {
            let message = match printable_currency(given) {
                Some(given) => format!(
                    "currency {given} does not match the configured currency {configured}; limits are in {configured}"
                ),
                None => format!(
                    "the request's currency does not match the configured currency {configured}"
                ),
            };
            return Verdict::deny("currency-mismatch", message);
        }
        let currency = self
            .currency
            .as_deref()
            .or(request.currency.as_deref().and_then(printable_currency))
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        let Some((which, limit)) = self.limit_for(agent) else {
            return Verdict::deny(
                "no-limit-configured",
                format!(
                    "no transaction limit is configured for agent {agent} and there is no default limit"
                ),
            );
        };
        let shown = fmt_amount(amount);
        if amount > limit.max {
            return Verdict::deny(
                "over-limit",
                format!(
                    "amount {shown}{currency} exceeds the limit of {} for agent {agent}{which}",
                    fmt_amount(limit.max)
                ),
            );
        }
        if let Some(threshold) = limit.approval_above
            && amount > threshold
        {
            return Verdict::escalate(
                "approval-threshold",
                format!(
                    "amount {shown}{currency} is above the approval threshold of {} for agent {agent}{which} and needs human approval",
                    fmt_amount(threshold)
                ),
            );
        }
        Verdict::approve()
    }
}

// The export's symbol names are fit for a component only; native builds
// (unit tests) leave it out.
#[cfg(target_arch = "wasm32")]
gavel_sdk::export_policy!(TransactionLimit);

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_sdk::{Agent, VerdictKind, parse_config, serde_json::json};

    fn policy(config: gavel_sdk::serde_json::Value) -> Result<TransactionLimit, ConfigError> {
        TransactionLimit::new(parse_config(&config.to_string())?)
    }

    fn standard() -> TransactionLimit {
        policy(json!({
            "actions": ["execute_transaction", "transfer_*"],
            "currency": "USD",
            "limits": {
                "default": {"max": 100},
                "financial-advisor": {"max": 1000, "approval_above": 500}
            }
        }))
        .unwrap()
    }

    fn request(agent: &str, action: &str, amount: Option<f64>, currency: Option<&str>) -> Request {
        Request {
            request_id: "r".into(),
            agent: Agent {
                id: agent.into(),
                registered: true,
                risk_tier: Some(4),
                owner: None,
            },
            action: action.into(),
            params: json!({}).into(),
            amount,
            currency: currency.map(Into::into),
            timestamp_ms: 0,
            session_id: None,
            user_id: None,
            ..Default::default()
        }
    }

    fn code(v: &Verdict) -> Option<(&'static str, &str)> {
        match &v.kind {
            VerdictKind::Approve => None,
            VerdictKind::Deny(r) => Some(("deny", r.code.as_str())),
            VerdictKind::Escalate(r) => Some(("escalate", r.code.as_str())),
        }
    }

    #[test]
    fn interest_is_the_actions() {
        // (actions, interest)
        let cases = [
            (
                json!(["execute_transaction", "transfer_*"]),
                Some(vec!["execute_transaction", "transfer_*"]),
            ),
            (json!(["pay", "*"]), None),
        ];
        for (actions, expected) in cases {
            let p = policy(json!({"actions": actions, "limits": {"default": {"max": 1}}})).unwrap();
            let expected = expected.map(|e| e.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(p.interest(), expected, "{actions}");
        }
    }

    #[test]
    fn boundaries_are_inclusive() {
        let p = standard();
        let fa = |a: f64| {
            code(&p.evaluate(&request(
                "financial-advisor",
                "execute_transaction",
                Some(a),
                Some("USD"),
            )))
            .map(|c| c.1.to_owned())
        };
        assert_eq!(fa(0.0), None);
        assert_eq!(fa(500.0), None);
        assert_eq!(fa(500.01).as_deref(), Some("approval-threshold"));
        assert_eq!(fa(1000.0).as_deref(), Some("approval-threshold"));
        assert_eq!(fa(1000.01).as_deref(), Some("over-limit"));
    }

    #[test]
    fn names_match_modulo_ascii_case() {
        let p = standard();
        // (agent, action, amount, expected)
        let cases = [
            (
                "financial-advisor",
                "execute_transaction",
                Some(900.0),
                Some(("escalate", "approval-threshold")),
            ),
            (
                "Financial-Advisor",
                "execute_transaction",
                Some(900.0),
                Some(("escalate", "approval-threshold")),
            ),
            (
                "FINANCIAL-ADVISOR",
                "Execute_Transaction",
                Some(900.0),
                Some(("escalate", "approval-threshold")),
            ),
            (
                "financial-advisor",
                "EXECUTE_TRANSACTION",
                None,
                Some(("deny", "amount-required")),
            ),
            (
                "financial-advisor",
                "Transfer_Funds",
                None,
                Some(("deny", "amount-required")),
            ),
            (
                "research-assistant",
                "Execute_Transaction",
                Some(900.0),
                Some(("deny", "over-limit")),
            ),
        ];
        for (agent, action, amount, expected) in cases {
            let v = p.evaluate(&request(agent, action, amount, Some("USD")));
            assert_eq!(code(&v), expected, "{agent} {action}");
        }
    }

    #[test]
    fn limits_for_one_agent_modulo_case_or_for_no_possible_agent_are_refused() {
        let cases = [
            (
                json!({"actions": ["pay"], "limits": {"bob": {"max": 1}, "Bob": {"max": 2}}}),
                "names the same agent as another entry",
            ),
            (
                json!({"actions": ["pay"], "limits": {"bob ": {"max": 1}}}),
                "character 3 (U+0020) is not allowed",
            ),
            (
                json!({"actions": ["pay"], "limits": {"bo\u{200b}b": {"max": 1}}}),
                "character 2 (U+200B) is not allowed",
            ),
        ];
        for (config, expected) in cases {
            let e = policy(config.clone()).unwrap_err();
            assert!(e.0.contains(expected), "{config}: {e}");
        }
    }

    #[test]
    fn max_equal_to_threshold_never_escalates() {
        let p = policy(
            json!({"actions": ["pay"], "limits": {"default": {"max": 10, "approval_above": 10}}}),
        )
        .unwrap();
        assert!(
            p.evaluate(&request("a", "pay", Some(10.0), None))
                .is_approve()
        );
        assert_eq!(
            code(&p.evaluate(&request("a", "pay", Some(10.5), None))),
            Some(("deny", "over-limit"))
        );
    }

    #[test]
    fn over_limit_message_names_numbers_and_agent() {
        let v = standard().evaluate(&request(
            "financial-advisor",
            "execute_transaction",
            Some(1500.0),
            Some("usd"),
        ));
        let VerdictKind::Deny(r) = v.kind else {
            panic!("{v:?}")
        };
        assert_eq!(r.code, "over-limit");
        assert_eq!(
            r.message,
            "amount 1500 USD exceeds the limit of 1000 for agent financial-advisor"
        );
    }

    #[test]
    fn default_applies_to_unknown_agents() {
        let p = standard();
        assert!(
            p.evaluate(&request("someone", "transfer_funds", Some(100.0), None))
                .is_approve()
        );
        let v = p.evaluate(&request("someone", "transfer_funds", Some(101.0), None));
        let VerdictKind::Deny(r) = v.kind else {
            panic!("{v:?}")
        };
        assert!(r.message.contains("(default limit)"), "{}", r.message);
    }

    #[test]
    fn missing_amount_currency_and_limits() {
        let p = standard();
        assert_eq!(
            code(&p.evaluate(&request(
                "financial-advisor",
                "execute_transaction",
                None,
                None
            ))),
            Some(("deny", "amount-required"))
        );
        assert_eq!(
            code(&p.evaluate(&request(
                "financial-advisor",
                "execute_transaction",
                Some(1.0),
                Some("EUR")
            ))),
            Some(("deny", "currency-mismatch"))
        );
        assert!(
            p.evaluate(&request(
                "financial-advisor",
                "execute_transaction",
                Some(1.0),
                Some("usd")
            ))
            .is_approve()
        );
        let no_default = policy(json!({"actions": ["pay"], "limits": {"x": {"max": 1}}})).unwrap();
        assert_eq!(
            code(&no_default.evaluate(&request("y", "pay", Some(0.0), None))),
            Some(("deny", "no-limit-configured"))
        );
        assert!(
            p.evaluate(&request("y", "send_email", None, Some("EUR")))
                .is_approve()
        );
    }

    #[test]
    fn no_configured_currency_accepts_any() {
        let p = policy(json!({"actions": ["pay"], "limits": {"default": {"max": 5}}})).unwrap();
        assert!(
            p.evaluate(&request("a", "pay", Some(5.0), Some("JPY")))
                .is_approve()
        );
    }

    #[test]
    fn unprintable_currency_is_not_echoed() {
        let v = standard().evaluate(&request("a", "pay_x", Some(1.0), None));
        assert!(v.is_approve());
        let v = standard().evaluate(&request(
            "a",
            "execute_transaction",
            Some(1.0),
            Some("<script>alert(1)</script>"),
        ));
        let VerdictKind::Deny(r) = v.kind else {
            panic!("{v:?}")
        };
        assert!(!r.message.contains("script"), "{}", r.message);
    }

    #[test]
    fn bad_configs_name_the_key() {
        let cases = [
            (
                json!({"actions": ["pay"], "limits": {"default": {"max": -1}}}),
                "`limits.default.max`",
            ),
            (
                json!({"actions": ["pay"], "limits": {"default": {"max": 1, "approval_above": -0.5}}}),
                "`limits.default.approval_above`",
            ),
            (
                json!({"actions": ["pay"], "limits": {"default": {"max": 1, "approval_above": 2}}}),
                "`limits.default.approval_above`",
            ),
            (
                json!({"actions": ["pay"], "limits": {"bob": {"max": "many"}}}),
                "`limits.bob.max`",
            ),
            (
                json!({"actions": ["pay"], "limits": {"bob": {"maximum": 1}}}),
                "limits.bob",
            ),
            (
                json!({"actions": ["pay"], "limits": {"bob": {"max": 1, "approval": 1}}}),
                "`limits.bob.approval`",
            ),
            (json!({"actions": [], "limits": {}}), "`actions`"),
            (json!({"actions": ["a*b"], "limits": {}}), "`actions[0]`"),
            (
                json!({"actions": ["pay"], "currency": "", "limits": {}}),
                "`currency`",
            ),
            (json!({"actions": ["pay"]}), "limits"),
            (
                json!({"actions": ["pay"], "limits": {}, "extra": 1}),
                "`extra`",
            ),
        ];
        for (config, key) in cases {
            let e = policy(config.clone()).unwrap_err();
            assert!(e.0.contains(key), "{config}: {e}");
        }
    }

    #[test]
    fn non_finite_limits_are_refused() {
        let config = |max: f64, approval_above: Option<f64>| Config {
            actions: vec!["pay".into()],
            currency: None,
            limits: BTreeMap::from([(
                "default".to_owned(),
                LimitConfig {
                    max,
                    approval_above,
                },
            )]),
        };
        let e = TransactionLimit::new(config(f64::INFINITY, None)).unwrap_err();
        assert!(e.0.contains("`limits.default.max`"), "{e}");
        let e = TransactionLimit::new(config(10.0, Some(f64::NAN))).unwrap_err();
        assert!(e.0.contains("`limits.default.approval_above`"), "{e}");
    }

    #[test]
    fn non_finite_amount_fails_closed() {
        let v = standard().evaluate(&request("a", "pay_x", Some(f64::NAN), None));
        assert!(v.is_approve(), "unlisted action");
        let v = standard().evaluate(&request(
            "a",
            "execute_transaction",
            Some(f64::INFINITY),
            None,
        ));
        assert_eq!(code(&v), Some(("deny", "invalid-amount")));
    }
}
