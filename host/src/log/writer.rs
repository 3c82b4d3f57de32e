//! The one writer: group commit without a wait window.
//!
//! The writer thread blocks for the first job, then takes every job already
//! queued (up to [`MAX_BATCH`]), assigns sequence numbers, chains, writes
//! records, indexes and the new head in one transaction, commits it with
//! `Durability::Immediate`, and only then acknowledges each caller. While
//! one fsync is in flight the next batch grows in the queue.

use super::LogError;
use super::chain::{self, ChainHash};
use super::checkpoint::Checkpoint;
use super::file_identity::FileIdentity;
use super::guard;
use super::tables::{
    self, BY_AGENT, BY_TIME, CHECKPOINTS, GENERATION_KEY, HEAD_KEY, META, RECORDS, StateWrite,
};
use ed25519_dalek::SigningKey;
use redb::{Database, Durability};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

/// Most records in one commit.
pub const MAX_BATCH: usize = 4096;

/// An event, serialized by the caller, waiting for its sequence number.
#[derive(Debug)]
pub struct PendingRecord {
    /// When the host logged it.
    pub time_ms: i64,
    /// The policy-set generation.
    pub generation: u64,
    /// The event's canonical JSON (`LogEvent`).
    pub event_json: Vec<u8>,
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
    /// The last committed sequence number, for readers (the lag gate).
    committed: Arc<AtomicU64>,
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

/// Build the canonical bytes of an entry from its parts. Must equal
/// `serde_json::to_vec(&LogEntry { .. })` (tested in `decision_log`).
pub fn entry_bytes(seq: u64, time_ms: i64, generation: u64, event_json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(event_json.len() + 64);
    out.extend_from_slice(
        format!(r#"{{"seq":{seq},"time_ms":{time_ms},"generation":{generation},"event":"#)
            .as_bytes(),
    );
    out.extend_from_slice(event_json);
    out.push(b'}');
    out
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
        }
    }

    /// The last committed sequence number, kept up to date by the writer.
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

    /// Serve jobs until every sender is gone, then write a final checkpoint.
    pub fn run(mut self, jobs: Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.serve(batch);
        }
        if self.head.seq > self.head.checkpointed
            && self.fatal.is_none()
            && let Err(e) = self.commit(&[], true)
        {
            tracing::error!("cannot write the shutdown checkpoint: {e}");
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
        let started = std::time::Instant::now();
        let result = self.commit(&records, !checkpoint_acks.is_empty());
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
    /// one durable transaction. The in-memory head moves only on success.
    /// A commit into a log file that was deleted or replaced (checked
    /// before and after it) fails, and so does every later one.
    fn commit(
        &mut self,
        records: &[PendingRecord],
        force_checkpoint: bool,
    ) -> Result<Option<Checkpoint>, LogError> {
        self.check_file()?;
        let (head, checkpoint) = guard::contain("writing to the log", || {
            self.write(records, force_checkpoint)
        })?;
        self.check_file()?;
        self.head = head;
        self.committed.store(head.seq, Ordering::Release);
        Ok(checkpoint)
    }

    /// The transaction of [`Writer::commit`]; returns the new head.
    fn write(
        &self,
        records: &[PendingRecord],
        force_checkpoint: bool,
    ) -> Result<(Head, Option<Checkpoint>), LogError> {
        let mut head = self.head;
        let mut txn = self.db.begin_write().map_err(LogError::storage)?;
        txn.set_durability(Durability::Immediate)
            .map_err(LogError::storage)?;
        let mut checkpoint = None;
        {
            let mut table = txn.open_table(RECORDS).map_err(LogError::storage)?;
            let mut by_agent = txn.open_table(BY_AGENT).map_err(LogError::storage)?;
            let mut by_time = txn.open_table(BY_TIME).map_err(LogError::storage)?;
            let mut meta = txn.open_table(META).map_err(LogError::storage)?;
            for record in records {
                let seq = head.seq + 1;
                let body = entry_bytes(seq, record.time_ms, record.generation, &record.event_json);
                let hash = chain::next(&head.hash, seq, &body);
                table
                    .insert(seq, tables::join_record(&hash, &body).as_slice())
                    .map_err(LogError::storage)?;
                if let Some(agent) = &record.agent_id {
                    by_agent
                        .insert((agent.as_str(), seq), ())
                        .map_err(LogError::storage)?;
                }
                by_time
                    .insert((record.time_ms, seq), ())
                    .map_err(LogError::storage)?;
                for write in &record.state {
                    let mut state = txn
                        .open_table(write.table.definition())
                        .map_err(LogError::storage)?;
                    match &write.value {
                        Some(value) => state.insert(write.key.as_str(), value.as_slice()).map(drop),
                        None => state.remove(write.key.as_str()).map(drop),
                    }
                    .map_err(LogError::storage)?;
                }
                head.seq = seq;
                head.hash = hash;
            }
            if let Some(last) = records.last() {
                meta.insert(
                    HEAD_KEY,
                    tables::encode_head(head.seq, &head.hash).as_slice(),
                )
                .map_err(LogError::storage)?;
                meta.insert(GENERATION_KEY, last.generation.to_be_bytes().as_slice())
                    .map_err(LogError::storage)?;
            }
            let due = head.seq >= head.checkpointed + self.checkpoint_every;
            if head.seq > 0 && (due || force_checkpoint) {
                let c = Checkpoint::sign(&self.key, head.seq, &head.hash, crate::log::now_ms());
                let json = serde_json::to_vec(&c).map_err(|e| LogError::Encode(e.to_string()))?;
                let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(LogError::storage)?;
                checkpoints
                    .insert(head.seq, json.as_slice())
                    .map_err(LogError::storage)?;
                head.checkpointed = head.seq;
                checkpoint = Some(c);
            }
        }
        txn.commit().map_err(LogError::storage)?;
        Ok((head, checkpoint))
    }
}
