//! `policies.toml`: the operator's manifest of a policy directory.
//!
//! Parsed in two steps so that every error names its policy: the TOML
//! syntax first, then each `[[policy]]` and `[agents.*]` entry on its own,
//! refusing unknown keys everywhere.

use crate::action_pattern::ActionPattern;
use crate::load_error::LoadError;
use crate::log::RedactionPath;
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The manifest's file name inside a policy directory.
pub const MANIFEST_FILE: &str = "policies.toml";

/// Default fuel per evaluation. Enough for `pii-egress` to scan a 1 MB
/// message: about 13 M for prose, 37–76 M for text dense with numbers, up
/// to 275 M for adversarial input; at roughly 12 fuel per nanosecond a
/// runaway loop still stops within about 40 ms, inside the default deadline.
pub const DEFAULT_FUEL: u64 = 500_000_000;
/// Default memory cap per linear memory, in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 32;
/// Default deadline per evaluation, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 100;

/// The largest `memory_mb` a policy may have.
pub const MAX_MEMORY_MB: u64 = 4096;
const MAX_TIMEOUT_MS: u64 = 60_000;

/// Whether a policy's verdict counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The verdict counts.
    Enforce,
    /// The policy runs and is recorded; its verdict never counts.
    Shadow,
}

/// What a failing policy (trap, fuel, memory, deadline, garbage) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// The decision is deny (fail closed).
    Deny,
    /// The failure is recorded and the policy ignored.
    Skip,
}

/// How policy instances are reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// One instance per worker, reused across evaluations and replaced
    /// after any failure. The default: about 20x faster per policy.
    Warm,
    /// A fresh instance for every evaluation: nothing survives between
    /// requests, at the price of instantiation.
    Fresh,
}

/// Per-evaluation limits of one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel per evaluation.
    pub fuel: u64,
    /// Cap on each linear memory, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock deadline per evaluation.
    pub timeout: Duration,
}

/// One `[[policy]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyEntry {
    /// Unique within the manifest.
    pub name: String,
    /// The component's path (resolved against the manifest's directory).
    pub component: PathBuf,
    /// Higher runs first; ties go by name.
    pub priority: i64,
    /// Which actions the policy judges.
    pub applies_to: Vec<ActionPattern>,
    /// Enforce or shadow.
    pub mode: Mode,
    /// What a failure means.
    pub on_error: OnError,
    /// Resource limits.
    pub limits: Limits,
    /// Instance reuse.
    pub isolation: Isolation,
    /// The policy's config, as JSON text (`{}` when absent).
    pub config: String,
}

/// One `[agents.<id>]` entry of the registry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    /// 1 (low) .. 4 (critical).
    pub risk_tier: u8,
    /// The owning team.
    pub owner: Option<String>,
}

/// A parsed, checked manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The manifest file.
    pub file: PathBuf,
    /// Deny actions from agents not in `agents`.
    pub require_registered_agents: bool,
    /// The agent registry.
    pub agents: BTreeMap<String, AgentEntry>,
    /// The policies, in file order.
    pub policies: Vec<PolicyEntry>,
    /// Param paths whose values the decision log stores only as keyed
    /// hashes (`params.password`, `params.items[*].ssn`).
    pub redact: Vec<RedactionPath>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTop {
    #[serde(default)]
    require_registered_agents: bool,
    isolation: Option<Isolation>,
    #[serde(default)]
    agents: toml::Table,
    #[serde(default)]
    policy: Vec<toml::Value>,
    #[serde(default)]
    redact: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    component: PathBuf,
    priority: i64,
    applies_to: Option<Vec<String>>,
    mode: Option<Mode>,
    on_error: Option<OnError>,
    fuel: Option<u64>,
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
    isolation: Option<Isolation>,
    config: Option<toml::Table>,
}

