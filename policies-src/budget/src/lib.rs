//! `budget`: how much each agent (and the fleet) may spend per calendar
//! hour, day or month.
//!
//! For an action matching `actions` (a trailing `*` is a prefix wildcard):
//!
//! - no `amount` → deny `amount-required`;
//! - an amount the host could not count (above 9 × 10^9) → deny
//!   `invalid-amount`;
//! - the request names a currency other than `currency` (compared
//!   ASCII-case-insensitively) → deny `currency-mismatch`; a request without
//!   a currency is judged in the configured one;
//! - else approve, with a charge of the amount against the counter
//!   `budget` (scope agent, the current `period` in `timezone`), limited to
//!   the agent's entry in `per_agent` or else its `default`, and, when
//!   `[fleet]` is set, against `budget.fleet` (scope fleet, same window,
//!   `fleet.limit`). Both carry `escalate_above` when it is set.
//!
//! The host reserves the charges atomically when the decision approves:
//! past a limit it denies `budget-exceeded` (naming the counter, the limit
//! and what is left), past `escalate_above` of a limit it escalates
//! `budget-near-limit`. Every other action is approved without a charge,
//! and not even evaluated: the policy's interest is `actions`.
//!
//! ```toml
//! [policy.config]
//! actions = ["execute_transaction", "issue_refund", "make_payment"]
//! currency = "USD"
//! period = "day"            # "hour" | "day" | "month"
//! timezone = "UTC"          # IANA name; default UTC
//! escalate_above = 0.9      # optional, in (0, 1]
//! [policy.config.per_agent]
//! financial-advisor = 5000
//! customer-support = 2000
//! default = 0
//! [policy.config.fleet]     # optional
//! limit = 20000
//! ```

// The zone lookup is business-hours' own: one name check, one bundled
// database, for both policies. Budget needs the canonical name only; the
// host computes the windows.
#[allow(dead_code)]
#[path = "../../business-hours/src/zone.rs"]
mod zone;

use std::collections::BTreeMap;

use gavel_sdk::{
    ActionPattern, Charge, ConfigError, MAX_CHARGE_AMOUNT, Metadata, Period, Policy, Request,
    Scope, Verdict, Window, identifier_key, identifier_problem,
};
use serde::Deserialize;
use zone::Zone;

/// The key in `per_agent` that applies to agents without their own entry.
pub const DEFAULT_KEY: &str = "default";

/// The counter of each agent's spend.
pub const AGENT_COUNTER: &str = "budget";

/// The counter of the fleet's spend.
pub const FLEET_COUNTER: &str = "budget.fleet";

/// The config, from `[policy.config]`.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// The spending actions this policy judges.
    pub actions: Vec<String>,
    /// The currency the limits are in.
    pub currency: String,
    /// `hour`, `day` or `month`.
    pub period: String,
    /// An IANA time zone name; `UTC` when absent.
    pub timezone: Option<String>,
    /// A fraction of a limit in (0, 1]: spend past it escalates.
    pub escalate_above: Option<f64>,
    /// Agent id (or `default`) → its limit per period.
    pub per_agent: BTreeMap<String, f64>,
    /// The fleet's limit per period.
    pub fleet: Option<FleetConfig>,
}

/// `[fleet]`: every agent together.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct FleetConfig {
    /// The most all agents together may spend per period.
    pub limit: f64,
}

/// The policy.
#[derive(Debug)]
pub struct Budget {
    actions: Vec<ActionPattern>,
    currency: String,
    window: Window,
    escalate_above: Option<f64>,
    /// Keyed by [`identifier_key`] of the agent id; without `default`.
    per_agent: BTreeMap<String, f64>,
    default_limit: f64,
    fleet_limit: Option<f64>,
}

/// An amount as people write it: `1500`, `12.5`.
fn fmt_amount(value: f64) -> String {
    format!("{value}")
}

fn check_limit(key: &str, value: f64) -> Result<f64, ConfigError> {
    if !value.is_finite() || value < 0.0 {
        return Err(ConfigError::key(key, "must be a finite number >= 0"));
    }
    if value > MAX_CHARGE_AMOUNT {
        return Err(ConfigError::key(
            key,
            format!(
                "{} is more than the host counts (at most 9e9)",
                fmt_amount(value)
            ),
        ));
    }
    Ok(value)
}

