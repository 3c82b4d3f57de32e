//! Policy directories the figures need, derived from the shipped one: the
//! same components and configs, with every component path made absolute,
//! an isolation mode, a subset of the policies, the four repeated under
//! new names (to load 4 to 64 policies), each policy scoped with
//! `applies_to` to the actions its config names, or every budget and rate
//! limit raised (so that a benchmark's charges are reserved rather than
//! refused).

use std::path::Path;
use tempfile::TempDir;

/// How to derive a directory from the shipped manifest.
#[derive(Debug, Clone, Default)]
pub struct Derive<'a> {
    /// `isolation` at the top (`"warm"`/`"fresh"`); unchanged when `None`.
    pub isolation: Option<&'a str>,
    /// Keep only these policies (by name); all when `None`.
    pub only: Option<&'a [&'a str]>,
    /// Repeat the kept policies this many times (names get `-2`, `-3`, ...
    /// suffixes; 0 or 1 keep them once).
    pub copies: usize,
    /// Set each policy's `applies_to` to the action names its own config
    /// lists (`actions`, or `forbidden` and `require_approval`), so that
    /// the host skips a policy that would only approve. Decisions are the
    /// same; the skipped policies leave no run in them.
    pub scoped: bool,
    /// Raise every budget and rate limit in the policies' configs, so
    /// that charges fit; unchanged when `None`.
    pub big_limits: Option<BigLimits>,
}

/// The limits [`Derive::big_limits`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BigLimits {
    /// Budgets: every number in a `per_agent` table (amounts per agent)
    /// and every other `limit` (a fleet budget).
    pub amount: i64,
    /// Rates: every `limit` beside a `per` (a rolling window's count).
    pub count: i64,
}

/// Set every limit in `config` as `big` says.
fn raise_limits(config: &mut toml::Value, big: BigLimits, in_per_agent: bool) {
    match config {
        toml::Value::Table(table) => {
            let rate = table.contains_key("per");
            for (key, value) in table.iter_mut() {
                if value.is_integer() || value.is_float() {
                    if key == "limit" && rate {
                        *value = toml::Value::Integer(big.count);
                    } else if key == "limit" || in_per_agent {
                        *value = toml::Value::Integer(big.amount);
                    }
                } else {
                    raise_limits(value, big, key == "per_agent");
                }
            }
        }
        toml::Value::Array(items) => {
            for item in items {
                raise_limits(item, big, false);
            }
        }
        _ => {}
    }
}

/// The action names a shipped policy's config lists.
fn listed_actions(policy: &toml::Value) -> Vec<toml::Value> {
    let Some(config) = policy.get("config").and_then(toml::Value::as_table) else {
        return Vec::new();
    };
    ["actions", "forbidden", "require_approval"]
        .iter()
        .filter_map(|key| config.get(*key).and_then(toml::Value::as_array))
        .flatten()
        .cloned()
        .collect()
}

/// A temporary directory holding `dir/policies.toml` as `derive` says.
pub fn derive(dir: &Path, derive: &Derive<'_>) -> Result<TempDir, crate::Error> {
    let file = dir.join(gavel::manifest::MANIFEST_FILE);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut top: toml::Table = toml::from_str(&text)?;
    let base = std::path::absolute(dir)?;
    let policies = match top.remove("policy") {
        Some(toml::Value::Array(policies)) => policies,
        _ => return Err(format!("{} has no [[policy]]", file.display()).into()),
    };
    let mut kept = Vec::new();
    for mut policy in policies {
        let name = policy
            .get("name")
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if derive
            .only
            .is_some_and(|only| !only.contains(&name.as_str()))
        {
            continue;
        }
        if derive.scoped {
            let listed = listed_actions(&policy);
            if listed.is_empty() {
                return Err(format!("policy `{name}` lists no actions to scope it by").into());
            }
            if let Some(table) = policy.as_table_mut() {
                table.insert("applies_to".to_owned(), toml::Value::Array(listed));
            }
        }
        if let (Some(big), Some(config)) = (derive.big_limits, policy.get_mut("config")) {
            raise_limits(config, big, false);
        }
        if let Some(toml::Value::String(component)) = policy.get_mut("component") {
            let absolute = base.join(&*component);
            *component = absolute
                .to_str()
                .ok_or_else(|| format!("{} is not UTF-8", absolute.display()))?
                .to_owned();
        }
        kept.push((name, policy));
    }
    let mut out = Vec::new();
    for copy in 1..=derive.copies.max(1) {
        for (name, policy) in &kept {
            let mut policy = policy.clone();
            if copy > 1
                && let Some(table) = policy.as_table_mut()
            {
                table.insert(
                    "name".to_owned(),
                    toml::Value::String(format!("{name}-{copy}")),
                );
            }
            out.push(policy);
        }
    }
    top.insert("policy".to_owned(), toml::Value::Array(out));
    if let Some(isolation) = derive.isolation {
        top.insert(
            "isolation".to_owned(),
            toml::Value::String(isolation.to_owned()),
        );
    }
    let copy = tempfile::tempdir()?;
    std::fs::write(
        copy.path().join(gavel::manifest::MANIFEST_FILE),
        toml::to_string(&top)?,
    )?;
    Ok(copy)
}

/// The shipped `sensitive-actions` config (TOML under `[policy.config]`).
pub const SENSITIVE_ACTIONS_CONFIG: &str = "forbidden = [\"delete_account\", \"access_payment_details\", \"change_pricing_tiers\", \"modify_own_instructions\"]\nrequire_approval = [\"delete_*\", \"contract_modification\", \"external_vendor_communication\"]\n";

/// A one-policy directory running `component` (a path) as
/// `sensitive-actions` with the shipped config, in `isolation`.
pub fn sensitive_actions(component: &Path, isolation: &str) -> Result<TempDir, crate::Error> {
    one_policy(component, isolation, SENSITIVE_ACTIONS_CONFIG)
}

/// A one-policy directory running `component` (a path) with `config`
/// (TOML under `[policy.config]`), in `isolation`, with limits roomy enough
/// for a component that carries an interpreter.
pub fn one_policy(
    component: &Path,
    isolation: &str,
    config: &str,
) -> Result<TempDir, crate::Error> {
    one_policy_then(component, isolation, &format!("[policy.config]\n{config}"))
}

/// The same, with `tail` written verbatim after the entry's own keys (for a
/// config of arrays of tables, `[[policy.config.rule]]`).
pub fn one_policy_then(
    component: &Path,
    isolation: &str,
    tail: &str,
) -> Result<TempDir, crate::Error> {
    let dir = tempfile::tempdir()?;
    let manifest = format!(
        "isolation = \"{isolation}\"\n\n[[policy]]\nname = \"sensitive-actions\"\ncomponent = {}\npriority = 100\nmemory_mb = 128\n{tail}",
        toml::Value::String(
            std::path::absolute(component)?
                .to_str()
                .ok_or("component path is not UTF-8")?
                .to_owned()
        )
    );
    std::fs::write(dir.path().join(gavel::manifest::MANIFEST_FILE), manifest)?;
    Ok(dir)
}
