//! [`Revealer`]: lets a reader see every acknowledged record.
//!
//! In durable mode the writer stages journaled batches for redb (see
//! `writer`). A reader that must see every record acknowledged before it
//! looked asks the writer to commit them first, when some are staged
//! (`watermarks`). The revealer holds the writer's queue only until the
//! log closes, so a reader that outlives the log (the shipper) never keeps
//! the writer running.

use super::watermarks::Watermarks;
use super::writer::Job;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

/// A handle that makes the writer's staged batches visible.
#[derive(Debug, Clone)]
pub struct Revealer {
    jobs: Arc<Mutex<Option<SyncSender<Job>>>>,
    marks: Arc<Watermarks>,
}

impl Revealer {
    /// A revealer sending to `jobs` while the log is open.
    pub fn new(jobs: SyncSender<Job>, marks: Arc<Watermarks>) -> Self {
        Revealer {
            jobs: Arc::new(Mutex::new(Some(jobs))),
            marks,
        }
    }

    /// If some batch is staged, ask the writer to commit it to redb, and
    /// wait. A writer that failed or stopped has been reported already:
    /// the reader then sees what redb holds.
    pub fn reveal(&self) {
        if !self.marks.hidden() {
            return;
        }
        let Some(jobs) = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        else {
            return;
        };
        let (ack, done) = sync_channel(1);
        if jobs.send(Job::Reveal(ack)).is_err() {
            return;
        }
        drop(jobs);
        if let Ok(Err(e)) = done.recv() {
            tracing::warn!("reading the log without its newest records: {e}");
        }
    }

    /// The log is closing: let go of the writer's queue.
    pub fn close(&self) {
        drop(
            self.jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}
