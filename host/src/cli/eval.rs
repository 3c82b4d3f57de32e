//! `gavel eval`: decide one action (`--action`) or a stream of JSON Lines.

use super::{DataDirArg, EXIT_ERROR, runtime};
use gavel::{PolicySet, Request};
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The policy directory (holding policies.toml).
    #[arg(long)]
    policies: PathBuf,
    /// One action as JSON. Without it, actions are read as JSON Lines from
    /// stdin and decisions written one per line, in input order.
    #[arg(long)]
    action: Option<String>,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn run(args: EvalArgs) -> anyhow::Result<u8> {
    let set = runtime::load_policy_set(&args.policies, &args.data)?;
    match &args.action {
        Some(text) => Ok(eval_one(&set, text)),
        None => eval_stream(&set),
    }
}

fn eval_one(set: &PolicySet, text: &str) -> u8 {
    match Request::from_json(text) {
        Ok(request) => {
            let decision = set.evaluate(&request);
            println!("{}", decision.to_json());
            decision.verdict.exit_code()
        }
        Err(e) => {
            println!("{}", error_line(&e.to_string(), None));
            eprintln!("error: {e}");
            EXIT_ERROR
        }
    }
}

fn eval_stream(set: &PolicySet) -> anyhow::Result<u8> {
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    for (index, line) in stdin.lines().enumerate() {
        let number = index + 1;
        let reply = match line {
            Err(e) => error_line(&format!("cannot read line: {e}"), Some(number)),
            Ok(text) if text.trim().is_empty() => {
                error_line("invalid request: empty line", Some(number))
            }
            Ok(text) => match Request::from_json(&text) {
                Ok(request) => set.evaluate(&request).to_json(),
                Err(e) => error_line(&e.to_string(), Some(number)),
            },
        };
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    Ok(0)
}

fn error_line(message: &str, line: Option<usize>) -> String {
    match line {
        Some(n) => serde_json::json!({ "error": message, "line": n }),
        None => serde_json::json!({ "error": message }),
    }
    .to_string()
}
