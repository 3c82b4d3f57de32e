//! The native floor: the four shipped policies as plain Rust functions,
//! combined with exactly Gavel's evaluation semantics, with no sandbox, no
//! serialization and no per-call allocation beyond what the rules need.
//!
//! The configuration is read from the same `policies.toml` Gavel loads
//! (parsed by Gavel's own manifest parser, so priorities, `applies_to`,
//! modes and the agent registry are the same); each policy's `[config]`
//! is then parsed here, with the keys and checks of the real policy:
//!
//! | component | rule |
//! |---|---|
//! | `sensitive_actions.wasm` (and the Python twin) | forbidden → deny `forbidden-action`; not on `allowed` (if set) → deny `action-not-allowed`; `require_approval` → escalate `approval-required` |
//! | `transaction_limit.wasm` | for `actions`: no amount → deny `amount-required`; another currency (ASCII case-insensitive) → deny `currency-mismatch`; no limit for the agent nor `default` → deny `no-limit-configured`; `amount > max` → deny `over-limit`; `amount > approval_above` → escalate `approval-threshold` |
//! | `business_hours.wasm` | for `actions` (and agents at or above `min_risk_tier`, unregistered = tier 4): local date in `holidays`, local weekday not in `days`, or local time outside `[start, end)` → deny `outside-business-hours` |
//! | `pii_egress.wasm` | for `actions`: any string value in `params` in which the policy's own scanner (compiled from its source) finds a kind of `detect` → deny `pii-detected` |
//!
//! Evaluation (README, "How a decision is made"): an unregistered agent
//! is denied `unregistered-agent` when the manifest requires registration;
//! applicable policies run in descending priority, ties by name; the first
//! enforce-mode deny is final; an escalate is remembered and evaluation
//! goes on; otherwise approve. Shadow-mode policies never change the
//! verdict, so the native floor does not run them. Native rules cannot
//! trap, run out of fuel or overrun a deadline, so `on_error` never
//! applies; a Gavel decision that comes from a contained failure shows up
//! as a mismatch.

use crate::facts::{local_time, param_strings};
use crate::peer::{Outcome, Peer};
use crate::pii::{Kind, KindSet, Scanner};
use gavel::action_pattern::ActionPattern;
use gavel::manifest::{Manifest, Mode, PolicyEntry};
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The four shipped policies (or any manifest of them) as plain Rust.
#[derive(Debug)]
pub struct Native {
    require_registered_agents: bool,
    /// Agent id → risk tier.
    agents: BTreeMap<String, u8>,
    /// Enforce-mode policies, in evaluation order.
    policies: Vec<NativePolicy>,
}

#[derive(Debug)]
struct NativePolicy {
    name: String,
    applies_to: Vec<ActionPattern>,
    rule: Rule,
}

#[derive(Debug)]
enum Rule {
    Sensitive(SensitiveActions),
    Limit(TransactionLimit),
    Hours(BusinessHours),
    Pii(PiiEgress),
}