/// A currency code from the request, fit to be repeated in a message.
fn printable_currency(code: &str) -> Option<&str> {
    (!code.is_empty() && code.len() <= 8 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(code)
}

impl Budget {
    /// The agent's limit: its own entry, or else the default.
    fn limit_for(&self, agent_id: &str) -> f64 {
        self.per_agent
            .get(&identifier_key(agent_id))
            .copied()
            .unwrap_or(self.default_limit)
    }
}

impl Policy for Budget {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "budget",
            env!("CARGO_PKG_VERSION"),
            "Spend budgets per agent (and for the fleet) per calendar hour, day or month, reserved by the host.",
        )
    }

    fn new(config: Config) -> Result<Self, ConfigError> {
        if config.actions.is_empty() {
            return Err(ConfigError::key("actions", "must list at least one action"));
        }
        let actions = ActionPattern::parse_list("actions", &config.actions)?;
        let currency = config.currency;
        if currency.is_empty() || currency.trim() != currency {
            return Err(ConfigError::key(
                "currency",
                "must be a non-empty currency code without surrounding spaces",
            ));
        }
        let period = Period::parse(&config.period).ok_or_else(|| {
            ConfigError::key(
                "period",
                format!(
                    "`{}` is not a period: use \"hour\", \"day\" or \"month\"",
                    config.period.escape_default()
                ),
            )
        })?;
        let timezone = match config.timezone {
            None => "UTC".to_owned(),
            Some(name) => match Zone::lookup(&name) {
                Some(zone) => zone.name().to_owned(),
                None => {
                    return Err(ConfigError::key(
                        "timezone",
                        format!(
                            "`{}` is not an IANA time zone (such as `UTC` or `Europe/Paris`)",
                            name.escape_default()
                        ),
                    ));
                }
            },
        };
        let escalate_above = match config.escalate_above {
            Some(f) if !(f > 0.0 && f <= 1.0) => {
                return Err(ConfigError::key(
                    "escalate_above",
                    format!("must be a fraction of the limit in (0, 1], got {f}"),
                ));
            }
            other => other,
        };
        let mut per_agent = BTreeMap::new();
        let mut default_limit = None;
        for (agent, limit) in config.per_agent {
            let limit = check_limit(&format!("per_agent.{agent}"), limit)?;
            if agent == DEFAULT_KEY {
                default_limit = Some(limit);
                continue;
            }
            if let Some(problem) = identifier_problem(&agent) {
                return Err(ConfigError::key(
                    "per_agent",
                    format!(
                        "agent id `{}` could never match an agent: {problem}",
                        agent.escape_default()
                    ),
                ));
            }
            let key = identifier_key(&agent);
            if key == DEFAULT_KEY {
                return Err(ConfigError::key(
                    &format!("per_agent.{agent}"),
                    "the entry for agents not listed is written `default`, in lower case",
                ));
            }
            if per_agent.contains_key(&key) {
                return Err(ConfigError::key(
                    &format!("per_agent.{agent}"),
                    "names the same agent as another entry (agent ids match ASCII-case-insensitively)",
                ));
            }
            per_agent.insert(key, limit);
        }
        let Some(default_limit) = default_limit else {
            return Err(ConfigError::key(
                "per_agent",
                "needs a `default` entry: the limit of agents not listed (0 to allow them nothing)",
            ));
        };
        let fleet_limit = config
            .fleet
            .map(|f| check_limit("fleet.limit", f.limit))
            .transpose()?;
        Ok(Budget {
            actions,
            currency,
            window: Window::calendar(period, timezone),
            escalate_above,
            per_agent,
            default_limit,
            fleet_limit,
        })
    }

    /// The budgeted actions: the host approves the others without a call.
    fn interest(&self) -> Option<Vec<String>> {
        ActionPattern::interest(&self.actions)
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        let action = request.action.as_str();
        if !ActionPattern::any_matches(&self.actions, action) {
            return Verdict::approve();
        }
        let amount = match request.amount {
            None => {
                return Verdict::deny(
                    "amount-required",
                    format!("action `{action}` spends from a budget and must state an amount"),
                );
            }
            // The host never sends these; fail closed should one arrive.
            Some(a) if !a.is_finite() || a < 0.0 => {
                return Verdict::deny(
                    "invalid-amount",
                    format!("action `{action}` has an amount that is not a finite number >= 0"),
                );
            }
            Some(a) if a > MAX_CHARGE_AMOUNT => {
                return Verdict::deny(
                    "invalid-amount",
                    format!("action `{action}` has an amount above 9e9, more than any budget"),
                );
            }
            Some(a) => a,
        };
        let configured = &self.currency;
        if let Some(given) = &request.currency
            && !configured.eq_ignore_ascii_case(given)
        {
            let message = match printable_currency(given) {
                Some(given) => format!(
                    "currency {given} does not match the budget's currency {configured}; budgets are in {configured}"
                ),
                None => format!(
                    "the request's currency does not match the budget's currency {configured}"
                ),
            };
            return Verdict::deny("currency-mismatch", message);
        }
        let limit = self.limit_for(&request.agent.id);
        let with_escalation = |charge: Charge| match self.escalate_above {
            Some(f) => charge.escalate_above(f),
            None => charge,
        };
        let mut verdict = Verdict::approve().with_charge(with_escalation(Charge::budget(
            AGENT_COUNTER,
            Scope::Agent,
            self.window.clone(),
            amount,
            limit,
        )));
        if let Some(fleet) = self.fleet_limit {
            verdict = verdict.with_charge(with_escalation(Charge::budget(
                FLEET_COUNTER,
                Scope::Fleet,
                self.window.clone(),
                amount,
                fleet,
            )));
        }
        verdict
    }
}

// The export's symbol names are fit for a component only; native builds
// (unit tests) leave it out.
#[cfg(target_arch = "wasm32")]
gavel_sdk::export_policy!(Budget);

#[cfg(test)]
mod tests;
