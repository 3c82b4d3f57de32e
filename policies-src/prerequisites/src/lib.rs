//! `prerequisites`: an action only after one of its prerequisites was
//! approved and reported completed earlier in the same session.
//!
//! For an action matching a key of `requires` (a trailing `*` is a prefix
//! wildcard), for every key it matches:
//!
//! - the request has no session → deny `prerequisite-missing`, saying a
//!   session is needed;
//! - one of the listed prerequisites (action names or prefixes) completed
//!   earlier in the session (the host's `completed` fact) → that key is
//!   met;
//! - none did, and the host could not answer for one of them → deny
//!   `history-unavailable`: an unknown fact never approves;
//! - none did → deny `prerequisite-missing`, naming the prerequisites.
//!
//! Approve when every matching key is met. Every other action is approved,
//! and not evaluated: the policy's interest is the keys of `requires`.
//! Messages name actions, never params.
//!
//! ```toml
//! [policy.config.requires]
//! send_contract = ["verify_identity"]
//! "wire_*" = ["verify_identity", "manager_signoff"]
//! ```

use std::collections::BTreeMap;

use gavel_sdk::{ActionPattern, ConfigError, Metadata, Policy, Request, Verdict, history};
use serde::Deserialize;

/// The config, from `[policy.config]`.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Action pattern → the actions one of which must have completed first.
    pub requires: BTreeMap<String, Vec<String>>,
}

/// One key of `requires`, checked.
#[derive(Debug)]
struct Requirement {
    action: ActionPattern,
    /// One of these, completed earlier in the session.
    any_of: Vec<ActionPattern>,
}

/// The policy.
#[derive(Debug)]
pub struct Prerequisites {
    requirements: Vec<Requirement>,
}

/// `a`, `a or b`, `a, b or c`, each in backticks.
fn either(patterns: &[ActionPattern]) -> String {
    let names: Vec<String> = patterns.iter().map(|p| format!("`{p}`")).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// Whether `requirement` is met in the request's session: `Ok(false)` when
/// no prerequisite completed, `Err` when none did as far as the host could
/// tell, and it could not tell for one.
fn met(requirement: &Requirement) -> Result<bool, String> {
    let mut problem = None;
    for prerequisite in &requirement.any_of {
        match history::completed(&prerequisite.to_string()) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(e) => {
                problem.get_or_insert(e);
            }
        }
    }
    match problem {
        Some(e) => Err(e),
        None => Ok(false),
    }
}

impl Policy for Prerequisites {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "prerequisites",
            env!("CARGO_PKG_VERSION"),
            "Allows an action only after one of its prerequisites completed earlier in the same session.",
        )
    }

    fn new(config: Config) -> Result<Self, ConfigError> {
        if config.requires.is_empty() {
            return Err(ConfigError::key(
                "requires",
                "must name at least one action and its prerequisites",
            ));
        }
        let mut requirements: Vec<Requirement> = Vec::new();
        for (text, prerequisites) in &config.requires {
            let key = format!("requires.{text}");
            let action = ActionPattern::parse(text).map_err(|e| ConfigError::key(&key, e))?;
            let folded = action.to_string().to_ascii_lowercase();
            if requirements
                .iter()
                .any(|r| r.action.to_string().to_ascii_lowercase() == folded)
            {
                return Err(ConfigError::key(
                    &key,
                    "names the same actions as another entry (patterns match ASCII-case-insensitively)",
                ));
            }
            if prerequisites.is_empty() {
                return Err(ConfigError::key(
                    &key,
                    "must list at least one prerequisite (an empty list could never be met)",
                ));
            }
            let any_of = ActionPattern::parse_list(&key, prerequisites)?;
            requirements.push(Requirement { action, any_of });
        }
        Ok(Prerequisites { requirements })
    }

    /// The keys of `requires`: the host approves the others without a call.
    fn interest(&self) -> Option<Vec<String>> {
        let keys: Vec<ActionPattern> = self.requirements.iter().map(|r| r.action.clone()).collect();
        ActionPattern::interest(&keys)
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        let action = request.action.as_str();
        for requirement in self
            .requirements
            .iter()
            .filter(|r| r.action.matches(action))
        {
            let needs = either(&requirement.any_of);
            if request.session_id.is_none() {
                return Verdict::deny(
                    "prerequisite-missing",
                    format!(
                        "action `{action}` needs {needs} completed earlier in the same session, and the request has no session"
                    ),
                );
            }
            match met(requirement) {
                Ok(true) => {}
                Ok(false) => {
                    return Verdict::deny(
                        "prerequisite-missing",
                        format!(
                            "action `{action}` needs {needs} completed earlier in this session"
                        ),
                    );
                }
                Err(e) => {
                    return Verdict::deny(
                        "history-unavailable",
                        format!(
                            "action `{action}` needs {needs} completed earlier in this session, and the session's history could not be read: {e}"
                        ),
                    );
                }
            }
        }
        Verdict::approve()
    }
}

// The export's symbol names are fit for a component only; native builds
// (unit tests) leave it out.
#[cfg(target_arch = "wasm32")]
gavel_sdk::export_policy!(Prerequisites);

#[cfg(test)]
mod tests;
