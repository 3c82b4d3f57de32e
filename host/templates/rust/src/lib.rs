//! `{{name}}`: denies actions that delete data, escalates large amounts.
//!
//! - an action whose name starts with `delete_` → deny `destructive-action`;
//! - else an amount above `review_above` (default 500) → escalate
//!   `large-amount`;
//! - else approve.

use gavel_sdk::{ConfigError, Metadata, Policy, Request, Verdict, export_policy};
use serde::Deserialize;

/// The config, from `[policy.config]`. Unknown keys are refused, naming
/// them (the SDK's `parse_config`).
#[derive(Deserialize)]
pub struct Config {
    #[serde(default = "default_review_above")]
    review_above: f64,
}

fn default_review_above() -> f64 {
    500.0
}

/// The policy.
pub struct {{camel}} {
    review_above: f64,
}

impl Policy for {{camel}} {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "{{name}}",
            env!("CARGO_PKG_VERSION"),
            "Denies actions that delete data and escalates large amounts.",
        )
    }

    fn new(config: Config) -> Result<Self, ConfigError> {
        if !config.review_above.is_finite() || config.review_above < 0.0 {
            return Err(ConfigError::key(
                "review_above",
                "must be a number >= 0",
            ));
        }
        Ok({{camel}} {
            review_above: config.review_above,
        })
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        let action = request.action.as_str();
        // Action names match with ASCII case folded.
        if action.to_ascii_lowercase().starts_with("delete_") {
            return Verdict::deny(
                "destructive-action",
                format!("action `{action}` deletes data"),
            );
        }
        if let Some(amount) = request.amount
            && amount > self.review_above
        {
            return Verdict::escalate(
                "large-amount",
                format!("amount {amount} is above {}", self.review_above),
            );
        }
        Verdict::approve()
    }
}

export_policy!({{camel}});
