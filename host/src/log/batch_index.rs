//! The indexes of the compact format: one entry per commit, not per record.
//!
//! - `batch_times`: first seq of a commit → the least and greatest log
//!   time of its records (16 bytes, big-endian). A commit's records run to
//!   the next commit's first seq; a time query reads the commits whose
//!   range meets its window, then filters their records. Min and max (not
//!   the first record's time) keep it right when the clock steps back.
//! - `agent_batches`: (agent id, first seq of a commit) → the seqs of that
//!   agent's decisions in the commit, as LEB128 deltas from the commit's
//!   first seq.
//!
//! Logs written before hold `by_agent` and `by_time` entries for their
//! older records; readers use both, the old ones for seqs before the first
//! commit indexed here.

use super::LogError;
use super::run_codec::put_varint;
use redb::{TableDefinition, WriteTransaction};
use std::collections::BTreeMap;

/// First seq of a commit → (min time ms, max time ms).
pub const BATCH_TIMES: TableDefinition<u64, &[u8]> = TableDefinition::new("batch_times");
/// (agent id, first seq of a commit) → the agent's seqs in it.
pub const AGENT_BATCHES: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("agent_batches");

/// The index entries of one commit, gathered before its transaction.
#[derive(Debug)]
pub struct BatchIndex {
    first_seq: u64,
    last_seq: u64,
    min_time: i64,
    max_time: i64,
    /// Per agent: its last seq so far and the encoded list.
    agents: BTreeMap<String, (u64, Vec<u8>)>,
}

impl BatchIndex {
    /// An empty index for a commit starting at `first_seq`.
    pub fn new(first_seq: u64) -> Self {
        BatchIndex {
            first_seq,
            last_seq: first_seq.saturating_sub(1),
            min_time: i64::MAX,
            max_time: i64::MIN,
            agents: BTreeMap::new(),
        }
    }

    /// Record `seq` (the next one), logged at `time_ms`, a decision of
    /// `agent` if any.
    pub fn add(&mut self, seq: u64, time_ms: i64, agent: Option<&str>) {
        self.min_time = self.min_time.min(time_ms);
        self.max_time = self.max_time.max(time_ms);
        if let Some(agent) = agent {
            if !self.agents.contains_key(agent) {
                let before = self.first_seq.saturating_sub(1);
                self.agents.insert(agent.to_owned(), (before, Vec::new()));
            }
            if let Some((last, list)) = self.agents.get_mut(agent) {
                put_varint(list, seq.saturating_sub(*last));
                *last = seq;
            }
        }
        self.last_seq = seq;
    }

    /// Write the entries (nothing for a commit without records).
    pub fn write(&self, txn: &WriteTransaction) -> Result<(), LogError> {
        if self.last_seq < self.first_seq {
            return Ok(());
        }
        let mut times = txn.open_table(BATCH_TIMES).map_err(LogError::storage)?;
        times
            .insert(
                self.first_seq,
                encode_times(self.min_time, self.max_time).as_slice(),
            )
            .map_err(LogError::storage)?;
        if !self.agents.is_empty() {
            let mut agents = txn.open_table(AGENT_BATCHES).map_err(LogError::storage)?;
            for (agent, (_, list)) in &self.agents {
                agents
                    .insert((agent.as_str(), self.first_seq), list.as_slice())
                    .map_err(LogError::storage)?;
            }
        }
        Ok(())
    }
}

/// The 16 bytes of a commit's time range.
pub fn encode_times(min: i64, max: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    let (a, b) = out.split_at_mut(8);
    a.copy_from_slice(&min.to_be_bytes());
    b.copy_from_slice(&max.to_be_bytes());
    out
}

/// A commit's time range, or `None` if the value is malformed.
pub fn decode_times(value: &[u8]) -> Option<(i64, i64)> {
    let (min, max) = value.split_first_chunk::<8>()?;
    let max: [u8; 8] = max.try_into().ok()?;
    Some((i64::from_be_bytes(*min), i64::from_be_bytes(max)))
}

/// The seqs an `agent_batches` value lists, for a commit at `first_seq`:
/// strictly increasing, each at least `first_seq`. A malformed value (a
/// truncated or overlong number, a zero step) is an error.
pub fn decode_seqs(first_seq: u64, value: &[u8]) -> Result<Vec<u64>, String> {
    let mut seqs = Vec::with_capacity(value.len());
    let mut previous = first_seq.saturating_sub(1);
    let mut n = 0u64;
    let mut shift = 0u32;
    for &byte in value {
        if shift > 63 {
            return Err("a sequence number in the agent index is too long".to_owned());
        }
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            if n == 0 {
                return Err("the agent index repeats a sequence number".to_owned());
            }
            previous = previous
                .checked_add(n)
                .ok_or_else(|| "a sequence number in the agent index overflows".to_owned())?;
            seqs.push(previous);
            n = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err("the agent index ends inside a number".to_owned());
    }
    Ok(seqs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any increasing list of seqs in a commit reads back exactly.
        #[test]
        fn seq_lists_round_trip(first in 1u64..u64::MAX / 2, steps in proptest::collection::vec(1u64..100_000, 0..50)) {
            let mut index = BatchIndex::new(first);
            let mut seq = first - 1;
            let mut expected = Vec::new();
            for step in steps {
                seq += step;
                index.add(seq, 0, Some("a"));
                expected.push(seq);
            }
            let list = index.agents.get("a").map(|(_, l)| l.clone()).unwrap_or_default();
            prop_assert_eq!(decode_seqs(first, &list).unwrap(), expected);
        }

        /// Arbitrary bytes decode or fail cleanly.
        #[test]
        fn any_bytes_never_panic(first in any::<u64>(), bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode_seqs(first, &bytes);
            let _ = decode_times(&bytes);
        }
    }

    #[test]
    fn malformed_lists_name_the_problem() {
        for (bytes, expected) in [
            (&[0x80u8][..], "ends inside"),
            (&[0x00], "repeats"),
            (&[0xff; 11], "too long"),
        ] {
            let err = decode_seqs(1, bytes).unwrap_err();
            assert!(err.contains(expected), "{bytes:?}: {err}");
        }
        assert_eq!(decode_times(&[0; 15]), None);
        assert_eq!(decode_times(&encode_times(-5, 9)), Some((-5, 9)));
    }

    #[test]
    fn times_span_the_commit_even_when_the_clock_steps_back() {
        let mut index = BatchIndex::new(10);
        for (seq, time) in [(10, 500), (11, 300), (12, 900)] {
            index.add(seq, time, None);
        }
        assert_eq!((index.min_time, index.max_time), (300, 900));
        assert!(index.agents.is_empty());
    }
}
