//! [`DecisionLog`]: open the log, append events, close it.

use super::chain::GENESIS;
use super::checkpoint::Checkpoint;
use super::entry::LogEvent;
use super::file_identity::FileIdentity;
use super::journal::{self, Journal, JournalState};
use super::lag_gate::LagGate;
use super::revealer::Revealer;
use super::syncer::Ack;
use super::tables::{
    self, BY_AGENT, BY_TIME, CHECKPOINTS, ESCALATIONS, GENERATION_KEY, HEAD_KEY, KILL_SWITCH, META,
    RECORDS, StateWrite,
};
use super::watermarks::Watermarks;
use super::writer::{CommitObserver, Head, Job, PendingRecord, Writer};
use super::{LogError, now_ms};
use super::{guard, integrity, keys};
use redb::{Database, ReadableDatabase, ReadableTable, StorageBackend};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

fn writer_gone() -> LogError {
    LogError::Unavailable("the writer thread has stopped".to_owned())
}

/// The log's file name in the data directory.
pub const LOG_FILE: &str = "gavel.redb";

/// redb's page cache. Its default (1 GiB) would let a busy service's
/// memory grow with the log until the cache is full; the log is written
/// sequentially and read rarely, so a small cache costs little.
pub const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// When `append` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogMode {
    /// After the record is durable: committed to redb and synced in the
    /// journal (`journal`), which a crash replays.
    #[default]
    Durable,
    /// After the record is queued; the writer commits it in the background,
    /// durably at least every 50 ms (`writer::SYNC_INTERVAL`). A crash can
    /// lose at most [`LogOptions::queue`] queued records plus those
    /// committed in the last 50 ms.
    Buffered,
}

/// How the log runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// Durable or buffered.
    pub mode: LogMode,
    /// Records between signed checkpoints.
    pub checkpoint_every: u64,
    /// Capacity of the writer's queue (the buffered loss window, and the
    /// backpressure point).
    pub queue: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            mode: LogMode::Durable,
            checkpoint_every: 1000,
            queue: 4096,
        }
    }
}

/// What `append` achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Committed durably as this sequence number.
    Committed(u64),
    /// Queued for the writer (buffered mode).
    Queued,
}

