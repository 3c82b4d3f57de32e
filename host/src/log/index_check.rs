//! `verify`'s check of the indexes: they must describe the records
//! exactly, or a tampered index could hide records from queries.
//!
//! What the records (`seq` from 1 to `count`, gap-free once the chain
//! verified) must find in the indexes:
//! - the records before the first commit of the compact indexes (`first`,
//!   or every record when there is none): one `by_time` entry each, and one
//!   `by_agent` entry per decision;
//! - from `first` on: commits whose ranges (each to the next one's first
//!   seq, the last to `count`) are not empty, each with its records' least
//!   and greatest log time; every decision listed once, under its agent, in
//!   the commit that holds it;
//! - nothing else.

use super::LogError;
use super::batch_index::{AGENT_BATCHES, BATCH_TIMES, decode_seqs, decode_times};
use super::index_walk::open_index;
use super::tables::{BY_AGENT, BY_TIME};
use redb::{ReadTransaction, ReadableTable};
use std::collections::BTreeSet;

/// What the records say the indexes must hold.
#[derive(Debug, Default)]
pub struct Expected {
    /// Log time of record `i + 1`.
    pub times: Vec<i64>,
    /// (agent, seq) of every decision.
    pub agents: BTreeSet<(String, u64)>,
}

/// The index problems, as (first bad seq, what); empty when they match.
pub fn check(read: &ReadTransaction, expected: &Expected) -> Result<Vec<(u64, String)>, LogError> {
    let count = expected.times.len() as u64;
    let time_of = |seq: u64| {
        usize::try_from(seq.wrapping_sub(1))
            .ok()
            .and_then(|i| expected.times.get(i).copied())
    };
    let mut problems = Vec::new();

    // The compact time index: commit ranges tiling `first..=count`.
    let mut commits = Vec::new();
    let batch_times = open_index(read, BATCH_TIMES)?;
    let batch_times = match &batch_times {
        Some(t) => Some(t.iter().map_err(LogError::storage)?),
        None => None,
    };
    for item in batch_times.into_iter().flatten() {
        let (key, value) = item.map_err(LogError::storage)?;
        commits.push((key.value(), decode_times(value.value())));
    }
    let first = commits.first().map_or(count + 1, |(k, _)| *k);
    let ends = commits
        .iter()
        .skip(1)
        .map(|(next, _)| next.saturating_sub(1))
        .chain(std::iter::once(count));
    let mut ranges = Vec::with_capacity(commits.len());
    for ((start, times), end) in commits.iter().zip(ends) {
        if *start == 0 || *start > end || end > count {
            problems.push((
                (*start).max(1),
                "the time index does not match the records".to_owned(),
            ));
            break;
        }
        let actual = (*start..=end)
            .filter_map(time_of)
            .fold(None, |acc, t| match acc {
                None => Some((t, t)),
                Some((lo, hi)) => Some((t.min(lo), t.max(hi))),
            });
        if actual.is_none() || times.is_none() || *times != actual {
            problems.push((
                (*start).max(1),
                "the time index does not match the records".to_owned(),
            ));
            break;
        }
        ranges.push((*start, end));
    }

    // The first format's time index: exactly the records before `first`.
    let mut old_time = BTreeSet::new();
    let by_time = open_index(read, BY_TIME)?;
    let by_time = match &by_time {
        Some(t) => Some(t.iter().map_err(LogError::storage)?),
        None => None,
    };
    for item in by_time.into_iter().flatten() {
        let (key, _) = item.map_err(LogError::storage)?;
        old_time.insert(key.value());
    }
    let want_time: BTreeSet<(i64, u64)> = (1..first.min(count + 1))
        .filter_map(|seq| time_of(seq).map(|t| (t, seq)))
        .collect();
    if let Some(seq) = old_time
        .symmetric_difference(&want_time)
        .map(|(_, s)| *s)
        .min()
    {
        problems.push((
            seq.max(1),
            "the time index does not match the records".to_owned(),
        ));
    }

    // The agent index, both formats, against every decision.
    let mut found = BTreeSet::new();
    let mut misplaced = None::<u64>;
    let by_agent = open_index(read, BY_AGENT)?;
    let by_agent = match &by_agent {
        Some(t) => Some(t.iter().map_err(LogError::storage)?),
        None => None,
    };
    for item in by_agent.into_iter().flatten() {
        let (key, _) = item.map_err(LogError::storage)?;
        let (agent, seq) = key.value();
        if seq >= first {
            misplaced = Some(misplaced.map_or(seq, |m| m.min(seq)));
        }
        found.insert((agent.to_owned(), seq));
    }
    let agent_batches = open_index(read, AGENT_BATCHES)?;
    let agent_batches = match &agent_batches {
        Some(t) => Some(t.iter().map_err(LogError::storage)?),
        None => None,
    };
    for item in agent_batches.into_iter().flatten() {
        let (key, value) = item.map_err(LogError::storage)?;
        let (agent, start) = key.value();
        let end = ranges.iter().find(|(s, _)| *s == start).map(|(_, e)| *e);
        match (end, decode_seqs(start, value.value())) {
            (Some(end), Ok(seqs)) => {
                for seq in seqs {
                    if seq > end || !found.insert((agent.to_owned(), seq)) {
                        misplaced = Some(misplaced.map_or(seq, |m| m.min(seq)));
                    }
                }
            }
            _ => misplaced = Some(misplaced.map_or(start, |m| m.min(start))),
        }
    }
    let differs = found
        .symmetric_difference(&expected.agents)
        .map(|(_, s)| *s)
        .min();
    if let Some(seq) = [differs, misplaced].into_iter().flatten().min() {
        problems.push((
            seq.max(1),
            "the agent index does not match the records".to_owned(),
        ));
    }
    Ok(problems)
}
