//! The journal's sync, pipelined with the writer.
//!
//! The writer appends a batch to the journal, then hands the batch's
//! acknowledgements to the sync threads and goes on with the next batch.
//! A free sync thread takes up every request queued and syncs the journal
//! once, which covers every frame written before the sync started. Up to
//! [`SYNC_THREADS`] syncs run at once: a batch written while one sync is
//! in flight starts its own instead of waiting for it. Whichever sync
//! ends, it acknowledges every request still waiting up to the last one it
//! took up, in order, moves the synced watermark, and hands the
//! acknowledgements to an acknowledger thread, which wakes the callers
//! while the next sync is in flight (waking 30 threads costs about as much
//! as a sync on these machines). No caller is acknowledged before its
//! record is durable.
//!
//! A failed sync is final: its callers and every later one get the error,
//! and the writer refuses every later commit.

use super::LogError;
use super::checkpoint::Checkpoint;
use super::watermarks::Watermarks;
use std::collections::VecDeque;
use std::fs::File;
use std::sync::mpsc::{Sender, SyncSender, channel};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

/// Where a caller waits for its record's sequence number.
#[derive(Debug)]
pub enum Ack {
    /// A thread, blocked on a channel.
    Thread(SyncSender<Result<u64, LogError>>),
    /// An async task: waking it costs no thread switch when its runtime's
    /// workers are busy.
    Task(tokio::sync::oneshot::Sender<Result<u64, LogError>>),
}

impl Ack {
    /// Answer the caller. One that gave up waiting is not an error here.
    pub fn send(self, reply: Result<u64, LogError>) {
        match self {
            Ack::Thread(tx) => drop(tx.send(reply)),
            Ack::Task(tx) => drop(tx.send(reply)),
        }
    }
}

/// The callers waiting for one batch.
#[derive(Debug, Default)]
pub struct Acks {
    /// The batch's first seq.
    pub first_seq: u64,
    /// One per record: its caller, if it waits.
    pub appends: Vec<Option<Ack>>,
    /// Callers waiting for a checkpoint.
    pub checkpoints: Vec<SyncSender<Result<Option<Checkpoint>, LogError>>>,
    /// The checkpoint the batch wrote, if any.
    pub checkpoint: Option<Checkpoint>,
}

impl Acks {
    /// Whether anyone waits.
    pub fn waited_for(&self) -> bool {
        !self.checkpoints.is_empty() || self.appends.iter().any(Option::is_some)
    }

    /// Tell every caller how its batch ended.
    pub fn send(self, result: Result<(), LogError>) {
        for (i, ack) in self.appends.into_iter().enumerate() {
            if let Some(ack) = ack {
                let reply = match &result {
                    Ok(()) => Ok(self.first_seq + i as u64),
                    Err(e) => Err(e.clone()),
                };
                ack.send(reply);
            }
        }
        for ack in self.checkpoints {
            let _ = ack.send(result.clone().map(|()| self.checkpoint.clone()));
        }
    }
}

/// A batch written to the journal, waiting for its sync.
#[derive(Debug)]
struct Request {
    /// The journal epoch and the offset its frame ends at.
    epoch: u64,
    offset: u64,
    /// The batch's last seq.
    seq: u64,
    acks: Acks,
}

/// What the syncer shares with the writer.
#[derive(Debug, Clone)]
pub struct SyncState {
    /// (epoch, offset) the journal is synced up to.
    pub synced: Arc<Mutex<(u64, u64)>>,
    /// Set by a failed sync.
    pub failed: Arc<OnceLock<LogError>>,
}

impl SyncState {
    /// A state for a journal synced up to `offset` of `epoch`.
    pub fn new(epoch: u64, offset: u64) -> Self {
        SyncState {
            synced: Arc::new(Mutex::new((epoch, offset))),
            failed: Arc::new(OnceLock::new()),
        }
    }

    /// How far `epoch` of the journal is synced, if it is the one synced.
    pub fn synced_in(&self, epoch: u64) -> Option<u64> {
        let (synced_epoch, offset) = *self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        (synced_epoch == epoch).then_some(offset)
    }

    /// Move the synced position forward to `(epoch, offset)`; never back
    /// (a sync of an older epoch can end after a newer one started).
    fn advance(&self, epoch: u64, offset: u64) {
        let mut synced = self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        if (epoch, offset) > *synced {
            *synced = (epoch, offset);
        }
    }
}

/// Requests written and not yet acknowledged, shared by the sync threads.
#[derive(Debug, Default)]
struct Queue {
    /// Oldest first; the front one is number `done + 1`.
    requests: VecDeque<Request>,
    /// How many requests have been acknowledged (or failed).
    done: u64,
    /// How many requests a sync has taken up: each sync covers every
    /// request made before it started.
    claimed: u64,
    /// Set at stop: the threads end once every request is taken up.
    closed: bool,
}

impl Queue {
    /// How many requests have been made.
    fn made(&self) -> u64 {
        self.done + self.requests.len() as u64
    }
}

/// The queue and its two signals: work for the sync threads, and
/// requests taken up, for the writer.
#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
    taken: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sync threads.
#[derive(Debug)]
pub struct Syncer {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    acknowledger: Option<JoinHandle<()>>,
    state: SyncState,
}

