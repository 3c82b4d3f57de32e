//! Reading stored records as they are, for shipping them elsewhere: the
//! exact canonical bytes and chain hashes of records `(after, after + n]`,
//! the hash they continue from, and the checkpoints they cover, all from
//! one snapshot (one short read transaction).

use super::chain::{ChainHash, GENESIS};
use super::tables::{self, CHECKPOINTS, RECORDS};
use super::{LogError, guard};
use redb::{ReadableDatabase, ReadableTable};

/// Most bytes of records in one [`read_for_ship`] (at least one record is
/// always read).
pub const MAX_READ_BYTES: usize = 8 * 1024 * 1024;

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The sequence number.
    pub seq: u64,
    /// Its stored chain hash.
    pub chain_hash: ChainHash,
    /// Its canonical bytes (what the chain hashes).
    pub body: Vec<u8>,
}

/// What [`read_for_ship`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipRead {
    /// The chain hash of record `after` ([`GENESIS`] for 0), or `None`
    /// when the log holds no record `after` (it ends before it).
    pub previous: Option<ChainHash>,
    /// Records after `after`, in order, gap-free.
    pub records: Vec<RawRecord>,
    /// Stored checkpoints (size, signed JSON) with a size after the
    /// `checkpoints_after` given and at most the last record read (or
    /// `after` when none was).
    pub checkpoints: Vec<(u64, Vec<u8>)>,
    /// The last sequence number in the log.
    pub head: u64,
}

/// Up to `max` records after `after` (and at most [`MAX_READ_BYTES`]),
/// with the hash they continue from and the checkpoints after
/// `checkpoints_after` that they cover. A gap in the stored sequence is
/// an error (the log is damaged).
pub fn read_for_ship(
    db: &impl ReadableDatabase,
    after: u64,
    max: usize,
    checkpoints_after: u64,
) -> Result<ShipRead, LogError> {
    guard::contain("reading the log", || {
        let read = db.begin_read().map_err(LogError::storage)?;
        let records = read.open_table(RECORDS).map_err(LogError::storage)?;
        let head = records
            .last()
            .map_err(LogError::storage)?
            .map_or(0, |(k, _)| k.value());
        let previous = match after {
            0 => Some(GENESIS),
            n => match records.get(n).map_err(LogError::storage)? {
                Some(v) => Some(
                    tables::split_record(v.value())
                        .ok_or_else(|| too_short(n))?
                        .0,
                ),
                None => None,
            },
        };
        let mut out = Vec::new();
        let mut bytes = 0usize;
        if previous.is_some() && after < u64::MAX {
            for item in records.range((after + 1)..).map_err(LogError::storage)? {
                if out.len() >= max.max(1) || bytes >= MAX_READ_BYTES {
                    break;
                }
                let (key, value) = item.map_err(LogError::storage)?;
                let seq = key.value();
                let expected = after + out.len() as u64 + 1;
                if seq != expected {
                    return Err(LogError::Damaged(format!(
                        "record {expected} is missing (the next record is {seq})"
                    )));
                }
                let (chain_hash, body) =
                    tables::split_record(value.value()).ok_or_else(|| too_short(seq))?;
                bytes += body.len();
                out.push(RawRecord {
                    seq,
                    chain_hash,
                    body: body.to_vec(),
                });
            }
        }
        let upto = out.last().map_or(after, |r| r.seq);
        let mut checkpoints = Vec::new();
        if upto > checkpoints_after {
            let table = read.open_table(CHECKPOINTS).map_err(LogError::storage)?;
            for item in table
                .range((checkpoints_after + 1)..=upto)
                .map_err(LogError::storage)?
            {
                let (k, v) = item.map_err(LogError::storage)?;
                checkpoints.push((k.value(), v.value().to_vec()));
            }
        }
        Ok(ShipRead {
            previous,
            records: out,
            checkpoints,
            head,
        })
    })
}

fn too_short(seq: u64) -> LogError {
    LogError::Damaged(format!("record {seq} is too short to hold a chain hash"))
}