/// One policy's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judgement {
    Approve,
    Deny(&'static str),
    Escalate(&'static str),
}

/// The agent as policies see it.
#[derive(Debug, Clone, Copy)]
struct AgentFacts {
    registered: bool,
    risk_tier: Option<u8>,
}

impl Native {
    /// The native floor for the policy directory `dir` (its
    /// `policies.toml`). Every policy's component must be one of the four
    /// reference policies.
    pub fn load(dir: &Path) -> Result<Self, crate::Error> {
        let manifest = Manifest::load(dir)?;
        Self::from_manifest(&manifest)
    }

    /// The native floor for the shipped policy directory.
    pub fn shipped() -> Result<Self, crate::Error> {
        Self::load(&crate::shipped_dir())
    }

    /// The native floor for a parsed manifest.
    pub fn from_manifest(manifest: &Manifest) -> Result<Self, crate::Error> {
        let mut policies = Vec::new();
        let mut ordered: Vec<&PolicyEntry> = manifest.policies.iter().collect();
        ordered.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        for entry in ordered {
            if entry.mode == Mode::Shadow {
                continue;
            }
            let rule =
                Rule::from_entry(entry).map_err(|e| format!("policy `{}`: {e}", entry.name))?;
            policies.push(NativePolicy {
                name: entry.name.clone(),
                applies_to: entry.applies_to.clone(),
                rule,
            });
        }
        Ok(Native {
            require_registered_agents: manifest.require_registered_agents,
            agents: manifest
                .agents
                .iter()
                .map(|(id, a)| (id.clone(), a.risk_tier))
                .collect(),
            policies,
        })
    }

    /// The enforce-mode policies' names, in evaluation order.
    pub fn policy_names(&self) -> Vec<&str> {
        self.policies.iter().map(|p| p.name.as_str()).collect()
    }
}

impl Peer for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn decide(&self, request: &gavel::Request) -> Outcome {
        let tier = self.agents.get(&request.agent_id).copied();
        if self.require_registered_agents && tier.is_none() {
            return Outcome::deny("unregistered-agent");
        }
        let agent = AgentFacts {
            registered: tier.is_some(),
            risk_tier: tier,
        };
        let mut escalation = None;
        for policy in &self.policies {
            if !policy.applies_to.iter().any(|p| p.matches(&request.action)) {
                continue;
            }
            match policy.rule.judge(request, agent) {
                Judgement::Approve => {}
                Judgement::Deny(code) => return Outcome::deny(code),
                Judgement::Escalate(code) => {
                    escalation.get_or_insert(code);
                }
            }
        }
        match escalation {
            Some(code) => Outcome::escalate(code),
            None => Outcome::approve(),
        }
    }
}

impl Rule {
    fn from_entry(entry: &PolicyEntry) -> Result<Self, crate::Error> {
        let component = entry
            .component
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let config = entry.config.as_str();
        Ok(match component {
            "sensitive_actions.wasm" | "sensitive_actions_py.wasm" => {
                Rule::Sensitive(SensitiveActions::new(serde_json::from_str(config)?)?)
            }
            "transaction_limit.wasm" => {
                Rule::Limit(TransactionLimit::new(serde_json::from_str(config)?)?)
            }
            "business_hours.wasm" => {
                Rule::Hours(BusinessHours::new(serde_json::from_str(config)?)?)
            }
            "pii_egress.wasm" => Rule::Pii(PiiEgress::new(serde_json::from_str(config)?)?),
            other => {
                return Err(format!(
                    "component `{other}` is not one of the reference policies the native floor implements"
                )
                .into());
            }
        })
    }

    fn judge(&self, request: &gavel::Request, agent: AgentFacts) -> Judgement {
        match self {
            Rule::Sensitive(p) => p.judge(&request.action),
            Rule::Limit(p) => p.judge(request),
            Rule::Hours(p) => p.judge(request, agent),
            Rule::Pii(p) => p.judge(request),
        }
    }
}

fn patterns(key: &str, texts: &[String]) -> Result<Vec<ActionPattern>, crate::Error> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| ActionPattern::parse(t).map_err(|e| format!("{key}[{i}]: {e}").into()))
        .collect()
}

fn any_matches(patterns: &[ActionPattern], action: &str) -> bool {
    patterns.iter().any(|p| p.matches(action))
}

// ---- sensitive-actions ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SensitiveConfig {
    #[serde(default)]
    forbidden: Vec<String>,
    #[serde(default)]
    require_approval: Vec<String>,
    allowed: Option<Vec<String>>,
}

#[derive(Debug)]
struct SensitiveActions {
    forbidden: Vec<ActionPattern>,
    require_approval: Vec<ActionPattern>,
    allowed: Option<Vec<ActionPattern>>,
}

impl SensitiveActions {
    fn new(config: SensitiveConfig) -> Result<Self, crate::Error> {
        Ok(SensitiveActions {
            forbidden: patterns("forbidden", &config.forbidden)?,
            require_approval: patterns("require_approval", &config.require_approval)?,
            allowed: config
                .allowed
                .map(|list| patterns("allowed", &list))
                .transpose()?,
        })
    }

    fn judge(&self, action: &str) -> Judgement {
        if any_matches(&self.forbidden, action) {
            return Judgement::Deny("forbidden-action");
        }
        if let Some(allowed) = &self.allowed
            && !any_matches(allowed, action)
        {
            return Judgement::Deny("action-not-allowed");
        }
        if any_matches(&self.require_approval, action) {
            return Judgement::Escalate("approval-required");
        }
        Judgement::Approve
    }
}

