//! One commit's content, prepared before its transaction opens.
//!
//! The writer numbers and chains the records of a batch, and signs a
//! checkpoint if one is due, into a [`CommitBatch`]. The same batch is
//! applied to the database ([`CommitBatch::apply`]) and written to the
//! journal ([`CommitBatch::encode`]); after a crash the journal's batches
//! are decoded ([`CommitBatch::decode`], which checks that every record
//! continues the chain) and applied again, into exactly the rows, index
//! entries and state they made the first time.

use super::LogError;
use super::batch_index::BatchIndex;
use super::chain;
use super::record_format::{self, FormatError};
use super::run_codec::{Reader, put_bytes, put_option, put_varint};
use super::tables::StateWrite;
use super::tables::{self, CHECKPOINTS, GENERATION_KEY, HEAD_KEY, META, RECORDS, StateTable};
use super::writer::{Head, PendingRecord};
use redb::WriteTransaction;
use std::ops::Bound;

/// A record as the commit stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    /// Chain hash ‖ stored body (the `records` table's value).
    pub value: Vec<u8>,
    /// Its log time, for the time index.
    pub time_ms: i64,
    /// Its agent, for the agent index, when it is a decision.
    pub agent: Option<String>,
    /// The policy-set generation it was logged under.
    pub generation: u64,
}

/// Everything one commit writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitBatch {
    /// The head before the batch.
    pub before: Head,
    /// The records, numbered from `before.seq + 1`.
    pub records: Vec<BatchRecord>,
    /// The state they change, in their order.
    pub state: Vec<StateWrite>,
    /// The head after the batch (`checkpointed` moves with a checkpoint).
    pub head: Head,
    /// A signed checkpoint of `head`, as JSON, when one is written.
    pub checkpoint: Option<Vec<u8>>,
}

impl CommitBatch {
    /// Number and chain `records` after `before`. Their agents and state
    /// move into the batch; their payloads stay (and are freed with them,
    /// after the commit, not one by one while the batch is built).
    pub fn chain(before: Head, records: &mut [PendingRecord]) -> Self {
        let mut head = before;
        let mut out = Vec::with_capacity(records.len());
        let mut state = Vec::new();
        for record in records {
            let seq = head.seq + 1;
            let mut value = record_format::body_after(
                32,
                seq,
                record.time_ms,
                record.generation,
                &record.payload,
            );
            let hash = chain::next(&head.hash, seq, value.get(32..).unwrap_or_default());
            if let Some(prefix) = value.get_mut(..32) {
                prefix.copy_from_slice(&hash);
            }
            head.seq = seq;
            head.hash = hash;
            state.append(&mut record.state);
            out.push(BatchRecord {
                value,
                time_ms: record.time_ms,
                agent: record.agent_id.take(),
                generation: record.generation,
            });
        }
        CommitBatch {
            before,
            records: out,
            state,
            head,
            checkpoint: None,
        }
    }

    /// Attach a signed checkpoint (JSON) of the batch's head.
    pub fn with_checkpoint(mut self, json: Vec<u8>) -> Self {
        self.checkpoint = Some(json);
        self.head.checkpointed = self.head.seq;
        self
    }

    /// Write the batch in `txn`: the records appended in key order (an
    /// existing seq is never overwritten), one index entry per commit, the
    /// state, the head, the generation and the checkpoint.
    pub fn apply(&self, txn: &WriteTransaction) -> Result<(), LogError> {
        let first = self.before.seq + 1;
        let mut index = BatchIndex::new(first);
        {
            let mut table = txn.open_table(RECORDS).map_err(LogError::storage)?;
            let mut cursor = table
                .upper_bound_mut(Bound::<u64>::Unbounded)
                .map_err(LogError::storage)?;
            for (seq, record) in (first..).zip(&self.records) {
                cursor
                    .insert_before(seq, record.value.as_slice())
                    .map_err(|e| LogError::Storage(format!("appending record {seq}: {e}")))?;
                index.add(seq, record.time_ms, record.agent.as_deref());
            }
            cursor.close().map_err(LogError::storage)?;
        }
        index.write(txn)?;
        self.write_state(txn)?;
        let mut meta = txn.open_table(META).map_err(LogError::storage)?;
        meta.insert(
            HEAD_KEY,
            tables::encode_head(self.head.seq, &self.head.hash).as_slice(),
        )
        .map_err(LogError::storage)?;
        if let Some(last) = self.records.last() {
            meta.insert(GENERATION_KEY, last.generation.to_be_bytes().as_slice())
                .map_err(LogError::storage)?;
        }
        if let Some(json) = &self.checkpoint {
            let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(LogError::storage)?;
            checkpoints
                .insert(self.head.seq, json.as_slice())
                .map_err(LogError::storage)?;
        }
        Ok(())
    }

