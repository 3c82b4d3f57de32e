//! `gavel replay`: re-decide a decision log's requests against another
//! policy directory and report every verdict that would change.

use super::DataDirArg;
use anyhow::Context;
use gavel::replay::{self, ReplayChange, ReplaySummary};
use std::io::Write;
use std::path::PathBuf;

/// Exit code when at least one decision would change.
pub const EXIT_CHANGED: u8 = 3;

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The decision log to replay (a gavel.redb, or a copy of a live one).
    /// It is opened read-only and never written.
    #[arg(long)]
    log: PathBuf,
    /// The candidate policy directory (holding policies.toml).
    #[arg(long)]
    policies: PathBuf,
    /// `text`: one line per change and a summary line. `jsonl`: one JSON
    /// object per change (`"kind":"change"`), then `"kind":"summary"`.
    #[arg(long, default_value = "text", value_parser = ["text", "jsonl"])]
    format: String,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<u8> {
    // A FIFO or a device named as the log must not block or be read. (A
    // missing log is explained by `open_log`.)
    match gavel::bounded_read::check_regular(&args.log) {
        Err(gavel::bounded_read::BoundedReadError::Io(e))
            if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("the decision log {} {e}", args.log.display()),
        Ok(_) => {}
    }
    let db = replay::open_log(&args.log)?;
    let set = replay::load_candidate(&args.policies, &args.data.data_dir)?;
    let jsonl = args.format == "jsonl";
    let mut out = std::io::stdout().lock();
    let mut written: std::io::Result<()> = Ok(());
    let summary = replay::replay_each(&db, &set, |change| {
        if written.is_ok() {
            written = if jsonl {
                writeln!(out, "{}", change_json(change))
            } else {
                writeln!(out, "{}", change_text(change))
            };
        }
    })
    .with_context(|| format!("replaying {}", args.log.display()))?;
    written.context("writing the report")?;
    if jsonl {
        writeln!(out, "{}", summary_json(&summary))?;
    } else {
        writeln!(out, "{}", summary_text(&summary))?;
    }
    out.flush()?;
    Ok(if summary.changed > 0 { EXIT_CHANGED } else { 0 })
}

fn change_text(c: &ReplayChange) -> String {
    let mut line = format!(
        "seq {} request {} ({} {}): {} -> {}",
        c.seq,
        c.request_id,
        c.agent_id,
        c.action,
        c.old.as_str(),
        c.new.as_str()
    );
    if let Some(policy) = &c.policy {
        line.push_str(&format!(" by {policy}"));
        if let Some(code) = &c.code {
            line.push_str(&format!(" ({code})"));
        }
    }
    if !c.redacted.is_empty() {
        line.push_str(&format!(
            "; replayed with redacted values: {}",
            c.redacted.join(", ")
        ));
    }
    line
}

fn summary_text(s: &ReplaySummary) -> String {
    format!(
        "replayed {} decisions: {} changed, {} unchanged; {} with redacted values ({} of them changed)",
        s.replayed, s.changed, s.unchanged, s.redacted, s.changed_redacted
    )
}

fn change_json(c: &ReplayChange) -> String {
    serde_json::json!({
        "kind": "change",
        "seq": c.seq,
        "request_id": c.request_id,
        "agent_id": c.agent_id,
        "action": c.action,
        "old": c.old,
        "new": c.new,
        "policy": c.policy,
        "code": c.code,
        "redacted": c.redacted,
    })
    .to_string()
}

fn summary_json(s: &ReplaySummary) -> String {
    serde_json::json!({
        "kind": "summary",
        "replayed": s.replayed,
        "changed": s.changed,
        "unchanged": s.unchanged,
        "redacted": s.redacted,
        "changed_redacted": s.changed_redacted,
        "other_events": s.other_events,
    })
    .to_string()
}
