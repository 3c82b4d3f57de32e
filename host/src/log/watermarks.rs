//! How far the log is durable, and whether redb lags the journal.
//!
//! In durable mode a batch is appended to the journal first, and reaches
//! redb later, together with the batches staged after it (see `writer`):
//! - `staged`: whether some batch (records, or only a checkpoint) is in
//!   the journal and not yet in redb. A reader that must see every
//!   acknowledged record asks the writer to commit the staged batches
//!   first (`revealer`).
//! - `durable`: the last seq that a crash cannot take back (the journal's
//!   sync covers it, or a durable redb commit holds it). The lag gate and
//!   the shipping lag count from it; the shipper ships only records at or
//!   below it, of those redb holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The log's watermarks, shared by the writer, the syncer and readers.
#[derive(Debug)]
pub struct Watermarks {
    staged: AtomicBool,
    durable: Arc<AtomicU64>,
}

impl Watermarks {
    /// Marks for a log whose every record up to `seq` is durable and in
    /// redb.
    pub fn new(seq: u64) -> Self {
        Watermarks {
            staged: AtomicBool::new(false),
            durable: Arc::new(AtomicU64::new(seq)),
        }
    }

    /// The durable watermark, as a shared handle.
    pub fn durable(&self) -> Arc<AtomicU64> {
        self.durable.clone()
    }

    /// The last durable seq.
    pub fn durable_seq(&self) -> u64 {
        self.durable.load(Ordering::SeqCst)
    }

    /// A batch is in the journal, not yet in redb.
    pub fn set_staged(&self) {
        self.staged.store(true, Ordering::SeqCst);
    }

    /// Everything written is in redb.
    pub fn set_visible(&self) {
        self.staged.store(false, Ordering::SeqCst);
    }

    /// Records up to `seq` are durable.
    pub fn set_durable(&self, seq: u64) {
        self.durable.fetch_max(seq, Ordering::SeqCst);
    }

    /// Whether some batch is in the journal and not yet in redb.
    pub fn hidden(&self) -> bool {
        self.staged.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::Watermarks;
    use std::sync::atomic::Ordering;

    #[test]
    fn the_durable_mark_never_moves_back_and_staging_is_cleared_by_a_commit() {
        let marks = Watermarks::new(3);
        let durable = marks.durable();
        assert!(!marks.hidden());
        marks.set_staged();
        assert!(marks.hidden());
        marks.set_durable(10);
        assert_eq!(durable.load(Ordering::SeqCst), 10);
        marks.set_durable(7);
        assert_eq!(marks.durable_seq(), 10, "never moves back");
        marks.set_visible();
        assert!(!marks.hidden());
    }
}
