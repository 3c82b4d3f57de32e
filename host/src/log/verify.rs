//! `gavel log verify`: recompute the chain and check every checkpoint.
//!
//! Detects a changed byte anywhere in a record or its stored hash, a
//! deleted, inserted or reordered record (sequence gap or mismatch, chain
//! break), a head that disagrees with the records, a checkpoint whose
//! signature does not verify with the trusted key (a forged checkpoint),
//! a checkpoint whose head differs from the recomputed chain (a rewritten
//! history), a log shorter than a checkpoint (a truncated tail: keep
//! exported checkpoints off the machine to catch one done together with a
//! rewrite of the head), and index entries that do not match the records.

use super::chain::{self, ChainHash, GENESIS};
use super::checkpoint::Checkpoint;
use super::entry::{LogEntry, LogEvent};
use super::index_check::{self, Expected};
use super::tables::{self, CHECKPOINTS, HEAD_KEY, META, RECORDS};
use super::{LogError, guard};
use ed25519_dalek::VerifyingKey;
use redb::{ReadableDatabase, ReadableTable};
use std::collections::{BTreeMap, BTreeSet};

/// One integrity problem, at the first sequence number it affects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyProblem {
    /// The first bad sequence number.
    pub seq: u64,
    /// What is wrong.
    pub problem: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Records whose chain verified.
    pub verified: u64,
    /// Records present.
    pub records: u64,
    /// Checkpoints checked (stored and given).
    pub checkpoints: usize,
    /// The recomputed head, hex.
    pub head: String,
    /// Problems, ordered by sequence number; empty when the log is intact.
    pub problems: Vec<VerifyProblem>,
}

impl VerifyReport {
    /// The first bad sequence number, if any.
    pub fn first_bad(&self) -> Option<u64> {
        self.problems.first().map(|p| p.seq)
    }
}

