//! The journal: where a commit becomes durable.
//!
//! A durable redb commit costs about 0.8 ms here, most of it writing and
//! syncing some 25 scattered pages. The writer instead commits each batch
//! to redb without syncing (readers see it at once), appends the same batch
//! to this journal (`gavel.journal`, next to `gavel.redb`) and syncs only
//! the journal: one sequential write into space written before, so the sync
//! flushes data and no metadata.
//!
//! The journal is a redo log of the commits since redb's last durable one:
//! - two header slots (offsets 0 and 512), used by alternate epochs: magic,
//!   epoch, the head (seq and chain hash) of the durable redb commit the
//!   epoch starts from, and a checksum;
//! - frames from offset 4096: magic, length, epoch, the offset up to which
//!   the journal was synced when the frame was written, a checksum, then
//!   one encoded [`CommitBatch`].
//!
//! redb's `meta` table names the live epoch (`JOURNAL_KEY`: epoch, and
//! whether the log was closed cleanly). A new epoch starts with a durable
//! redb commit: its slot is written and synced first, then redb commits
//! with the new epoch in `meta`. When the journal is full, or the epoch is
//! a second old, a durable redb commit starts a new epoch and frames start
//! again at 4096; frames of older epochs are ignored.
//!
//! After a crash, opening the log replays the live epoch's frames: each
//! must continue the chain from the slot's head, which must be redb's
//! head. Replay stops at the first frame that is not whole (a write the
//! crash cut, never acknowledged as durable). A whole frame after it that
//! was written once the broken one was synced means acknowledged records
//! are lost: the log is refused as damaged. So is a live journal that is
//! missing, or whose slot does not match redb's head.

use super::LogError;
use super::commit_batch::CommitBatch;
use super::file_identity::FileIdentity;
use super::syncer::SyncState;
use super::tables::{JOURNAL_KEY, META};
use super::writer::Head;
use redb::{Database, Durability, ReadableDatabase};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The journal's size: when the next frame would not fit, a durable redb
/// commit starts a new epoch.
pub const JOURNAL_BYTES: u64 = 32 * 1024 * 1024;
/// The longest an epoch lasts: redb holds state for every commit since
/// its last durable one (memory that grows with them), so a durable commit
/// follows at least this often.
pub const EPOCH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// Where frames start.
const FRAMES_START: u64 = 4096;
/// Space is written (with zeros) ahead of the frames, at least this much at
/// a time, so that a sync never has to record a new file size.
const GROW_BYTES: u64 = 1024 * 1024;
const SLOT_MAGIC: &[u8; 8] = b"GVLJRNL1";
const SLOT_BYTES: usize = 64;
const FRAME_MAGIC: &[u8; 4] = b"GJFR";
const FRAME_HEADER: usize = 32;

/// The journal file of the log at `log`.
pub fn journal_path(log: &Path) -> PathBuf {
    log.with_extension("journal")
}

/// What redb's `meta` says of the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalState {
    /// The live epoch.
    pub epoch: u64,
    /// Closed cleanly: redb holds everything, the journal holds nothing live.
    pub clean: bool,
}

impl JournalState {
    fn encode(self) -> [u8; 9] {
        let mut out = [0u8; 9];
        out[..8].copy_from_slice(&self.epoch.to_be_bytes());
        out[8] = u8::from(self.clean);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (epoch, clean) = bytes.split_first_chunk::<8>()?;
        let clean = match clean {
            [0] => false,
            [1] => true,
            _ => return None,
        };
        Some(JournalState {
            epoch: u64::from_be_bytes(*epoch),
            clean,
        })
    }

    /// Read it from `db`; `None` for a log that never had a journal.
    pub fn read(db: &impl ReadableDatabase) -> Result<Option<Self>, LogError> {
        let read = db.begin_read().map_err(LogError::storage)?;
        let meta = read.open_table(META).map_err(LogError::storage)?;
        let value = meta.get(JOURNAL_KEY).map_err(LogError::storage)?;
        value
            .map(|v| {
                Self::decode(v.value()).ok_or_else(|| {
                    LogError::Damaged("the journal's state in the log does not decode".to_owned())
                })
            })
            .transpose()
    }

