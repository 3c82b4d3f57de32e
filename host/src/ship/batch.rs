//! Rows for PostgreSQL, built from records read as stored.

use crate::log::{ChainHash, LogEntry, LogError, LogEvent, RawRecord, Record, ShipRead};

/// The queryable columns of a record, derived from its event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// The agent: a decision's or an outcome's, a kill switch's own.
    pub agent: Option<String>,
    /// The action: a decision's or an outcome's; an MCP tool's name.
    pub action: Option<String>,
    /// A decision's verdict; an outcome's or an escalation resolution's
    /// status.
    pub verdict: Option<String>,
}

impl Columns {
    /// The columns of `event`.
    pub fn of(event: &LogEvent) -> Columns {
        match event {
            LogEvent::Decision(d) => Columns {
                agent: Some(d.request.agent_id.clone()),
                action: Some(d.request.action.clone()),
                verdict: Some(d.verdict.as_str().to_owned()),
            },
            LogEvent::Outcome {
                agent_id,
                action,
                status,
                ..
            } => Columns {
                agent: Some(agent_id.clone()),
                action: Some(action.clone()),
                verdict: Some(status.as_str().to_owned()),
            },
            LogEvent::KillSwitch { agent, .. } => Columns {
                agent: agent.clone(),
                ..Columns::default()
            },
            LogEvent::EscalationResolved { status, .. } => Columns {
                verdict: Some(status.as_str().to_owned()),
                ..Columns::default()
            },
            LogEvent::ToolDefinition { tool, .. } => Columns {
                action: Some(tool.clone()),
                ..Columns::default()
            },
            LogEvent::PolicySetLoaded { .. } | LogEvent::PolicySetRejected { .. } => {
                Columns::default()
            }
        }
    }
}

/// One row of `gavel_records`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The sequence number.
    pub seq: u64,
    /// Log time, UTC milliseconds.
    pub time_ms: i64,
    /// The event kind.
    pub kind: &'static str,
    /// Queryable columns.
    pub columns: Columns,
    /// The stored chain hash.
    pub chain_hash: ChainHash,
    /// The previous record's chain hash.
    pub prev_hash: ChainHash,
    /// The exact stored bytes.
    pub body: Vec<u8>,
    /// The export form (one JSON line).
    pub record: String,
}

impl Row {
    /// The row of a stored record following `prev_hash`. The record must
    /// decode and say it is record `seq`.
    pub fn build(raw: RawRecord, prev_hash: ChainHash) -> Result<Row, LogError> {
        let entry = LogEntry::from_bytes(&raw.body)
            .map_err(|e| LogError::Damaged(format!("record {} does not decode: {e}", raw.seq)))?;
        if entry.seq != raw.seq {
            return Err(LogError::Damaged(format!(
                "record under key {} says it is record {}",
                raw.seq, entry.seq
            )));
        }
        let record = export_form(raw.seq, raw.chain_hash, &entry)?;
        Ok(Row {
            seq: raw.seq,
            time_ms: entry.time_ms,
            kind: entry.event.kind(),
            columns: Columns::of(&entry.event),
            chain_hash: raw.chain_hash,
            prev_hash,
            body: raw.body,
            record,
        })
    }
}

/// A record as `gavel log export` prints it.
pub fn export_form(seq: u64, chain_hash: ChainHash, entry: &LogEntry) -> Result<String, LogError> {
    Record {
        seq,
        time_ms: entry.time_ms,
        generation: entry.generation,
        chain_hash,
        event: entry.event.clone(),
    }
    .to_json_line()
}

/// A batch ready to ship: rows continuing from the cursor, and the
/// checkpoints they cover.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Rows, gap-free.
    pub rows: Vec<Row>,
    /// (size, signed JSON) of each checkpoint.
    pub checkpoints: Vec<(u64, String)>,
}

impl Batch {
    /// Build the rows of `read`, which continues from the chain hash
    /// `previous` (checked by the caller).
    pub fn build(read: ShipRead, previous: ChainHash) -> Result<Batch, LogError> {
        let mut prev = previous;
        let mut rows = Vec::with_capacity(read.records.len());
        for raw in read.records {
            let hash = raw.chain_hash;
            rows.push(Row::build(raw, prev)?);
            prev = hash;
        }
        let checkpoints = read
            .checkpoints
            .into_iter()
            .map(|(size, json)| {
                String::from_utf8(json)
                    .map(|text| (size, text))
                    .map_err(|_| LogError::Damaged(format!("checkpoint {size} is not UTF-8")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Batch { rows, checkpoints })
    }

    /// Nothing to ship.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.checkpoints.is_empty()
    }
}
