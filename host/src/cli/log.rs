//! `gavel log`: read the decision log (tail, show, query, export, stats),
//! verify it and export checkpoints. The reading logic lives in
//! `gavel::log` (query.rs); this is argument parsing and output.

use super::DataDirArg;
use anyhow::Context;
use gavel::log::{
    self as glog, Checkpoint, DecisionLog, Filter, LOG_FILE, LogEvent, LogOptions, Record, Stats,
    TimeRange, keys, verify,
};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Subcommand, Debug)]
pub enum LogCommand {
    /// Recompute the hash chain and check every checkpoint. Prints the
    /// first bad sequence number and exits 1 if anything is wrong.
    Verify(VerifyArgs),
    /// Sign a checkpoint of the current head and print it (JSON), to keep
    /// off the machine: `gavel log verify --checkpoint FILE` then detects a
    /// truncated or rewritten log.
    Checkpoint(CheckpointArgs),
    /// Print the last records, oldest of them first; with -f keep printing
    /// new records as they are committed (until Ctrl-C or the output
    /// closes).
    Tail(TailArgs),
    /// Print one record, with its chain hash.
    Show(ShowArgs),
    /// Find records by agent, action, verdict, policy, kind and log time.
    /// Results are newest first (highest sequence number first), at most
    /// --limit. Uses the agent index with --agent, else the time index with
    /// --since/--until, else reads back from the newest record.
    Query(QueryArgs),
    /// Export records as JSON Lines, one record per line, oldest first
    /// (for SIEM ingestion).
    Export(ExportArgs),
    /// Governance KPIs: decisions by verdict, by policy and by agent, and
    /// the escalation rate (escalations / decisions).
    Stats(StatsArgs),
}

/// A log-time window. --since is inclusive, --until exclusive, so
/// consecutive windows (months) do not overlap.
#[derive(clap::Args, Debug)]
pub struct WindowArgs {
    /// Only records logged at or after this time (RFC 3339, e.g.
    /// 2026-01-01T00:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Only records logged before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
}

impl WindowArgs {
    fn range(&self) -> anyhow::Result<TimeRange> {
        Ok(TimeRange::parse(
            self.since.as_deref(),
            self.until.as_deref(),
        )?)
    }
}

#[derive(clap::Args, Debug)]
pub struct TailArgs {
    /// How many records.
    #[arg(short = 'n', long = "lines", default_value_t = 10)]
    lines: usize,
    /// Keep following new records (polls the log every 200 ms).
    #[arg(short = 'f', long)]
    follow: bool,
    /// `jsonl` (one record per line) or `table`.
    #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "table"])]
    format: String,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The record's sequence number.
    seq: String,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    /// Decisions by this agent.
    #[arg(long)]
    agent: Option<String>,
    /// Decisions on this action.
    #[arg(long)]
    action: Option<String>,
    /// Decisions with this final verdict: approve, deny or escalate.
    #[arg(long)]
    verdict: Option<String>,
    /// Decisions in which this policy ran.
    #[arg(long)]
    policy: Option<String>,
    /// Records of this kind: decision, policy-set-loaded,
    /// policy-set-rejected, kill-switch, escalation-resolved or outcome.
    #[arg(long)]
    kind: Option<String>,
    #[command(flatten)]
    window: WindowArgs,
    /// At most this many records (the newest matching ones).
    #[arg(long, default_value_t = glog::DEFAULT_LIMIT)]
    limit: usize,
    /// `jsonl` (one record per line) or `table`.
    #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "table"])]
    format: String,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    window: WindowArgs,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    window: WindowArgs,
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// An exported checkpoint to check the log against (repeatable).
    #[arg(long)]
    checkpoint: Vec<PathBuf>,
    /// The trusted public key (hex); default: log-signing.pub in the data
    /// directory. Keep a copy off the machine and pass it here.
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// Verify a node's shipped records in PostgreSQL instead of the local
    /// log: postgres://USER@HOST:PORT/DATABASE. Needs --node.
    #[arg(long, value_name = "URL", requires = "node")]
    from: Option<String>,
    /// With --from: the node whose records to verify.
    #[arg(long, requires = "from")]
    node: Option<String>,
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(clap::Args, Debug)]
pub struct CheckpointArgs {
    /// Also write the checkpoint to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn run(command: LogCommand) -> anyhow::Result<u8> {
    match command {
        LogCommand::Verify(args) => verify_log(args),
        LogCommand::Checkpoint(args) => checkpoint(args),
        LogCommand::Tail(args) => tail(args),
        LogCommand::Show(args) => show(args),
        LogCommand::Query(args) => query(args),
        LogCommand::Export(args) => export(args),
        LogCommand::Stats(args) => stats(args),
    }
}

