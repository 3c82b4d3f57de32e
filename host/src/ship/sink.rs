//! The PostgreSQL side: the schema, the node's cursor, and the one
//! transaction that ships a batch.

use super::batch::Batch;
use super::schema;
use super::target::Target;
use super::{ShipError, to_i64};
use crate::log::{ChainHash, GENESIS};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// How long one statement or batch may take before the connection is
/// given up (and retried).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a node's shipped chain ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last shipped sequence number (0: nothing yet).
    pub seq: u64,
    /// Its chain hash ([`GENESIS`] for 0).
    pub hash: ChainHash,
}

/// What shipping one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shipped {
    /// The cursor after the batch.
    pub cursor: Cursor,
    /// Rows inserted (rows already present with the same hash are not
    /// counted).
    pub inserted: u64,
}

/// A connection to the central log, as one node.
pub struct Sink {
    client: Client,
    node: String,
    target: String,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("node", &self.node)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// A [`ShipError::Postgres`] for `target`.
pub(crate) fn pg_error(target: &str, what: &str, e: impl std::fmt::Display) -> ShipError {
    ShipError::Postgres {
        target: target.to_owned(),
        what: what.to_owned(),
        error: e.to_string(),
    }
}

/// Connect (within the target's connect timeout) and drive the connection
/// on a task of the current tokio runtime.
pub async fn connect(target: &Target) -> Result<Client, ShipError> {
    let connecting = target.config.connect(NoTls);
    let (client, connection) = tokio::time::timeout(STATEMENT_TIMEOUT, connecting)
        .await
        .map_err(|_| pg_error(&target.display, "connecting", "timed out"))?
        .map_err(|e| pg_error(&target.display, "connecting", error_text(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("PostgreSQL connection ended: {e}");
        }
    });
    Ok(client)
}

/// The error with its database detail (tokio-postgres' own text of a
/// server error is just "db error").
pub(crate) fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

impl Sink {
    /// Connect as `node`, create the tables if missing and register the
    /// node's cursor at the start of the chain if it has none.
    pub async fn connect(target: &Target, node: &str) -> Result<Sink, ShipError> {
        let mut client = connect(target).await?;
        let fail =
            |what: &str, e: tokio_postgres::Error| pg_error(&target.display, what, error_text(&e));
        let within = |what: &'static str| move |_| pg_error(&target.display, what, "timed out");
        tokio::time::timeout(STATEMENT_TIMEOUT, async {
            let txn = client
                .transaction()
                .await
                .map_err(|e| fail("creating the tables", e))?;
            txn.batch_execute(schema::DDL)
                .await
                .map_err(|e| fail("creating the tables", e))?;
            txn.execute(schema::REGISTER_CURSOR, &[&node, &GENESIS.as_slice()])
                .await
                .map_err(|e| fail("registering the node's cursor", e))?;
            txn.commit()
                .await
                .map_err(|e| fail("creating the tables", e))
        })
        .await
        .map_err(within("creating the tables"))??;
        Ok(Sink {
            client,
            node: node.to_owned(),
            target: target.display.clone(),
        })
    }

    /// Whether the connection has ended (the server went away).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn fail(&self, what: &str, e: &tokio_postgres::Error) -> ShipError {
        pg_error(&self.target, what, error_text(e))
    }

    /// The node's cursor.
    pub async fn cursor(&self) -> Result<Cursor, ShipError> {
        let row = self
            .client
            .query_one(schema::READ_CURSOR, &[&self.node])
            .await
            .map_err(|e| self.fail("reading the cursor", &e))?;
        let seq: i64 = row
            .try_get(0)
            .map_err(|e| self.fail("reading the cursor", &e))?;
        let hash: Vec<u8> = row
            .try_get(1)
            .map_err(|e| self.fail("reading the cursor", &e))?;
        let hash: ChainHash = hash.try_into().map_err(|_| {
            pg_error(
                &self.target,
                "reading the cursor",
                "its chain hash is not 32 bytes",
            )
        })?;
        let seq = u64::try_from(seq).map_err(|_| {
            pg_error(
                &self.target,
                "reading the cursor",
                format!("negative seq {seq}"),
            )
        })?;
        Ok(Cursor { seq, hash })
    }

    /// The size of the last checkpoint shipped for the node (0: none).
    pub async fn last_checkpoint(&self) -> Result<u64, ShipError> {
        let row = self
            .client
            .query_one(schema::LAST_CHECKPOINT, &[&self.node])
            .await
            .map_err(|e| self.fail("reading the checkpoints", &e))?;
        let size: i64 = row
            .try_get(0)
            .map_err(|e| self.fail("reading the checkpoints", &e))?;
        Ok(u64::try_from(size).unwrap_or(0))
    }

