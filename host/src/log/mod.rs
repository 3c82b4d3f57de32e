//! The decision log: append-only, tamper-evident, in redb.
//!
//! Every decision, and every policy-set change, kill-switch and escalation
//! event, is a [`LogEntry`] in one gap-free sequence. Each record carries
//! `h_n = SHA-256(tag ‖ h_{n-1} ‖ n ‖ SHA-256(record))`, written in the same
//! transaction as the record; every N records and at shutdown the writer
//! signs a [`Checkpoint`] of (size, head) with Ed25519. See `verify` for
//! what is checked, and `writer` for the group commit.

mod batch_index;
mod chain;
mod checkpoint;
mod commit_batch;
mod decision_log;
mod entry;
mod file_identity;
mod guard;
mod index_check;
mod index_walk;
mod integrity;
mod journal;
pub mod keys;
mod lag_gate;
mod query;
mod raw;
mod record_format;
mod redaction;
mod revealer;
mod run_codec;
mod syncer;
mod tables;
mod verify;
mod watermarks;
mod writer;

pub use batch_index::{AGENT_BATCHES, BATCH_TIMES};
pub use chain::{ChainHash, GENESIS, next as chain_next};
pub use checkpoint::Checkpoint;
pub use decision_log::{
    Appended, CACHE_BYTES, DecisionLog, LOG_FILE, LogMode, LogOptions, open_read_only, open_reader,
};
pub use entry::{
    DecisionEntry, LogEntry, LogEvent, LoggedPolicy, LoggedRequest, OutcomeStatus, Redaction,
};
pub use integrity::{DAMAGED_MARKER, damage_recorded};
pub use lag_gate::LagGate;
pub use query::{
    AgentStats, DEFAULT_LIMIT, Filter, KINDS, Plan, PolicyStats, QueryParseError, QueryResult,
    Record, Stats, TimeRange, VerdictCounts, export, format_time, get_record, last_seq, parse_kind,
    parse_seq, parse_time, parse_verdict, query, records_after, stats, tail,
};
pub use raw::{RawRecord, ShipRead, read_for_ship};
pub use record_format::FormatError;
pub use redaction::{REDACTED_PREFIX, RedactionPath, Redactor, mask_findings};
pub use revealer::Revealer;
pub use tables::{
    BY_AGENT, BY_TIME, CHARGES, CHECKPOINTS, ESCALATIONS, KILL_SWITCH, META, OUTCOMES, RECORDS,
    StateTable, StateWrite,
};
pub use verify::{VerifyProblem, VerifyReport, verify};
pub use writer::CommitObserver;

use std::path::PathBuf;

/// Errors from the decision log. Cloneable so that one failed commit can
/// be reported to every caller in its batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// redb failed (I/O error, disk full, corruption, a lock held by another process).
    #[error("decision log storage error: {0}")]
    Storage(String),
    /// A key file is missing, unreadable or too open.
    #[error("key file {}: {problem}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A record could not be encoded or decoded.
    #[error("decision log record encoding: {0}")]
    Encode(String),
    /// The writer is gone or has failed; nothing more can be recorded.
    #[error("decision log unavailable: {0}")]
    Unavailable(String),
    /// The log file is damaged (a failed integrity check, a head that does
    /// not match the chain, or the storage engine failing on its pages).
    #[error("the decision log is damaged: {0}")]
    Damaged(String),
    /// Another process has the log file open (redb's file lock).
    #[error("the decision log {} is open in another process (is another gavel process writing it?)", path.display())]
    InUse {
        /// The log file.
        path: PathBuf,
    },
    /// Too many committed records are not yet shipped to the central log
    /// (`--max-lag`): decisions are refused until shipping catches up.
    #[error(
        "{lag} records are not yet shipped to the central log, more than the limit of {limit} (--max-lag): decisions are refused until shipping catches up"
    )]
    ShipLag {
        /// Unshipped records.
        lag: u64,
        /// The limit.
        limit: u64,
    },
    /// The open log file was deleted or replaced: what is committed to it
    /// is lost, so nothing more is recorded.
    #[error("the decision log file {} {what} while open; decisions are no longer recorded", path.display())]
    Vanished {
        /// The log file's path.
        path: PathBuf,
        /// What happened to it.
        what: String,
    },
}

impl LogError {
    fn storage(e: impl std::fmt::Display) -> Self {
        LogError::Storage(e.to_string())
    }
}

/// Now, in UTC milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
