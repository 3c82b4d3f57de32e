//! The one writer: group commit without a wait window.
//!
//! The writer thread blocks for the first job, then takes every job already
//! queued (up to [`MAX_BATCH`]). It assigns sequence numbers, encodes and
//! chains the records before it opens the transaction, then appends them
//! in key order with one index entry per commit (`batch_index`), writes
//! the state they change (each table opened once) and the new head, and
//! commits. While one fsync is in flight the next batch grows in the queue.
//!
//! Durable mode commits every batch with `Durability::Immediate`, and only
//! then acknowledges each caller. Buffered mode commits with
//! `Durability::None` (readers see the records at once), and makes them
//! durable with an `Immediate` commit at least every [`SYNC_INTERVAL`],
//! whenever a caller waits for its record, and at close. The committed
//! watermark ([`Writer::committed`]) counts durable records only, so the
//! shipper never ships a record a crash could still take back.

use super::LogError;
use super::batch_index::BatchIndex;
use super::chain::{self, ChainHash};
use super::checkpoint::Checkpoint;
use super::file_identity::FileIdentity;
use super::guard;
use super::record_format;
use super::tables::{
    self, CHECKPOINTS, GENERATION_KEY, HEAD_KEY, META, RECORDS, StateTable, StateWrite,
};
use ed25519_dalek::SigningKey;
use redb::{Database, Durability};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

/// Most records in one commit.
pub const MAX_BATCH: usize = 4096;

/// In buffered mode, the longest a committed record stays non-durable.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(50);

/// An event, serialized by the caller, waiting for its sequence number.
#[derive(Debug)]
pub struct PendingRecord {
    /// When the host logged it.
    pub time_ms: i64,
    /// The policy-set generation.
    pub generation: u64,
    /// The event's stored payload (`record_format::encode_event`).
    pub payload: Vec<u8>,
    /// For the agent index, when the event is a decision.
    pub agent_id: Option<String>,
    /// State the record changes, in the same transaction.
    pub state: Vec<StateWrite>,
}

/// Work for the writer.
#[derive(Debug)]
pub enum Job {
    /// Append a record; acknowledge with its sequence number if `ack` is set.
    Append(PendingRecord, Option<SyncSender<Result<u64, LogError>>>),
    /// Write a signed checkpoint of the current head now.
    Checkpoint(SyncSender<Result<Option<Checkpoint>, LogError>>),
}

/// The writer's view of the chain.
#[derive(Debug, Clone, Copy)]
pub struct Head {
    /// Last sequence number (0: empty).
    pub seq: u64,
    /// Its chain hash.
    pub hash: ChainHash,
    /// Size of the last checkpoint.
    pub checkpointed: u64,
}

/// The writer thread's state.
pub struct Writer {
    db: Arc<Database>,
    key: SigningKey,
    head: Head,
    checkpoint_every: u64,
    failure: Arc<std::sync::Mutex<Option<String>>>,
    observer: Arc<std::sync::OnceLock<CommitObserver>>,
    /// The open file's identity, checked around every commit.
    identity: Option<FileIdentity>,
    /// Set for good once the file is gone: every later commit fails with it.
    fatal: Option<LogError>,
    /// The last durably committed sequence number, for readers (the lag
    /// gate, the shipper).
    committed: Arc<AtomicU64>,
    /// Commit every batch durably (durable mode), or only now and then.
    always_durable: bool,
    /// When records were last made durable.
    synced_at: Instant,
}