    /// Ship `batch`, which continues the chain from `cursor`, in one
    /// transaction: insert the rows (existing ones must have the same
    /// chain hash), insert the checkpoints, and move the cursor from
    /// `cursor` to the last row by compare-and-set. Nothing is written
    /// unless all of it is.
    pub async fn ship(&mut self, cursor: Cursor, batch: &Batch) -> Result<Shipped, ShipError> {
        let node = self.node.clone();
        let target = self.target.clone();
        let fail = |what: &str, e: tokio_postgres::Error| pg_error(&target, what, error_text(&e));
        let shipping = async {
            let seqs: Vec<i64> = batch
                .rows
                .iter()
                .map(|r| to_i64(r.seq))
                .collect::<Result<_, _>>()?;
            let times: Vec<i64> = batch.rows.iter().map(|r| r.time_ms).collect();
            let kinds: Vec<&str> = batch.rows.iter().map(|r| r.kind).collect();
            let agents: Vec<Option<&str>> = batch
                .rows
                .iter()
                .map(|r| r.columns.agent.as_deref())
                .collect();
            let actions: Vec<Option<&str>> = batch
                .rows
                .iter()
                .map(|r| r.columns.action.as_deref())
                .collect();
            let verdicts: Vec<Option<&str>> = batch
                .rows
                .iter()
                .map(|r| r.columns.verdict.as_deref())
                .collect();
            let hashes: Vec<&[u8]> = batch.rows.iter().map(|r| r.chain_hash.as_slice()).collect();
            let prevs: Vec<&[u8]> = batch.rows.iter().map(|r| r.prev_hash.as_slice()).collect();
            let bodies: Vec<&[u8]> = batch.rows.iter().map(|r| r.body.as_slice()).collect();
            let records: Vec<&str> = batch.rows.iter().map(|r| r.record.as_str()).collect();
            let sizes: Vec<i64> = batch
                .checkpoints
                .iter()
                .map(|(s, _)| to_i64(*s))
                .collect::<Result<_, _>>()?;
            let raws: Vec<&str> = batch.checkpoints.iter().map(|(_, r)| r.as_str()).collect();
            let next = match batch.rows.last() {
                Some(last) => Cursor {
                    seq: last.seq,
                    hash: last.chain_hash,
                },
                None => cursor,
            };

            let txn = self
                .client
                .transaction()
                .await
                .map_err(|e| fail("starting a transaction", e))?;
            let mut inserted = 0u64;
            if !seqs.is_empty() {
                let returned = txn
                    .query(
                        schema::INSERT_RECORDS,
                        &[
                            &node, &seqs, &times, &kinds, &agents, &actions, &verdicts, &hashes,
                            &prevs, &bodies, &records,
                        ],
                    )
                    .await
                    .map_err(|e| fail("inserting records", e))?;
                inserted = returned.len() as u64;
                if returned.len() < seqs.len() {
                    // Rows already there (a replay): they must be the same
                    // records, or the shipped history differs.
                    let existing = txn
                        .query(schema::EXISTING_HASHES, &[&node, &seqs])
                        .await
                        .map_err(|e| fail("comparing existing records", e))?;
                    let ours: BTreeMap<i64, &[u8]> =
                        seqs.iter().copied().zip(hashes.iter().copied()).collect();
                    for row in existing {
                        let seq: i64 = row
                            .try_get(0)
                            .map_err(|e| fail("comparing existing records", e))?;
                        let hash: Vec<u8> = row
                            .try_get(1)
                            .map_err(|e| fail("comparing existing records", e))?;
                        if ours.get(&seq).is_some_and(|h| *h != hash.as_slice()) {
                            return Err(ShipError::Conflict {
                                node: node.clone(),
                                seq: u64::try_from(seq).unwrap_or(0),
                            });
                        }
                    }
                }
            }
            if !sizes.is_empty() {
                txn.execute(schema::INSERT_CHECKPOINTS, &[&node, &sizes, &raws])
                    .await
                    .map_err(|e| fail("inserting checkpoints", e))?;
            }
            let moved = txn
                .execute(
                    schema::ADVANCE_CURSOR,
                    &[
                        &node,
                        &to_i64(next.seq)?,
                        &next.hash.as_slice(),
                        &to_i64(cursor.seq)?,
                        &cursor.hash.as_slice(),
                    ],
                )
                .await
                .map_err(|e| fail("advancing the cursor", e))?;
            if moved != 1 {
                return Err(ShipError::Fenced {
                    node: node.clone(),
                    expected: cursor.seq,
                });
            }
            txn.commit().await.map_err(|e| fail("committing", e))?;
            Ok(Shipped {
                cursor: next,
                inserted,
            })
        };
        tokio::time::timeout(STATEMENT_TIMEOUT, shipping)
            .await
            .map_err(|_| pg_error(&self.target, "shipping a batch", "timed out"))?
    }
}
