//! `gavel escalations list|show|approve|deny`: review escalations on a
//! running service.

use super::remote::{ServiceArgs, print_json, whoami};
use clap::Subcommand;
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub enum EscalationsCommand {
    /// List escalations (pending by default).
    List {
        /// pending, approved, denied, expired or all.
        #[arg(long, default_value = "pending")]
        status: String,
        /// Print the JSON answer instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        service: ServiceArgs,
    },
    /// Show one escalation.
    Show {
        /// The escalation id.
        id: String,
        #[command(flatten)]
        service: ServiceArgs,
    },
    /// Approve a pending escalation: the action may go ahead.
    Approve(Resolve),
    /// Deny a pending escalation.
    Deny(Resolve),
}

#[derive(clap::Args, Debug)]
pub struct Resolve {
    /// The escalation id.
    id: String,
    /// Who decides (recorded in the log). Default: $USER.
    #[arg(long)]
    reviewer: Option<String>,
    /// Why (recorded in the log).
    #[arg(long, default_value = "")]
    comment: String,
    #[command(flatten)]
    service: ServiceArgs,
}

pub fn run(command: EscalationsCommand) -> anyhow::Result<u8> {
    match command {
        EscalationsCommand::List {
            status,
            json,
            service,
        } => {
            let answer = service.call("GET", &format!("/v1/escalations?status={status}"), None)?;
            if json {
                print_json(&answer);
            } else {
                print_table(&answer);
            }
        }
        EscalationsCommand::Show { id, service } => {
            print_json(&service.call("GET", &format!("/v1/escalations/{id}"), None)?);
        }
        EscalationsCommand::Approve(r) => resolve(r, "approve")?,
        EscalationsCommand::Deny(r) => resolve(r, "deny")?,
    }
    Ok(0)
}

fn resolve(r: Resolve, verb: &str) -> anyhow::Result<()> {
    let body = json!({
        "reviewer": r.reviewer.unwrap_or_else(whoami),
        "comment": r.comment,
    });
    let answer = r.service.call(
        "POST",
        &format!("/v1/escalations/{}/{verb}", r.id),
        Some(body),
    )?;
    println!(
        "{} {}",
        text(&answer, "id").unwrap_or(&r.id),
        text(&answer, "status").unwrap_or("?")
    );
    Ok(())
}

fn print_table(answer: &Value) {
    let items = answer["escalations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        println!("no escalations");
        return;
    }
    println!(
        "{:<40} {:<9} {:<20} {:<22} {:<21} reasons",
        "id", "status", "agent", "action", "deadline"
    );
    for e in items {
        let reasons = e
            .get("reasons")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        format!(
                            "{}/{}",
                            text(r, "policy").unwrap_or("?"),
                            text(r, "code").unwrap_or("?")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let s = |k: &str| text(&e, k).unwrap_or("-").to_owned();
        println!(
            "{:<40} {:<9} {:<20} {:<22} {:<21} {reasons}",
            s("id"),
            s("status"),
            s("agent_id"),
            s("action"),
            s("deadline")
        );
    }
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}
