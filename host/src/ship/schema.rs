//! The tables in PostgreSQL, created if missing.
//!
//! - `gavel_records`: one row per record of each node: the exact stored
//!   bytes (`body`, what the chain hashes) with their chain hash and the
//!   previous record's, queryable columns, and the record as `jsonb` in
//!   the export form (`gavel log export`). jsonb reorders keys and
//!   normalizes numbers, so only `body` can recompute the chain.
//! - `gavel_cursors`: per node, the last shipped record and its hash,
//!   advanced by compare-and-set in each batch's transaction.
//! - `gavel_checkpoints`: per node, the signed checkpoints as written
//!   (`raw`) and as `jsonb`.

/// The statements, run in one transaction under an advisory lock (two
/// nodes starting at once must not race on `CREATE ... IF NOT EXISTS`).
pub const DDL: &str = "
SELECT pg_advisory_xact_lock(7264137713260912749);
CREATE TABLE IF NOT EXISTS gavel_records (
  node text NOT NULL,
  seq bigint NOT NULL CHECK (seq > 0),
  time timestamptz NOT NULL,
  time_ms bigint NOT NULL,
  kind text NOT NULL,
  agent text,
  action text,
  verdict text,
  chain_hash bytea NOT NULL CHECK (octet_length(chain_hash) = 32),
  prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
  body bytea NOT NULL,
  record jsonb NOT NULL,
  PRIMARY KEY (node, seq)
);
CREATE INDEX IF NOT EXISTS gavel_records_agent_time ON gavel_records (agent, time);
CREATE INDEX IF NOT EXISTS gavel_records_time ON gavel_records (time);
CREATE TABLE IF NOT EXISTS gavel_cursors (
  node text PRIMARY KEY,
  seq bigint NOT NULL,
  chain_hash bytea NOT NULL CHECK (octet_length(chain_hash) = 32),
  updated timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS gavel_checkpoints (
  node text NOT NULL,
  size bigint NOT NULL,
  checkpoint jsonb NOT NULL,
  raw text NOT NULL,
  PRIMARY KEY (node, size)
);
";

/// One batch of records: the arrays of `$2`..`$11`, for node `$1`.
pub const INSERT_RECORDS: &str = "
INSERT INTO gavel_records
  (node, seq, time, time_ms, kind, agent, action, verdict, chain_hash, prev_hash, body, record)
SELECT $1, s, to_timestamp(t / 1000.0), t, k, a, ac, v, ch, ph, b, j::jsonb
FROM unnest($2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::bytea[], $9::bytea[], $10::bytea[], $11::text[])
  AS u(s, t, k, a, ac, v, ch, ph, b, j)
ON CONFLICT (node, seq) DO NOTHING
RETURNING seq";

/// The checkpoints of a batch: sizes `$2` and signed JSON `$3`.
pub const INSERT_CHECKPOINTS: &str = "
INSERT INTO gavel_checkpoints (node, size, checkpoint, raw)
SELECT $1, s, r::jsonb, r FROM unnest($2::int8[], $3::text[]) AS u(s, r)
ON CONFLICT (node, size) DO NOTHING";

/// The chain hashes of rows already present among `$2`.
pub const EXISTING_HASHES: &str =
    "SELECT seq, chain_hash FROM gavel_records WHERE node = $1 AND seq = ANY($2::int8[])";

/// The node's cursor row, created at the start of the chain if missing.
pub const REGISTER_CURSOR: &str = "INSERT INTO gavel_cursors (node, seq, chain_hash) VALUES ($1, 0, $2) ON CONFLICT (node) DO NOTHING";

/// Read the cursor.
pub const READ_CURSOR: &str = "SELECT seq, chain_hash FROM gavel_cursors WHERE node = $1";

/// The largest checkpoint shipped for the node.
pub const LAST_CHECKPOINT: &str =
    "SELECT coalesce(max(size), 0) FROM gavel_checkpoints WHERE node = $1";

/// Compare-and-set: move the cursor from (`$4`, `$5`) to (`$2`, `$3`).
pub const ADVANCE_CURSOR: &str = "UPDATE gavel_cursors SET seq = $2, chain_hash = $3, updated = now() WHERE node = $1 AND seq = $4 AND chain_hash = $5";
