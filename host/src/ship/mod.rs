//! Shipping the decision log to PostgreSQL, exactly once.
//!
//! A shipper tails the local log from a cursor that lives in PostgreSQL
//! (`gavel_cursors`, one row per node) and copies each record as stored
//! (its exact canonical bytes and chain hash, plus queryable columns and
//! the export form as `jsonb`) into `gavel_records`. Every batch is one
//! transaction: the rows (`ON CONFLICT (node, seq) DO NOTHING`), the
//! signed checkpoints they cover, and a compare-and-set advance of the
//! node's cursor. A crash before the commit ships nothing; after it the
//! cursor has moved with the rows, so nothing is lost or written twice.
//! A second shipper with the same node name is fenced by the cursor CAS.
//!
//! The local log is the buffer: while PostgreSQL is down the lag grows on
//! disk, never in memory, and decisions go on (unless a lag limit is set:
//! see [`crate::log::LagGate`]). `pg_verify` checks a node's chain from
//! the database alone.
//!
//! - [`target`]: the `postgres://` URL (no TLS: `sslmode=require` is refused);
//! - [`node_id`]: the node's name, generated once into the data directory;
//! - [`schema`]: the tables and indexes;
//! - [`batch`]: rows built from the local log;
//! - [`source`]: where the local log is read (a live log or a file);
//! - [`sink`]: the transaction of one batch;
//! - [`shipper`]: the loop, its backoff and its state;
//! - [`pg_verify`]: `gavel log verify --from postgres://`.

pub mod batch;
pub mod node_id;
pub mod pg_verify;
pub mod schema;
pub mod shipper;
pub mod sink;
pub mod source;
pub mod target;

pub use batch::{Batch, Columns, Row};
pub use node_id::{NODE_ID_FILE, node_name, validate_node};
pub use pg_verify::verify_from_postgres;
pub use shipper::{ShipOptions, ShipStatus, Shipper};
pub use sink::{Cursor, Sink};
pub use source::{LiveLog, LogFile, LogSource};
pub use target::{Target, parse_target};

use crate::log::LogError;

/// Errors from shipping or verifying a shipped log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipError {
    /// The `--to` / `--ship-to` / `--from` URL is not usable.
    #[error("invalid PostgreSQL URL {url}: {problem}")]
    Url {
        /// The URL (its password masked).
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// The node name is not usable, or the node-id file cannot be read.
    #[error("node name: {0}")]
    Node(String),
    /// Reading the local log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// PostgreSQL could not be reached or a statement failed.
    #[error("PostgreSQL at {target}: {what}: {error}")]
    Postgres {
        /// The database (its password masked).
        target: String,
        /// What was being done.
        what: String,
        /// The error.
        error: String,
    },
    /// The local log does not continue the chain already shipped for this
    /// node (it was reset or replaced, or another log ships under the same
    /// name). Nothing is shipped over the old chain.
    #[error("the local log does not continue node {node}'s shipped chain: {problem}")]
    Diverged {
        /// The node.
        node: String,
        /// What differs.
        problem: String,
    },
    /// A record of this node is already in PostgreSQL with different
    /// contents.
    #[error(
        "record {seq} of node {node} is already in PostgreSQL with a different chain hash: the shipped history differs from the local log"
    )]
    Conflict {
        /// The node.
        node: String,
        /// The record.
        seq: u64,
    },
    /// The cursor moved under this shipper: another shipper uses the same
    /// node name.
    #[error(
        "node {node}'s cursor in PostgreSQL is no longer at record {expected}: another shipper writes as node {node} (give each node its own --node name)"
    )]
    Fenced {
        /// The node.
        node: String,
        /// Where this shipper expected the cursor.
        expected: u64,
    },
}

impl ShipError {
    /// Errors that retrying does not cure (a diverged chain, a conflict, a
    /// fenced cursor, a bad URL or name, the local log).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ShipError::Postgres { .. })
    }

    /// A short name of the kind of error (for logging state changes).
    pub fn kind(&self) -> &'static str {
        match self {
            ShipError::Url { .. } => "url",
            ShipError::Node(_) => "node",
            ShipError::Log(_) => "log",
            ShipError::Postgres { .. } => "postgres",
            ShipError::Diverged { .. } => "diverged",
            ShipError::Conflict { .. } => "conflict",
            ShipError::Fenced { .. } => "fenced",
        }
    }
}

/// A sequence number as PostgreSQL's `bigint`.
pub(crate) fn to_i64(value: u64) -> Result<i64, LogError> {
    i64::try_from(value).map_err(|_| LogError::Encode(format!("{value} is out of range")))
}
