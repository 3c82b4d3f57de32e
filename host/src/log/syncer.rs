//! The journal's sync, pipelined with the writer.
//!
//! The writer appends a batch to the journal, then hands the batch's
//! acknowledgements to this thread and goes on with the next batch. The
//! syncer takes every request queued, syncs the journal once (which covers
//! every frame written before the sync started), moves the synced
//! watermark and hands the acknowledgements to an acknowledger thread,
//! which wakes the callers while the next sync is in flight (waking 30
//! threads costs about as much as a sync on these machines). So the
//! writer prepares and writes batch N+1 while batch N's sync is in flight,
//! and no caller is acknowledged before its record is durable.
//!
//! A failed sync is final: its callers and every later one get the error,
//! and the writer refuses every later commit.

use super::LogError;
use super::checkpoint::Checkpoint;
use super::watermarks::Watermarks;
use std::fs::File;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel};
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
    /// How many requests the syncer has taken up.
    taken: Arc<(Mutex<u64>, Condvar)>,
}

impl SyncState {
    /// A state for a journal synced up to `offset` of `epoch`.
    pub fn new(epoch: u64, offset: u64) -> Self {
        SyncState {
            synced: Arc::new(Mutex::new((epoch, offset))),
            failed: Arc::new(OnceLock::new()),
            taken: Arc::new((Mutex::new(0), Condvar::new())),
        }
    }

    /// How far `epoch` of the journal is synced, if it is the one synced.
    pub fn synced_in(&self, epoch: u64) -> Option<u64> {
        let (synced_epoch, offset) = *self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        (synced_epoch == epoch).then_some(offset)
    }
}

/// The syncer thread.
#[derive(Debug)]
pub struct Syncer {
    requests: Option<Sender<Request>>,
    /// How many requests the writer has made.
    made: u64,
    handle: Option<JoinHandle<()>>,
    acknowledger: Option<JoinHandle<()>>,
    state: SyncState,
}

impl Syncer {
    /// Start syncing `file` (the journal); `marks` hold the synced
    /// watermark to move, `failure` where the writer's failures are
    /// reported.
    pub fn start(
        file: File,
        state: SyncState,
        marks: Arc<Watermarks>,
        failure: Arc<Mutex<Option<String>>>,
    ) -> Result<Self, LogError> {
        let (requests, queue) = channel();
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
        let shared = state.clone();
        let handle = std::thread::Builder::new()
            .name("gavel-log-sync".to_owned())
            .spawn(move || serve(&file, &queue, &done, &shared, &marks, &failure))
            .map_err(|e| LogError::Unavailable(format!("cannot start the sync thread: {e}")))?;
        Ok(Syncer {
            requests: Some(requests),
            made: 0,
            handle: Some(handle),
            acknowledger: Some(acknowledger),
            state,
        })
    }

    /// The state shared with the writer.
    pub fn state(&self) -> &SyncState {
        &self.state
    }

    /// Acknowledge `acks` once the journal is synced past `offset` of
    /// `epoch`, and move the synced watermark to `seq`.
    pub fn request(&mut self, epoch: u64, offset: u64, seq: u64, acks: Acks) {
        self.made += 1;
        let request = Request {
            epoch,
            offset,
            seq,
            acks,
        };
        match &self.requests {
            Some(requests) => {
                if let Err(lost) = requests.send(request) {
                    lost.0.acks.send(Err(stopped()));
                }
            }
            None => request.acks.send(Err(stopped())),
        }
    }

    /// Wait until the syncer has taken up every request made (at most one
    /// sync is then in flight), or until `limit` passes. The writer waits
    /// here before a commit, so that what arrives during a sync goes into
    /// one batch instead of many small ones.
    pub fn wait_taken(&self, limit: std::time::Duration) {
        let (taken, changed) = &*self.state.taken;
        let guard = taken.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = changed
            .wait_timeout_while(guard, limit, |taken| *taken < self.made)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Serve every request made so far, then stop.
    pub fn stop(&mut self) {
        drop(self.requests.take());
        // The syncer's end drops the acknowledger's queue, which then ends.
        for handle in [self.handle.take(), self.acknowledger.take()]
            .into_iter()
            .flatten()
        {
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

fn stopped() -> LogError {
    LogError::Unavailable("the journal's sync thread has stopped".to_owned())
}

/// Acknowledgements whose sync ended, and how.
type Synced = (Vec<Acks>, Result<(), LogError>);

fn serve(
    file: &File,
    queue: &Receiver<Request>,
    done: &Sender<Synced>,
    state: &SyncState,
    marks: &Watermarks,
    failure: &Mutex<Option<String>>,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter());
        {
            let (taken, changed) = &*state.taken;
            *taken.lock().unwrap_or_else(PoisonError::into_inner) += batch.len() as u64;
            changed.notify_all();
        }
        let result = match state.failed.get() {
            Some(e) => Err(e.clone()),
            None => file
                .sync_data()
                .map_err(|e| LogError::Storage(format!("syncing the journal: {e}"))),
        };
        match &result {
            Ok(()) => {
                if let Some(last) = batch.last() {
                    *state.synced.lock().unwrap_or_else(PoisonError::into_inner) =
                        (last.epoch, last.offset);
                    marks.set_durable(last.seq);
                }
            }
            Err(e) => {
                if state.failed.set(e.clone()).is_ok() {
                    tracing::error!("decision log write failed: {e}");
                    *failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
                }
            }
        }
        let acks = batch.into_iter().map(|r| r.acks).collect();
        if let Err(lost) = done.send((acks, result)) {
            let (acks, result) = lost.0;
            for acks in acks {
                acks.send(result.clone());
            }
        }
    }
}
