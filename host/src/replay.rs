//! Replay: re-decide every logged request against another policy set.
//!
//! An operator points [`replay`] at a decision log (opened read-only, so a
//! copy of a live log works and nothing is ever written to it) and at a
//! candidate [`PolicySet`]. Every `decision` record is rebuilt into the
//! [`Request`] it was made for — agent, action, params, amount, currency,
//! session and user, and the request's own timestamp, so time-dependent
//! policies see the original time — and evaluated again. Each decision
//! whose verdict would differ is reported as a [`ReplayChange`].
//!
//! Params that were redacted when logged (strings starting with
//! [`REDACTED_PREFIX`]) are replayed in their redacted form: the original
//! values are not in the log. A change on such a decision lists the
//! redacted paths, so the operator knows the new verdict may have been
//! reached on a keyed hash rather than on the real value.

use crate::artifact_cache::{ArtifactCache, CacheError};
use crate::decision::{Decision, Verdict};
use crate::engine::{EngineError, PolicyEngine};
use crate::load_error::LoadError;
use crate::log::{DecisionEntry, LogEntry, LogEvent, RECORDS, REDACTED_PREFIX};
use crate::policy_set::{Facts, PolicySet};
use crate::request::Request;
use redb::{DatabaseError, ReadOnlyDatabase, ReadableDatabase, ReadableTable};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The log file does not exist.
    #[error("no decision log at {}", path.display())]
    MissingLog {
        /// The path given.
        path: PathBuf,
    },
    /// The log file could not be opened read-only.
    #[error("cannot open the decision log {}: {problem}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// What went wrong, with a hint.
        problem: String,
    },
    /// Reading the log failed.
    #[error("reading the decision log: {0}")]
    Storage(String),
    /// A stored record could not be decoded.
    #[error("decision log record {seq} is malformed: {problem}")]
    Record {
        /// The record's key.
        seq: u64,
        /// What is wrong.
        problem: String,
    },
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The artifact cache could not be opened.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The data directory could not be created.
    #[error("cannot create the data directory {}: {error}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The candidate policy directory was refused.
    #[error("cannot load the policies from {}: {error}", dir.display())]
    Load {
        /// The policy directory.
        dir: PathBuf,
        /// Why it was refused.
        error: LoadError,
    },
}

fn storage(e: impl std::fmt::Display) -> ReplayError {
    ReplayError::Storage(e.to_string())
}

/// One decision whose verdict would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayChange {
    /// The record's sequence number in the log.
    pub seq: u64,
    /// The request id.
    pub request_id: String,
    /// The agent.
    pub agent_id: String,
    /// The action.
    pub action: String,
    /// The verdict recorded.
    pub old: Verdict,
    /// The verdict the candidate policies give.
    pub new: Verdict,
    /// The policy responsible: the new decision's first reason if it is
    /// not an approve, otherwise the old decision's first reason.
    pub policy: Option<String>,
    /// That reason's code.
    pub code: Option<String>,
    /// Params that were replayed in redacted form (e.g. `params.password`).
    pub redacted: Vec<String>,
}

/// Totals over one replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    /// Decision records replayed.
    pub replayed: u64,
    /// Decisions whose verdict would change.
    pub changed: u64,
    /// Decisions whose verdict would stay the same.
    pub unchanged: u64,
    /// Replayed decisions that held redacted values.
    pub redacted: u64,
    /// Changed decisions that held redacted values.
    pub changed_redacted: u64,
    /// Other records (policy-set changes, kill switch, escalations), skipped.
    pub other_events: u64,
}

/// The changes and the totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Every change, in log order.
    pub changes: Vec<ReplayChange>,
    /// The totals.
    pub summary: ReplaySummary,
}

/// Open a log file read-only, with an explanation when it cannot be.
pub fn open_log(path: &Path) -> Result<ReadOnlyDatabase, ReplayError> {
    if !path.is_file() {
        return Err(ReplayError::MissingLog {
            path: path.to_path_buf(),
        });
    }
    crate::log::open_read_only(path).map_err(|e| ReplayError::Open {
        path: path.to_path_buf(),
        problem: match e {
            DatabaseError::DatabaseAlreadyOpen => {
                "a running gavel process has it open; replay a copy of it".to_owned()
            }
            other => other.to_string(),
        },
    })
}

/// Build the engine, open the artifact cache in `data_dir`, and load the
/// candidate policy directory.
pub fn load_candidate(policies_dir: &Path, data_dir: &Path) -> Result<PolicySet, ReplayError> {
    let engine = PolicyEngine::new()?;
    std::fs::create_dir_all(data_dir).map_err(|error| ReplayError::DataDir {
        path: data_dir.to_path_buf(),
        error,
    })?;
    let cache = ArtifactCache::open(data_dir, engine.engine())?;
    PolicySet::load(policies_dir, &engine, &cache).map_err(|error| ReplayError::Load {
        dir: policies_dir.to_path_buf(),
        error,
    })
}

