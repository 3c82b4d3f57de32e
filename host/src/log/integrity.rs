//! The check a writer makes before it appends to a log it opened.
//!
//! A damaged log must never go on recording decisions as if nothing had
//! happened: records appended after the damage would be chained onto a
//! history that no longer verifies, and a decision approved "with its
//! record" would have no trustworthy trail. So before the writer starts:
//!
//! 1. redb's own integrity check ([`redb::Database::check_integrity`])
//!    verifies the checksum of every reachable page. When it finds damage
//!    it repairs the file's structure by rolling back to the last commit
//!    that verifies, which can drop acknowledged records; the damage is
//!    then recorded in a marker file next to the log
//!    ([`DAMAGED_MARKER`]), and every later open is refused until an
//!    operator has checked the log and removed the marker.
//! 2. The head (`meta/head`) is checked against the chain: the record it
//!    names is the last record, its stored hash equals the head's hash,
//!    and recomputing `h_n` from its bytes and the previous record's hash
//!    gives that hash again. (The whole chain is `gavel log verify`'s job.)
//!
//! Either failure is [`LogError::Damaged`]: the log is refused, so no
//! decision is made without it.

use super::LogError;
use super::chain::{self, ChainHash, GENESIS};
use super::entry::LogEntry;
use super::guard;
use super::tables::{self, HEAD_KEY, META, RECORDS};
use redb::{Database, ReadableDatabase, ReadableTable};
use std::path::{Path, PathBuf};

/// The marker left in the data directory when redb found the log damaged
/// (and repaired its structure). While it exists the log is not opened for
/// writing.
pub const DAMAGED_MARKER: &str = "gavel.redb.damaged";

/// The marker's path for a log in `data_dir`.
pub fn marker_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DAMAGED_MARKER)
}

/// What the marker in `data_dir` says, if there is one.
pub fn damage_recorded(data_dir: &Path) -> Option<String> {
    let path = marker_path(data_dir);
    match std::fs::symlink_metadata(&path) {
        Ok(_) => Some(
            crate::bounded_read::read_regular(&path, 64 * 1024)
                .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
                .unwrap_or_else(|e| format!("(the marker cannot be read: {e})")),
        ),
        Err(_) => None,
    }
}

/// Refuse a log whose damage was recorded earlier.
pub fn refuse_if_marked(data_dir: &Path) -> Result<(), LogError> {
    match damage_recorded(data_dir) {
        None => Ok(()),
        Some(what) => Err(LogError::Damaged(format!(
            "{what}; once the log has been checked (gavel log verify, with exported \
             checkpoints) and restored or accepted, remove {} to use it again",
            marker_path(data_dir).display()
        ))),
    }
}

/// Run redb's integrity check on a freshly opened log. `marker_dir`, when
/// set, is where damage is recorded (see [`DAMAGED_MARKER`]).
pub fn check_storage(db: &mut Database, marker_dir: Option<&Path>) -> Result<(), LogError> {
    let outcome = guard::catch(|| db.check_integrity())
        .map_err(|why| guard::damaged("checking the log's integrity", &why))?;
    let stamp = super::format_time(super::now_ms()).unwrap_or_default();
    match outcome {
        Ok(true) => Ok(()),
        Ok(false) => {
            // The repair destroyed the evidence: record it, so that the
            // next open does not take the rolled-back file for intact.
            let problem = format!(
                "redb's integrity check found the log file damaged at {stamp} and rolled it \
                 back to its last intact commit, which can drop acknowledged records"
            );
            if let Some(dir) = marker_dir {
                let path = marker_path(dir);
                if let Err(e) = std::fs::write(&path, format!("{problem}\n")) {
                    tracing::error!("cannot write {}: {e}", path.display());
                }
            }
            Err(LogError::Damaged(problem))
        }
        Err(e) => Err(LogError::Damaged(format!(
            "redb's integrity check failed: {e} (gavel log verify names the first bad record; \
             restore the log from a backup, or move it aside to start a new one)"
        ))),
    }
}

/// Check that the head `(seq, hash)` read from `db` is the chain's last
/// link (see the module documentation).
pub fn check_head(db: &Database) -> Result<(), LogError> {
    guard::contain("checking the log's head", || {
        let read = db.begin_read().map_err(LogError::storage)?;
        let meta = read.open_table(META).map_err(LogError::storage)?;
        let records = read.open_table(RECORDS).map_err(LogError::storage)?;
        let head =
            match meta.get(HEAD_KEY).map_err(LogError::storage)? {
                None => None,
                Some(v) => Some(tables::decode_head(v.value()).ok_or_else(|| {
                    LogError::Damaged("the head record does not decode".to_owned())
                })?),
            };
        let last = records
            .last()
            .map_err(LogError::storage)?
            .map(|(k, _)| k.value());
        let (seq, hash) = match (head, last) {
            (None, None) => return Ok(()),
            (None, Some(last)) => {
                return Err(LogError::Damaged(format!(
                    "the head record is missing, but the log holds records up to {last}"
                )));
            }
            (Some((seq, hash)), last) if last == Some(seq) => (seq, hash),
            (Some((seq, _)), last) => {
                return Err(LogError::Damaged(format!(
                    "the head names record {seq}, but the last record is {}",
                    last.map_or("none".to_owned(), |l| l.to_string())
                )));
            }
        };
        let stored = |n: u64| -> Result<(ChainHash, Vec<u8>), LogError> {
            let value = records
                .get(n)
                .map_err(LogError::storage)?
                .ok_or_else(|| LogError::Damaged(format!("record {n} is missing")))?;
            let (hash, body) = tables::split_record(value.value()).ok_or_else(|| {
                LogError::Damaged(format!("record {n} is too short to hold a chain hash"))
            })?;
            Ok((hash, body.to_vec()))
        };
        let (stored_hash, body) = stored(seq)?;
        let previous = match seq {
            0 | 1 => GENESIS,
            _ => stored(seq - 1)?.0,
        };
        if chain::next(&previous, seq, &body) != stored_hash {
            return Err(LogError::Damaged(format!(
                "record {seq} (the head) does not match its chain hash"
            )));
        }
        if stored_hash != hash {
            return Err(LogError::Damaged(format!(
                "the head's hash differs from record {seq}'s chain hash"
            )));
        }
        match LogEntry::from_bytes(&body) {
            Ok(entry) if entry.seq == seq => Ok(()),
            Ok(entry) => Err(LogError::Damaged(format!(
                "record {seq} (the head) says it is record {}",
                entry.seq
            ))),
            Err(e) => Err(LogError::Damaged(format!(
                "record {seq} (the head) does not decode: {e}"
            ))),
        }
    })
}