    /// Apply the state changes in their order, opening each table once.
    fn write_state(&self, txn: &WriteTransaction) -> Result<(), LogError> {
        for which in StateTable::ALL {
            let mut writes = self.state.iter().filter(|w| w.table == which).peekable();
            if writes.peek().is_none() {
                continue;
            }
            let mut table = txn
                .open_table(which.definition())
                .map_err(LogError::storage)?;
            for write in writes {
                match &write.value {
                    Some(value) => table.insert(write.key.as_str(), value.as_slice()).map(drop),
                    None => table.remove(write.key.as_str()).map(drop),
                }
                .map_err(LogError::storage)?;
            }
        }
        Ok(())
    }

    /// The batch as the journal stores it. The head before it is not
    /// stored: the journal knows it, and decoding checks the chain from it.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.records.iter().map(|r| r.value.len() + 32).sum();
        let mut out = Vec::with_capacity(size + 64);
        put_varint(&mut out, self.records.len() as u64);
        for record in &self.records {
            put_bytes(&mut out, &record.value);
            out.extend_from_slice(&record.time_ms.to_be_bytes());
            put_option(&mut out, record.agent.as_deref());
            put_varint(&mut out, record.generation);
        }
        put_varint(&mut out, self.state.len() as u64);
        for write in &self.state {
            out.push(write.table.code());
            put_bytes(&mut out, write.key.as_bytes());
            put_optional_bytes(&mut out, write.value.as_deref());
        }
        put_optional_bytes(&mut out, self.checkpoint.as_deref());
        out
    }

    /// Decode a batch the journal stored after `before`. Every record must
    /// continue the chain from `before`, and say it is the seq it lands on.
    pub fn decode(bytes: &[u8], before: Head) -> Result<Self, FormatError> {
        let mut reader = Reader::named(bytes, "journal batch");
        let bad = |what: String| FormatError::Json(format!("journal batch: {what}"));
        let count = reader.varint()?;
        // Each record takes at least 12 bytes: a count beyond that is a lie.
        if count > bytes.len() as u64 / 12 {
            return Err(bad("more records than bytes".to_owned()));
        }
        let mut records = Vec::new();
        let mut head = before;
        for _ in 0..count {
            let len = reader.varint()?;
            let value = reader.take(len)?.to_vec();
            let time = reader.take(8)?;
            let time_ms = i64::from_be_bytes(time.try_into().map_err(|_| bad("time".to_owned()))?);
            let agent = reader.option()?;
            let generation = reader.varint()?;
            let seq = head.seq + 1;
            let (hash, body) = tables::split_record(&value)
                .ok_or_else(|| bad(format!("record {seq} is too short")))?;
            if chain::next(&head.hash, seq, body) != hash {
                return Err(bad(format!("record {seq} does not continue the chain")));
            }
            let entry = super::entry::LogEntry::from_bytes(body)?;
            if entry.seq != seq {
                return Err(bad(format!("record {seq} says it is record {}", entry.seq)));
            }
            head.seq = seq;
            head.hash = hash;
            records.push(BatchRecord {
                value,
                time_ms,
                agent,
                generation,
            });
        }
        let writes = reader.varint()?;
        if writes > bytes.len() as u64 / 3 {
            return Err(bad("more state changes than bytes".to_owned()));
        }
        let mut state = Vec::new();
        for _ in 0..writes {
            let code = reader.byte()?;
            let table = StateTable::from_code(code)
                .ok_or_else(|| bad(format!("unknown state table {code}")))?;
            let key = reader.text()?;
            let value = optional_bytes(&mut reader, "a state value")?;
            state.push(StateWrite { table, key, value });
        }
        let checkpoint = optional_bytes(&mut reader, "a checkpoint")?;
        if !reader.rest().is_empty() {
            return Err(bad(format!("{} bytes after its end", reader.rest().len())));
        }
        let batch = CommitBatch {
            before,
            records,
            state,
            head,
            checkpoint: None,
        };
        Ok(match checkpoint {
            Some(json) => batch.with_checkpoint(json),
            None => batch,
        })
    }
}

/// Append optional bytes: a tag byte, then the bytes.
fn put_optional_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            put_bytes(out, bytes);
        }
    }
}

/// Read optional bytes (`what`, for errors).
fn optional_bytes(reader: &mut Reader<'_>, what: &str) -> Result<Option<Vec<u8>>, FormatError> {
    match reader.byte()? {
        0 => Ok(None),
        1 => {
            let len = reader.varint()?;
            Ok(Some(reader.take(len)?.to_vec()))
        }
        tag => Err(FormatError::Json(format!(
            "journal batch: {what} has the bad tag {tag}"
        ))),
    }
}
