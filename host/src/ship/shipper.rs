//! The shipping loop: read a batch from the local log, ship it, repeat;
//! poll when caught up; on an error drop the connection and retry with
//! backoff (capped), logging one line per change of state (down, back),
//! not one per retry. The lag stays in the local log: memory holds one
//! batch.

use super::ShipError;
use super::batch::Batch;
use super::sink::{Cursor, Sink};
use super::source::LogSource;
use super::target::Target;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The first retry delay; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest delay between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The default batch size.
pub const DEFAULT_BATCH: usize = 1000;
/// The default poll interval when caught up.
pub const DEFAULT_POLL: Duration = Duration::from_millis(200);

/// How to ship.
#[derive(Debug, Clone)]
pub struct ShipOptions {
    /// The database.
    pub target: Target,
    /// This node's name.
    pub node: String,
    /// Most records per transaction.
    pub batch: usize,
    /// How long to wait when caught up.
    pub poll: Duration,
}

/// The shipper's state, shared with metrics and the lag gate.
#[derive(Debug)]
pub struct ShipStatus {
    /// The last sequence number the central log holds for this node (0
    /// until known, or when the shipped chain is not this log's).
    pub shipped: Arc<AtomicU64>,
    /// The last sequence number of the local log.
    pub head: Arc<AtomicU64>,
    /// Records inserted by this process.
    pub shipped_total: AtomicU64,
    /// Whether the last attempt succeeded.
    pub up: AtomicBool,
}

impl ShipStatus {
    /// A status whose local head is read from `head` (the live log's
    /// committed sequence number, or a counter the shipper keeps).
    pub fn new(head: Arc<AtomicU64>) -> Self {
        ShipStatus {
            shipped: Arc::new(AtomicU64::new(0)),
            head,
            shipped_total: AtomicU64::new(0),
            up: AtomicBool::new(false),
        }
    }

    /// Unshipped records.
    pub fn lag(&self) -> u64 {
        self.head
            .load(Ordering::Acquire)
            .saturating_sub(self.shipped.load(Ordering::Acquire))
    }
}

/// Ships one local log as one node.
pub struct Shipper {
    source: Arc<dyn LogSource>,
    options: ShipOptions,
    status: Arc<ShipStatus>,
    sink: Option<Sink>,
    cursor: Cursor,
    checkpoints_after: u64,
}

impl std::fmt::Debug for Shipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shipper")
            .field("node", &self.options.node)
            .field("cursor", &self.cursor.seq)
            .finish_non_exhaustive()
    }
}

impl Shipper {
    /// A shipper of `source`; it connects on its first step.
    pub fn new(source: Arc<dyn LogSource>, options: ShipOptions, status: Arc<ShipStatus>) -> Self {
        Shipper {
            source,
            options,
            status,
            sink: None,
            cursor: Cursor {
                seq: 0,
                hash: crate::log::GENESIS,
            },
            checkpoints_after: 0,
        }
    }

    /// The shared state.
    pub fn status(&self) -> &Arc<ShipStatus> {
        &self.status
    }

    /// The cursor as last read or moved.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Connect if needed, then ship one batch. Returns how many records
    /// the batch held (0: caught up). On an error the connection is
    /// dropped; the next step reconnects and re-reads the cursor.
    pub async fn step(&mut self) -> Result<usize, ShipError> {
        let result = self.try_step().await;
        match &result {
            Ok(_) => self.status.up.store(true, Ordering::Release),
            Err(e) => {
                self.sink = None;
                self.status.up.store(false, Ordering::Release);
                if matches!(
                    e,
                    ShipError::Diverged { .. }
                        | ShipError::Conflict { .. }
                        | ShipError::Fenced { .. }
                ) {
                    // Nothing of this log is known to be shipped.
                    self.status.shipped.store(0, Ordering::Release);
                }
            }
        }
        result
    }