/// The append-only decision log.
pub struct DecisionLog {
    db: Arc<Database>,
    jobs: Option<SyncSender<Job>>,
    writer: Option<JoinHandle<()>>,
    options: LogOptions,
    failure: Arc<Mutex<Option<String>>>,
    observer: Arc<std::sync::OnceLock<CommitObserver>>,
    generation: u64,
    /// How far records are written, visible and committed (kept by the
    /// writer).
    marks: Arc<Watermarks>,
    /// Makes staged records visible to readers.
    revealer: Revealer,
    /// Refuses decisions while too much is unshipped (`--max-lag`).
    lag_gate: std::sync::OnceLock<LagGate>,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl DecisionLog {
    /// Open (or create) `data_dir/gavel.redb`, with the signing key from
    /// the data directory. An existing log is checked first (see
    /// `integrity`): a damaged one is refused with [`LogError::Damaged`].
    pub fn open(data_dir: &Path, options: LogOptions) -> Result<Self, LogError> {
        std::fs::create_dir_all(data_dir).map_err(LogError::storage)?;
        integrity::refuse_if_marked(data_dir)?;
        let key = keys::signing_key(data_dir)?;
        let path = data_dir.join(LOG_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LogError::Storage(format!("cannot open {}: {e}", path.display())))?;
        let handle = file
            .try_clone()
            .map_err(|e| LogError::Storage(format!("cannot open {}: {e}", path.display())))?;
        let identity = FileIdentity::new(&path, handle)?;
        let db = guard::catch(|| {
            Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create_file(file)
        })
        .map_err(|why| guard::damaged("opening the log", &why))?
        .map_err(|e| open_error(&path, e))?;
        Self::start(db, key, options, Some(data_dir), Some((&path, identity)))
    }

    /// Open a log on a custom storage backend (used to test I/O failures).
    pub fn open_with_backend(
        backend: impl StorageBackend,
        key: ed25519_dalek::SigningKey,
        options: LogOptions,
    ) -> Result<Self, LogError> {
        let db = guard::catch(|| Database::builder().create_with_backend(backend))
            .map_err(|why| guard::damaged("opening the log", &why))?
            .map_err(LogError::storage)?;
        Self::start(db, key, options, None, None)
    }

    /// Check the opened log, then start the writer. `data_dir` is where
    /// damage is recorded; `file` the log file's path and identity, when it
    /// is one (its journal is then opened and replayed).
    fn start(
        mut db: Database,
        key: ed25519_dalek::SigningKey,
        options: LogOptions,
        data_dir: Option<&Path>,
        file: Option<(&Path, FileIdentity)>,
    ) -> Result<Self, LogError> {
        let (path, identity) = file.unzip();
        let checked = integrity::check_storage(&mut db, data_dir)
            .and_then(|()| guard::contain("opening the log", || init_tables(&db)))
            .and_then(|opened| integrity::check_head(&db).map(|()| opened))
            .and_then(|opened| open_journal(&db, path, opened, options.mode == LogMode::Durable));
        let ((head, generation), journal) = match checked {
            Ok(opened) => opened,
            Err(e) => {
                // Closing a damaged database may fail too: contained.
                let _ = guard::catch(move || drop(db));
                return Err(e);
            }
        };
        let db = Arc::new(db);
        let failure = Arc::new(Mutex::new(None));
        let observer = Arc::new(std::sync::OnceLock::new());
        let (jobs, queue) = sync_channel(options.queue.max(1));
        let writer = Writer::new(
            db.clone(),
            key,
            head,
            options.checkpoint_every,
            failure.clone(),
            observer.clone(),
            options.mode == LogMode::Durable,
        )
        .with_identity(identity)
        .with_journal(journal)?;
        let marks = writer.marks();
        let handle = std::thread::Builder::new()
            .name("gavel-log-writer".to_owned())
            .spawn(move || writer.run(queue))
            .map_err(|e| LogError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        let revealer = Revealer::new(jobs.clone(), marks.clone());
        Ok(DecisionLog {
            db,
            revealer,
            jobs: Some(jobs),
            writer: Some(handle),
            options,
            failure,
            observer,
            generation,
            marks,
            lag_gate: std::sync::OnceLock::new(),
        })
    }

    /// The database, for reading: it holds every record acknowledged
    /// before this call. Readers never block the writer, but a reader may
    /// wait for it: when a written record is not visible yet (durable mode
    /// stages batches for redb, see `writer`), the writer commits them
    /// first.
    pub fn database(&self) -> &Database {
        self.revealer.reveal();
        &self.db
    }

    /// A handle for a reader that outlives a borrow, to see every
    /// acknowledged record before it reads ([`Revealer::reveal`]).
    pub fn revealer(&self) -> Revealer {
        self.revealer.clone()
    }

    /// A shared handle on the database, for a reader that outlives a borrow
    /// (the shipper's blocking reads, after [`DecisionLog::revealer`]'s).
    /// Hold it only while reading: the file stays open until the last
    /// handle is dropped.
    pub fn shared_database(&self) -> Arc<Database> {
        self.db.clone()
    }

    /// The last durable sequence number, shared (kept by the writer and
    /// the syncer). In buffered mode, records a reader already sees may be
    /// above it for up to 50 ms.
    pub fn committed_handle(&self) -> Arc<AtomicU64> {
        self.marks.durable()
    }

    /// The last policy-set generation recorded when the log was opened.
    pub fn last_generation(&self) -> u64 {
        self.generation
    }

    /// The last durable sequence number (0 for an empty log): every
    /// record acknowledged in durable mode is at or below it.
    pub fn committed_seq(&self) -> u64 {
        self.marks.durable_seq()
    }

    /// Refuse decisions while more than `max_lag` committed records are
    /// not yet shipped; `shipped` is the last shipped sequence number, kept
    /// up to date by the shipper. Only the first gate is kept.
    pub fn set_lag_gate(&self, shipped: Arc<AtomicU64>, max_lag: u64) {
        let _ = self.lag_gate.set(LagGate::new(shipped, max_lag));
    }

    /// `Err` while the lag gate refuses decisions.
    fn check_lag(&self) -> Result<(), LogError> {
        match self.lag_gate.get() {
            Some(gate) => gate.check(self.committed_seq()),
            None => Ok(()),
        }
    }

    /// `Ok` while the log accepts writes (and decisions are not refused
    /// for shipping lag); otherwise why not.
    pub fn writable(&self) -> Result<(), String> {
        self.check_lag().map_err(|e| e.to_string())?;
        if self.jobs.is_none() {
            return Err("the decision log is closed".to_owned());
        }
        if self.writer.as_ref().is_some_and(JoinHandle::is_finished) {
            return Err("the decision log's writer thread has stopped".to_owned());
        }
        match self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            Some(why) => Err(format!("a decision log write failed: {why}")),
            None => Ok(()),
        }
    }

    /// The log's mode.
    pub fn mode(&self) -> LogMode {
        self.options.mode
    }

    /// Have `observe` called after every commit with its duration and
    /// record count (for metrics). Only the first observer is kept.
    pub fn observe_commits(&self, observe: CommitObserver) {
        let _ = self.observer.set(observe);
    }

    /// Record an event. In durable mode this returns once the record is
    /// committed; in buffered mode once it is queued. An error means the
    /// event is not (and will not be) recorded: callers must fail closed.
    pub fn append(&self, event: &LogEvent, generation: u64) -> Result<Appended, LogError> {
        self.append_with_state(event, generation, Vec::new())
    }

    /// [`DecisionLog::append`], with state-table changes committed in the
    /// same transaction as the record.
    pub fn append_with_state(
        &self,
        event: &LogEvent,
        generation: u64,
        state: Vec<StateWrite>,
    ) -> Result<Appended, LogError> {
        let wait = self.options.mode == LogMode::Durable;
        self.submit(event, generation, state, wait)
    }

    /// Queue an event without waiting for its commit, whatever the mode:
    /// for denies that must answer at once (the kill switch). A deny lost
    /// in a crash approved nothing; the record is committed with the next
    /// batch otherwise.
    pub fn append_queued(&self, event: &LogEvent, generation: u64) -> Result<(), LogError> {
        self.submit(event, generation, Vec::new(), false).map(drop)
    }

    /// Record an event and its state changes and wait for the commit,
    /// whatever the mode: for control events (kill switch, escalation
    /// resolutions) whose effect must not be lost.
    pub fn append_committed(
        &self,
        event: &LogEvent,
        generation: u64,
        state: Vec<StateWrite>,
    ) -> Result<u64, LogError> {
        match self.submit(event, generation, state, true)? {
            Appended::Committed(seq) => Ok(seq),
            Appended::Queued => Err(LogError::Unavailable(
                "the record was queued but not committed".to_owned(),
            )),
        }
    }

    /// [`DecisionLog::append_with_state`] for an async caller: in durable
    /// mode the task waits for the commit without blocking its thread, so
    /// many callers cost a few threads instead of one each. (A full queue
    /// still blocks the thread for a moment: that is the backpressure.)
    pub async fn append_with_state_async(
        &self,
        event: &LogEvent,
        generation: u64,
        state: Vec<StateWrite>,
    ) -> Result<Appended, LogError> {
        if self.options.mode != LogMode::Durable {
            return self.submit(event, generation, state, false);
        }
        let record = self.record(event, generation, state)?;
        let (ack, done) = tokio::sync::oneshot::channel();
        self.send(Job::Append(record, Some(Ack::Task(ack))))?;
        let seq = done.await.map_err(|_| writer_gone())??;
        Ok(Appended::Committed(seq))
    }

    fn submit(
        &self,
        event: &LogEvent,
        generation: u64,
        state: Vec<StateWrite>,
        wait: bool,
    ) -> Result<Appended, LogError> {
        let record = self.record(event, generation, state)?;
        if !wait {
            self.send(Job::Append(record, None))?;
            return Ok(Appended::Queued);
        }
        let (ack, done) = sync_channel(1);
        self.send(Job::Append(record, Some(Ack::Thread(ack))))?;
        let seq = done.recv().map_err(|_| writer_gone())??;
        Ok(Appended::Committed(seq))
    }

    /// Hand `job` to the writer.
    fn send(&self, job: Job) -> Result<(), LogError> {
        self.jobs
            .as_ref()
            .ok_or_else(|| LogError::Unavailable("the log is closed".to_owned()))?
            .send(job)
            .map_err(|_| writer_gone())
    }

    /// The record for `event`, or why it cannot be recorded.
    fn record(
        &self,
        event: &LogEvent,
        generation: u64,
        state: Vec<StateWrite>,
    ) -> Result<PendingRecord, LogError> {
        if let Some(why) = self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            && self.options.mode == LogMode::Buffered
        {
            // Buffered records may already have been lost: refuse everything
            // from now on rather than approve without a trail.
            return Err(LogError::Unavailable(format!(
                "an earlier write failed: {why}"
            )));
        }
        let agent_id = match event {
            LogEvent::Decision(d) => {
                // Too much unshipped: refused like a failed write.
                self.check_lag()?;
                Some(d.request.agent_id.clone())
            }
            _ => None,
        };
        Ok(PendingRecord {
            time_ms: now_ms(),
            generation,
            payload: super::record_format::encode_event(event)
                .map_err(|e| LogError::Encode(e.to_string()))?,
            agent_id,
            state,
        })
    }

    /// Write a signed checkpoint of the current head now (after every
    /// queued record) and return it; `None` for an empty log.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, LogError> {
        let (ack, done) = sync_channel(1);
        self.send(Job::Checkpoint(ack))?;
        done.recv().map_err(|_| writer_gone())?
    }

