//! Reading the log: one record, the tail, filtered queries, exports and
//! governance statistics.
//!
//! Every function takes any [`ReadableDatabase`] (the writer's own
//! [`Database`](redb::Database), or a [`redb::ReadOnlyDatabase`]) and reads
//! one snapshot in one read transaction, so readers never block the writer.
//!
//! Queries use the indexes rather than scanning the whole log:
//! - with an agent, that agent's entries of the agent index are
//!   range-scanned (one per commit that holds its decisions; see
//!   `batch_index`, and `index_walk` for logs of the first format);
//! - else with a time range, the commits whose time range meets the window
//!   are read, and their records filtered by log time;
//! - else `records` is scanned from the newest record backwards, stopping
//!   as soon as the limit is reached.
//!
//! Time ranges are half-open on the record's log time (`time_ms`): `since`
//! is inclusive, `until` exclusive, so consecutive windows (months) tile.
//!
//! The output format of a record ([`Record`]'s serialization) is shared by
//! every reader: `seq`, `time` (RFC 3339, UTC), `time_ms`, `generation`,
//! `chain_hash` (hex), `kind`, then the event's own fields.

use super::chain::ChainHash;
use super::entry::{LogEntry, LogEvent};
use super::index_walk::{self, Flow, Order, drive};
use super::tables::{self, RECORDS};
use super::{LogError, guard};
use crate::decision::{RunVerdict, Verdict};
use redb::{ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Every event kind, as stored and as accepted by [`parse_kind`].
pub const KINDS: [&str; 7] = [
    "decision",
    "policy-set-loaded",
    "policy-set-rejected",
    "kill-switch",
    "escalation-resolved",
    "outcome",
    "tool-definition",
];

/// The default `limit` of a query.
pub const DEFAULT_LIMIT: usize = 100;

/// A query parameter that does not parse. The message names the parameter
/// and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryParseError {
    /// Not `approve`, `deny` or `escalate`.
    #[error("unknown verdict {value:?}: expected approve, deny or escalate")]
    Verdict {
        /// What was given.
        value: String,
    },
    /// Not one of [`KINDS`].
    #[error("unknown kind {value:?}: expected one of {}", KINDS.join(", "))]
    Kind {
        /// What was given.
        value: String,
    },
    /// Not an RFC 3339 time.
    #[error(
        "invalid {field} time {value:?}: {problem} (expected RFC 3339, e.g. 2026-01-31T23:59:59Z)"
    )]
    Time {
        /// The parameter, e.g. `--since`.
        field: String,
        /// What was given.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// `since` is after `until`.
    #[error("the time range is reversed: since {since} is after until {until}")]
    ReversedRange {
        /// The start, RFC 3339.
        since: String,
        /// The end, RFC 3339.
        until: String,
    },
    /// Not a sequence number.
    #[error("invalid sequence number {value:?}: expected an integer from 1")]
    Seq {
        /// What was given.
        value: String,
    },
}

/// Parse a verdict: `approve`, `deny` or `escalate`.
pub fn parse_verdict(value: &str) -> Result<Verdict, QueryParseError> {
    match value {
        "approve" => Ok(Verdict::Approve),
        "deny" => Ok(Verdict::Deny),
        "escalate" => Ok(Verdict::Escalate),
        _ => Err(QueryParseError::Verdict {
            value: value.to_owned(),
        }),
    }
}

/// Parse an event kind (one of [`KINDS`]).
pub fn parse_kind(value: &str) -> Result<&'static str, QueryParseError> {
    KINDS
        .iter()
        .copied()
        .find(|k| *k == value)
        .ok_or_else(|| QueryParseError::Kind {
            value: value.to_owned(),
        })
}

/// Parse a sequence number (an integer from 1).
pub fn parse_seq(value: &str) -> Result<u64, QueryParseError> {
    match value.trim().parse::<u64>() {
        Ok(seq) if seq >= 1 => Ok(seq),
        _ => Err(QueryParseError::Seq {
            value: value.to_owned(),
        }),
    }
}

