//! `gavel log verify --from postgres://`: check one node's shipped chain
//! from the database alone.
//!
//! Rows are streamed in order through a portal (a few thousand at a time,
//! memory flat) in one read-only repeatable-read transaction (one
//! snapshot). Checked: gap-free sequence from 1; each chain hash
//! recomputed from the stored bytes; each previous hash equal to the
//! previous row's chain hash; the bytes decode as the record they are
//! filed under; the queryable columns and the `jsonb` record agree with
//! the decoded bytes (a tamperer could edit only those); the cursor row
//! equals the last row; every shipped checkpoint verifies against the
//! trusted key and names the recomputed head at its size.

use super::batch::{Columns, export_form};
use super::sink::{connect, error_text, pg_error};
use super::target::Target;
use super::{ShipError, validate_node};
use crate::log::{ChainHash, Checkpoint, GENESIS, LogEntry, VerifyProblem, VerifyReport};
use ed25519_dalek::VerifyingKey;
use std::collections::BTreeMap;

/// Rows fetched per round trip.
const FETCH_ROWS: i32 = 2000;

/// Most problems reported one by one; the rest are counted.
pub const MAX_PROBLEMS: usize = 1000;

const ROWS: &str = "SELECT seq, time_ms, round(extract(epoch FROM time) * 1000)::int8, kind, agent, action, verdict, chain_hash, prev_hash, body, record FROM gavel_records WHERE node = $1 ORDER BY seq";
const CURSOR: &str = "SELECT seq, chain_hash FROM gavel_cursors WHERE node = $1";
const CHECKPOINTS: &str =
    "SELECT size, raw, checkpoint FROM gavel_checkpoints WHERE node = $1 ORDER BY size";

/// Problems, capped at [`MAX_PROBLEMS`].
#[derive(Debug, Default)]
struct Problems {
    list: Vec<VerifyProblem>,
    more: u64,
}

impl Problems {
    fn add(&mut self, seq: u64, problem: String) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(VerifyProblem { seq, problem });
        } else {
            self.more += 1;
        }
    }
}