/// Open the log for reading. The error says whether another process
/// holds the file or the file is damaged.
pub fn open_read(data: &DataDirArg) -> anyhow::Result<redb::ReadOnlyDatabase> {
    let path = data.data_dir.join(LOG_FILE);
    if !path.is_file() {
        anyhow::bail!("no decision log at {}", path.display());
    }
    Ok(glog::open_reader(&path)?)
}

fn verify_log(args: VerifyArgs) -> anyhow::Result<u8> {
    let key_path = args
        .public_key
        .clone()
        .unwrap_or_else(|| keys::public_key_path(&args.data.data_dir));
    let trusted = keys::read_public_key(&key_path)?;
    let mut exported = Vec::new();
    for path in &args.checkpoint {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let c: Checkpoint = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a checkpoint", path.display()))?;
        exported.push(c);
    }
    let report = match (&args.from, &args.node) {
        (Some(url), Some(node)) => {
            let target = gavel::ship::parse_target(url).context("--from")?;
            let tokio = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            tokio.block_on(gavel::ship::verify_from_postgres(
                &target, node, &trusted, &exported,
            ))?
        }
        _ => verify(&open_read(&args.data)?, &trusted, &exported)?,
    };
    if args.format == "json" {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        match report.first_bad() {
            None => println!(
                "ok: {} records, chain intact, {} checkpoint(s) verified, head {}",
                report.records, report.checkpoints, report.head
            ),
            Some(seq) => {
                println!("TAMPERED: first bad sequence number {seq}");
                for p in &report.problems {
                    println!("  {}: {}", p.seq, p.problem);
                }
            }
        }
    }
    // Damage redb found and repaired at an earlier open is not visible in
    // the repaired file: the marker is the only trace of it.
    let marked = match args.from {
        Some(_) => None,
        None => glog::damage_recorded(&args.data.data_dir),
    };
    if let Some(text) = &marked {
        eprintln!(
            "DAMAGED: {text} (marker {})",
            args.data.data_dir.join(glog::DAMAGED_MARKER).display()
        );
    }
    Ok(if report.problems.is_empty() && marked.is_none() {
        0
    } else {
        1
    })
}

fn checkpoint(args: CheckpointArgs) -> anyhow::Result<u8> {
    let log = DecisionLog::open(&args.data.data_dir, LogOptions::default())?;
    let Some(c) = log.checkpoint()? else {
        anyhow::bail!("the log is empty: nothing to checkpoint");
    };
    log.close()?;
    let json = serde_json::to_string_pretty(&c)?;
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    println!("{json}");
    Ok(0)
}

/// The outcome of writing output: a closed pipe (`| head`) ends the
/// command quietly and successfully.
fn written(result: std::io::Result<()>) -> anyhow::Result<u8> {
    match result {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write the output")),
    }
}

/// Write records in `format` (`jsonl` or `table`). `Ok(false)` when the
/// output has closed.
fn write_records(out: &mut impl Write, records: &[Record], format: &str) -> anyhow::Result<bool> {
    let mut text = String::new();
    if format == "table" {
        text = render_table(records);
    } else {
        for r in records {
            text.push_str(&r.to_json_line()?);
            text.push('\n');
        }
    }
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write the output")),
    }
}

const TAIL_POLL: Duration = Duration::from_millis(200);
const TAIL_BATCH: usize = 1000;

