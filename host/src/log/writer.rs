//! The one writer: group commit without a wait window.
//!
//! The writer thread blocks for the first job, then takes every job already
//! queued (up to [`MAX_BATCH`]). It numbers, encodes and chains the records
//! into a [`CommitBatch`] before it opens the transaction; the batch then
//! appends them in key order with one index entry per commit
//! (`batch_index`), writes the state they change (each table opened once)
//! and the new head.
//!
//! Durable mode (a log file): every batch is appended to the journal
//! (`journal`); the [`Syncer`] thread syncs the journal and only then
//! acknowledges the batch's callers, while the writer goes on with the next
//! batch. The writer starts a batch only once the syncer has taken up the
//! previous one, so what arrives during a sync goes into one batch. The
//! journaled batches are staged, and committed to redb together with
//! `Durability::None` (a redb commit costs about as much for 30 records as
//! for 3,000) every [`STAGE_INTERVAL`], every [`STAGE_RECORDS`] records,
//! and whenever a reader asks ([`Job::Reveal`]): a reader of the database
//! asks first whenever a written record is not visible yet (see
//! `watermarks`), so it sees every record acknowledged before it looked.
//! When the journal is full, a durable redb commit starts a new journal
//! epoch.
//!
//! Buffered mode (and a log on a custom backend, which has no journal)
//! commits with `Durability::None`, and makes records durable with an
//! `Immediate` commit at least every [`SYNC_INTERVAL`], whenever a caller
//! waits for its record, and at close. A custom backend in durable mode
//! commits every batch with `Immediate`.
//!
//! The durable watermark ([`Writer::marks`]) counts durable records only,
//! so the shipper never ships a record a crash could still take back.

use super::LogError;
use super::chain::ChainHash;
use super::checkpoint::Checkpoint;
use super::commit_batch::CommitBatch;
use super::file_identity::FileIdentity;
use super::guard;
use super::journal::Journal;
use super::syncer::{Ack, Acks, Syncer};
use super::tables::StateWrite;
use super::watermarks::Watermarks;
use ed25519_dalek::SigningKey;
use redb::{Database, Durability};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

/// Most records in one commit.
pub const MAX_BATCH: usize = 4096;

/// In buffered mode, the longest a committed record stays non-durable.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(50);

/// In durable mode, the longest a journaled batch waits for its redb
/// commit (readers that must see it ask for it sooner).
pub const STAGE_INTERVAL: Duration = Duration::from_millis(50);

/// In durable mode, the most records staged for one redb commit.
pub const STAGE_RECORDS: usize = 8192;

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
    Append(PendingRecord, Option<Ack>),
    /// Write a signed checkpoint of the current head now.
    Checkpoint(SyncSender<Result<Option<Checkpoint>, LogError>>),
    /// Commit the staged batches to redb now, so that a reader sees them.
    Reveal(SyncSender<Result<(), LogError>>),
}

