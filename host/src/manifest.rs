//! `policies.toml`: the operator's manifest of a policy directory.
//!
//! Parsed in two steps so that every error names its policy: the TOML
//! syntax first, then each `[[policy]]` and `[agents.*]` entry on its own,
//! refusing unknown keys everywhere. Every error names the line (and the
//! policy and key, when there are).
//!
//! A manifest names at least one policy. One that names none (an empty
//! file, comments only, a file cut off before its first `[[policy]]`, as
//! an in-place write leaves it for a moment) is refused, never loaded as a
//! set that approves everything; an operator who wants that writes
//! `approve_all = true`.

use crate::action_pattern::ActionPattern;
use crate::bounded_read::{DEFAULT_MAX_COMPONENT_BYTES, MAX_MANIFEST_BYTES, read_regular_text};
use crate::identifier::{identifier_key, validate_identifier};
use crate::load_error::LoadError;
use crate::log::RedactionPath;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

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
/// The largest `fuel`: a TOML integer (a signed 64-bit value).
pub const MAX_FUEL: u64 = i64::MAX.unsigned_abs();

/// The default `max_component_mb`: the cap on each component file.
pub const DEFAULT_MAX_COMPONENT_MB: u64 = DEFAULT_MAX_COMPONENT_BYTES >> 20;
/// The largest `max_component_mb` a manifest may set.
pub const MAX_COMPONENT_MB: u64 = 1024;

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
    /// The largest component file accepted, in bytes (the manifest's
    /// `max_component_mb`).
    pub max_component_bytes: u64,
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
    /// The manifest says `approve_all = true`: it names no policy, on
    /// purpose, and every action is approved. (A manifest that names no
    /// policy without it is refused.)
    pub approve_all: bool,
    /// The agent registry, keyed by
    /// [`identifier_key`](crate::identifier::identifier_key) (ASCII lower
    /// case) of each id.
    pub agents: BTreeMap<String, AgentEntry>,
    /// The policies, in file order.
    pub policies: Vec<PolicyEntry>,
    /// Param paths whose values the decision log stores only as keyed
    /// hashes (`params.password`, `params.items[*].ssn`).
    pub redact: Vec<RedactionPath>,
    /// `[breaker]`: engage an agent's kill switch after repeated denials.
    pub breaker: Option<crate::breaker::BreakerConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
    denials: u32,
    within: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTop {
    #[serde(default)]
    require_registered_agents: bool,
    #[serde(default)]
    approve_all: bool,
    max_component_mb: Option<u64>,
    isolation: Option<Isolation>,
    // Each entry is read on its own below, with its position in the text;
    // here only the shapes are checked.
    #[serde(default)]
    #[expect(dead_code, reason = "entries are read from the spanned table")]
    agents: BTreeMap<String, IgnoredAny>,
    #[serde(default)]
    #[expect(dead_code, reason = "entries are read from the spanned table")]
    policy: Vec<IgnoredAny>,
    #[serde(default)]
    redact: Vec<String>,
    breaker: Option<RawBreaker>,
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

/// What an empty manifest is told: the rule and the explicit way out.
const NAME_A_POLICY: &str = "a manifest must name at least one [[policy]]; to approve every action, say so explicitly with `approve_all = true`";

impl Manifest {
    /// Read `dir/policies.toml` (a regular file of at most
    /// [`MAX_MANIFEST_BYTES`]).
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let file = dir.join(MANIFEST_FILE);
        let text =
            read_regular_text(&file, MAX_MANIFEST_BYTES).map_err(|e| LoadError::Manifest {
                file: file.clone(),
                problem: format!("the manifest {e}"),
            })?;
        Self::parse(&text, &file)
    }

    /// Parse manifest text; `file` is used for error messages and to
    /// resolve component paths. Every error names the line (and the
    /// policy and key, when there are).
    pub fn parse(text: &str, file: &Path) -> Result<Self, LoadError> {
        let at = Positions { text };
        let manifest_error = |span: Option<Range<usize>>, problem: String| LoadError::Manifest {
            file: file.to_path_buf(),
            problem: at.prefixed(span, problem),
        };
        if text.trim().is_empty() {
            let what = if text.is_empty() {
                "the manifest is empty (0 bytes)".to_owned()
            } else {
                format!("the manifest is blank ({} bytes of whitespace)", text.len())
            };
            return Err(manifest_error(None, format!("{what}: {NAME_A_POLICY}")));
        }
        let root = DeTable::parse(text).map_err(|e| manifest_error(e.span(), toml_problem(&e)))?;
        let top: RawTop = serde_path_to_error::deserialize(toml::de::Deserializer::from(
            root.clone(),
        ))
        .map_err(|e| {
            let span = e.inner().span();
            manifest_error(span, keyed_problem(&e))
        })?;
        let root = root.into_inner();
        let key_span = |key: &str| root.get(key).map(Spanned::span);
        let dir = file.parent().unwrap_or(Path::new("."));

        let agents = read_agents(&root, &manifest_error)?;

        let max_component_mb = top.max_component_mb.unwrap_or(DEFAULT_MAX_COMPONENT_MB);
        if !(1..=MAX_COMPONENT_MB).contains(&max_component_mb) {
            return Err(manifest_error(
                key_span("max_component_mb"),
                format!("max_component_mb must be 1..{MAX_COMPONENT_MB}, not {max_component_mb}"),
            ));
        }
        let defaults = EntryDefaults {
            isolation: top.isolation.unwrap_or(Isolation::Warm),
            max_component_bytes: max_component_mb << 20,
        };
        let items: Vec<&Spanned<DeValue<'_>>> = root
            .get("policy")
            .and_then(|v| v.get_ref().as_array())
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let mut names = BTreeSet::new();
        let mut policies = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let label = item
                .get_ref()
                .get("name")
                .and_then(|n| n.get_ref().as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("#{}", index + 1));
            let policy_error = |span: Option<Range<usize>>, problem: String| LoadError::Policy {
                file: file.to_path_buf(),
                policy: label.clone(),
                problem: at.prefixed(span.or_else(|| Some(item.span())), problem),
            };
            let raw: RawPolicy =
                serde_path_to_error::deserialize(ValueDeserializer::from(item.clone()))
                    .map_err(|e| policy_error(e.inner().span(), keyed_problem(&e)))?;
            let entry = check_policy(raw, dir, defaults)
                .map_err(|(key, problem)| policy_error(locate(item, key), problem))?;
            if !names.insert(entry.name.clone()) {
                return Err(policy_error(
                    locate(item, "name"),
                    "duplicate policy name".to_owned(),
                ));
            }
            policies.push(entry);
        }
        if policies.is_empty() && !top.approve_all {
            return Err(manifest_error(
                None,
                format!("the manifest names no policy (no [[policy]] entry): {NAME_A_POLICY}"),
            ));
        }
        if top.approve_all && !policies.is_empty() {
            return Err(manifest_error(
                key_span("approve_all"),
                format!(
                    "`approve_all = true` contradicts the [[policy]] {}: with policies, their verdicts decide; remove one or the other",
                    if policies.len() == 1 {
                        "entry"
                    } else {
                        "entries"
                    }
                ),
            ));
        }
        let redact = top
            .redact
            .iter()
            .map(|p| {
                RedactionPath::parse(p)
                    .map_err(|e| manifest_error(key_span("redact"), format!("redact: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let breaker = top
            .breaker
            .map(|b| {
                crate::breaker::BreakerConfig::new(b.denials, &b.within).map_err(
                    |(key, problem)| {
                        let span = root
                            .get("breaker")
                            .and_then(|t| t.get_ref().get(key))
                            .map(Spanned::span)
                            .or_else(|| key_span("breaker"));
                        manifest_error(span, problem)
                    },
                )
            })
            .transpose()?;
        Ok(Manifest {
            file: file.to_path_buf(),
            require_registered_agents: top.require_registered_agents,
            approve_all: top.approve_all,
            agents,
            policies,
            redact,
            breaker,
        })
    }
}

/// The `[agents.<id>]` registry, keyed by
/// [`identifier_key`]: ids follow the identifier contract and are unique
/// regardless of ASCII case (lookups fold case).
fn read_agents(
    root: &DeTable<'_>,
    manifest_error: &impl Fn(Option<Range<usize>>, String) -> LoadError,
) -> Result<BTreeMap<String, AgentEntry>, LoadError> {
    let mut agents = BTreeMap::new();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let Some(table) = root.get("agents").and_then(|v| v.get_ref().as_table()) else {
        return Ok(agents);
    };
    for (id, value) in table {
        let id_span = id.span();
        let id = id.get_ref().as_ref();
        let shown = id.escape_debug().to_string();
        let agent_error = |span: Option<Range<usize>>, problem: String| {
            manifest_error(span, format!("agent `{shown}`: {problem}"))
        };
        validate_identifier(id)
            .map_err(|e| agent_error(Some(id_span.clone()), format!("the id {e}")))?;
        let entry: AgentEntry =
            serde_path_to_error::deserialize(ValueDeserializer::from(value.clone()))
                .map_err(|e| agent_error(e.inner().span(), keyed_problem(&e)))?;
        if !(1..=4).contains(&entry.risk_tier) {
            return Err(agent_error(
                locate(value, "risk_tier"),
                format!("risk_tier must be 1..4, not {}", entry.risk_tier),
            ));
        }
        let key = identifier_key(id);
        if let Some(first) = ids.get(&key) {
            return Err(agent_error(
                Some(id_span),
                format!(
                    "the same agent as `{first}` (agent ids are matched regardless of ASCII case); keep one entry"
                ),
            ));
        }
        ids.insert(key.clone(), id.to_owned());
        agents.insert(key, entry);
    }
    Ok(agents)
}

/// Line and column of byte offsets in the manifest text.
#[derive(Debug, Clone, Copy)]
struct Positions<'t> {
    text: &'t str,
}

impl Positions<'_> {
    /// 1-based line and column (in characters) of byte `offset`.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let bytes = self.text.as_bytes();
        let before = bytes.get(..offset).unwrap_or(bytes);
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(before.get(line_start..).unwrap_or_default())
            .chars()
            .count()
            + 1;
        (line, column)
    }

    /// `problem`, prefixed with where it is: `line N, column M: ...`.
    fn prefixed(&self, span: Option<Range<usize>>, problem: String) -> String {
        match span {
            Some(span) => {
                let (line, column) = self.line_col(span.start);
                format!("line {line}, column {column}: {problem}")
            }
            None => problem,
        }
    }
}

/// The span of `key` inside an entry (a table), following a dotted path
/// (`config.limits.max`; `[n]` indices are ignored) as deep as it goes.
fn locate(entry: &Spanned<DeValue<'_>>, key: &str) -> Option<Range<usize>> {
    let mut found = None;
    let mut current = entry;
    for segment in key.split('.') {
        let name = segment.split('[').next().unwrap_or(segment);
        let Some(table) = current.get_ref().as_table() else {
            break;
        };
        let Some((k, v)) = table.get_key_value(name) else {
            break;
        };
        found = Some(k.span());
        current = v;
    }
    found
}

/// A deserialization error, naming its key (when it is not the entry
/// itself).
fn keyed_problem(e: &serde_path_to_error::Error<toml::de::Error>) -> String {
    let path = e.path().to_string();
    let problem = toml_problem(e.inner());
    if path == "." || problem.contains(&format!("`{path}`")) {
        problem
    } else {
        format!("`{path}`: {problem}")
    }
}

#[derive(Debug, Clone, Copy)]
struct EntryDefaults {
    isolation: Isolation,
    max_component_bytes: u64,
}

/// The limits a `[[policy]]` entry gets when it sets none.
pub fn default_limits() -> Limits {
    Limits {
        fuel: DEFAULT_FUEL,
        memory_bytes: usize::try_from(DEFAULT_MEMORY_MB << 20).unwrap_or(usize::MAX),
        timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
    }
}

/// Check one entry's values. A problem comes with the key it is about.
fn check_policy(
    raw: RawPolicy,
    dir: &Path,
    defaults: EntryDefaults,
) -> Result<PolicyEntry, (&'static str, String)> {
    let name_ok = !raw.name.is_empty()
        && raw.name.len() <= 64
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err((
            "name",
            "name must be 1..64 characters of letters, digits, `-`, `_` or `.`".to_owned(),
        ));
    }
    let applies_to = raw.applies_to.unwrap_or_else(|| vec!["*".to_owned()]);
    if applies_to.is_empty() {
        return Err((
            "applies_to",
            "applies_to is empty: the policy would never run".to_owned(),
        ));
    }
    let applies_to = applies_to
        .iter()
        .map(|p| ActionPattern::parse(p).map_err(|e| ("applies_to", format!("applies_to: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let fuel = raw.fuel.unwrap_or(DEFAULT_FUEL);
    if !(1..=MAX_FUEL).contains(&fuel) {
        return Err(("fuel", format!("fuel must be 1..{MAX_FUEL}, not {fuel}")));
    }
    let memory_mb = raw.memory_mb.unwrap_or(DEFAULT_MEMORY_MB);
    if !(1..=MAX_MEMORY_MB).contains(&memory_mb) {
        return Err((
            "memory_mb",
            format!("memory_mb must be 1..{MAX_MEMORY_MB}, not {memory_mb}"),
        ));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err((
            "timeout_ms",
            format!("timeout_ms must be 1..{MAX_TIMEOUT_MS}, not {timeout_ms}"),
        ));
    }
    let config = match raw.config {
        None => "{}".to_owned(),
        Some(table) => toml_to_json(toml::Value::Table(table), "config")
            .map_err(|e| ("config", e))?
            .to_string(),
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
        isolation: raw.isolation.unwrap_or(defaults.isolation),
        config,
        max_component_bytes: defaults.max_component_bytes,
    })
}

/// toml's message, without its source excerpt.
fn toml_problem(e: &toml::de::Error) -> String {
    let message = e.message().trim();
    if message == "u64 value was too large" {
        // An integer past i64::MAX where any TOML integer was expected.
        return format!(
            "the integer is larger than {}, the largest TOML integer",
            i64::MAX
        );
    }
    message.to_owned()
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