    /// Commit everything queued, write the shutdown checkpoint and stop
    /// the writer.
    pub fn close(mut self) -> Result<(), LogError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), LogError> {
        drop(self.jobs.take());
        self.revealer.close();
        if let Some(handle) = self.writer.take() {
            handle
                .join()
                .map_err(|_| LogError::Unavailable("the writer thread panicked".to_owned()))?;
        }
        match self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        {
            Some(why) => Err(LogError::Unavailable(why)),
            None => Ok(()),
        }
    }
}

impl Drop for DecisionLog {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!("closing the decision log: {e}");
        }
    }
}

/// Open a log for reading only. A log left by a crash (not closed
/// cleanly) is first repaired by a normal open, as the next writer would
/// do; that needs the file to be free, so it fails if a writer holds it.
/// A file so damaged that the storage engine fails on it gives
/// `StorageError::Corrupted`.
///
/// Records a crash left in the journal are replayed first the same way.
pub fn open_read_only(path: &Path) -> Result<redb::ReadOnlyDatabase, redb::DatabaseError> {
    let internal = |why: String| {
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(format!(
            "the storage engine failed while opening the log (internal error: {why})"
        )))
    };
    let db = guard::catch(|| match redb::ReadOnlyDatabase::open(path) {
        Err(redb::DatabaseError::RepairAborted) => {
            drop(Database::open(path)?);
            redb::ReadOnlyDatabase::open(path)
        }
        other => other,
    })
    .unwrap_or_else(|why| Err(internal(why)))?;
    let as_open_error = |e: LogError| match e {
        LogError::Damaged(why) => redb::DatabaseError::Storage(redb::StorageError::Corrupted(why)),
        other => redb::DatabaseError::Storage(redb::StorageError::Io(std::io::Error::other(
            other.to_string(),
        ))),
    };
    let pending = guard::contain("reading the journal", || match JournalState::read(&db)? {
        Some(state) if !state.clean => {
            let (head, _) = read_opened(&db)?;
            journal::has_pending(path, &db, head)
        }
        _ => Ok(false),
    })
    .map_err(as_open_error)?;
    if !pending {
        return Ok(db);
    }
    drop(db);
    guard::contain("replaying the journal", || {
        let db = Database::open(path).map_err(|e| open_error(path, e))?;
        let (head, _) = read_opened(&db)?;
        let (mut journal, _) = Journal::open(path, &db, head)?;
        journal.close(&db, &[])
    })
    .map_err(as_open_error)?;
    guard::catch(|| redb::ReadOnlyDatabase::open(path)).unwrap_or_else(|why| Err(internal(why)))
}