/// The writer's view of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// How far records are written, visible, synced and committed.
    marks: Arc<Watermarks>,
    /// Commit every batch durably (durable mode), or only now and then.
    always_durable: bool,
    /// When records were last made durable.
    synced_at: Instant,
    /// Where commits become durable, when the log is a file.
    journal: Option<Journal>,
    /// Syncs the journal, pipelined with the writer.
    syncer: Option<Syncer>,
    /// Journaled batches not yet in redb, oldest first.
    staged: Vec<CommitBatch>,
    /// Their records.
    staged_records: usize,
    /// When the oldest was staged.
    staged_since: Instant,
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
            marks: Arc::new(Watermarks::new(head.seq)),
            always_durable,
            synced_at: Instant::now(),
            journal: None,
            syncer: None,
            staged: Vec::new(),
            staged_records: 0,
            staged_since: Instant::now(),
        }
    }

    /// Make commits durable through `journal` (see `journal`), synced by
    /// a [`Syncer`] thread.
    pub fn with_journal(mut self, journal: Option<Journal>) -> Result<Self, LogError> {
        if let Some(journal) = &journal {
            let (file, state) = journal.sync_handle()?;
            self.syncer = Some(Syncer::start(
                file,
                state,
                self.marks.clone(),
                self.failure.clone(),
            )?);
        }
        self.journal = journal;
        Ok(self)
    }

    /// The log's watermarks, kept up to date by the writer and the syncer.
    pub fn marks(&self) -> Arc<Watermarks> {
        self.marks.clone()
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
        if let Some(e) = self.syncer.as_ref().and_then(|s| s.state().failed.get()) {
            self.fatal = Some(e.clone());
            return Err(e.clone());
        }
        let checked = self
            .identity
            .as_ref()
            .map_or(Ok(()), FileIdentity::check)
            .and_then(|()| self.journal.as_ref().map_or(Ok(()), Journal::check));
        if let Err(e) = checked {
            self.fatal = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// How long the writer may wait for a job before it has work of its
    /// own: staged batches to commit (durable mode), or records to make
    /// durable (buffered mode). `None`: as long as it takes.
    fn idle_limit(&self) -> Option<Duration> {
        if self.journal.is_some() {
            (!self.staged.is_empty())
                .then(|| STAGE_INTERVAL.saturating_sub(self.staged_since.elapsed()))
        } else if self.head.seq > self.marks.durable_seq() {
            Some(SYNC_INTERVAL.saturating_sub(self.synced_at.elapsed()))
        } else {
            None
        }
    }

    /// Serve jobs until every sender is gone, then make everything durable
    /// and write a final checkpoint.
    pub fn run(mut self, jobs: Receiver<Job>) {
        loop {
            let first = if let Some(left) = self.idle_limit() {
                match jobs.recv_timeout(left) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        if self.journal.is_some() {
                            let _ = self.reveal();
                        } else {
                            self.sync();
                        }
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
            if let Some(syncer) = &self.syncer {
                // Let the batch grow while the previous sync is in flight.
                syncer.wait_taken(SYNC_INTERVAL);
            }
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.serve(batch);
        }
        if self.fatal.is_none()
            && let Err(e) = self.close()
        {
            tracing::error!("cannot write the shutdown checkpoint: {e}");
            *self
                .failure
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
        }
    }

    /// Make the records committed so far durable (buffered mode).
    fn sync(&mut self) {
        self.commit(Vec::new(), false, true, Acks::default());
    }

    fn serve(&mut self, batch: Vec<Job>) {
        let mut records = Vec::new();
        let mut acks = Acks {
            first_seq: self.head.seq + 1,
            ..Acks::default()
        };
        let mut readers = Vec::new();
        for job in batch {
            match job {
                Job::Append(record, ack) => {
                    records.push(record);
                    acks.appends.push(ack);
                }
                Job::Checkpoint(ack) => acks.checkpoints.push(ack),
                Job::Reveal(ack) => readers.push(ack),
            }
        }
        let started = Instant::now();
        let durable =
            self.always_durable || acks.waited_for() || self.synced_at.elapsed() >= SYNC_INTERVAL;
        let count = records.len();
        let force_checkpoint = !acks.checkpoints.is_empty();
        let committed = self.commit(records, force_checkpoint, durable, acks);
        // Staged batches reach redb after the sync was handed over, so the
        // two overlap.
        let due =
            self.staged_records >= STAGE_RECORDS || self.staged_since.elapsed() >= STAGE_INTERVAL;
        if !readers.is_empty() || due {
            let revealed = self.reveal();
            for reader in readers {
                let _ = reader.send(revealed.clone());
            }
        }
        if committed && let Some(observe) = self.observer.get() {
            observe(started.elapsed(), count);
        }
    }

    /// Commit the staged batches to redb in one transaction (not synced:
    /// the journal holds them durably), so that readers see them. A
    /// failure is final, like a failed commit.
    fn reveal(&mut self) -> Result<(), LogError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let result = self.check_file().and_then(|()| {
            guard::contain("writing to the log", || {
                commit_direct(&self.db, &self.staged, false)
            })
        });
        match result {
            Ok(()) => {
                self.staged.clear();
                self.staged_records = 0;
                self.marks.set_visible();
                Ok(())
            }
            Err(e) => {
                tracing::error!("decision log write failed: {e}");
                *self
                    .failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
                self.fatal = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Commit `records` (and a checkpoint if due or `force_checkpoint`),
    /// durable if `durable`, and acknowledge `acks` once it is (through the
    /// syncer when there is a journal). Whether the commit succeeded.
    fn commit(
        &mut self,
        records: Vec<PendingRecord>,
        force_checkpoint: bool,
        durable: bool,
        mut acks: Acks,
    ) -> bool {
        match self.write(records, force_checkpoint, durable) {
            Ok(checkpoint) => {
                acks.checkpoint = checkpoint;
                match (&mut self.syncer, &self.journal) {
                    (Some(syncer), Some(journal)) if durable => {
                        let (epoch, offset) = journal.position();
                        syncer.request(epoch, offset, self.head.seq, acks);
                    }
                    _ => {
                        if durable {
                            self.marks.set_durable(self.head.seq);
                        }
                        acks.send(Ok(()));
                    }
                }
                if durable {
                    self.synced_at = Instant::now();
                }
                true
            }
            Err(e) => {
                tracing::error!("decision log write failed: {e}");
                *self
                    .failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
                acks.send(Err(e));
                false
            }
        }
    }

    /// Write `records` (and a checkpoint if due or `force_checkpoint`):
    /// with a journal, into the journal (the syncer makes it durable) and
    /// the staged batches; without one, in a redb commit durable if
    /// `durable`. The in-memory head moves only on success. A commit
    /// into a log file (or journal) that was deleted or replaced (checked
    /// before and after it) fails, and so does every later one.
    fn write(
        &mut self,
        mut records: Vec<PendingRecord>,
        force_checkpoint: bool,
        durable: bool,
    ) -> Result<Option<Checkpoint>, LogError> {
        self.check_file()?;
        // Everything but the inserts happens before the transaction opens.
        let mut batch = CommitBatch::chain(self.head, &mut records);
        let due = batch.head.seq >= batch.head.checkpointed + self.checkpoint_every;
        let checkpoint = (batch.head.seq > 0 && (due || force_checkpoint)).then(|| {
            Checkpoint::sign(
                &self.key,
                batch.head.seq,
                &batch.head.hash,
                crate::log::now_ms(),
            )
        });
        if let Some(checkpoint) = &checkpoint {
            let json =
                serde_json::to_vec(checkpoint).map_err(|e| LogError::Encode(e.to_string()))?;
            batch = batch.with_checkpoint(json);
        }
        let head = batch.head;
        match self.journal.take() {
            Some(mut journal) => {
                let result = self.write_journaled(&mut journal, batch);
                self.journal = Some(journal);
                if let Err(e) = &result {
                    // What the journal holds is uncertain from here on.
                    self.fatal = Some(e.clone());
                }
                result?;
            }
            None => {
                guard::contain("writing to the log", || {
                    commit_direct(&self.db, std::slice::from_ref(&batch), durable)
                })?;
            }
        }
        self.check_file()?;
        self.head = head;
        Ok(checkpoint)
    }

    /// Append `batch` to the journal and stage it for redb; a batch the
    /// journal has no room for goes, with the staged ones, into a durable
    /// redb commit that starts a new epoch.
    fn write_journaled(
        &mut self,
        journal: &mut Journal,
        batch: CommitBatch,
    ) -> Result<(), LogError> {
        if batch.records.is_empty() && batch.checkpoint.is_none() {
            return Ok(());
        }
        let frame = batch.encode();
        let head = batch.head;
        let seq = head.seq;
        if !journal.fits(frame.len()) {
            self.staged.push(batch);
            guard::contain("writing to the log", || {
                journal.commit_durably(&self.db, &self.staged, head)
            })?;
            self.staged.clear();
            self.staged_records = 0;
            self.marks.set_visible();
            self.marks.set_durable(seq);
            return Ok(());
        }
        journal.append(&frame)?;
        if self.staged.is_empty() {
            self.staged_since = Instant::now();
        }
        self.staged_records += batch.records.len();
        self.staged.push(batch);
        self.marks.set_staged();
        Ok(())
    }

    /// At close: make everything durable in redb and mark the log closed
    /// cleanly (the journal holds nothing live then).
    fn close(&mut self) -> Result<(), LogError> {
        let checkpoint = self.head.seq > self.head.checkpointed;
        if let Some(syncer) = self.syncer.as_mut() {
            syncer.stop();
        }
        if self.journal.is_none() {
            return self.write(Vec::new(), checkpoint, true).map(drop);
        }
        self.write(Vec::new(), checkpoint, false)?;
        self.check_file()?;
        if let Some(journal) = self.journal.as_mut() {
            let staged = &self.staged;
            guard::contain("closing the log", || journal.close(&self.db, staged))?;
        }
        self.staged.clear();
        self.staged_records = 0;
        self.marks.set_visible();
        self.marks.set_durable(self.head.seq);
        Ok(())
    }
}

/// One redb transaction holding `batches`, durable if `durable`.
fn commit_direct(db: &Database, batches: &[CommitBatch], durable: bool) -> Result<(), LogError> {
    let mut txn = db.begin_write().map_err(LogError::storage)?;
    txn.set_durability(if durable {
        Durability::Immediate
    } else {
        Durability::None
    })
    .map_err(LogError::storage)?;
    for batch in batches {
        batch.apply(&txn)?;
    }
    txn.commit().map_err(LogError::storage)
}
