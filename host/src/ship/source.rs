//! Where the shipper reads the local log: the live log of a running
//! service, or a log file no process holds (`gavel ship`), opened for each
//! read and released at once so that a server can start meanwhile.

use crate::log::{LogError, Revealer, ShipRead, open_reader, read_for_ship};
use redb::Database;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A log to ship from. Reads are synchronous and short (one read
/// transaction, dropped before returning).
pub trait LogSource: Send + Sync + 'static {
    /// See [`read_for_ship`].
    fn read(&self, after: u64, max: usize, checkpoints_after: u64) -> Result<ShipRead, LogError>;
}

/// The live log of this process. Only durably committed records are
/// shipped: a buffered log's readers see records up to 50 ms before they
/// are durable, and a crash could still take those back. Every read first
/// makes the records the writer has staged visible.
#[derive(Debug, Clone)]
pub struct LiveLog {
    db: Arc<Database>,
    durable: Arc<AtomicU64>,
    revealer: Revealer,
}

impl LiveLog {
    /// The log `log`.
    pub fn new(log: &crate::log::DecisionLog) -> Self {
        LiveLog {
            db: log.shared_database(),
            durable: log.committed_handle(),
            revealer: log.revealer(),
        }
    }
}

impl LogSource for LiveLog {
    fn read(&self, after: u64, max: usize, checkpoints_after: u64) -> Result<ShipRead, LogError> {
        self.revealer.reveal();
        let durable = self.durable.load(Ordering::Acquire);
        let mut read = read_for_ship(self.db.as_ref(), after, max, checkpoints_after)?;
        read.records.retain(|r| r.seq <= durable);
        read.checkpoints.retain(|(size, _)| *size <= durable);
        read.head = read.head.min(durable);
        Ok(read)
    }
}

/// A log file, opened read-only for each read. Fails with
/// [`LogError::InUse`] while another process (a server) holds it.
#[derive(Debug, Clone)]
pub struct LogFile(pub PathBuf);

impl LogSource for LogFile {
    fn read(&self, after: u64, max: usize, checkpoints_after: u64) -> Result<ShipRead, LogError> {
        let db = open_reader(&self.0)?;
        let read = read_for_ship(&db, after, max, checkpoints_after);
        drop(db);
        read
    }
}
