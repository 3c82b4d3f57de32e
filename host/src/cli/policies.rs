//! `gavel policies`: the loaded policies in evaluation order.

use super::{DataDirArg, runtime};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct PoliciesArgs {
    /// The policy directory (holding policies.toml).
    #[arg(long)]
    policies: PathBuf,
    /// `table` (default) or `json` (JSON Lines, one policy per line).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn run(args: PoliciesArgs) -> anyhow::Result<u8> {
    let set = runtime::load_policy_set(&args.policies, &args.data)?;
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