/// Verify the log in `db` against the trusted public key and any exported
/// checkpoints.
pub fn verify(
    db: &impl ReadableDatabase,
    trusted: &VerifyingKey,
    exported: &[Checkpoint],
) -> Result<VerifyReport, LogError> {
    guard::contain("verifying the log", || {
        let read = db.begin_read().map_err(LogError::storage)?;
        let records = read.open_table(RECORDS).map_err(LogError::storage)?;
        let mut problems = Vec::new();
        let mut problem =
            |seq: u64, text: String| problems.push(VerifyProblem { seq, problem: text });

        // The chain, remembering the hash at every size a checkpoint names.
        let stored_checkpoints: Vec<(u64, Vec<u8>)> = {
            let table = read.open_table(CHECKPOINTS).map_err(LogError::storage)?;
            let mut out = Vec::new();
            for item in table.iter().map_err(LogError::storage)? {
                let (k, v) = item.map_err(LogError::storage)?;
                out.push((k.value(), v.value().to_vec()));
            }
            out
        };
        let mut wanted: BTreeSet<u64> = stored_checkpoints.iter().map(|(k, _)| *k).collect();
        wanted.extend(exported.iter().map(|c| c.size));
        let mut at_size: BTreeMap<u64, ChainHash> = BTreeMap::new();
        let mut expected = Expected::default();
        let mut previous = GENESIS;
        let mut count = 0u64;
        let mut verified = 0u64;
        let mut chain_ok = true;
        for item in records.iter().map_err(LogError::storage)? {
            let (key, value) = item.map_err(LogError::storage)?;
            let seq = key.value();
            count += 1;
            if !chain_ok {
                continue;
            }
            if seq != verified + 1 {
                problem(
                    verified + 1,
                    format!(
                        "record {} is missing (the next record is {seq})",
                        verified + 1
                    ),
                );
                chain_ok = false;
                continue;
            }
            let Some((stored, body)) = tables::split_record(value.value()) else {
                problem(seq, "record is too short to hold a chain hash".to_owned());
                chain_ok = false;
                continue;
            };
            let computed = chain::next(&previous, seq, body);
            if computed != stored {
                problem(
                    seq,
                    "chain hash mismatch: the record or the chain was altered".to_owned(),
                );
                chain_ok = false;
                continue;
            }
            match LogEntry::from_bytes(body) {
                Ok(entry) if entry.seq == seq => {
                    if let LogEvent::Decision(d) = &entry.event {
                        expected.agents.insert((d.request.agent_id.clone(), seq));
                    }
                    expected.times.push(entry.time_ms);
                }
                Ok(entry) => {
                    problem(
                        seq,
                        format!("record under key {seq} says it is record {}", entry.seq),
                    );
                    chain_ok = false;
                    continue;
                }
                Err(e) => {
                    problem(seq, format!("record does not decode: {e}"));
                    chain_ok = false;
                    continue;
                }
            }
            previous = computed;
            verified = seq;
            if wanted.contains(&seq) {
                at_size.insert(seq, computed);
            }
        }

        // The head must be the last record.
        let meta = read.open_table(META).map_err(LogError::storage)?;
        match meta.get(HEAD_KEY).map_err(LogError::storage)? {
            None if count == 0 => {}
            None => problem(1, "the head record is missing".to_owned()),
            Some(v) => match tables::decode_head(v.value()) {
                None => problem(verified + 1, "the head record is malformed".to_owned()),
                Some((seq, _)) if seq > count && chain_ok => problem(
                    count + 1,
                    format!(
                        "the head says {seq} records, but the log ends at {count}: records were removed from the tail"
                    ),
                ),
                Some((seq, hash)) if chain_ok && (seq != verified || hash != previous) => problem(
                    seq.min(verified) + 1,
                    format!("the head ({seq}) disagrees with the records (last is {verified})"),
                ),
                Some(_) => {}
            },
        }

        // Checkpoints: stored ones, then exported ones.
        let mut checked = 0usize;
        let mut check = |c: &Checkpoint, origin: &str, problem: &mut dyn FnMut(u64, String)| {
            checked += 1;
            if let Err(why) = c.verify(trusted) {
                problem(
                    c.size.max(1),
                    format!("{origin} checkpoint at {}: {why} (forged?)", c.size),
                );
                return;
            }
            // Neither the key a checkpoint names nor the case of its signature's
            // hex is signed: check them so that no byte of a checkpoint can be
            // changed unnoticed.
            let trusted_hex = hex::encode(trusted.as_bytes());
            if c.key != trusted_hex {
                problem(
                    c.size.max(1),
                    format!(
                        "{origin} checkpoint at {}: names key {:?}, not the trusted key {trusted_hex} (altered?)",
                        c.size, c.key
                    ),
                );
                return;
            }
            if c.signature.bytes().any(|b| b.is_ascii_uppercase()) {
                problem(
                    c.size.max(1),
                    format!(
                        "{origin} checkpoint at {}: the signature is not lowercase hex (altered?)",
                        c.size
                    ),
                );
                return;
            }
            if c.size > count {
                problem(
                    count + 1,
                    format!(
                        "{origin} checkpoint covers {} records, but the log has {count}: the tail was truncated",
                        c.size
                    ),
                );
                return;
            }
            match (at_size.get(&c.size), c.head_bytes()) {
                (Some(h), Ok(head)) if *h == head => {}
                (Some(_), _) => problem(
                    c.size,
                    format!(
                        "{origin} checkpoint at {} has a different head: history was rewritten",
                        c.size
                    ),
                ),
                // The chain broke before this size; that problem is already reported.
                (None, _) => {}
            }
        };
        for (size, json) in &stored_checkpoints {
            match serde_json::from_slice::<Checkpoint>(json) {
                Ok(c) if c.size == *size => check(&c, "stored", &mut problem),
                Ok(c) => problem(
                    (*size).max(1),
                    format!("stored checkpoint under {size} says size {}", c.size),
                ),
                Err(e) => problem(
                    (*size).max(1),
                    format!("stored checkpoint at {size} does not decode: {e}"),
                ),
            }
        }
        for c in exported {
            check(c, "exported", &mut problem);
        }

        // Indexes must match the records exactly (a tampered index could hide
        // records from queries).
        if chain_ok {
            for (seq, text) in index_check::check(&read, &expected)? {
                problem(seq, text);
            }
        }

        problems.sort_by_key(|p| p.seq);
        Ok(VerifyReport {
            verified,
            records: count,
            checkpoints: checked,
            head: hex::encode(previous),
            problems,
        })
    })
}
