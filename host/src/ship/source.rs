//! Where the shipper reads the local log: the live log of a running
//! service, or a log file no process holds (`gavel ship`), opened for each
//! read and released at once so that a server can start meanwhile.

use crate::log::{LogError, ShipRead, open_reader, read_for_ship};
use redb::Database;
use std::path::PathBuf;
use std::sync::Arc;

/// A log to ship from. Reads are synchronous and short (one read
/// transaction, dropped before returning).
pub trait LogSource: Send + Sync + 'static {
    /// See [`read_for_ship`].
    fn read(&self, after: u64, max: usize, checkpoints_after: u64) -> Result<ShipRead, LogError>;
}

/// The live log of this process.
#[derive(Debug, Clone)]
pub struct LiveLog(pub Arc<Database>);

impl LogSource for LiveLog {
    fn read(&self, after: u64, max: usize, checkpoints_after: u64) -> Result<ShipRead, LogError> {
        read_for_ship(self.0.as_ref(), after, max, checkpoints_after)
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
