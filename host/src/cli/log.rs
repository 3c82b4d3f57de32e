//! `gavel log`: verify the decision log and export checkpoints.

use super::DataDirArg;
use anyhow::Context;
use gavel::log::{Checkpoint, DecisionLog, LOG_FILE, LogOptions, keys, verify};
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum LogCommand {
    /// Recompute the hash chain and check every checkpoint. Prints the
    /// first bad sequence number and exits 1 if anything is wrong.
    Verify(VerifyArgs),
    /// Sign a checkpoint of the current head and print it (JSON), to keep
    /// off the machine: `gavel log verify --checkpoint FILE` then detects a
    /// truncated or rewritten log.
    Checkpoint(CheckpointArgs),
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
    }
}

/// Open the log for reading.
pub fn open_read(data: &DataDirArg) -> anyhow::Result<redb::ReadOnlyDatabase> {
    let path = data.data_dir.join(LOG_FILE);
    if !path.is_file() {
        anyhow::bail!("no decision log at {}", path.display());
    }
    redb::ReadOnlyDatabase::open(&path).with_context(|| {
        format!(
            "cannot open the decision log {} (is another gavel process writing it?)",
            path.display()
        )
    })
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
    let db = open_read(&args.data)?;
    let report = verify(&db, &trusted, &exported)?;
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
    Ok(if report.problems.is_empty() { 0 } else { 1 })
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
