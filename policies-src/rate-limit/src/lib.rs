//! `rate-limit`: how many actions an agent may take in a rolling window,
//! overall and per action pattern.
//!
//! Every action it judges is approved with charges of 1, which the host
//! reserves atomically when the decision approves, and past a limit turns
//! into a deny `rate-limited` with the time until one is free again:
//!
//! - `per_agent` → the counter `rate` (scope agent, the last `per`);
//! - each `[actions]` entry whose pattern matches the action → its own
//!   counter (scope agent): `rate:<name>` for a name, `rate.prefix:<prefix>`
//!   for `prefix*` (see `counter.rs`). An action matching several entries
//!   is charged against each.
//!
//! `per` is an integer and a unit `ms`, `s`, `m`, `h` or `d` (`30m`, `1h`,
//! `1d`), from 1 ms to 366 days; `limit` an integer from 1 to 100000. The
//! windows are exact: never more than `limit` actions in any span of
//! `per`. With `per_agent` the policy judges every action; without, only
//! those of `[actions]` (its interest).
//!
//! ```toml
//! [policy.config]
//! per_agent = { limit = 500, per = "1h" }
//! [policy.config.actions]
//! send_email = { limit = 50, per = "1h" }
//! "delete_*" = { limit = 5, per = "1d" }
//! ```

mod counter;
mod duration;

use std::collections::BTreeMap;

use counter::{AGENT_COUNTER, counter_for};
use duration::parse_per;
use gavel_sdk::{
    ActionPattern, Charge, ConfigError, Metadata, Policy, Request, Scope, Verdict, Window,
};
use serde::Deserialize;

/// The largest `limit`.
pub const MAX_LIMIT: u64 = 100_000;

/// The most charges the host takes from one outcome.
const MAX_CHARGES: usize = 16;

/// The config, from `[policy.config]`.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Every action of one agent.
    pub per_agent: Option<RateConfig>,
    /// Action pattern → its limit, per agent.
    #[serde(default)]
    pub actions: BTreeMap<String, RateConfig>,
}

/// A limit, as configured.
#[derive(Debug, Clone, Deserialize)]
pub struct RateConfig {
    /// How many actions (1..=100000).
    pub limit: u64,
    /// In how long a rolling window: `30m`, `1h`, `1d`.
    pub per: String,
}

/// A limit, checked, with its counter.
#[derive(Debug, Clone, PartialEq)]
struct Rate {
    counter: String,
    limit: u64,
    per_ms: u64,
}

impl Rate {
    fn check(key: &str, counter: String, config: &RateConfig) -> Result<Rate, ConfigError> {
        if !(1..=MAX_LIMIT).contains(&config.limit) {
            return Err(ConfigError::key(
                &format!("{key}.limit"),
                format!(
                    "must be an integer from 1 to {MAX_LIMIT}, got {}",
                    config.limit
                ),
            ));
        }
        let per_ms =
            parse_per(&config.per).map_err(|e| ConfigError::key(&format!("{key}.per"), e))?;
        Ok(Rate {
            counter,
            limit: config.limit,
            per_ms,
        })
    }

    fn charge(&self) -> Charge {
        Charge::rate(
            self.counter.clone(),
            Scope::Agent,
            Window::rolling_ms(self.per_ms),
            self.limit,
        )
    }
}

/// The policy.
#[derive(Debug)]
pub struct RateLimit {
    per_agent: Option<Rate>,
    actions: Vec<(ActionPattern, Rate)>,
}

/// The text a pattern matches with (its name or prefix; empty for `*`).
fn body(pattern: &ActionPattern) -> &str {
    match pattern {
        ActionPattern::Any => "",
        ActionPattern::Prefix(p) | ActionPattern::Exact(p) => p,
    }
}

/// The most `[actions]` entries one action can match. An action matches
/// the exact entry naming it and the prefixes it starts with; the one with
/// the longest of those texts is itself matched by all of them, so trying
/// each entry's own text finds the most.
fn most_matched(actions: &[(ActionPattern, Rate)]) -> usize {
    actions
        .iter()
        .map(|(p, _)| {
            let text = body(p);
            actions.iter().filter(|(q, _)| q.matches(text)).count()
        })
        .max()
        .unwrap_or(0)
}

impl Policy for RateLimit {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "rate-limit",
            env!("CARGO_PKG_VERSION"),
            "Rolling-window rate limits per agent, overall and per action pattern, reserved by the host.",
        )
    }

    fn new(config: Config) -> Result<Self, ConfigError> {
        if config.per_agent.is_none() && config.actions.is_empty() {
            return Err(ConfigError(
                "config: set `per_agent`, `actions` or both: there is nothing to limit".to_owned(),
            ));
        }
        let per_agent = config
            .per_agent
            .as_ref()
            .map(|c| Rate::check("per_agent", AGENT_COUNTER.to_owned(), c))
            .transpose()?;
        let mut actions: Vec<(ActionPattern, Rate)> = Vec::new();
        for (text, rate) in &config.actions {
            let key = format!("actions.{text}");
            let pattern = ActionPattern::parse(text).map_err(|e| ConfigError::key(&key, e))?;
            let counter = counter_for(&pattern).map_err(|e| ConfigError::key(&key, e))?;
            if actions.iter().any(|(_, r)| r.counter == counter) {
                return Err(ConfigError::key(
                    &key,
                    "names the same actions as another entry (patterns match ASCII-case-insensitively)",
                ));
            }
            actions.push((pattern, Rate::check(&key, counter, rate)?));
        }
        let most = most_matched(&actions) + usize::from(per_agent.is_some());
        if most > MAX_CHARGES {
            return Err(ConfigError::key(
                "actions",
                format!(
                    "one action could match {most} limits (with per_agent); the host takes at most {MAX_CHARGES} charges from a policy"
                ),
            ));
        }
        Ok(RateLimit { per_agent, actions })
    }

    /// Every action with `per_agent`; else the `[actions]` patterns.
    fn interest(&self) -> Option<Vec<String>> {
        if self.per_agent.is_some() {
            return None;
        }
        let patterns: Vec<ActionPattern> = self.actions.iter().map(|(p, _)| p.clone()).collect();
        ActionPattern::interest(&patterns)
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        let action = request.action.as_str();
        let charges = self.per_agent.iter().chain(
            self.actions
                .iter()
                .filter(|(p, _)| p.matches(action))
                .map(|(_, rate)| rate),
        );
        Verdict::approve().with_charges(charges.map(Rate::charge))
    }
}

// The export's symbol names are fit for a component only; native builds
// (unit tests) leave it out.
#[cfg(target_arch = "wasm32")]
gavel_sdk::export_policy!(RateLimit);

#[cfg(test)]
mod tests;
