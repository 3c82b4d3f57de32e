//! `rules`: deny or escalate when a CEL condition holds.
//!
//! Each rule of `rule` (in order) has a condition `when` in CEL
//! (<https://cel.dev>) over the request, the agent, the time and history,
//! a `verdict` (`deny` or `escalate`), a reason `code` and a `message`:
//!
//! ```toml
//! [[policy.config.rule]]
//! when = 'action == "issue_refund" && amount > 500.0'
//! verdict = "escalate"
//! code = "refund-review"
//! message = "refunds above 500 need a human"
//! ```
//!
//! - Rules run in order. The first rule that holds with `deny` decides:
//!   no later rule runs. A rule that holds with `escalate` is remembered
//!   and the later rules still run, so a later deny still wins; with no
//!   deny, the first escalate decides. No rule holds: approve.
//! - Every expression is parsed and checked once, when the config is
//!   loaded: a syntax error, an unknown variable or function, a bad
//!   literal scope, pattern or window of a history function, or a
//!   comparison of `action` with an upper-case name is a config error
//!   naming the rule (index and code) and the line and column.
//! - What an expression sees: see [`activation`]. History: see
//!   [`history_functions`].
//! - A rule that fails at runtime (a missing key, `amount > 500.0` without
//!   an amount, a history error) does not match, unless it says
//!   `on_error = "match"`. The errors are named (rule, code, what failed,
//!   never a value) at the end of the message of the policy's deny or
//!   escalate; an approve carries no message in the contract, so there an
//!   error leaves no trace beyond the history facts the host records.

pub mod action_gate;
pub mod activation;
pub mod expression_check;
pub mod history_functions;
pub mod json_value;
pub mod position;
pub mod rule;
pub mod runtime_error;
pub mod window;

#[cfg(test)]
mod tests;

use cel::Env;
use gavel_sdk::serde_json::Value as Json;
use gavel_sdk::{ConfigError, Metadata, Policy, Request, Verdict, export_policy, identifier_key};
use rule::{OnError, Rule, RuleVerdict};
use serde::Deserialize;
use std::sync::Arc;

/// The longest message a policy may return, in bytes (the host's limit).
const MAX_REASON_BYTES: usize = 4096;
/// The most rules one policy holds.
pub const MAX_RULES: usize = 256;

/// The config, from `[policy.config]`: the rules, in order.
#[derive(Deserialize)]
pub struct Config {
    /// Each rule a table; checked by [`Rule::parse`], which names the
    /// rule's index and code in every error.
    rule: Vec<Json>,
}

/// The policy.
pub struct Rules {
    env: Arc<Env>,
    rules: Vec<Rule>,
    /// What any rule names: all a decision's context holds.
    needs: activation::Needs,
}

impl Policy for Rules {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "rules",
            env!("CARGO_PKG_VERSION"),
            "Denies or escalates when a CEL condition over the request, the agent and history holds; rules run in order.",
        )
    }

    fn new(config: Config) -> Result<Self, ConfigError> {
        if config.rule.is_empty() {
            return Err(ConfigError::key("rule", "must list at least one rule"));
        }
        if config.rule.len() > MAX_RULES {
            return Err(ConfigError::key(
                "rule",
                format!("{} rules; the most is {MAX_RULES}", config.rule.len()),
            ));
        }
        let env = Arc::new(Env::stdlib());
        let rules = config
            .rule
            .iter()
            .enumerate()
            .map(|(i, entry)| Rule::parse(&env, i, entry))
            .collect::<Result<Vec<_>, _>>()?;
        let needs = rules
            .iter()
            .fold(activation::Needs::default(), |all, r| all.union(r.needs));
        Ok(Rules { env, rules, needs })
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        // Built for the first rule that can hold for this action.
        let mut context = None;
        let action = identifier_key(&request.action);
        let mut escalated: Option<&Rule> = None;
        let mut errors: Vec<String> = Vec::new();
        for rule in &self.rules {
            if !rule.gate.admits(&action) {
                // `false` without running it (see `action_gate`).
                continue;
            }
            if context.is_none() {
                match activation::context(&self.env, request, &self.needs) {
                    Ok(built) => context = Some(built),
                    // Only if a history function's name were the standard
                    // library's: fail closed.
                    Err(e) => return Verdict::deny("rules-unavailable", e.to_string()),
                }
            }
            let Some(context) = context.as_ref() else {
                return Verdict::deny("rules-unavailable", "no context");
            };
            let holds = match rule.holds(context) {
                Ok(holds) => holds,
                Err(e) => {
                    let matched = rule.on_error == OnError::Match;
                    let effect = if matched {
                        "counted as a match"
                    } else {
                        "did not match"
                    };
                    errors.push(format!(
                        "{} could not be evaluated ({effect}): {e}",
                        rule.name()
                    ));
                    matched
                }
            };
            if !holds {
                continue;
            }
            match rule.verdict {
                RuleVerdict::Deny => {
                    return Verdict::deny(rule.code.clone(), with_notes(&rule.message, &errors));
                }
                RuleVerdict::Escalate => {
                    escalated.get_or_insert(rule);
                }
            }
        }
        match escalated {
            Some(rule) => Verdict::escalate(rule.code.clone(), with_notes(&rule.message, &errors)),
            None => Verdict::approve(),
        }
    }
}

/// `message`, then the rules that errored, within the host's limit.
fn with_notes(message: &str, errors: &[String]) -> String {
    if errors.is_empty() {
        return message.to_owned();
    }
    let mut text = format!("{message} [{}]", errors.join("; "));
    if text.len() > MAX_REASON_BYTES {
        let mut end = MAX_REASON_BYTES - 3;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

export_policy!(Rules);
