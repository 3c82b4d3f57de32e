//! `gavel killswitch on|off|status`: the emergency stop, on a running
//! service.

use super::remote::{ServiceArgs, print_json, whoami};
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum KillSwitchCommand {
    /// Deny every evaluation (or one agent's) without running policies.
    On(Change),
    /// Release it.
    Off(Change),
    /// Show what is engaged.
    Status {
        #[command(flatten)]
        service: ServiceArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct Change {
    /// Why (recorded in the log).
    #[arg(long)]
    reason: String,
    /// Who (recorded in the log). Default: $USER.
    #[arg(long)]
    actor: Option<String>,
    /// Only this agent.
    #[arg(long)]
    agent: Option<String>,
    #[command(flatten)]
    service: ServiceArgs,
}

pub fn run(command: KillSwitchCommand) -> anyhow::Result<u8> {
    let (engaged, change) = match command {
        KillSwitchCommand::Status { service } => {
            print_json(&service.call("GET", "/v1/killswitch", None)?);
            return Ok(0);
        }
        KillSwitchCommand::On(c) => (true, c),
        KillSwitchCommand::Off(c) => (false, c),
    };
    let mut body = json!({
        "engaged": engaged,
        "reason": change.reason,
        "actor": change.actor.unwrap_or_else(whoami),
    });
    if let (Some(agent), Some(obj)) = (&change.agent, body.as_object_mut()) {
        obj.insert("agent".to_owned(), json!(agent));
    }
    print_json(&change.service.call("POST", "/v1/killswitch", Some(body))?);
    Ok(0)
}
