//! The command line: argument parsing and dispatch. `anyhow` lives here,
//! at the edge, and nowhere in the library.

mod componentize;
mod counters;
mod escalations;
mod eval;
mod killswitch;
mod log;
mod mcp_gateway;
mod new;
mod policies;
mod push;
mod remote;
mod replay;
mod runtime;
mod serve;
mod ship;
mod sign;
mod test;
mod usage;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code for errors (bad arguments, a broken policy directory, I/O).
pub const EXIT_ERROR: u8 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "gavel",
    version,
    about = "Decide what AI agents may do, with sandboxed WebAssembly policies."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every command that touches state shares.
#[derive(clap::Args, Debug, Clone)]
pub struct DataDirArg {
    /// Where Gavel keeps its state (compiled artifacts, later the log and keys).
    #[arg(long, env = "GAVEL_DATA_DIR", default_value = "./gavel-data")]
    pub data_dir: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Evaluate actions: one with --action (exit 0 approve, 2 deny, 3
    /// escalate, 1 error), or JSON Lines on stdin, one decision per line.
    Eval(eval::EvalArgs),
    /// List the loaded policies in evaluation order.
    Policies(policies::PoliciesArgs),
    /// Run policy test cases (tests/*.toml data files) against built
    /// components. Exits 1 if any case fails.
    Test(test::TestArgs),
    /// Read and check the decision log.
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Re-decide every request in a decision log against another policy
    /// directory and report the verdicts that would change. Exit 0 if none
    /// would, 3 if some would, 1 on error. The log is opened read-only.
    Replay(replay::ReplayArgs),
    /// Serve the HTTP API: evaluation, decisions, escalation review, the
    /// kill switch, policy status and rollback, health and metrics.
    Serve(serve::ServeArgs),
    /// Review escalations on a running service.
    #[command(subcommand)]
    Escalations(escalations::EscalationsCommand),
    /// Engage, release or show the kill switch of a running service.
    #[command(subcommand)]
    Killswitch(killswitch::KillSwitchCommand),
    /// Govern MCP tool calls: an MCP server (stdio or streamable HTTP) in
    /// front of MCP servers, deciding every tools/call with the policies
    /// before it goes upstream.
    McpGateway(mcp_gateway::McpGatewayArgs),
    /// Show the counters of a running service (budgets and rates: used,
    /// reserved, limit, left) and its reservations.
    Usage(usage::UsageArgs),
    /// Create a policy project: source with an example (one deny, one
    /// escalate), a build script, a case file and a manifest entry.
    New(new::NewArgs),
    /// Turn a WASI preview-1 core module (from C, Go, ...) that exports the
    /// policy world into a component, with the reactor adapter built in.
    Componentize(componentize::ComponentizeArgs),
    /// Publish a policy directory to an OCI registry (checked to load
    /// first); prints the manifest digest.
    Push(push::PushArgs),
    /// Ship a stopped node's decision log to PostgreSQL, exactly once per
    /// record (a running `gavel serve` ships its own with --ship-to).
    Ship(ship::ShipArgs),
    /// Sign a policy set in an OCI registry (Ed25519 over its manifest
    /// digest, cosign's tag layout), or generate a key pair.
    Sign(sign::SignArgs),
}

/// Parse arguments, run the command, map the outcome to an exit code.
pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GAVEL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    gavel::tls::init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Eval(args) => eval::run(args),
        Command::Policies(args) => policies::run(args),
        Command::Test(args) => test::run(args),
        Command::Log(command) => log::run(command),
        Command::Replay(args) => replay::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Escalations(command) => escalations::run(command),
        Command::Killswitch(command) => killswitch::run(command),
        Command::Usage(args) => usage::run(args),
        Command::McpGateway(args) => mcp_gateway::run(args),
        Command::New(args) => new::run(args),
        Command::Componentize(args) => componentize::run(args),
        Command::Push(args) => push::run(args),
        Command::Ship(args) => ship::run(args),
        Command::Sign(args) => sign::run(args),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