fn tail(args: TailArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let db = open_read(&args.data)?;
    let records = glog::tail(&db, args.lines)?;
    let mut last = match records.last() {
        Some(r) => r.seq,
        None => glog::last_seq(&db)?,
    };
    // Release the file at once: a writer cannot open it while it is held.
    drop(db);
    if !write_records(&mut out, &records, &args.format)? || !args.follow {
        return Ok(0);
    }
    let path = args.data.data_dir.join(LOG_FILE);
    loop {
        std::thread::sleep(TAIL_POLL);
        // While another process writes the log it cannot be opened: try
        // again at the next poll. Any other failure (a damaged or vanished
        // log) ends the command with its error.
        let db = match glog::open_reader(&path) {
            Ok(db) => db,
            Err(glog::LogError::InUse { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let batch = glog::records_after(&db, last, TAIL_BATCH)?;
        drop(db);
        let Some(newest) = batch.last() else {
            continue;
        };
        last = newest.seq;
        if !write_records(&mut out, &batch, &args.format)? {
            return Ok(0);
        }
    }
}

fn show(args: ShowArgs) -> anyhow::Result<u8> {
    let seq = glog::parse_seq(&args.seq)?;
    let db = open_read(&args.data)?;
    let Some(record) = glog::get_record(&db, seq)? else {
        let last = glog::last_seq(&db)?;
        anyhow::bail!("record {seq} not found (the log holds records 1 to {last})");
    };
    let mut text = serde_json::to_string_pretty(&record)?;
    text.push('\n');
    let mut out = std::io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

fn query(args: QueryArgs) -> anyhow::Result<u8> {
    let filter = Filter {
        agent: args.agent,
        action: args.action,
        verdict: args
            .verdict
            .as_deref()
            .map(glog::parse_verdict)
            .transpose()?,
        policy: args.policy,
        kind: args.kind.as_deref().map(glog::parse_kind).transpose()?,
        time: args.window.range()?,
    };
    if args.limit == 0 {
        anyhow::bail!("--limit must be at least 1");
    }
    let db = open_read(&args.data)?;
    let result = glog::query(&db, &filter, args.limit)?;
    drop(db);
    tracing::debug!(plan = ?result.plan, visited = result.visited, "log query");
    write_records(&mut std::io::stdout().lock(), &result.records, &args.format)?;
    Ok(0)
}

fn export(args: ExportArgs) -> anyhow::Result<u8> {
    let window = args.window.range()?;
    let db = open_read(&args.data)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed: Option<anyhow::Error> = None;
    glog::export(&db, window, |r| {
        let line = r
            .to_json_line()
            .map_err(anyhow::Error::new)
            .and_then(|line| {
                out.write_all(line.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(anyhow::Error::new)
            });
        match line {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    match failed {
        None => written(out.flush()),
        Some(e) => match e.downcast::<std::io::Error>() {
            Ok(io) => written(Err(io)),
            Err(e) => Err(e),
        },
    }
}

fn stats(args: StatsArgs) -> anyhow::Result<u8> {
    let window = args.window.range()?;
    let db = open_read(&args.data)?;
    let stats = glog::stats(&db, window)?;
    drop(db);
    let mut text = if args.format == "json" {
        serde_json::to_string(&stats)?
    } else {
        render_stats(&stats)
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut out = std::io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// Replace control characters (a newline in an agent id would break the
/// table).
fn cell(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Columns padded to their widest cell, the last column unpadded.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            if i + 1 == row.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}"));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn render_table(records: &[Record]) -> String {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let (agent, action, verdict, detail) = match &r.event {
                LogEvent::Decision(d) => (
                    d.request.agent_id.clone(),
                    d.request.action.clone(),
                    d.verdict.as_str().to_owned(),
                    d.reasons
                        .iter()
                        .map(|x| format!("{}/{}", x.policy, x.code))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                LogEvent::PolicySetLoaded {
                    dir,
                    cause,
                    policies,
                } => (
                    String::new(),
                    String::new(),
                    String::new(),
                    format!("{cause} {dir} ({} policies)", policies.len()),
                ),
                LogEvent::PolicySetRejected { dir, error } => (
                    String::new(),
                    String::new(),
                    String::new(),
                    format!("{dir}: {error}"),
                ),
                LogEvent::KillSwitch {
                    engaged,
                    actor,
                    reason,
                    agent,
                } => (
                    agent.clone().unwrap_or_default(),
                    String::new(),
                    String::new(),
                    format!(
                        "{} {} by {actor}: {reason}",
                        if agent.is_some() {
                            "agent kill switch"
                        } else {
                            "kill switch"
                        },
                        if *engaged { "engaged" } else { "released" }
                    ),
                ),
                LogEvent::EscalationResolved {
                    id,
                    request_id,
                    status,
                    reviewer,
                    comment,
                } => (
                    String::new(),
                    String::new(),
                    status.as_str().to_owned(),
                    format!(
                        "escalation {id} ({request_id}) {} by {}: {comment}",
                        status.as_str(),
                        reviewer.as_deref().unwrap_or("deadline")
                    ),
                ),
                LogEvent::Outcome {
                    decision,
                    request_id,
                    agent_id,
                    action,
                    status,
                    amount,
                    ..
                } => (
                    agent_id.clone(),
                    action.clone(),
                    status.as_str().to_owned(),
                    match amount {
                        Some(a) => {
                            format!("outcome of decision {decision} ({request_id}), amount {a}")
                        }
                        None => format!("outcome of decision {decision} ({request_id})"),
                    },
                ),
                LogEvent::ToolDefinition {
                    server,
                    tool,
                    digest,
                    previous,
                } => (
                    String::new(),
                    tool.clone(),
                    match previous {
                        Some(_) => "changed".to_owned(),
                        None => "seen".to_owned(),
                    },
                    match previous {
                        Some(p) => format!("MCP tool {server}/{tool} changed: {p} -> {digest}"),
                        None => format!("MCP tool {server}/{tool}: {digest}"),
                    },
                ),
            };
            let dash = |s: String| {
                if s.is_empty() {
                    "-".to_owned()
                } else {
                    cell(&s)
                }
            };
            vec![
                r.seq.to_string(),
                r.time(),
                r.event.kind().to_owned(),
                dash(agent),
                dash(action),
                dash(verdict),
                cell(&detail),
            ]
        })
        .collect();
    table(
        &[
            "SEQ", "TIME", "KIND", "AGENT", "ACTION", "VERDICT", "DETAIL",
        ],
        &rows,
    )
}

fn render_stats(s: &Stats) -> String {
    let mut out = String::new();
    let window = match (&s.since, &s.until) {
        (None, None) => "all time".to_owned(),
        (Some(a), None) => format!("since {a}"),
        (None, Some(b)) => format!("until {b}"),
        (Some(a), Some(b)) => format!("{a} to {b}"),
    };
    let kinds: Vec<String> = s.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    out.push_str(&format!("window: {window}\n"));
    out.push_str(&format!("records: {}", s.records));
    if !kinds.is_empty() {
        out.push_str(&format!(" ({})", kinds.join(", ")));
    }
    out.push('\n');
    let v = &s.by_verdict;
    out.push_str(&format!(
        "decisions: {} (approve {}, deny {}, escalate {})\n",
        s.decisions, v.approve, v.deny, v.escalate
    ));
    match s.escalation_rate {
        Some(rate) => out.push_str(&format!(
            "escalation rate: {:.2}% ({} of {} decisions)\n",
            rate * 100.0,
            v.escalate,
            s.decisions
        )),
        None => out.push_str("escalation rate: n/a (no decisions)\n"),
    }
    if !s.by_policy.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = s
            .by_policy
            .iter()
            .map(|(name, p)| {
                vec![
                    cell(name),
                    p.runs.to_string(),
                    p.approve.to_string(),
                    p.deny.to_string(),
                    p.escalate.to_string(),
                    p.error.to_string(),
                    p.shadow.to_string(),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "POLICY", "RUNS", "APPROVE", "DENY", "ESCALATE", "ERROR", "SHADOW",
            ],
            &rows,
        ));
    }
    if !s.by_agent.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = s
            .by_agent
            .iter()
            .map(|(agent, c)| {
                vec![
                    cell(agent),
                    c.decisions.to_string(),
                    c.approve.to_string(),
                    c.deny.to_string(),
                    c.escalate.to_string(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["AGENT", "DECISIONS", "APPROVE", "DENY", "ESCALATE"],
            &rows,
        ));
    }
    out
}