impl Manifest {
    /// Read `dir/policies.toml`.
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let file = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&file).map_err(|e| LoadError::Manifest {
            file: file.clone(),
            problem: format!("cannot read the manifest: {e}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parse manifest text; `file` is used for error messages and to
    /// resolve component paths.
    pub fn parse(text: &str, file: &Path) -> Result<Self, LoadError> {
        let manifest_error = |problem: String| LoadError::Manifest {
            file: file.to_path_buf(),
            problem,
        };
        let top: RawTop = toml::from_str(text).map_err(|e| manifest_error(toml_problem(&e)))?;
        let dir = file.parent().unwrap_or(Path::new("."));

        let mut agents = BTreeMap::new();
        for (id, value) in top.agents {
            let entry: AgentEntry = value.try_into().map_err(|e: toml::de::Error| {
                manifest_error(format!("agent `{id}`: {}", toml_problem(&e)))
            })?;
            if !(1..=4).contains(&entry.risk_tier) {
                return Err(manifest_error(format!(
                    "agent `{id}`: risk_tier must be 1..4, not {}",
                    entry.risk_tier
                )));
            }
            agents.insert(id, entry);
        }

        let default_isolation = top.isolation.unwrap_or(Isolation::Warm);
        let mut names = BTreeSet::new();
        let mut policies = Vec::new();
        for (index, value) in top.policy.into_iter().enumerate() {
            let label = value
                .get("name")
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("#{}", index + 1));
            let policy_error = |problem: String| LoadError::Policy {
                file: file.to_path_buf(),
                policy: label.clone(),
                problem,
            };
            let raw: RawPolicy = entry_from_toml(value).map_err(policy_error)?;
            let entry = check_policy(raw, dir, default_isolation).map_err(policy_error)?;
            if !names.insert(entry.name.clone()) {
                return Err(policy_error("duplicate policy name".to_owned()));
            }
            policies.push(entry);
        }
        let redact = top
            .redact
            .iter()
            .map(|p| RedactionPath::parse(p).map_err(|e| manifest_error(format!("redact: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Manifest {
            file: file.to_path_buf(),
            require_registered_agents: top.require_registered_agents,
            agents,
            policies,
            redact,
        })
    }
}

/// The limits a `[[policy]]` entry gets when it sets none.
pub fn default_limits() -> Limits {
    Limits {
        fuel: DEFAULT_FUEL,
        memory_bytes: usize::try_from(DEFAULT_MEMORY_MB << 20).unwrap_or(usize::MAX),
        timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
    }
}

fn check_policy(
    raw: RawPolicy,
    dir: &Path,
    default_isolation: Isolation,
) -> Result<PolicyEntry, String> {
    let name_ok = !raw.name.is_empty()
        && raw.name.len() <= 64
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err("name must be 1..64 characters of letters, digits, `-`, `_` or `.`".to_owned());
    }
    let applies_to = raw.applies_to.unwrap_or_else(|| vec!["*".to_owned()]);
    if applies_to.is_empty() {
        return Err("applies_to is empty: the policy would never run".to_owned());
    }
    let applies_to = applies_to
        .iter()
        .map(|p| ActionPattern::parse(p).map_err(|e| format!("applies_to: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let fuel = raw.fuel.unwrap_or(DEFAULT_FUEL);
    if fuel == 0 {
        return Err("fuel must be at least 1".to_owned());
    }
    let memory_mb = raw.memory_mb.unwrap_or(DEFAULT_MEMORY_MB);
    if !(1..=MAX_MEMORY_MB).contains(&memory_mb) {
        return Err(format!(
            "memory_mb must be 1..{MAX_MEMORY_MB}, not {memory_mb}"
        ));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(format!(
            "timeout_ms must be 1..{MAX_TIMEOUT_MS}, not {timeout_ms}"
        ));
    }
    let config = match raw.config {
        None => "{}".to_owned(),
        Some(table) => toml_to_json(toml::Value::Table(table), "config")?.to_string(),
    };
    Ok(PolicyEntry {
        name: raw.name,
        component: dir.join(raw.component),
        priority: raw.priority,
        applies_to,
        mode: raw.mode.unwrap_or(Mode::Enforce),
        on_error: raw.on_error.unwrap_or(OnError::Deny),
        limits: Limits {
            fuel,
            memory_bytes: usize::try_from(memory_mb << 20).unwrap_or(usize::MAX),
            timeout: Duration::from_millis(timeout_ms),
        },
        isolation: raw.isolation.unwrap_or(default_isolation),
        config,
    })
}

/// toml's message, without its source excerpt.
fn toml_problem(e: &toml::de::Error) -> String {
    e.message().trim().to_owned()
}

/// Deserialize one entry; a problem with a key names the key.
fn entry_from_toml<T: serde::de::DeserializeOwned>(value: toml::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let problem = toml_problem(e.inner());
        if path == "." {
            problem
        } else {
            format!("`{path}`: {problem}")
        }
    })
}

/// Convert a TOML value to JSON; `path` names it in errors.
pub(crate) fn toml_to_json(value: toml::Value, path: &str) -> Result<Json, String> {
    Ok(match value {
        toml::Value::String(s) => Json::String(s),
        toml::Value::Integer(i) => Json::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Json::Number)
            .ok_or_else(|| format!("{path}: {f} is not a finite number"))?,
        toml::Value::Boolean(b) => Json::Bool(b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| toml_to_json(v, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => Json::Object(
            table
                .into_iter()
                .map(|(k, v)| {
                    let child = format!("{path}.{k}");
                    toml_to_json(v, &child).map(|v| (k, v))
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

#[cfg(test)]
mod tests;