/// Replay every decision in `db` against `set`, calling `on_change` for
/// each decision whose verdict would change, in log order.
pub fn replay_each(
    db: &impl ReadableDatabase,
    set: &PolicySet,
    mut on_change: impl FnMut(&ReplayChange),
) -> Result<ReplaySummary, ReplayError> {
    let read = db.begin_read().map_err(storage)?;
    let records = read.open_table(RECORDS).map_err(storage)?;
    let mut summary = ReplaySummary::default();
    for item in records.iter().map_err(storage)? {
        let (key, value) = item.map_err(storage)?;
        let seq = key.value();
        let entry = decode(seq, value.value())?;
        let LogEvent::Decision(decision) = entry.event else {
            summary.other_events = summary.other_events.saturating_add(1);
            continue;
        };
        let redacted = redacted_paths(&decision);
        summary.replayed = summary.replayed.saturating_add(1);
        if !redacted.is_empty() {
            summary.redacted = summary.redacted.saturating_add(1);
        }
        // Policies get the history facts the decision recorded, and the
        // counters the values they held: a stateful decision replays
        // exactly.
        let recorded = |policy: &str| {
            decision
                .policies
                .iter()
                .find(|run| run.policy == policy)
                .map(|run| run.facts.clone())
                .unwrap_or_default()
        };
        let request = request_of(&decision);
        let mut new = set.evaluate_with(&request, Facts::Replay(&recorded));
        crate::runtime::rejudge(&mut new, &decision.charges, &request);
        if new.verdict == decision.verdict {
            summary.unchanged = summary.unchanged.saturating_add(1);
            continue;
        }
        summary.changed = summary.changed.saturating_add(1);
        if !redacted.is_empty() {
            summary.changed_redacted = summary.changed_redacted.saturating_add(1);
        }
        on_change(&change(entry.seq, decision, &new, redacted));
    }
    Ok(summary)
}

/// Replay every decision in `db` against `set` and collect the changes.
pub fn replay(db: &impl ReadableDatabase, set: &PolicySet) -> Result<ReplayReport, ReplayError> {
    let mut changes = Vec::new();
    let summary = replay_each(db, set, |c| changes.push(c.clone()))?;
    Ok(ReplayReport { changes, summary })
}

/// A stored record is a 32-byte chain hash followed by the canonical entry.
fn decode(seq: u64, value: &[u8]) -> Result<LogEntry, ReplayError> {
    let body = value.get(32..).ok_or_else(|| ReplayError::Record {
        seq,
        problem: "shorter than its chain hash".to_owned(),
    })?;
    LogEntry::from_bytes(body).map_err(|e| ReplayError::Record {
        seq,
        problem: e.to_string(),
    })
}

/// The request exactly as logged (redacted values stay redacted; the time
/// is the request's own, not now).
pub fn request_of(entry: &DecisionEntry) -> Request {
    let r = &entry.request;
    Request {
        request_id: r.request_id.clone(),
        agent_id: r.agent_id.clone(),
        action: r.action.clone(),
        params: r.params.clone(),
        amount: r.amount,
        currency: r.currency.clone(),
        timestamp_ms: r.timestamp_ms,
        session_id: r.session_id.clone(),
        user_id: r.user_id.clone(),
    }
}

/// The paths of the redacted values in a logged request: the entry's
/// `redactions`, plus any other string carrying the redaction prefix.
pub fn redacted_paths(entry: &DecisionEntry) -> Vec<String> {
    let mut paths: Vec<String> = entry.redactions.iter().map(|r| r.path.clone()).collect();
    let mut found = Vec::new();
    scan_object(&entry.request.params, "params", &mut found);
    for path in found {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

fn scan_object(map: &Map<String, Value>, at: &str, out: &mut Vec<String>) {
    for (key, value) in map {
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let path = if plain {
            format!("{at}.{key}")
        } else {
            format!("{at}[{}]", Value::String(key.clone()))
        };
        scan(value, path, out);
    }
}

fn scan(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.starts_with(REDACTED_PREFIX) => out.push(at),
        Value::Object(map) => scan_object(map, &at, out),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                scan(item, format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn change(seq: u64, old: DecisionEntry, new: &Decision, redacted: Vec<String>) -> ReplayChange {
    let cause = if new.verdict == Verdict::Approve {
        old.reasons.first()
    } else {
        new.reasons.first()
    };
    let (policy, code) = cause
        .map(|r| (Some(r.policy.clone()), Some(r.code.clone())))
        .unwrap_or((None, None));
    ReplayChange {
        seq,
        request_id: old.request.request_id,
        agent_id: old.request.agent_id,
        action: old.request.action,
        old: old.verdict,
        new: new.verdict,
        policy,
        code,
        redacted,
    }
}
