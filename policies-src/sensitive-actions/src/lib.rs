//! `sensitive-actions`: the list every governance team starts with.
//!
//! - an action matching `forbidden` → deny `forbidden-action`;
//! - else, if `allowed` is set and the action matches none of it → deny
//!   `action-not-allowed`;
//! - else an action matching `require_approval` → escalate `approval-required`;
//! - else approve.
//!
//! Entries are action names; a trailing `*` is a prefix wildcard.

use gavel_sdk::{ActionPattern, ConfigError, Metadata, Policy, Request, Verdict, export_policy};
use serde::Deserialize;

/// The config, from `[policy.config]`.
#[derive(Deserialize)]
pub struct Config {
    #[serde(default)]
    forbidden: Vec<String>,
    #[serde(default)]
    require_approval: Vec<String>,
    allowed: Option<Vec<String>>,
}

/// The policy.
pub struct SensitiveActions {
    forbidden: Vec<ActionPattern>,
    require_approval: Vec<ActionPattern>,
    allowed: Option<Vec<ActionPattern>>,
}

impl Policy for SensitiveActions {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "sensitive-actions",
            env!("CARGO_PKG_VERSION"),
            "Denies forbidden actions, escalates actions that need approval, optionally allows only a list.",
        )
    }

    fn new(config: Config) -> Result<Self, ConfigError> {
        Ok(SensitiveActions {
            forbidden: ActionPattern::parse_list("forbidden", &config.forbidden)?,
            require_approval: ActionPattern::parse_list(
                "require_approval",
                &config.require_approval,
            )?,
            allowed: config
                .allowed
                .map(|list| ActionPattern::parse_list("allowed", &list))
                .transpose()?,
        })
    }

    /// `forbidden` and `require_approval`; every action when `allowed` is
    /// set, since an action off that list is denied.
    fn interest(&self) -> Option<Vec<String>> {
        if self.allowed.is_some() {
            return None;
        }
        let judged: Vec<ActionPattern> = self
            .forbidden
            .iter()
            .chain(&self.require_approval)
            .cloned()
            .collect();
        ActionPattern::interest(&judged)
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        let action = request.action.as_str();
        if ActionPattern::any_matches(&self.forbidden, action) {
            return Verdict::deny(
                "forbidden-action",
                format!("action `{action}` is forbidden"),
            );
        }
        if let Some(allowed) = &self.allowed
            && !ActionPattern::any_matches(allowed, action)
        {
            return Verdict::deny(
                "action-not-allowed",
                format!("action `{action}` is not on the allowed list"),
            );
        }
        if ActionPattern::any_matches(&self.require_approval, action) {
            return Verdict::escalate(
                "approval-required",
                format!("action `{action}` requires human approval"),
            );
        }
        Verdict::approve()
    }
}

export_policy!(SensitiveActions);

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_sdk::parse_config;
    use gavel_sdk::serde_json::json;

    #[test]
    fn interest_is_what_the_lists_judge() {
        // (config, interest)
        let cases = [
            (
                json!({"forbidden": ["delete_*"], "require_approval": ["send_email"]}),
                Some(vec!["delete_*", "send_email"]),
            ),
            (json!({}), Some(vec![])),
            (json!({"forbidden": ["*"]}), None),
            (json!({"require_approval": ["a", "*"]}), None),
            // An action off `allowed` is denied: every action is judged.
            (
                json!({"forbidden": ["delete_*"], "allowed": ["read_*"]}),
                None,
            ),
            (json!({"allowed": []}), None),
        ];
        for (config, expected) in cases {
            let policy = parse_config(&config.to_string())
                .and_then(SensitiveActions::new)
                .unwrap();
            let expected = expected.map(|e| e.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(policy.interest(), expected, "{config}");
        }
    }
}