/// Parse an RFC 3339 time into UTC milliseconds. `field` names the
/// parameter in the error. A sub-millisecond part rounds up, which keeps
/// the half-open bounds exact on millisecond log times: a record at `t` ms
/// is at or after the instant iff `t >= parse_time(..)`.
pub fn parse_time(field: &str, value: &str) -> Result<i64, QueryParseError> {
    let bad = |problem: String| QueryParseError::Time {
        field: field.to_owned(),
        value: value.to_owned(),
        problem,
    };
    let t = OffsetDateTime::parse(value.trim(), &Rfc3339).map_err(|e| bad(e.to_string()))?;
    let nanos = t.unix_timestamp_nanos();
    let ms = nanos.div_euclid(1_000_000) + i128::from(nanos.rem_euclid(1_000_000) != 0);
    i64::try_from(ms).map_err(|_| bad("out of range".to_owned()))
}

/// Format UTC milliseconds as RFC 3339 (UTC, `Z`); `None` when the time
/// is outside what RFC 3339 can express (years 0 to 9999).
pub fn format_time(ms: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
}

/// A half-open window on log time: `since <= time_ms < until`; either
/// bound may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    since: Option<i64>,
    until: Option<i64>,
}

impl TimeRange {
    /// All time.
    pub const ALL: TimeRange = TimeRange {
        since: None,
        until: None,
    };

    /// A window; an error if `since` is after `until` (equal bounds give
    /// an empty window).
    pub fn new(since: Option<i64>, until: Option<i64>) -> Result<Self, QueryParseError> {
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            let show = |ms: i64| format_time(ms).unwrap_or_else(|| format!("{ms} ms"));
            return Err(QueryParseError::ReversedRange {
                since: show(s),
                until: show(u),
            });
        }
        Ok(TimeRange { since, until })
    }

    /// Parse optional RFC 3339 bounds, named `--since` and `--until` in
    /// errors.
    pub fn parse(since: Option<&str>, until: Option<&str>) -> Result<Self, QueryParseError> {
        let since = since.map(|s| parse_time("--since", s)).transpose()?;
        let until = until.map(|u| parse_time("--until", u)).transpose()?;
        Self::new(since, until)
    }

    /// The inclusive start, UTC milliseconds.
    pub fn since(&self) -> Option<i64> {
        self.since
    }

    /// The exclusive end, UTC milliseconds.
    pub fn until(&self) -> Option<i64> {
        self.until
    }

    /// Whether either bound is set.
    pub fn is_bounded(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// Whether no time can be in the window.
    pub fn is_empty(&self) -> bool {
        matches!((self.since, self.until), (Some(s), Some(u)) if s >= u)
    }

    /// Whether `ms` is in the window.
    pub fn contains(&self, ms: i64) -> bool {
        self.since.is_none_or(|s| ms >= s) && self.until.is_none_or(|u| ms < u)
    }
}

/// Which records a query wants. Every set field must match; the agent,
/// action, verdict and policy filters match decisions only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// The decision's agent id.
    pub agent: Option<String>,
    /// The decision's action.
    pub action: Option<String>,
    /// The decision's final verdict.
    pub verdict: Option<Verdict>,
    /// A policy that ran for the decision (any verdict, shadow included).
    pub policy: Option<String>,
    /// The event kind (one of [`KINDS`]).
    pub kind: Option<&'static str>,
    /// The record's log time.
    pub time: TimeRange,
}

impl Filter {
    /// Whether `record` matches.
    pub fn matches(&self, record: &Record) -> bool {
        if self.kind.is_some_and(|k| k != record.event.kind())
            || !self.time.contains(record.time_ms)
        {
            return false;
        }
        match &record.event {
            LogEvent::Decision(d) => {
                self.agent.as_ref().is_none_or(|a| *a == d.request.agent_id)
                    && self.action.as_ref().is_none_or(|a| *a == d.request.action)
                    && self.verdict.is_none_or(|v| v == d.verdict)
                    && self
                        .policy
                        .as_ref()
                        .is_none_or(|p| d.policies.iter().any(|run| run.policy == *p))
            }
            _ => {
                self.agent.is_none()
                    && self.action.is_none()
                    && self.verdict.is_none()
                    && self.policy.is_none()
            }
        }
    }