/// [`open_read_only`] with the error as a [`LogError`] naming the file:
/// [`LogError::InUse`] when another process holds it,
/// [`LogError::Damaged`] when it is corrupted.
pub fn open_reader(path: &Path) -> Result<redb::ReadOnlyDatabase, LogError> {
    open_read_only(path).map_err(|e| open_error(path, e))
}

/// A [`LogError`] for a failed open of `path`.
fn open_error(path: &Path, e: redb::DatabaseError) -> LogError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => LogError::InUse {
            path: path.to_path_buf(),
        },
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(why)) => {
            LogError::Damaged(format!("{}: {why}", path.display()))
        }
        other => LogError::Storage(format!("cannot open {}: {other}", path.display())),
    }
}

/// Open the journal of the log at `path` (none without a path) and replay
/// what a crash left in it; `opened` is what [`init_tables`] read, read
/// again when the replay moved the head. Only a `durable` log keeps the
/// journal open.
fn open_journal(
    db: &Database,
    path: Option<&Path>,
    opened: (Head, u64),
    durable: bool,
) -> Result<((Head, u64), Option<Journal>), LogError> {
    let Some(path) = path else {
        return Ok((opened, None));
    };
    let (mut journal, head) = guard::contain("replaying the journal", || {
        Journal::open(path, db, opened.0)
    })?;
    if !durable {
        // Buffered commits become durable in redb every 50 ms; the journal
        // (whose frames cost more than that allows) is closed unused.
        guard::contain("closing the journal", || journal.close(db, &[]))?;
        return Ok((reread(db, head, opened)?, None));
    }
    Ok((reread(db, head, opened)?, Some(journal)))
}