/// Verify node `node`'s records in the database at `target` against the
/// trusted key (and any exported checkpoints).
pub async fn verify_from_postgres(
    target: &Target,
    node: &str,
    trusted: &VerifyingKey,
    exported: &[Checkpoint],
) -> Result<VerifyReport, ShipError> {
    validate_node(node)?;
    let mut client = connect(target).await?;
    let at = target.display.as_str();
    let fail = |what: &str, e: tokio_postgres::Error| pg_error(at, what, error_text(&e));
    let txn = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| fail("starting a read transaction", e))?;
    let mut problems = Problems::default();

    // Checkpoints first (few: one per thousand records), to know which
    // sizes' hashes to remember.
    let mut shipped_checkpoints = Vec::new();
    for row in txn
        .query(CHECKPOINTS, &[&node])
        .await
        .map_err(|e| fail("reading checkpoints", e))?
    {
        let size: i64 = row.try_get(0).map_err(|e| fail("reading checkpoints", e))?;
        let raw: String = row.try_get(1).map_err(|e| fail("reading checkpoints", e))?;
        let json: serde_json::Value = row.try_get(2).map_err(|e| fail("reading checkpoints", e))?;
        let size = u64::try_from(size).unwrap_or(0);
        match serde_json::from_str::<Checkpoint>(&raw) {
            Ok(c) if c.size != size => problems.add(
                size.max(1),
                format!("shipped checkpoint under {size} says size {}", c.size),
            ),
            Ok(c) => {
                if serde_json::to_value(&c).ok().as_ref() != Some(&json) {
                    problems.add(
                        size.max(1),
                        format!("shipped checkpoint at {size}: its jsonb differs from its signed text (altered?)"),
                    );
                }
                shipped_checkpoints.push(c);
            }
            Err(e) => problems.add(
                size.max(1),
                format!("shipped checkpoint at {size} does not decode: {e}"),
            ),
        }
    }
    let wanted: std::collections::BTreeSet<u64> = shipped_checkpoints
        .iter()
        .chain(exported)
        .map(|c| c.size)
        .collect();
    let mut at_size: BTreeMap<u64, ChainHash> = BTreeMap::new();

    let statement = txn
        .prepare(ROWS)
        .await
        .map_err(|e| fail("reading records", e))?;
    let portal = txn
        .bind(&statement, &[&node])
        .await
        .map_err(|e| fail("reading records", e))?;
    let mut previous = GENESIS;
    let mut count = 0u64;
    let mut verified = 0u64;
    let mut chain_ok = true;
    loop {
        let rows = txn
            .query_portal(&portal, FETCH_ROWS)
            .await
            .map_err(|e| fail("reading records", e))?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            count += 1;
            if !chain_ok {
                continue;
            }
            let cell = |e: tokio_postgres::Error| fail("reading records", e);
            let seq: i64 = row.try_get(0).map_err(cell)?;
            let seq = u64::try_from(seq).unwrap_or(0);
            if seq != verified + 1 {
                problems.add(
                    verified + 1,
                    format!("record {} is missing (the next row is {seq})", verified + 1),
                );
                chain_ok = false;
                continue;
            }
            let chain_hash: Vec<u8> = row.try_get(7).map_err(cell)?;
            let prev_hash: Vec<u8> = row.try_get(8).map_err(cell)?;
            let body: Vec<u8> = row.try_get(9).map_err(cell)?;
            if prev_hash.as_slice() != previous.as_slice() {
                problems.add(
                    seq,
                    format!(
                        "record {seq}'s previous hash is not record {}'s chain hash: the chain was altered",
                        seq - 1
                    ),
                );
                chain_ok = false;
                continue;
            }
            let computed = crate::log::chain_next(&previous, seq, &body);
            if computed.as_slice() != chain_hash.as_slice() {
                problems.add(
                    seq,
                    format!(
                        "record {seq}: chain hash mismatch: the record or the chain was altered"
                    ),
                );
                chain_ok = false;
                continue;
            }
            let entry = match LogEntry::from_bytes(&body) {
                Ok(entry) if entry.seq == seq => entry,
                Ok(entry) => {
                    problems.add(seq, format!("row {seq} holds record {}", entry.seq));
                    chain_ok = false;
                    continue;
                }
                Err(e) => {
                    problems.add(seq, format!("record {seq} does not decode: {e}"));
                    chain_ok = false;
                    continue;
                }
            };
            previous = computed;
            verified = seq;
            if wanted.contains(&seq) {
                at_size.insert(seq, computed);
            }
            // The queryable columns and the jsonb must say what the bytes say.
            let time_ms: i64 = row.try_get(1).map_err(cell)?;
            let time_col: i64 = row.try_get(2).map_err(cell)?;
            let kind: String = row.try_get(3).map_err(cell)?;
            let stored = Columns {
                agent: row.try_get(4).map_err(cell)?,
                action: row.try_get(5).map_err(cell)?,
                verdict: row.try_get(6).map_err(cell)?,
            };
            let record: serde_json::Value = row.try_get(10).map_err(cell)?;
            let expected = Columns::of(&entry.event);
            let mut differs = Vec::new();
            if time_ms != entry.time_ms || time_col != entry.time_ms {
                differs.push("time");
            }
            if kind != entry.event.kind() {
                differs.push("kind");
            }
            if stored.agent != expected.agent {
                differs.push("agent");
            }
            if stored.action != expected.action {
                differs.push("action");
            }
            if stored.verdict != expected.verdict {
                differs.push("verdict");
            }
            let export = export_form(seq, computed, &entry)
                .ok()
                .and_then(|line| serde_json::from_str::<serde_json::Value>(&line).ok());
            if export.as_ref() != Some(&record) {
                differs.push("record (jsonb)");
            }
            if !differs.is_empty() {
                problems.add(
                    seq,
                    format!(
                        "record {seq}: the {} column{} disagree{} with the stored bytes (altered?)",
                        differs.join(", "),
                        if differs.len() > 1 { "s" } else { "" },
                        if differs.len() > 1 { "" } else { "s" },
                    ),
                );
            }
        }
    }
    drop(portal);

    // The cursor must end where the rows end.
    let cursor = txn
        .query_opt(CURSOR, &[&node])
        .await
        .map_err(|e| fail("reading the cursor", e))?;
    match cursor {
        None if count == 0 => {
            return Err(ShipError::Node(format!(
                "node {node} has no records and no cursor in {at}"
            )));
        }
        None => problems.add(count + 1, format!("node {node}'s cursor row is missing")),
        Some(row) => {
            let seq: i64 = row.try_get(0).map_err(|e| fail("reading the cursor", e))?;
            let hash: Vec<u8> = row.try_get(1).map_err(|e| fail("reading the cursor", e))?;
            let seq = u64::try_from(seq).unwrap_or(0);
            if seq > count && chain_ok {
                problems.add(
                    count + 1,
                    format!("the cursor says {seq} records were shipped, but the rows end at {count}: records were removed from the tail"),
                );
            } else if chain_ok && (seq != verified || hash.as_slice() != previous.as_slice()) {
                problems.add(
                    seq.min(verified) + 1,
                    format!("the cursor ({seq}) disagrees with the rows (the last is {verified})"),
                );
            }
        }
    }
    txn.commit()
        .await
        .map_err(|e| fail("ending the read transaction", e))?;

    let mut checked = 0usize;
    let trusted_hex = hex::encode(trusted.as_bytes());
    for (origin, c) in shipped_checkpoints
        .iter()
        .map(|c| ("shipped", c))
        .chain(exported.iter().map(|c| ("exported", c)))
    {
        checked += 1;
        let at = c.size.max(1);
        if let Err(why) = c.verify(trusted) {
            problems.add(
                at,
                format!("{origin} checkpoint at {}: {why} (forged?)", c.size),
            );
        } else if c.key != trusted_hex {
            problems.add(
                at,
                format!("{origin} checkpoint at {}: names key {:?}, not the trusted key {trusted_hex} (altered?)", c.size, c.key),
            );
        } else if c.signature.bytes().any(|b| b.is_ascii_uppercase()) {
            problems.add(
                at,
                format!(
                    "{origin} checkpoint at {}: the signature is not lowercase hex (altered?)",
                    c.size
                ),
            );
        } else if c.size > count {
            problems.add(
                count + 1,
                format!("{origin} checkpoint covers {} records, but node {node} has {count} rows: the tail was removed", c.size),
            );
        } else {
            match (at_size.get(&c.size), c.head_bytes()) {
                (Some(h), Ok(head)) if *h == head => {}
                (Some(_), _) => problems.add(
                    c.size,
                    format!(
                        "{origin} checkpoint at {} has a different head: history was rewritten",
                        c.size
                    ),
                ),
                (None, _) => {}
            }
        }
    }
    if problems.more > 0 {
        problems.list.push(VerifyProblem {
            seq: u64::MAX,
            problem: format!("... and {} more problems", problems.more),
        });
    }
    let mut list = problems.list;
    list.sort_by_key(|p| p.seq);
    Ok(VerifyReport {
        verified,
        records: count,
        checkpoints: checked,
        head: hex::encode(previous),
        problems: list,
    })
}
