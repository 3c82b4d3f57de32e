//! Scaling with dispatch: synthetic sets of 4 to 64 loaded policies of
//! which at most 4 concern any one action, so that the host's dispatch
//! index (built from each policy's declared interest) asks 4 of them.
//!
//! The policies come in groups of four: two copies of the shipped
//! `sensitive-actions` component, each requiring approval for the group's
//! [`NAMES_PER_GROUP`] action names, and two of `transaction-limit`,
//! each limiting those names to a maximum no amount reaches. Every
//! action of a group is therefore judged by exactly the group's four
//! policies, and none of them denies, so all four run: escalate,
//! approve, escalate, approve.
//!
//! The workload's actions are mapped onto the names (each distinct
//! action name of the workload, in order of first appearance, to one name
//! round robin), keeping the agent, params and timestamp; every request
//! carries an amount (its own, or 10) and no currency, so that the
//! transaction-limit copies judge it rather than deny it for a missing
//! amount.

use crate::gavel_peer::GavelPeer;
use gavel::{ArtifactCache, Isolation, PolicyEngine, Request, Verdict};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use tempfile::TempDir;

/// Numbers of loaded policies.
pub const POLICY_COUNTS: [usize; 4] = [4, 16, 32, 64];

/// The policies that judge any one action.
pub const GROUP: usize = 4;

/// Action names each group judges.
pub const NAMES_PER_GROUP: usize = 3;

/// The action name `k` of group `g`.
pub fn action_name(group: usize, k: usize) -> String {
    format!("group{group}_action{k}")
}

fn component(shipped: &Path, file: &str) -> Result<toml::Value, crate::Error> {
    let path = std::path::absolute(shipped.join(file))?;
    Ok(toml::Value::String(
        path.to_str()
            .ok_or_else(|| format!("{} is not UTF-8", path.display()))?
            .to_owned(),
    ))
}

/// A directory of `count` policies (a multiple of [`GROUP`]) on the
/// components in `components` (the shipped `policies-wasm/`).
pub fn synthetic_dir(components: &Path, count: usize) -> Result<TempDir, crate::Error> {
    if count == 0 || !count.is_multiple_of(GROUP) {
        return Err(
            format!("{count} policies: the count must be a positive multiple of {GROUP}").into(),
        );
    }
    let sensitive = component(components, "sensitive_actions.wasm")?;
    let limit = component(components, "transaction_limit.wasm")?;
    let mut policies = Vec::with_capacity(count);
    for i in 0..count {
        let group = i / GROUP;
        let names: Vec<toml::Value> = (0..NAMES_PER_GROUP)
            .map(|k| toml::Value::String(action_name(group, k)))
            .collect();
        let mut policy = toml::Table::new();
        let mut config = toml::Table::new();
        if i.is_multiple_of(2) {
            policy.insert("name".into(), format!("sensitive-{i}").into());
            policy.insert("component".into(), sensitive.clone());
            config.insert("require_approval".into(), toml::Value::Array(names));
        } else {
            policy.insert("name".into(), format!("limit-{i}").into());
            policy.insert("component".into(), limit.clone());
            config.insert("actions".into(), toml::Value::Array(names));
            let mut default = toml::Table::new();
            default.insert("max".into(), toml::Value::Integer(1_000_000_000));
            let mut limits = toml::Table::new();
            limits.insert("default".into(), toml::Value::Table(default));
            config.insert("limits".into(), toml::Value::Table(limits));
        }
        let priority = i64::try_from(1_000usize.saturating_sub(i))?;
        policy.insert("priority".into(), toml::Value::Integer(priority));
        policy.insert("config".into(), toml::Value::Table(config));
        policies.push(toml::Value::Table(policy));
    }
    let mut top = toml::Table::new();
    top.insert("policy".into(), toml::Value::Array(policies));
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join(gavel::manifest::MANIFEST_FILE),
        toml::to_string(&top)?,
    )?;
    Ok(dir)
}

/// `requests` with their actions mapped onto the names of `groups` groups
/// (see the module documentation).
pub fn mapped(requests: &[Request], groups: usize) -> Vec<Request> {
    let names = groups.max(1) * NAMES_PER_GROUP;
    let mut seen: HashMap<String, usize> = HashMap::new();
    requests
        .iter()
        .map(|r| {
            let next = seen.len();
            let slot = *seen.entry(r.action.clone()).or_insert(next) % names;
            let mut copy = r.clone();
            copy.action = action_name(slot / NAMES_PER_GROUP, slot % NAMES_PER_GROUP);
            copy.amount = Some(r.amount.unwrap_or(10.0));
            copy.currency = None;
            copy
        })
        .collect()
}

/// One size's measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Loaded policies.
    pub policies: usize,
    /// The median decision.
    pub p50: Option<std::time::Duration>,
    /// The 99th percentile.
    pub p99: Option<std::time::Duration>,
    /// Policies run per decision (the most over the requests).
    pub ran: usize,
}

/// Measure every size of [`POLICY_COUNTS`] on `short` (the workload's
/// short actions, mapped for each size), `rounds` timed passes each,
/// loading with `engine` and `cache`.
/// Fails if a decision is not the expected escalate by exactly
/// [`GROUP`] policies (so the figure cannot time something else).
pub fn measure(
    components: &Path,
    short: &[Request],
    rounds: usize,
    engine: &PolicyEngine,
    cache: &ArtifactCache,
) -> Result<Vec<Point>, crate::Error> {
    let mut out = Vec::with_capacity(POLICY_COUNTS.len());
    for count in POLICY_COUNTS {
        let dir = synthetic_dir(components, count)?;
        let peer = GavelPeer::load_with(dir.path(), Isolation::Warm, engine, cache)?;
        if peer.set().policies().len() != count {
            return Err(format!(
                "expected {count} policies, loaded {}",
                peer.set().policies().len()
            )
            .into());
        }
        let requests = mapped(short, count / GROUP);
        let mut ran = 0;
        for r in &requests {
            let d = peer.decision(r);
            if d.verdict != Verdict::Escalate || d.policies.len() != GROUP {
                return Err(format!(
                    "{count} policies: `{}` was decided {:?} by {} policies; expected escalate by {GROUP}",
                    r.action,
                    d.verdict,
                    d.policies.len()
                )
                .into());
            }
            ran = ran.max(d.policies.len());
        }
        let mut samples = crate::stats::Samples::default();
        for l in &crate::latency::measure(&[&peer], &requests, rounds.max(1)) {
            samples.extend(&l.all);
        }
        out.push(Point {
            policies: count,
            p50: samples.p50(),
            p99: samples.p99(),
            ran,
        });
    }
    Ok(out)
}

/// The markdown table of `points`, and the largest ÷ smallest ratio of
/// medians.
pub fn table(points: &[Point]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| policies loaded | policies run per decision | p50 | p99 | ÷ {} policies (p50) |",
        points.first().map_or(0, |p| p.policies)
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|");
    let first = points.first().and_then(|p| p.p50);
    for p in points {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            p.policies,
            p.ran,
            crate::stats::show_opt(p.p50),
            crate::stats::show_opt(p.p99),
            crate::stats::ratio(p.p50, first),
        );
    }
    md
}