    async fn try_step(&mut self) -> Result<usize, ShipError> {
        if self.sink.as_ref().is_some_and(Sink::is_closed) {
            // The server went away while idle: notice it now, not at the
            // next record.
            self.sink = None;
        }
        if self.sink.is_none() {
            let sink = Sink::connect(&self.options.target, &self.options.node).await?;
            self.cursor = sink.cursor().await?;
            self.checkpoints_after = sink.last_checkpoint().await?;
            self.sink = Some(sink);
        }
        let (after, max, checkpoints_after) = (
            self.cursor.seq,
            self.options.batch.max(1),
            self.checkpoints_after,
        );
        let source = self.source.clone();
        let read = tokio::task::spawn_blocking(move || source.read(after, max, checkpoints_after))
            .await
            .map_err(|e| {
                ShipError::Log(crate::log::LogError::Unavailable(format!(
                    "the log reader failed: {e}"
                )))
            })??;
        self.status.head.fetch_max(read.head, Ordering::AcqRel);
        let node = &self.options.node;
        match read.previous {
            None => {
                return Err(ShipError::Diverged {
                    node: node.clone(),
                    problem: format!(
                        "node {node} has {} records in PostgreSQL, but the local log ends at record {} (was it reset or replaced?)",
                        self.cursor.seq, read.head
                    ),
                });
            }
            Some(hash) if hash != self.cursor.hash => {
                return Err(ShipError::Diverged {
                    node: node.clone(),
                    problem: format!(
                        "the local record {}'s chain hash differs from the one shipped as node {node}'s record {} (was the local log reset or replaced?)",
                        self.cursor.seq, self.cursor.seq
                    ),
                });
            }
            Some(_) => {}
        }
        self.status
            .shipped
            .store(self.cursor.seq, Ordering::Release);
        let batch = Batch::build(read, self.cursor.hash)?;
        if batch.is_empty() {
            return Ok(0);
        }
        let Some(sink) = self.sink.as_mut() else {
            return Ok(0);
        };
        let shipped = sink.ship(self.cursor, &batch).await?;
        self.cursor = shipped.cursor;
        if let Some((size, _)) = batch.checkpoints.last() {
            self.checkpoints_after = self.checkpoints_after.max(*size);
        }
        self.status
            .shipped
            .store(self.cursor.seq, Ordering::Release);
        self.status
            .shipped_total
            .fetch_add(shipped.inserted, Ordering::Relaxed);
        Ok(batch.rows.len().max(batch.checkpoints.len()))
    }

    /// Step until caught up; the first error ends it. Returns the cursor.
    pub async fn once(&mut self) -> Result<Cursor, ShipError> {
        while self.step().await? > 0 {}
        Ok(self.cursor)
    }

    /// Ship until `stop` turns true, then ship what is left and return:
    /// `Ok` once caught up, or the error that prevented it (the rest stays
    /// in the local log). Errors while running are retried with backoff;
    /// a fatal one is logged as an error, and retried too at the longest
    /// delay (a fenced cursor may be released).
    pub async fn run(
        mut self,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), ShipError> {
        let mut down: Option<&'static str> = None;
        let mut backoff = FIRST_BACKOFF;
        let (target, node) = (
            self.options.target.display.clone(),
            self.options.node.clone(),
        );
        loop {
            let stopping = *stop.borrow();
            match self.step().await {
                Ok(n) => {
                    if down.take().is_some() {
                        tracing::warn!(
                            "shipping the decision log to {target} as node {node}: back up at record {} ({} to catch up)",
                            self.cursor.seq,
                            self.status.lag()
                        );
                    }
                    backoff = FIRST_BACKOFF;
                    if n == 0 {
                        if stopping {
                            return Ok(());
                        }
                        wait(&mut stop, self.options.poll).await;
                    }
                }
                Err(e) => {
                    if down != Some(e.kind()) {
                        if e.is_fatal() {
                            tracing::error!(
                                "shipping the decision log as node {node} is stuck: {e}; retrying every {MAX_BACKOFF:?}, the records stay in the local log"
                            );
                        } else {
                            tracing::warn!(
                                "shipping the decision log to {target} as node {node} is down: {e}; retrying, the lag grows in the local log"
                            );
                        }
                        down = Some(e.kind());
                    }
                    if stopping {
                        return Err(e);
                    }
                    let delay = if e.is_fatal() { MAX_BACKOFF } else { backoff };
                    wait(&mut stop, delay).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Sleep for `delay`, or less if `stop` changes (or its sender is gone).
async fn wait(stop: &mut tokio::sync::watch::Receiver<bool>, delay: Duration) {
    if *stop.borrow() {
        return;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        changed = stop.changed() => {
            if changed.is_err() {
                // No one can stop us any more: do not spin.
                tokio::time::sleep(delay).await;
            }
        }
    }
}