    /// How a query with this filter reads the log.
    pub fn plan(&self) -> Plan {
        if self.agent.is_some() {
            Plan::ByAgent
        } else if self.time.is_bounded() {
            Plan::ByTime
        } else {
            Plan::Scan
        }
    }
}

/// How a query read the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Plan {
    /// A range scan of the agent index for one agent.
    ByAgent,
    /// A scan of the time index for the window.
    ByTime,
    /// A scan of `records` from the newest, stopping at the limit.
    Scan,
}

/// One record as read: the entry and its chain hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The sequence number.
    pub seq: u64,
    /// Log time, UTC milliseconds.
    pub time_ms: i64,
    /// The policy-set generation in force.
    pub generation: u64,
    /// The chain hash stored with the record.
    pub chain_hash: ChainHash,
    /// What happened.
    pub event: LogEvent,
}

/// The serialized form of a [`Record`].
#[derive(Serialize)]
struct RecordView<'a> {
    seq: u64,
    time: Option<String>,
    time_ms: i64,
    generation: u64,
    chain_hash: String,
    #[serde(flatten)]
    event: &'a LogEvent,
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RecordView {
            seq: self.seq,
            time: format_time(self.time_ms),
            time_ms: self.time_ms,
            generation: self.generation,
            chain_hash: hex::encode(self.chain_hash),
            event: &self.event,
        }
        .serialize(serializer)
    }
}

impl Record {
    /// The record as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> Result<String, LogError> {
        serde_json::to_string(self).map_err(|e| LogError::Encode(e.to_string()))
    }

    /// The log time as RFC 3339, or the milliseconds if out of range.
    pub fn time(&self) -> String {
        format_time(self.time_ms).unwrap_or_else(|| format!("{} ms", self.time_ms))
    }

    /// Decode a stored record (chain hash ‖ canonical bytes) under `seq`.
    fn decode(seq: u64, value: &[u8]) -> Result<Record, LogError> {
        let (chain_hash, body) = tables::split_record(value).ok_or_else(|| {
            LogError::Encode(format!("record {seq} is too short to hold a chain hash"))
        })?;
        let entry = LogEntry::from_bytes(body)
            .map_err(|e| LogError::Encode(format!("record {seq} does not decode: {e}")))?;
        if entry.seq != seq {
            return Err(LogError::Encode(format!(
                "record under key {seq} says it is record {}",
                entry.seq
            )));
        }
        Ok(Record {
            seq,
            time_ms: entry.time_ms,
            generation: entry.generation,
            chain_hash,
            event: entry.event,
        })
    }
}

/// What a query found.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// Matching records, newest first (highest sequence number first), at
    /// most the limit.
    pub records: Vec<Record>,
    /// How the log was read.
    pub plan: Plan,
    /// How many records were read to answer (the cost of the query).
    pub visited: u64,
}

type Records = ReadOnlyTable<u64, &'static [u8]>;

fn begin(db: &impl ReadableDatabase) -> Result<ReadTransaction, LogError> {
    db.begin_read().map_err(LogError::storage)
}

fn records_table(read: &ReadTransaction) -> Result<Records, LogError> {
    read.open_table(RECORDS).map_err(LogError::storage)
}

fn fetch(records: &Records, seq: u64) -> Result<Option<Record>, LogError> {
    match records.get(seq).map_err(LogError::storage)? {
        Some(v) => Record::decode(seq, v.value()).map(Some),
        None => Ok(None),
    }
}

/// Where a walk reads from.
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    Agent(&'a str),
    Time(TimeRange),
    All,
}

