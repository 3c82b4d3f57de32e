//! The redb tables of the log and the stored record format.
//!
//! - `records`: seq → 32-byte chain hash ‖ the entry's stored bytes
//!   (`record_format`);
//! - `meta`: `head` → seq (8 bytes, big-endian) ‖ chain hash, and
//!   `generation` → the last policy-set generation (8 bytes), and
//!   `journal` → the live journal epoch and whether the log was closed
//!   cleanly (`journal`);
//! - `batch_times` and `agent_batches`: the time and agent indexes, one
//!   entry per commit (`batch_index`);
//! - `by_agent`: (agent id, seq) → () and `by_time`: (log time ms, seq) →
//!   (): the same indexes for logs of the first format, one entry per
//!   record (no longer written);
//! - `checkpoints`: size → signed checkpoint (JSON);
//! - `escalations`: escalation id → its current state (JSON);
//! - `kill_switch`: agent id (`""` for the fleet-wide switch) → the
//!   engagement (JSON); absent when released;
//! - `charges`: counter instance ‖ request id → the reservation a decision
//!   holds on a counter (JSON); absent once released or expired;
//! - `outcomes`: decision seq → the outcome reported for it (JSON).
//!
//! A record and the new head are written in the same transaction, and so
//! is any state the record changes (an escalation, a kill switch): the
//! state tables never disagree with the log.

use super::chain::ChainHash;
use redb::TableDefinition;

/// seq → chain hash ‖ canonical bytes.
pub const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
/// Small named values.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// (agent id, seq) index.
pub const BY_AGENT: TableDefinition<(&str, u64), ()> = TableDefinition::new("by_agent");
/// (time ms, seq) index.
pub const BY_TIME: TableDefinition<(i64, u64), ()> = TableDefinition::new("by_time");
/// size → checkpoint JSON.
pub const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");

/// escalation id → state JSON.
pub const ESCALATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("escalations");
/// agent id (`""`: every agent) → engagement JSON.
pub const KILL_SWITCH: TableDefinition<&str, &[u8]> = TableDefinition::new("kill_switch");

/// counter instance ‖ request id → a reservation (JSON; see `ledger`).
pub const CHARGES: TableDefinition<&str, &[u8]> = TableDefinition::new("charges");
/// decision seq (decimal) → its reported outcome (JSON).
pub const OUTCOMES: TableDefinition<&str, &[u8]> = TableDefinition::new("outcomes");

/// A state table a record may change in its own transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateTable {
    /// [`ESCALATIONS`].
    Escalations,
    /// [`KILL_SWITCH`].
    KillSwitch,
    /// [`CHARGES`].
    Charges,
    /// [`OUTCOMES`].
    Outcomes,
}

impl StateTable {
    /// The table's definition.
    pub fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            StateTable::Escalations => ESCALATIONS,
            StateTable::KillSwitch => KILL_SWITCH,
            StateTable::Charges => CHARGES,
            StateTable::Outcomes => OUTCOMES,
        }
    }

    /// Every state table, in the order a commit writes them.
    pub const ALL: [StateTable; 4] = [
        StateTable::Escalations,
        StateTable::KillSwitch,
        StateTable::Charges,
        StateTable::Outcomes,
    ];

    /// Its number in the journal (`commit_batch`).
    pub fn code(self) -> u8 {
        match self {
            StateTable::Escalations => 0,
            StateTable::KillSwitch => 1,
            StateTable::Charges => 2,
            StateTable::Outcomes => 3,
        }
    }

    /// The table numbered `code`, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        StateTable::ALL.get(usize::from(code)).copied()
    }
}

/// A change to a state table, committed with the record that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    /// Which table.
    pub table: StateTable,
    /// The key.
    pub key: String,
    /// The new value; `None` removes the key.
    pub value: Option<Vec<u8>>,
}

/// The `meta` key of the head.
pub const HEAD_KEY: &str = "head";
/// The `meta` key of the journal's state (`journal`).
pub const JOURNAL_KEY: &str = "journal";
/// The `meta` key of the last policy-set generation.
pub const GENERATION_KEY: &str = "generation";

/// Split a stored record into its chain hash and canonical bytes.
pub fn split_record(value: &[u8]) -> Option<(ChainHash, &[u8])> {
    let (hash, body) = value.split_first_chunk::<32>()?;
    Some((*hash, body))
}

/// Encode the head.
pub fn encode_head(seq: u64, hash: &ChainHash) -> [u8; 40] {
    let mut out = [0u8; 40];
    let (a, b) = out.split_at_mut(8);
    a.copy_from_slice(&seq.to_be_bytes());
    b.copy_from_slice(hash);
    out
}

/// Decode the head.
pub fn decode_head(value: &[u8]) -> Option<(u64, ChainHash)> {
    let (seq, hash) = value.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*seq), hash.try_into().ok()?))
}