    /// Write it in `txn`.
    pub fn write(self, txn: &redb::WriteTransaction) -> Result<(), LogError> {
        let mut meta = txn.open_table(META).map_err(LogError::storage)?;
        meta.insert(JOURNAL_KEY, self.encode().as_slice())
            .map_err(LogError::storage)?;
        Ok(())
    }
}

fn checksum(parts: &[&[u8]]) -> [u8; 8] {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
    }
    let digest: [u8; 32] = h.finalize().into();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

fn encode_slot(epoch: u64, head: &Head) -> [u8; SLOT_BYTES] {
    let mut out = [0u8; SLOT_BYTES];
    out[..8].copy_from_slice(SLOT_MAGIC);
    out[8..16].copy_from_slice(&epoch.to_be_bytes());
    out[16..24].copy_from_slice(&head.seq.to_be_bytes());
    out[24..56].copy_from_slice(&head.hash);
    let sum = checksum(&[&out[..56]]);
    out[56..].copy_from_slice(&sum);
    out
}

/// The epoch and head of the slot at `epoch`'s parity, if it is whole and
/// of that epoch.
fn read_slot(data: &[u8], epoch: u64) -> Option<(u64, [u8; 32])> {
    let at = usize::try_from(epoch % 2).ok()? * 512;
    let slot = data.get(at..at + SLOT_BYTES)?;
    if slot.get(..8)? != SLOT_MAGIC || slot.get(56..)? != checksum(&[slot.get(..56)?]) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        Some(u64::from_be_bytes(slot.get(range)?.try_into().ok()?))
    };
    if number(8..16)? != epoch {
        return None;
    }
    Some((number(16..24)?, slot.get(24..56)?.try_into().ok()?))
}

/// A whole frame of `epoch` at `at`: (its payload, the synced offset it
/// recorded, where the next frame starts).
fn read_frame(data: &[u8], at: usize, epoch: u64) -> Option<(&[u8], u64, usize)> {
    let header = data.get(at..at.checked_add(FRAME_HEADER)?)?;
    if header.get(..4)? != FRAME_MAGIC {
        return None;
    }
    let len = usize::try_from(u32::from_be_bytes(header.get(4..8)?.try_into().ok()?)).ok()?;
    if u64::from_be_bytes(header.get(8..16)?.try_into().ok()?) != epoch {
        return None;
    }
    let synced = u64::from_be_bytes(header.get(16..24)?.try_into().ok()?);
    let start = at + FRAME_HEADER;
    let payload = data.get(start..start.checked_add(len)?)?;
    if header.get(24..32)? != checksum(&[header.get(..24)?, payload]) {
        return None;
    }
    Some((payload, synced, start + len))
}

/// The live frames of `epoch` in `data`, or why the journal is damaged.
fn live_frames(data: &[u8], epoch: u64) -> Result<Vec<&[u8]>, String> {
    let mut at = FRAMES_START as usize;
    let mut frames = Vec::new();
    while let Some((payload, _, next)) = read_frame(data, at, epoch) {
        frames.push(payload);
        at = next;
    }
    // `at` is not a whole frame. Any whole frame of the epoch after it that
    // was written once `at` was synced proves that synced records are lost.
    let broken = at as u64;
    let mut probe = at + 1;
    while let Some(found) = data
        .get(probe..)
        .and_then(|rest| rest.windows(4).position(|w| w == FRAME_MAGIC))
    {
        let candidate = probe + found;
        if let Some((_, synced, _)) = read_frame(data, candidate, epoch)
            && synced > broken
        {
            return Err(format!(
                "the journal's frame at offset {broken} is damaged, and the frame at offset \
                 {candidate} was written after it was synced: acknowledged records are lost"
            ));
        }
        probe = candidate + 1;
    }
    Ok(frames)
}