/// Walk the records `source` names, in `order`, handing each to `f` until
/// it breaks. Returns how many records were read.
fn walk<F>(
    read: &ReadTransaction,
    source: Source<'_>,
    order: Order,
    mut f: F,
) -> Result<u64, LogError>
where
    F: FnMut(Record) -> ControlFlow<()>,
{
    let records = records_table(read)?;
    let mut visited = 0u64;
    let mut via_index = |seq: u64, index: &str, window: Option<TimeRange>| -> Flow {
        let record = fetch(&records, seq)?.ok_or_else(|| {
            LogError::Storage(format!(
                "the {index} index names record {seq}, which is missing: the log is damaged (verify it)"
            ))
        })?;
        visited += 1;
        if window.is_some_and(|w| !w.contains(record.time_ms)) {
            return Ok(ControlFlow::Continue(()));
        }
        Ok(f(record))
    };
    match source {
        Source::Agent(agent) => {
            index_walk::agent_seqs(read, agent, order, &mut |seq| via_index(seq, "agent", None))
                .map(drop)?;
        }
        Source::Time(window) => {
            if window.is_empty() {
                return Ok(0);
            }
            index_walk::time_seqs(read, window, order, &mut |seq| {
                via_index(seq, "time", Some(window))
            })
            .map(drop)?;
        }
        Source::All => {
            let range = records.range::<u64>(..).map_err(LogError::storage)?;
            drive(range, order, |item| {
                let (key, value) = item.map_err(LogError::storage)?;
                let record = Record::decode(key.value(), value.value())?;
                visited += 1;
                Ok(f(record))
            })
            .map(drop)?;
        }
    }
    Ok(visited)
}

/// One record, or `None` if there is no record `seq`.
pub fn get_record(db: &impl ReadableDatabase, seq: u64) -> Result<Option<Record>, LogError> {
    guard::contain("reading the log", || {
        let read = begin(db)?;
        fetch(&records_table(&read)?, seq)
    })
}

/// The last sequence number (0 for an empty log).
pub fn last_seq(db: &impl ReadableDatabase) -> Result<u64, LogError> {
    guard::contain("reading the log", || {
        let read = begin(db)?;
        let records = records_table(&read)?;
        Ok(records
            .last()
            .map_err(LogError::storage)?
            .map_or(0, |(k, _)| k.value()))
    })
}