impl Syncer {
    /// Start syncing `file` (the journal) with [`SYNC_THREADS`] threads;
    /// `marks` hold the synced watermark to move, `failure` where the
    /// writer's failures are reported.
    pub fn start(
        file: File,
        state: SyncState,
        marks: Arc<Watermarks>,
        failure: Arc<Mutex<Option<String>>>,
    ) -> Result<Self, LogError> {
        let (done, synced) = channel::<Synced>();
        let acknowledger = std::thread::Builder::new()
            .name("gavel-log-ack".to_owned())
            .spawn(move || {
                for (acks, result) in synced {
                    for acks in acks {
                        acks.send(result.clone());
                    }
                }
            })
            .map_err(|e| LogError::Unavailable(format!("cannot start the ack thread: {e}")))?;
        let file = Arc::new(file);
        let shared = Arc::new(Shared::default());
        let mut syncer = Syncer {
            shared: shared.clone(),
            handles: Vec::new(),
            acknowledger: Some(acknowledger),
            state: state.clone(),
        };
        for _ in 0..SYNC_THREADS {
            let thread = SyncThread {
                file: file.clone(),
                shared: shared.clone(),
                done: done.clone(),
                state: state.clone(),
                marks: marks.clone(),
                failure: failure.clone(),
            };
            let handle = std::thread::Builder::new()
                .name("gavel-log-sync".to_owned())
                .spawn(move || thread.serve())
                .map_err(|e| LogError::Unavailable(format!("cannot start a sync thread: {e}")));
            match handle {
                Ok(handle) => syncer.handles.push(handle),
                Err(e) => {
                    // The acknowledger ends once every sender is gone;
                    // dropping the syncer then stops the threads started.
                    drop(done);
                    drop(syncer);
                    return Err(e);
                }
            }
        }
        Ok(syncer)
    }

    /// The state shared with the writer.
    pub fn state(&self) -> &SyncState {
        &self.state
    }

    /// Acknowledge `acks` once the journal is synced past `offset` of
    /// `epoch`, and move the synced watermark to `seq`.
    pub fn request(&mut self, epoch: u64, offset: u64, seq: u64, acks: Acks) {
        let request = Request {
            epoch,
            offset,
            seq,
            acks,
        };
        let mut queue = self.shared.lock();
        if queue.closed {
            drop(queue);
            request.acks.send(Err(stopped()));
            return;
        }
        queue.requests.push_back(request);
        drop(queue);
        self.shared.work.notify_one();
    }

    /// Wait until a sync has taken up every request made (each sync
    /// thread is then busy with what came before), or until `limit`
    /// passes. The writer waits here before a commit, so that what
    /// arrives while the syncs are in flight goes into one batch instead
    /// of many small ones.
    pub fn wait_taken(&self, limit: std::time::Duration) {
        let queue = self.shared.lock();
        let _ = self
            .shared
            .taken
            .wait_timeout_while(queue, limit, |q| q.claimed < q.made() && !q.closed)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Serve every request made so far, then stop.
    pub fn stop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
        self.shared.taken.notify_all();
        // The sync threads' end drops the acknowledger's queue, which then
        // ends.
        let handles = std::mem::take(&mut self.handles);
        for handle in handles.into_iter().chain(self.acknowledger.take()) {
            if handle.join().is_err() {
                let _ = self.state.failed.set(stopped());
            }
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How many syncs may be in flight at once. A sync covers every frame
/// written before it started, so a batch written while one sync runs
/// starts its own at once instead of waiting for it: on these disks two
/// overlapping `fdatasync`s of one file finish about as fast as one.
pub const SYNC_THREADS: usize = 2;

fn stopped() -> LogError {
    LogError::Unavailable("the journal's sync thread has stopped".to_owned())
}

/// Acknowledgements whose sync ended, and how.
type Synced = (Vec<Acks>, Result<(), LogError>);

/// One sync thread's handles.
struct SyncThread {
    file: Arc<File>,
    shared: Arc<Shared>,
    done: Sender<Synced>,
    state: SyncState,
    marks: Arc<Watermarks>,
    failure: Arc<Mutex<Option<String>>>,
}

impl SyncThread {
    /// Take up every request not yet taken, sync once, and acknowledge
    /// every request still waiting up to the last one taken (a sync
    /// covers what was written before it started, whichever thread's
    /// request it was); until stopped with nothing left to take.
    fn serve(self) {
        loop {
            let target = {
                let queue = self.shared.lock();
                let mut queue = self
                    .shared
                    .work
                    .wait_while(queue, |q| q.claimed >= q.made() && !q.closed)
                    .unwrap_or_else(PoisonError::into_inner);
                if queue.claimed >= queue.made() {
                    return;
                }
                queue.claimed = queue.made();
                self.shared.taken.notify_all();
                queue.claimed
            };
            let result = match self.state.failed.get() {
                Some(e) => Err(e.clone()),
                None => self
                    .file
                    .sync_data()
                    .map_err(|e| LogError::Storage(format!("syncing the journal: {e}"))),
            };
            if let Err(e) = &result
                && self.state.failed.set(e.clone()).is_ok()
            {
                tracing::error!("decision log write failed: {e}");
                *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
            }
            let mut queue = self.shared.lock();
            let mut acks = Vec::new();
            let mut last = None;
            while queue.done < target {
                let Some(request) = queue.requests.pop_front() else {
                    break;
                };
                queue.done += 1;
                last = Some((request.epoch, request.offset, request.seq));
                acks.push(request.acks);
            }
            if let (Ok(()), Some((epoch, offset, seq))) = (&result, last) {
                self.state.advance(epoch, offset);
                self.marks.set_durable(seq);
            }
            // Sent under the lock, so that batches are acknowledged in
            // their order.
            if !acks.is_empty()
                && let Err(lost) = self.done.send((acks, result))
            {
                let (acks, result) = lost.0;
                for acks in acks {
                    acks.send(result.clone());
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "syncer_tests.rs"]
mod tests;