// ---- transaction-limit ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitConfigFile {
    actions: Vec<String>,
    currency: Option<String>,
    limits: BTreeMap<String, LimitEntry>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitEntry {
    max: f64,
    approval_above: Option<f64>,
}

#[derive(Debug)]
struct TransactionLimit {
    actions: Vec<ActionPattern>,
    currency: Option<String>,
    limits: BTreeMap<String, LimitEntry>,
}

fn check_amount(key: &str, value: f64) -> Result<f64, crate::Error> {
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{key}: must be a finite number >= 0").into());
    }
    Ok(value)
}

impl TransactionLimit {
    fn new(config: LimitConfigFile) -> Result<Self, crate::Error> {
        if config.actions.is_empty() {
            return Err("actions: must list at least one action".into());
        }
        if let Some(c) = &config.currency
            && (c.trim().is_empty() || c.trim() != c)
        {
            return Err("currency: must be a non-empty code without surrounding spaces".into());
        }
        for (agent, limit) in &config.limits {
            if agent.is_empty() {
                return Err("limits: an agent id must not be empty".into());
            }
            let max = check_amount(&format!("limits.{agent}.max"), limit.max)?;
            if let Some(a) = limit.approval_above {
                let a = check_amount(&format!("limits.{agent}.approval_above"), a)?;
                if a > max {
                    return Err(format!("limits.{agent}.approval_above: must be <= max").into());
                }
            }
        }
        Ok(TransactionLimit {
            actions: patterns("actions", &config.actions)?,
            currency: config.currency,
            limits: config.limits,
        })
    }

    fn judge(&self, request: &gavel::Request) -> Judgement {
        if !any_matches(&self.actions, &request.action) {
            return Judgement::Approve;
        }
        let amount = match request.amount {
            None => return Judgement::Deny("amount-required"),
            Some(a) if !a.is_finite() || a < 0.0 => return Judgement::Deny("invalid-amount"),
            Some(a) => a,
        };
        if let (Some(configured), Some(given)) = (&self.currency, &request.currency)
            && !configured.eq_ignore_ascii_case(given)
        {
            return Judgement::Deny("currency-mismatch");
        }
        let Some(limit) = self
            .limits
            .get(&request.agent_id)
            .or_else(|| self.limits.get("default"))
        else {
            return Judgement::Deny("no-limit-configured");
        };
        if amount > limit.max {
            return Judgement::Deny("over-limit");
        }
        if let Some(threshold) = limit.approval_above
            && amount > threshold
        {
            return Judgement::Escalate("approval-threshold");
        }
        Judgement::Approve
    }
}

// ---- business-hours ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursConfig {
    actions: Vec<String>,
    timezone: String,
    days: Vec<String>,
    start: String,
    end: String,
    #[serde(default)]
    holidays: Vec<String>,
    min_risk_tier: Option<i64>,
}

#[derive(Debug)]
struct BusinessHours {
    actions: Vec<ActionPattern>,
    tz: TimeZone,
    /// The weekdays of the window.
    days: Vec<Weekday>,
    /// Seconds since local midnight: start inclusive, end exclusive.
    start_s: u32,
    end_s: u32,
    holidays: BTreeSet<Date>,
    min_risk_tier: Option<u8>,
}

/// Seconds since midnight from `HH:MM`; `24:00` only when `allow_24`.
fn parse_hhmm(key: &str, text: &str, allow_24: bool) -> Result<u32, crate::Error> {
    let bad = || format!("{key}: `{text}` is not a time of day written HH:MM");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|c| c.is_ascii_digit()) {
        return Err(bad().into());
    }
    let hour: u32 = h.parse().map_err(|_| bad())?;
    let minute: u32 = m.parse().map_err(|_| bad())?;
    if allow_24 && hour == 24 && minute == 0 {
        return Ok(24 * 3600);
    }
    if hour > 23 || minute > 59 {
        return Err(bad().into());
    }
    Ok(hour * 3600 + minute * 60)
}