/// The last `n` records, oldest first (as `tail` prints them).
pub fn tail(db: &impl ReadableDatabase, n: usize) -> Result<Vec<Record>, LogError> {
    guard::contain("reading the log", || {
        let read = begin(db)?;
        let mut out = Vec::new();
        if n > 0 {
            walk(&read, Source::All, Order::NewestFirst, |r| {
                out.push(r);
                if out.len() >= n {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })?;
        }
        out.reverse();
        Ok(out)
    })
}

/// Up to `max` records after `seq`, oldest first (for following the log).
pub fn records_after(
    db: &impl ReadableDatabase,
    seq: u64,
    max: usize,
) -> Result<Vec<Record>, LogError> {
    guard::contain("reading the log", || {
        let read = begin(db)?;
        let records = records_table(&read)?;
        let mut out = Vec::new();
        if max == 0 || seq == u64::MAX {
            return Ok(out);
        }
        for item in records.range((seq + 1)..).map_err(LogError::storage)? {
            let (key, value) = item.map_err(LogError::storage)?;
            out.push(Record::decode(key.value(), value.value())?);
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    })
}

/// The records matching `filter`, newest first (highest sequence number
/// first), at most `limit`. See the module documentation for the plan.
///
/// With a time range and no agent, the window is read newest commit
/// first, so at the limit the page holds the latest records by sequence
/// (records of the first format: by log time, which follows the sequence
/// except across a clock step).
pub fn query(
    db: &impl ReadableDatabase,
    filter: &Filter,
    limit: usize,
) -> Result<QueryResult, LogError> {
    guard::contain("reading the log", || {
        let plan = filter.plan();
        let mut records = Vec::new();
        if limit == 0 || filter.time.is_empty() {
            return Ok(QueryResult {
                records,
                plan,
                visited: 0,
            });
        }
        let source = match (plan, filter.agent.as_deref()) {
            (Plan::ByAgent, Some(agent)) => Source::Agent(agent),
            (Plan::ByTime, _) => Source::Time(filter.time),
            _ => Source::All,
        };
        let read = begin(db)?;
        let visited = walk(&read, source, Order::NewestFirst, |r| {
            if filter.matches(&r) {
                records.push(r);
            }
            if records.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        records.sort_by_key(|r| std::cmp::Reverse(r.seq));
        Ok(QueryResult {
            records,
            plan,
            visited,
        })
    })
}

/// Hand every record in `window` to `sink`, oldest first, until it breaks
/// (e.g. the output closed). Uses the time index when the window is
/// bounded, else reads `records`; either way in sequence order (records of
/// the first format's time index: in log-time order). Returns how many
/// records were handed over.
pub fn export<F>(
    db: &impl ReadableDatabase,
    window: TimeRange,
    mut sink: F,
) -> Result<u64, LogError>
where
    F: FnMut(&Record) -> ControlFlow<()>,
{
    guard::contain("reading the log", || {
        let read = begin(db)?;
        let source = if window.is_bounded() {
            Source::Time(window)
        } else {
            Source::All
        };
        let mut handed = 0u64;
        walk(&read, source, Order::OldestFirst, |r| {
            handed += 1;
            sink(&r)
        })?;
        Ok(handed)
    })
}

/// Counts of final verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct VerdictCounts {
    /// Approvals.
    pub approve: u64,
    /// Denials.
    pub deny: u64,
    /// Escalations.
    pub escalate: u64,
}

impl VerdictCounts {
    fn add(&mut self, verdict: Verdict) {
        let slot = match verdict {
            Verdict::Approve => &mut self.approve,
            Verdict::Deny => &mut self.deny,
            Verdict::Escalate => &mut self.escalate,
        };
        *slot += 1;
    }
}

/// What one policy did over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PolicyStats {
    /// How many times it ran.
    pub runs: u64,
    /// Approvals.
    pub approve: u64,
    /// Denials.
    pub deny: u64,
    /// Escalations.
    pub escalate: u64,
    /// Contained failures (trap, fuel, deadline, ...).
    pub error: u64,
    /// Runs in shadow mode (included in the counts above).
    pub shadow: u64,
}

/// One agent's decisions over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct AgentStats {
    /// Decisions.
    pub decisions: u64,
    /// Approvals.
    pub approve: u64,
    /// Denials.
    pub deny: u64,
    /// Escalations.
    pub escalate: u64,
}

/// Governance statistics over a window of log time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// The inclusive start, RFC 3339, if bounded.
    pub since: Option<String>,
    /// The exclusive end, RFC 3339, if bounded.
    pub until: Option<String>,
    /// Records in the window, all kinds.
    pub records: u64,
    /// Records by kind.
    pub by_kind: BTreeMap<String, u64>,
    /// Decisions in the window.
    pub decisions: u64,
    /// Decisions by final verdict.
    pub by_verdict: VerdictCounts,
    /// Escalations / decisions; `None` without decisions.
    pub escalation_rate: Option<f64>,
    /// Per policy, by name.
    pub by_policy: BTreeMap<String, PolicyStats>,
    /// Decisions per agent, by final verdict.
    pub by_agent: BTreeMap<String, AgentStats>,
}