/// Read the journal at `path` whole: a regular file under the size cap.
/// `None` when there is none.
fn read_file(path: &Path) -> Result<Option<Vec<u8>>, LogError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LogError::Storage(format!(
                "cannot read the journal {}: {e}",
                path.display()
            )));
        }
    };
    if !meta.is_file() {
        return Err(LogError::Damaged(format!(
            "the journal {} is not a regular file",
            path.display()
        )));
    }
    if meta.len() > JOURNAL_BYTES {
        return Err(LogError::Damaged(format!(
            "the journal {} is larger ({} bytes) than a journal can be ({JOURNAL_BYTES})",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read(path)
        .map(Some)
        .map_err(|e| LogError::Storage(format!("cannot read the journal {}: {e}", path.display())))
}

/// The batches a live journal holds beyond `head`, checked against it.
fn pending_batches(
    path: &Path,
    data: Option<&[u8]>,
    state: JournalState,
    head: Head,
) -> Result<Vec<CommitBatch>, LogError> {
    let damaged = |what: String| LogError::Damaged(format!("{}: {what}", path.display()));
    let data = data.ok_or_else(|| {
        damaged(
            "the journal is missing, but the log was not closed cleanly: records acknowledged \
             since its last full commit may be lost (restore the journal, or move the log aside)"
                .to_owned(),
        )
    })?;
    let (seq, hash) = read_slot(data, state.epoch).ok_or_else(|| {
        damaged(format!(
            "the journal has no whole header for its live epoch {}",
            state.epoch
        ))
    })?;
    if seq != head.seq || hash != head.hash {
        return Err(damaged(format!(
            "the journal starts after record {seq}, but the log's durable head is record {}",
            head.seq
        )));
    }
    let mut before = head;
    let mut batches = Vec::new();
    for payload in live_frames(data, state.epoch).map_err(damaged)? {
        let batch = CommitBatch::decode(payload, before)
            .map_err(|e| damaged(format!("after record {}: {e}", before.seq)))?;
        before = batch.head;
        batches.push(batch);
    }
    Ok(batches)
}

/// Whether the journal of the log at `log` holds records redb does not
/// (a crash left them): readers then need a writable open to replay them.
pub fn has_pending(log: &Path, db: &impl ReadableDatabase, head: Head) -> Result<bool, LogError> {
    match JournalState::read(db)? {
        Some(state) if !state.clean => {
            let path = journal_path(log);
            let data = read_file(&path)?;
            Ok(!pending_batches(&path, data.as_deref(), state, head)?.is_empty())
        }
        _ => Ok(false),
    }
}

/// The open journal.
#[derive(Debug)]
pub struct Journal {
    file: File,
    identity: FileIdentity,
    epoch: u64,
    /// Where the next frame goes.
    offset: u64,
    /// The file's length: space written ahead.
    allocated: u64,
    /// How far the journal is synced (kept by the syncer).
    sync_state: SyncState,
    /// When the epoch started.
    started: std::time::Instant,
}

impl Journal {
    /// Open the journal of the log at `log` (creating it if needed), replay
    /// into `db` what a crash left in it beyond `head`, and start a new
    /// epoch with a durable commit. Returns the journal and the head after
    /// the replay.
    pub fn open(log: &Path, db: &Database, head: Head) -> Result<(Journal, Head), LogError> {
        let path = journal_path(log);
        let state = JournalState::read(db)?;
        let data = read_file(&path)?;
        let batches = match state {
            Some(state) if !state.clean => pending_batches(&path, data.as_deref(), state, head)?,
            _ => Vec::new(),
        };
        let created = data.is_none();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                LogError::Storage(format!("cannot open the journal {}: {e}", path.display()))
            })?;
        if created && let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        let handle = file.try_clone().map_err(|e| {
            LogError::Storage(format!("cannot open the journal {}: {e}", path.display()))
        })?;
        let allocated = data.as_ref().map_or(0, |d| d.len() as u64);
        let mut journal = Journal {
            identity: FileIdentity::new(&path, handle)?,
            file,
            epoch: state.map_or(0, |s| s.epoch),
            offset: FRAMES_START,
            allocated,
            sync_state: SyncState::new(0, FRAMES_START),
            started: std::time::Instant::now(),
        };
        let after = batches.last().map_or(head, |b| b.head);
        if !batches.is_empty() {
            tracing::warn!(
                "replaying {} records from the journal {} (the log was not closed cleanly)",
                after.seq - head.seq,
                path.display()
            );
        }
        journal.commit_durably(db, &batches, after)?;
        Ok((journal, after))
    }

    /// `Ok` while the journal's path still names the open file.
    pub fn check(&self) -> Result<(), LogError> {
        self.identity.check()
    }

    /// Whether a frame of `len` payload bytes fits after the last one,
    /// in an epoch younger than [`EPOCH_INTERVAL`].
    pub fn fits(&self, len: usize) -> bool {
        self.offset + (FRAME_HEADER + len) as u64 <= JOURNAL_BYTES
            && self.started.elapsed() < EPOCH_INTERVAL
    }

    /// Append one batch's frame (not yet synced).
    pub fn append(&mut self, payload: &[u8]) -> Result<(), LogError> {
        let len = u32::try_from(payload.len())
            .map_err(|_| LogError::Storage("a journal frame is too large".to_owned()))?;
        let end = self.offset + (FRAME_HEADER + payload.len()) as u64;
        self.reserve(end)?;
        let mut frame = Vec::with_capacity(FRAME_HEADER + payload.len());
        frame.extend_from_slice(FRAME_MAGIC);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&self.epoch.to_be_bytes());
        let synced = self
            .sync_state
            .synced_in(self.epoch)
            .unwrap_or(FRAMES_START);
        frame.extend_from_slice(&synced.to_be_bytes());
        let sum = checksum(&[&frame, payload]);
        frame.extend_from_slice(&sum);
        frame.extend_from_slice(payload);
        self.file
            .write_all_at(&frame, self.offset)
            .map_err(|e| LogError::Storage(format!("writing the journal: {e}")))?;
        self.offset = end;
        Ok(())
    }

    /// The epoch and where its frames end: what a sync must cover.
    pub fn position(&self) -> (u64, u64) {
        (self.epoch, self.offset)
    }

    /// A handle for the syncer, and the state it shares.
    pub fn sync_handle(&self) -> Result<(File, SyncState), LogError> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| LogError::Storage(format!("cannot open the journal twice: {e}")))?;
        Ok((file, self.sync_state.clone()))
    }

    /// Write zeros up to at least `end`, and sync them, so that appends
    /// never grow the file.
    fn reserve(&mut self, end: u64) -> Result<(), LogError> {
        if end <= self.allocated {
            return Ok(());
        }
        let target = end.max(self.allocated * 2).clamp(GROW_BYTES, JOURNAL_BYTES);
        let zeros = vec![0u8; GROW_BYTES as usize];
        let mut at = self.allocated;
        while at < target {
            let n = (target - at).min(GROW_BYTES) as usize;
            self.file
                .write_all_at(zeros.get(..n).unwrap_or_default(), at)
                .map_err(|e| LogError::Storage(format!("growing the journal: {e}")))?;
            at += n as u64;
        }
        self.file
            .sync_data()
            .map_err(|e| LogError::Storage(format!("growing the journal: {e}")))?;
        self.allocated = target;
        Ok(())
    }

    /// Commit `batches` to redb durably and start a new, empty epoch from
    /// `head` (their head): the new slot is synced first, then redb commits
    /// with the new epoch in `meta`. A crash in between leaves the old
    /// epoch live, with every frame it had.
    pub fn commit_durably(
        &mut self,
        db: &Database,
        batches: &[CommitBatch],
        head: Head,
    ) -> Result<(), LogError> {
        let epoch = self.epoch + 1;
        let slot = encode_slot(epoch, &head);
        self.reserve(FRAMES_START)?;
        self.file
            .write_all_at(&slot, (epoch % 2) * 512)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| LogError::Storage(format!("writing the journal's header: {e}")))?;
        commit(
            db,
            batches,
            JournalState {
                epoch,
                clean: false,
            },
        )?;
        self.epoch = epoch;
        self.offset = FRAMES_START;
        self.started = std::time::Instant::now();
        *self
            .sync_state
            .synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (epoch, FRAMES_START);
        Ok(())
    }

    /// Commit `batches` to redb durably and mark the log closed cleanly:
    /// the journal holds nothing live after it.
    pub fn close(&mut self, db: &Database, batches: &[CommitBatch]) -> Result<(), LogError> {
        let state = JournalState {
            epoch: self.epoch,
            clean: true,
        };
        commit(db, batches, state)
    }
}

/// One durable redb transaction: `batches`, then the journal's `state`.
fn commit(db: &Database, batches: &[CommitBatch], state: JournalState) -> Result<(), LogError> {
    let mut txn = db.begin_write().map_err(LogError::storage)?;
    txn.set_durability(Durability::Immediate)
        .map_err(LogError::storage)?;
    for batch in batches {
        batch.apply(&txn)?;
    }
    state.write(&txn)?;
    txn.commit().map_err(LogError::storage)
}

/// Make a new file's directory entry durable.
fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::Storage(format!("syncing {}: {e}", dir.display())))
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
