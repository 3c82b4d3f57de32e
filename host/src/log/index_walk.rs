//! Reading the indexes of both formats: the sequence numbers an agent's
//! entries or a time window name, in order.
//!
//! Records of the first format are indexed one entry each (`by_agent`,
//! `by_time`); records written since, one entry per commit
//! (`batch_index`). Every record of the first format comes before every
//! compact one, so a walk oldest first reads the old index, then the new,
//! and newest first the other way round.

use super::LogError;
use super::batch_index::{AGENT_BATCHES, BATCH_TIMES, decode_seqs, decode_times};
use super::query::TimeRange;
use super::tables::{BY_AGENT, BY_TIME, RECORDS};
use redb::{ReadTransaction, ReadableTable};
use std::ops::{Bound, ControlFlow};

/// Which way to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Lowest sequence number (or log time) first.
    OldestFirst,
    /// Highest first.
    NewestFirst,
}

/// What a visit returns: go on or stop.
pub type Flow = Result<ControlFlow<()>, LogError>;

/// Open an index table that an older log may not have (`None` then).
pub fn open_index<K: redb::Key + 'static, V: redb::Value + 'static>(
    read: &ReadTransaction,
    table: redb::TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, LogError> {
    match read.open_table(table) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(LogError::storage(e)),
    }
}

fn damaged(what: impl std::fmt::Display) -> LogError {
    LogError::Storage(format!("{what}: the log is damaged (verify it)"))
}

/// Hand `visit` the seq of every decision of `agent`, in `order`.
pub fn agent_seqs(
    read: &ReadTransaction,
    agent: &str,
    order: Order,
    visit: &mut dyn FnMut(u64) -> Flow,
) -> Flow {
    let old = |visit: &mut dyn FnMut(u64) -> Flow| -> Flow {
        let Some(index) = open_index(read, BY_AGENT)? else {
            return Ok(ControlFlow::Continue(()));
        };
        let range = index
            .range((agent, 0u64)..=(agent, u64::MAX))
            .map_err(LogError::storage)?;
        drive(range, order, |item| {
            let (key, _) = item.map_err(LogError::storage)?;
            visit(key.value().1)
        })
    };
    let new = |visit: &mut dyn FnMut(u64) -> Flow| -> Flow {
        let Some(index) = open_index(read, AGENT_BATCHES)? else {
            return Ok(ControlFlow::Continue(()));
        };
        let range = index
            .range((agent, 0u64)..=(agent, u64::MAX))
            .map_err(LogError::storage)?;
        drive(range, order, |item| {
            let (key, value) = item.map_err(LogError::storage)?;
            let first = key.value().1;
            let seqs = decode_seqs(first, value.value())
                .map_err(|why| damaged(format!("the agent index at record {first}: {why}")))?;
            drive(seqs.into_iter(), order, &mut *visit)
        })
    };
    both(order, visit, old, new)
}

/// Hand `visit` the seq of every record the time indexes place in or near
/// `window`, in `order`: the first format's entries exactly, and every
/// record of each compact commit whose time range meets the window (the
/// caller checks each record's own time).
pub fn time_seqs(
    read: &ReadTransaction,
    window: TimeRange,
    order: Order,
    visit: &mut dyn FnMut(u64) -> Flow,
) -> Flow {
    let old = |visit: &mut dyn FnMut(u64) -> Flow| -> Flow {
        let Some(index) = open_index(read, BY_TIME)? else {
            return Ok(ControlFlow::Continue(()));
        };
        let lo = window
            .since()
            .map_or(Bound::Unbounded, |s| Bound::Included((s, 0u64)));
        let hi = window
            .until()
            .map_or(Bound::Unbounded, |u| Bound::Excluded((u, 0u64)));
        let range = index
            .range::<(i64, u64)>((lo, hi))
            .map_err(LogError::storage)?;
        drive(range, order, |item| {
            let (key, _) = item.map_err(LogError::storage)?;
            visit(key.value().1)
        })
    };
    let new = |visit: &mut dyn FnMut(u64) -> Flow| -> Flow {
        let last = read
            .open_table(RECORDS)
            .map_err(LogError::storage)?
            .last()
            .map_err(LogError::storage)?
            .map_or(0, |(k, _)| k.value());
        let Some(index) = open_index(read, BATCH_TIMES)? else {
            return Ok(ControlFlow::Continue(()));
        };
        let mut commits = Vec::new();
        for item in index.iter().map_err(LogError::storage)? {
            let (key, value) = item.map_err(LogError::storage)?;
            let first = key.value();
            let (min, max) = decode_times(value.value())
                .ok_or_else(|| damaged(format!("the time index at record {first} is malformed")))?;
            commits.push((first, min, max));
        }
        // A commit's records run to the next commit's first seq.
        let ends = commits
            .iter()
            .skip(1)
            .map(|(next, _, _)| next.saturating_sub(1))
            .chain(std::iter::once(last));
        let meeting: Vec<(u64, u64)> = commits
            .iter()
            .zip(ends)
            .filter(|((_, min, max), _)| meets(window, *min, *max))
            .map(|((first, _, _), end)| (*first, end))
            .collect();
        drive(meeting.into_iter(), order, |(first, end)| {
            drive(first..=end, order, &mut *visit)
        })
    };
    both(order, visit, old, new)
}

/// Whether `[min, max]` meets the half-open `window`.
fn meets(window: TimeRange, min: i64, max: i64) -> bool {
    window.since().is_none_or(|s| max >= s) && window.until().is_none_or(|u| min < u)
}

/// A walk over one index, handing each seq to a visitor.
type Walk<'a> = dyn Fn(&mut dyn FnMut(u64) -> Flow) -> Flow + 'a;

/// The old index, then the new (or the other way round, newest first).
fn both(
    order: Order,
    visit: &mut dyn FnMut(u64) -> Flow,
    old: impl Fn(&mut dyn FnMut(u64) -> Flow) -> Flow,
    new: impl Fn(&mut dyn FnMut(u64) -> Flow) -> Flow,
) -> Flow {
    let (a, b): (&Walk<'_>, &Walk<'_>) = match order {
        Order::OldestFirst => (&old, &new),
        Order::NewestFirst => (&new, &old),
    };
    if a(visit)?.is_break() {
        return Ok(ControlFlow::Break(()));
    }
    b(visit)
}

/// Feed the items of a double-ended iterator to `f` in `order` until it breaks.
pub fn drive<I, F>(iter: I, order: Order, mut f: F) -> Flow
where
    I: DoubleEndedIterator,
    F: FnMut(I::Item) -> Flow,
{
    match order {
        Order::OldestFirst => {
            for item in iter {
                if f(item)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        Order::NewestFirst => {
            for item in iter.rev() {
                if f(item)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}
