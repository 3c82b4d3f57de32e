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

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    forbidden: Vec<String>,
    #[serde(default)]
    require_approval: Vec<String>,
    allowed: Option<Vec<String>>,
}

struct SensitiveActions {
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