/// Called after every successful commit with its duration and record count.
pub type CommitObserver = Box<dyn Fn(std::time::Duration, usize) + Send + Sync>;

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("head", &self.head.seq)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// A writer continuing from `head`.
    pub fn new(
        db: Arc<Database>,
        key: SigningKey,
        head: Head,
        checkpoint_every: u64,
        failure: Arc<std::sync::Mutex<Option<String>>>,
        observer: Arc<std::sync::OnceLock<CommitObserver>>,
        always_durable: bool,
    ) -> Self {
        Writer {
            db,
            key,
            head,
            checkpoint_every: checkpoint_every.max(1),
            failure,
            observer,
            identity: None,
            fatal: None,
            committed: Arc::new(AtomicU64::new(head.seq)),
            always_durable,
            synced_at: Instant::now(),
        }
    }

    /// The last durably committed sequence number, kept up to date by the
    /// writer.
    pub fn committed(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    /// Check that `identity` still names the open log around every commit.
    pub fn with_identity(mut self, identity: Option<FileIdentity>) -> Self {
        self.identity = identity;
        self
    }

    /// `Ok` while the log file is the one opened; otherwise the error, kept
    /// for every later commit.
    fn check_file(&mut self) -> Result<(), LogError> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        if let Some(Err(e)) = self.identity.as_ref().map(FileIdentity::check) {
            self.fatal = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// Records committed but not yet durable.
    fn unsynced(&self) -> bool {
        self.head.seq > self.committed.load(Ordering::Acquire)
    }

    /// Serve jobs until every sender is gone, then make everything durable
    /// and write a final checkpoint.
    pub fn run(mut self, jobs: Receiver<Job>) {
        loop {
            let first = if self.unsynced() {
                let left = SYNC_INTERVAL.saturating_sub(self.synced_at.elapsed());
                match jobs.recv_timeout(left) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        self.sync();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.serve(batch);
        }
        if (self.unsynced() || self.head.seq > self.head.checkpointed)
            && self.fatal.is_none()
            && let Err(e) = self.commit(&[], true, true)
        {
            tracing::error!("cannot write the shutdown checkpoint: {e}");
        }
    }

    /// Make the records committed so far durable (buffered mode).
    fn sync(&mut self) {
        if let Err(e) = self.commit(&[], false, true) {
            tracing::error!("decision log write failed: {e}");
            *self
                .failure
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
        }
    }

    fn serve(&mut self, batch: Vec<Job>) {
        let mut records = Vec::new();
        let mut acks = Vec::new();
        let mut checkpoint_acks = Vec::new();
        for job in batch {
            match job {
                Job::Append(record, ack) => {
                    records.push(record);
                    acks.push(ack);
                }
                Job::Checkpoint(ack) => checkpoint_acks.push(ack),
            }
        }
        let first_seq = self.head.seq + 1;
        let started = Instant::now();
        let durable = self.always_durable
            || !checkpoint_acks.is_empty()
            || acks.iter().any(Option::is_some)
            || self.synced_at.elapsed() >= SYNC_INTERVAL;
        let result = self.commit(&records, !checkpoint_acks.is_empty(), durable);
        if result.is_ok()
            && let Some(observe) = self.observer.get()
        {
            observe(started.elapsed(), records.len());
        }
        if let Err(e) = &result {
            tracing::error!("decision log write failed: {e}");
            *self
                .failure
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
        }
        for (i, ack) in acks.into_iter().enumerate() {
            if let Some(ack) = ack {
                let reply = match &result {
                    Ok(_) => Ok(first_seq + i as u64),
                    Err(e) => Err(e.clone()),
                };
                // A caller that gave up waiting is not an error here.
                let _ = ack.send(reply);
            }
        }
        for ack in checkpoint_acks {
            let _ = ack.send(result.clone());
        }
    }

    /// Write `records` (and a checkpoint if due or `force_checkpoint`) in
    /// one transaction, durable if `durable`. The in-memory head moves only
    /// on success. A commit into a log file that was deleted or replaced
    /// (checked before and after it) fails, and so does every later one.
    fn commit(
        &mut self,
        records: &[PendingRecord],
        force_checkpoint: bool,
        durable: bool,
    ) -> Result<Option<Checkpoint>, LogError> {
        self.check_file()?;
        let (head, checkpoint) = guard::contain("writing to the log", || {
            self.write(records, force_checkpoint, durable)
        })?;
        self.check_file()?;
        self.head = head;
        if durable {
            self.committed.store(head.seq, Ordering::Release);
            self.synced_at = Instant::now();
        }
        Ok(checkpoint)
    }

    /// The transaction of [`Writer::commit`]; returns the new head.
    fn write(
        &self,
        records: &[PendingRecord],
        force_checkpoint: bool,
        durable: bool,
    ) -> Result<(Head, Option<Checkpoint>), LogError> {
        // Everything but the inserts happens before the transaction opens.
        let mut head = self.head;
        let mut values = Vec::with_capacity(records.len());
        let mut index = BatchIndex::new(head.seq + 1);
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
            index.add(seq, record.time_ms, record.agent_id.as_deref());
            values.push(value);
            head.seq = seq;
            head.hash = hash;
        }
        let due = head.seq >= head.checkpointed + self.checkpoint_every;
        let checkpoint = (head.seq > 0 && (due || force_checkpoint))
            .then(|| Checkpoint::sign(&self.key, head.seq, &head.hash, crate::log::now_ms()));
        let checkpoint_json = checkpoint
            .as_ref()
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| LogError::Encode(e.to_string()))?;

        let mut txn = self.db.begin_write().map_err(LogError::storage)?;
        txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })
        .map_err(LogError::storage)?;
        {
            let mut table = txn.open_table(RECORDS).map_err(LogError::storage)?;
            // Appended in key order after the last record: an existing key
            // is never overwritten (that would be an unordered insert).
            let mut cursor = table
                .upper_bound_mut(Bound::<u64>::Unbounded)
                .map_err(LogError::storage)?;
            for (seq, value) in (self.head.seq + 1..).zip(&values) {
                cursor
                    .insert_before(seq, value.as_slice())
                    .map_err(|e| LogError::Storage(format!("appending record {seq}: {e}")))?;
            }
            cursor.close().map_err(LogError::storage)?;
        }
        index.write(&txn)?;
        write_state(&txn, records)?;
        {
            let mut meta = txn.open_table(META).map_err(LogError::storage)?;
            // Without records, a durable commit still writes the head: it
            // then has something to commit, and makes what came before durable.
            if !records.is_empty() || durable {
                meta.insert(
                    HEAD_KEY,
                    tables::encode_head(head.seq, &head.hash).as_slice(),
                )
                .map_err(LogError::storage)?;
            }
            if let Some(last) = records.last() {
                meta.insert(GENERATION_KEY, last.generation.to_be_bytes().as_slice())
                    .map_err(LogError::storage)?;
            }
        }
        if let Some(json) = &checkpoint_json {
            let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(LogError::storage)?;
            checkpoints
                .insert(head.seq, json.as_slice())
                .map_err(LogError::storage)?;
            head.checkpointed = head.seq;
        }
        txn.commit().map_err(LogError::storage)?;
        Ok((head, checkpoint))
    }
}

/// Apply the state changes of `records`, in their order, opening each
/// table once.
fn write_state(txn: &redb::WriteTransaction, records: &[PendingRecord]) -> Result<(), LogError> {
    const TABLES: [StateTable; 4] = [
        StateTable::Escalations,
        StateTable::KillSwitch,
        StateTable::Charges,
        StateTable::Outcomes,
    ];
    for which in TABLES {
        let mut writes = records
            .iter()
            .flat_map(|r| &r.state)
            .filter(|w| w.table == which)
            .peekable();
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