/// `opened`, read again if the journal's replay moved the head to `head`.
fn reread(db: &Database, head: Head, opened: (Head, u64)) -> Result<(Head, u64), LogError> {
    if head == opened.0 {
        Ok(opened)
    } else {
        guard::contain("opening the log", || init_tables(db))
    }
}

/// Create the tables if missing and read the head, the last checkpoint and
/// the last generation.
fn init_tables(db: &Database) -> Result<(Head, u64), LogError> {
    let txn = db.begin_write().map_err(LogError::storage)?;
    {
        txn.open_table(RECORDS).map_err(LogError::storage)?;
        txn.open_table(META).map_err(LogError::storage)?;
        txn.open_table(BY_AGENT).map_err(LogError::storage)?;
        txn.open_table(BY_TIME).map_err(LogError::storage)?;
        txn.open_table(super::batch_index::BATCH_TIMES)
            .map_err(LogError::storage)?;
        txn.open_table(super::batch_index::AGENT_BATCHES)
            .map_err(LogError::storage)?;
        txn.open_table(CHECKPOINTS).map_err(LogError::storage)?;
        txn.open_table(ESCALATIONS).map_err(LogError::storage)?;
        txn.open_table(KILL_SWITCH).map_err(LogError::storage)?;
        txn.open_table(tables::CHARGES).map_err(LogError::storage)?;
        txn.open_table(tables::OUTCOMES)
            .map_err(LogError::storage)?;
    }
    txn.commit().map_err(LogError::storage)?;
    read_opened(db)
}

/// Read the head, the last checkpoint and the last generation.
fn read_opened(db: &impl ReadableDatabase) -> Result<(Head, u64), LogError> {
    let read = db.begin_read().map_err(LogError::storage)?;
    let meta = read.open_table(META).map_err(LogError::storage)?;
    let (seq, hash) = match meta.get(HEAD_KEY).map_err(LogError::storage)? {
        Some(v) => tables::decode_head(v.value())
            .ok_or_else(|| LogError::Storage("the log's head record is malformed".to_owned()))?,
        None => (0, GENESIS),
    };
    let generation = match meta.get(GENERATION_KEY).map_err(LogError::storage)? {
        Some(v) => v.value().try_into().map(u64::from_be_bytes).map_err(|_| {
            LogError::Storage("the log's generation record is malformed".to_owned())
        })?,
        None => 0,
    };
    let checkpoints = read.open_table(CHECKPOINTS).map_err(LogError::storage)?;
    let checkpointed = checkpoints
        .last()
        .map_err(LogError::storage)?
        .map(|(k, _)| k.value())
        .unwrap_or(0);
    Ok((
        Head {
            seq,
            hash,
            checkpointed,
        },
        generation,
    ))
}

#[cfg(test)]
mod tests;
