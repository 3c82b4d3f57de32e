//! `gavel policies`: the loaded policies in evaluation order.

use super::{DataDirArg, runtime};
use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PoliciesArgs {
    #[command(subcommand)]
    command: Option<PoliciesCommand>,
    /// The policy directory (holding policies.toml) to list.
    #[arg(long)]
    policies: Option<PathBuf>,
    /// `table` (default) or `json` (JSON Lines, one policy per line).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(clap::Subcommand, Debug)]
pub enum PoliciesCommand {
    /// The live generation of the runtime using this data directory, when
    /// it went live, each policy's digest, the generations kept for
    /// rollback, and the last refused change.
    Status(StatusArgs),
    /// Put a kept generation back live in the running runtime (`gavel eval
    /// --watch`, or the service): GENERATION, or the one before the live
    /// one.
    Rollback(RollbackArgs),
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    /// The generation to put back (default: the one before the live one).
    generation: Option<u64>,
    /// How long to wait for the runtime to carry it out, in seconds.
    #[arg(long, default_value_t = 10)]
    wait: u64,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn run(args: PoliciesArgs) -> anyhow::Result<u8> {
    match args.command {
        Some(PoliciesCommand::Status(a)) => return status(a),
        Some(PoliciesCommand::Rollback(a)) => return rollback(a),
        None => {}
    }
    let Some(dir) = &args.policies else {
        anyhow::bail!(
            "give --policies DIR to list a policy directory, or a subcommand (status, rollback)"
        );
    };
    let set = runtime::load_policy_set(dir, &args.data)?;
    if set.policies().is_empty() {
        // Only `approve_all = true` loads a set without policies.
        eprintln!(
            "no policies: the manifest says `approve_all = true`, so every action is approved"
        );
    }
    if args.format == "json" {
        for p in set.policies() {
            let applies: Vec<String> = p.entry.applies_to.iter().map(ToString::to_string).collect();
            let line = json!({
                "policy": p.name(),
                "priority": p.entry.priority,
                "mode": p.entry.mode,
                "on_error": p.entry.on_error,
                "isolation": p.entry.isolation,
                "digest": p.digest,
                "applies_to": applies,
                "version": p.metadata.version,
                "contract": p.contract_version(),
                "description": p.metadata.description,
                "fuel": p.limits().fuel,
                "memory_mb": p.limits().memory_bytes >> 20,
                "timeout_ms": p.limits().timeout.as_millis(),
            });
            println!("{line}");
        }
        return Ok(0);
    }
    println!(
        "{:>8}  {:<7}  {:<24}  {:<8}  {:<71}  APPLIES_TO",
        "PRIORITY", "MODE", "POLICY", "VERSION", "DIGEST"
    );
    for p in set.policies() {
        let applies: Vec<String> = p.entry.applies_to.iter().map(ToString::to_string).collect();
        let mode = match p.entry.mode {
            gavel::Mode::Enforce => "enforce",
            gavel::Mode::Shadow => "shadow",
        };
        println!(
            "{:>8}  {:<7}  {:<24}  {:<8}  {:<71}  {}",
            p.entry.priority,
            mode,
            p.name(),
            p.metadata.version,
            p.digest,
            applies.join(",")
        );
    }
    Ok(0)
}

/// The largest status file read, in bytes.
const MAX_STATUS_BYTES: u64 = 16 << 20;

fn read_status(data: &DataDirArg) -> anyhow::Result<gavel::StatusFile> {
    let path = data.data_dir.join(gavel::STATUS_FILE);
    let text =
        gavel::bounded_read::read_regular_text(&path, MAX_STATUS_BYTES).with_context(|| {
            format!(
                "no runtime status at {} (has a runtime used this data directory?)",
                path.display()
            )
        })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a status file", path.display()))
}

fn time(ms: i64) -> String {
    gavel::request::format_timestamp(ms)
}

fn status(args: StatusArgs) -> anyhow::Result<u8> {
    let file = read_status(&args.data)?;
    if args.format == "json" {
        println!("{}", serde_json::to_string(&file)?);
        return Ok(0);
    }
    let s = &file.status;
    println!(
        "live generation {} since {} (pid {}, {})",
        s.generation,
        time(s.live_since_ms),
        file.pid,
        file.policies_dir
    );
    for (name, digest) in &s.policies {
        println!("  {name:<24} {digest}");
    }
    if let Some(t) = s.reloading_since_ms {
        println!("reloading since {}", time(t));
    }
    println!("kept for rollback: {:?}", s.kept);
    match &s.last_rejection {
        Some((at, why)) => println!("last refused change at {}: {why}", time(*at)),
        None => println!("no refused change"),
    }
    Ok(0)
}

fn rollback(args: RollbackArgs) -> anyhow::Result<u8> {
    let before = read_status(&args.data)?;
    let control = args.data.data_dir.join(gavel::policy_watcher::CONTROL_DIR);
    if !control.is_dir() {
        anyhow::bail!(
            "no running runtime watches {} (start one with `gavel eval --watch`)",
            control.display()
        );
    }
    if let Some(n) = args.generation
        && !before.status.kept.contains(&n)
    {
        anyhow::bail!(
            "generation {n} is not kept (kept: {:?})",
            before.status.kept
        );
    }
    let request = args
        .generation
        .map_or_else(|| "previous".to_owned(), |n| n.to_string());
    let tmp = control.join(".rollback.tmp");
    std::fs::write(&tmp, &request)?;
    std::fs::rename(&tmp, control.join(gavel::policy_watcher::ROLLBACK_FILE))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.wait);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Ok(now) = read_status(&args.data)
            && now.status.generation != before.status.generation
        {
            println!(
                "generation {} is live (was {})",
                now.status.generation, before.status.generation
            );
            return Ok(0);
        }
    }
    anyhow::bail!(
        "the runtime (pid {}) did not carry out the rollback within {} s; is it running with --watch?",
        before.pid,
        args.wait
    )
}