/// Count decisions by verdict, policy and agent over `window` (all kinds
/// are counted in `records` and `by_kind`). Reads only the window, through
/// the time index, when it is bounded.
pub fn stats(db: &impl ReadableDatabase, window: TimeRange) -> Result<Stats, LogError> {
    guard::contain("reading the log", || {
        let mut stats = Stats {
            since: window
                .since
                .map(|ms| format_time(ms).unwrap_or_else(|| ms.to_string())),
            until: window
                .until
                .map(|ms| format_time(ms).unwrap_or_else(|| ms.to_string())),
            records: 0,
            by_kind: BTreeMap::new(),
            decisions: 0,
            by_verdict: VerdictCounts::default(),
            escalation_rate: None,
            by_policy: BTreeMap::new(),
            by_agent: BTreeMap::new(),
        };
        export(db, window, |r| {
            stats.records += 1;
            *stats.by_kind.entry(r.event.kind().to_owned()).or_default() += 1;
            if let LogEvent::Decision(d) = &r.event {
                stats.decisions += 1;
                stats.by_verdict.add(d.verdict);
                let agent = stats
                    .by_agent
                    .entry(d.request.agent_id.clone())
                    .or_default();
                agent.decisions += 1;
                let slot = match d.verdict {
                    Verdict::Approve => &mut agent.approve,
                    Verdict::Deny => &mut agent.deny,
                    Verdict::Escalate => &mut agent.escalate,
                };
                *slot += 1;
                for run in &d.policies {
                    let p = stats.by_policy.entry(run.policy.clone()).or_default();
                    p.runs += 1;
                    p.shadow += u64::from(run.shadow);
                    let slot = match run.verdict {
                        RunVerdict::Approve => &mut p.approve,
                        RunVerdict::Deny => &mut p.deny,
                        RunVerdict::Escalate => &mut p.escalate,
                        RunVerdict::Error => &mut p.error,
                    };
                    *slot += 1;
                }
            }
            ControlFlow::Continue(())
        })?;
        if stats.decisions > 0 {
            #[allow(clippy::cast_precision_loss, reason = "a rate")]
            let rate = stats.by_verdict.escalate as f64 / stats.decisions as f64;
            stats.escalation_rate = Some(rate);
        }
        Ok(stats)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{PolicyRun, Reason};
    use crate::log::entry::{DecisionEntry, LoggedRequest};
    use crate::log::{DecisionLog, LogMode, LogOptions};
    use proptest::prelude::*;

    fn decision(agent: &str, action: &str, verdict: Verdict, n: usize) -> LogEvent {
        let run = |policy: &str, v: RunVerdict| PolicyRun {
            policy: policy.to_owned(),
            digest: "sha256:00".to_owned(),
            verdict: v,
            code: None,
            message: None,
            fuel: 1,
            micros: 1,
            shadow: false,
            findings: Vec::new(),
            facts: Vec::new(),
            charges: Vec::new(),
        };
        let (first, reasons) = match verdict {
            Verdict::Approve => (RunVerdict::Approve, Vec::new()),
            Verdict::Deny | Verdict::Escalate => (
                if verdict == Verdict::Deny {
                    RunVerdict::Deny
                } else {
                    RunVerdict::Escalate
                },
                vec![Reason {
                    policy: "p1".to_owned(),
                    verdict,
                    code: "c".to_owned(),
                    message: "m".to_owned(),
                }],
            ),
        };
        LogEvent::Decision(DecisionEntry {
            request: LoggedRequest {
                request_id: format!("r-{n}"),
                agent_id: agent.to_owned(),
                action: action.to_owned(),
                params: serde_json::Map::new(),
                amount: None,
                currency: None,
                timestamp_ms: 1_700_000_000_000,
                session_id: None,
                user_id: None,
            },
            verdict,
            reasons,
            policies: vec![run("p1", first), run("p2", RunVerdict::Approve)],
            redactions: Vec::new(),
            escalation: None,
            charges: Vec::new(),
            retry_after_ms: None,
        })
    }

    fn kill_switch() -> LogEvent {
        LogEvent::KillSwitch {
            engaged: true,
            actor: "ops".to_owned(),
            reason: "drill".to_owned(),
            agent: None,
        }
    }

    /// 10,000 records, of which records 1000, 5000 and 9000 are agent X's.
    fn big_log(dir: &std::path::Path) -> DecisionLog {
        let options = LogOptions {
            mode: LogMode::Buffered,
            checkpoint_every: 100_000,
            queue: 4096,
        };
        let log = DecisionLog::open(dir, options).unwrap();
        for n in 1..=10_000usize {
            let event = match n {
                1000 => decision("agent-x", "read", Verdict::Approve, n),
                5000 => decision("agent-x", "pay", Verdict::Deny, n),
                9000 => decision("agent-x", "read", Verdict::Escalate, n),
                n if n % 1000 == 1 => kill_switch(),
                n => decision(&format!("agent-{}", n % 7), "read", Verdict::Approve, n),
            };
            log.append(&event, 1).unwrap();
        }
        // Waits for every queued record.
        log.checkpoint().unwrap();
        log
    }

    #[test]
    fn queries_use_the_indexes_and_stop_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let log = big_log(dir.path());
        let db = log.database();

        // By agent: only the agent's three index entries are read.
        let agent = Filter {
            agent: Some("agent-x".to_owned()),
            ..Filter::default()
        };
        let found = query(db, &agent, 100).unwrap();
        assert_eq!(found.plan, Plan::ByAgent);
        assert_eq!(found.visited, 3);
        let seqs: Vec<u64> = found.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [9000, 5000, 1000]);

        // Agent and verdict combine; the limit stops the walk.
        let denied = Filter {
            verdict: Some(Verdict::Deny),
            ..agent.clone()
        };
        let found = query(db, &denied, 100).unwrap();
        assert_eq!(found.records.len(), 1);
        assert_eq!(found.records[0].seq, 5000);
        assert!(found.visited <= 3);
        let found = query(db, &agent, 2).unwrap();
        assert_eq!(found.visited, 2);
        assert_eq!(
            found.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [9000, 5000]
        );

        // An unknown agent reads nothing.
        let nobody = Filter {
            agent: Some("agent-y".to_owned()),
            ..Filter::default()
        };
        let found = query(db, &nobody, 100).unwrap();
        assert_eq!((found.records.len(), found.visited), (0, 0));

        // No filter: the newest records, reading only as many as the limit.
        let found = query(db, &Filter::default(), 5).unwrap();
        assert_eq!(found.plan, Plan::Scan);
        assert_eq!(found.visited, 5);
        assert_eq!(found.records[0].seq, 10_000);

        // A scan with a selective filter stops once the limit is reached.
        let kills = Filter {
            kind: Some("kill-switch"),
            ..Filter::default()
        };
        let found = query(db, &kills, 2).unwrap();
        assert_eq!(
            found.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [9001, 8001]
        );
        assert_eq!(found.visited, 2000);

        // A time window outside the log reads nothing; all time reads the window only.
        let future = Filter {
            time: TimeRange::new(Some(i64::MAX - 1), None).unwrap(),
            ..Filter::default()
        };
        let found = query(db, &future, 100).unwrap();
        assert_eq!(found.plan, Plan::ByTime);
        assert_eq!((found.records.len(), found.visited), (0, 0));
        let all = Filter {
            time: TimeRange::new(Some(0), None).unwrap(),
            ..Filter::default()
        };
        let found = query(db, &all, 10).unwrap();
        assert_eq!((found.records.len(), found.visited), (10, 10));

        // Stats count everything; the agent's rows are exact.
        let s = stats(db, TimeRange::ALL).unwrap();
        assert_eq!(s.records, 10_000);
        assert_eq!(s.by_kind.get("kill-switch"), Some(&10));
        assert_eq!(s.decisions, 9_990);
        assert_eq!(
            s.by_agent.get("agent-x"),
            Some(&AgentStats {
                decisions: 3,
                approve: 1,
                deny: 1,
                escalate: 1
            })
        );
        assert_eq!(s.by_policy.get("p2").map(|p| p.runs), Some(9_990));
        assert_eq!(s.escalation_rate, Some(1.0 / 9_990.0));

        // Tail, after, get, last_seq.
        let t = tail(db, 3).unwrap();
        assert_eq!(
            t.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [9998, 9999, 10_000]
        );
        let a = records_after(db, 9998, 10).unwrap();
        assert_eq!(a.iter().map(|r| r.seq).collect::<Vec<_>>(), [9999, 10_000]);
        assert!(records_after(db, 10_000, 10).unwrap().is_empty());
        assert_eq!(last_seq(db).unwrap(), 10_000);
        assert_eq!(get_record(db, 5000).unwrap().map(|r| r.seq), Some(5000));
        assert_eq!(get_record(db, 10_001).unwrap(), None);
        drop(log);
    }

    #[test]
    fn record_json_has_the_header_then_the_event() {
        let record = Record {
            seq: 7,
            time_ms: 1_767_225_600_123,
            generation: 2,
            chain_hash: [0xab; 32],
            event: kill_switch(),
        };
        assert_eq!(
            record.to_json_line().unwrap(),
            format!(
                r#"{{"seq":7,"time":"2026-01-01T00:00:00.123Z","time_ms":1767225600123,"generation":2,"chain_hash":"{}","kind":"kill-switch","engaged":true,"actor":"ops","reason":"drill"}}"#,
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn decision_filters_do_not_match_other_events() {
        let record = Record {
            seq: 1,
            time_ms: 0,
            generation: 0,
            chain_hash: [0; 32],
            event: kill_switch(),
        };
        assert!(Filter::default().matches(&record));
        for f in [
            Filter {
                agent: Some("ops".to_owned()),
                ..Filter::default()
            },
            Filter {
                verdict: Some(Verdict::Approve),
                ..Filter::default()
            },
            Filter {
                policy: Some("p1".to_owned()),
                ..Filter::default()
            },
            Filter {
                kind: Some("decision"),
                ..Filter::default()
            },
        ] {
            assert!(!f.matches(&record), "{f:?}");
        }
    }

    #[test]
    fn parsers_name_the_problem() {
        assert_eq!(parse_verdict("deny"), Ok(Verdict::Deny));
        assert!(
            parse_verdict("Deny")
                .unwrap_err()
                .to_string()
                .contains("\"Deny\"")
        );
        assert_eq!(parse_kind("kill-switch"), Ok("kill-switch"));
        assert!(
            parse_kind("kill")
                .unwrap_err()
                .to_string()
                .contains("escalation-resolved")
        );
        assert_eq!(parse_seq("42"), Ok(42));
        assert!(parse_seq("0").is_err());
        assert!(parse_seq("-1").is_err());
        let e = parse_time("--since", "yesterday").unwrap_err().to_string();
        assert!(
            e.contains("--since") && e.contains("yesterday") && e.contains("RFC 3339"),
            "{e}"
        );
        assert_eq!(parse_time("t", "1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("t", "1970-01-01T01:00:00+01:00"), Ok(0));
        assert_eq!(parse_time("t", "1970-01-01T00:00:00.0001Z"), Ok(1));
        assert_eq!(parse_time("t", "1969-12-31T23:59:59.9999Z"), Ok(0));
        let e = TimeRange::new(Some(10), Some(5)).unwrap_err().to_string();
        assert!(e.contains("reversed"), "{e}");
        assert!(TimeRange::new(Some(5), Some(5)).unwrap().is_empty());
    }

    /// RFC 3339 can express years 0000 to 9999.
    const MIN_MS: i64 = -62_167_219_200_000;
    const MAX_MS: i64 = 253_402_300_799_999;

    proptest! {
        #[test]
        fn time_round_trips(ms in MIN_MS..=MAX_MS) {
            let text = format_time(ms).unwrap();
            prop_assert_eq!(parse_time("t", &text), Ok(ms));
        }

        #[test]
        fn time_bounds_are_exact_at_any_precision(
            secs in -62_167_219_200i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
            t in MIN_MS..=MAX_MS,
        ) {
            let whole = format_time(secs * 1000).unwrap();
            let text = format!("{}.{nanos:09}Z", whole.trim_end_matches('Z'));
            let bound = parse_time("t", &text).unwrap();
            let instant = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
            // A record at t ms is in [bound, ..) iff it is at or after the instant.
            prop_assert_eq!(t >= bound, i128::from(t) * 1_000_000 >= instant);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = parse_time("t", &s);
            let _ = parse_verdict(&s);
            let _ = parse_kind(&s);
            let _ = parse_seq(&s);
        }

        #[test]
        fn near_rfc3339_strings_never_panic(
            s in "[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}[Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})?"
        ) {
            if let Ok(ms) = parse_time("t", &s) {
                prop_assert!((MIN_MS - 86_400_000..=MAX_MS + 86_400_000).contains(&ms));
            }
        }

        #[test]
        fn windows_contain_exactly_their_half_open_range(
            since in proptest::option::of(-1000i64..1000),
            until in proptest::option::of(-1000i64..1000),
            t in -1000i64..1000,
        ) {
            match TimeRange::new(since, until) {
                Ok(w) => {
                    let expected = since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u);
                    prop_assert_eq!(w.contains(t), expected);
                    if w.is_empty() {
                        prop_assert!(!w.contains(t));
                    }
                }
                Err(_) => prop_assert!(since > until),
            }
        }
    }
}