fn weekday_from(name: &str) -> Option<Weekday> {
    Some(match name.to_ascii_lowercase().as_str() {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

/// The tier an agent without one counts as.
const UNKNOWN_TIER: u8 = 4;

impl BusinessHours {
    fn new(config: HoursConfig) -> Result<Self, crate::Error> {
        if config.actions.is_empty() {
            return Err("actions: must list at least one action".into());
        }
        let tz = TimeZone::get(&config.timezone)
            .map_err(|_| format!("timezone: `{}` is not a known zone", config.timezone))?;
        if config.days.is_empty() {
            return Err("days: must list at least one day".into());
        }
        let mut days = Vec::new();
        for (i, name) in config.days.iter().enumerate() {
            let day = weekday_from(name).ok_or_else(|| format!("days[{i}]: `{name}`"))?;
            if days.contains(&day) {
                return Err(format!("days[{i}]: `{name}` is listed twice").into());
            }
            days.push(day);
        }
        let start_s = parse_hhmm("start", &config.start, false)?;
        let end_s = parse_hhmm("end", &config.end, true)?;
        if start_s >= end_s {
            return Err("end: must be later than start".into());
        }
        let holidays = config
            .holidays
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let shape = h.len() == 10
                    && h.bytes().enumerate().all(|(k, c)| {
                        if k == 4 || k == 7 {
                            c == b'-'
                        } else {
                            c.is_ascii_digit()
                        }
                    });
                if !shape {
                    return Err(format!("holidays[{i}]: `{h}` is not YYYY-MM-DD"));
                }
                h.parse::<Date>()
                    .map_err(|_| format!("holidays[{i}]: `{h}` is not a calendar date"))
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        let min_risk_tier = match config.min_risk_tier {
            None => None,
            Some(t @ 1..=4) => u8::try_from(t).ok(),
            Some(t) => return Err(format!("min_risk_tier: must be 1..4, got {t}").into()),
        };
        Ok(BusinessHours {
            actions: patterns("actions", &config.actions)?,
            tz,
            days,
            start_s,
            end_s,
            holidays,
            min_risk_tier,
        })
    }

    fn judge(&self, request: &gavel::Request, agent: AgentFacts) -> Judgement {
        if !any_matches(&self.actions, &request.action) {
            return Judgement::Approve;
        }
        if let Some(min) = self.min_risk_tier {
            let tier = if agent.registered {
                agent.risk_tier.unwrap_or(UNKNOWN_TIER)
            } else {
                UNKNOWN_TIER
            };
            if tier < min {
                return Judgement::Approve;
            }
        }
        let Some(local) = local_time(request.timestamp_ms, &self.tz) else {
            return Judgement::Deny("invalid-timestamp");
        };
        if self.holidays.contains(&local.date) {
            return Judgement::Deny("outside-business-hours");
        }
        let inside = self.days.contains(&local.weekday)
            && self.start_s <= local.seconds
            && local.seconds < self.end_s;
        if inside {
            Judgement::Approve
        } else {
            Judgement::Deny("outside-business-hours")
        }
    }
}

// ---- pii-egress ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PiiConfig {
    actions: Vec<String>,
    detect: Option<Vec<String>>,
    #[serde(default)]
    allow_email_domains: Vec<String>,
}

#[derive(Debug)]
struct PiiEgress {
    actions: Vec<ActionPattern>,
    scanner: Scanner,
}

impl PiiEgress {
    fn new(config: PiiConfig) -> Result<Self, crate::Error> {
        let enabled = match &config.detect {
            None => KindSet::ALL,
            Some(names) if names.is_empty() => {
                return Err("detect: must name at least one kind".into());
            }
            Some(names) => {
                let mut set = KindSet::EMPTY;
                for (i, name) in names.iter().enumerate() {
                    let kind = Kind::from_name(name)
                        .ok_or_else(|| format!("detect[{i}]: unknown kind `{name}`"))?;
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
                return Err(format!("allow_email_domains[{i}]: `{domain}` is not a domain").into());
            }
        }
        Ok(PiiEgress {
            actions: patterns("actions", &config.actions)?,
            scanner: Scanner::new(enabled, config.allow_email_domains),
        })
    }

    fn judge(&self, request: &gavel::Request) -> Judgement {
        if !any_matches(&self.actions, &request.action) {
            return Judgement::Approve;
        }
        if param_strings(&request.params).any(|text| !self.scanner.scan(text).is_empty()) {
            Judgement::Deny("pii-detected")
        } else {
            Judgement::Approve
        }
    }
}
