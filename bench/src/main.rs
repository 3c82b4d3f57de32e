//! `gavel-bench check [--n N] [--policies DIR]`: build the workload, decide
//! it with the native floor, Gavel in warm isolation, Gavel in fresh
//! isolation, Cedar and Rego, and check that every peer agrees with warm on
//! every action. Exits 1 on any mismatch.
//!
//! The Cedar and Rego policies encode the shipped configuration only: with
//! `--policies` naming another directory they are left out. Cedar is there
//! only when built with `--features cedar` (see `Cargo.toml`).

use anyhow::{Result, anyhow, bail};
use gavel::{ArtifactCache, Isolation, PolicyEngine, Verdict};
#[cfg(feature = "cedar")]
use gavel_bench::cedar::CedarPeer;
use gavel_bench::check::{Mismatch, compare, decide_all};
use gavel_bench::facts::facts;
use gavel_bench::gavel_peer::GavelPeer;
use gavel_bench::native::Native;
use gavel_bench::peer::{Outcome, Peer};
use gavel_bench::rego::{RegoMode, RegoPeer};
use gavel_bench::throughput::Callers;
use gavel_bench::workload;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: gavel-bench check [--n N] [--policies DIR]
       gavel-bench peers [--n N] [--rounds R] [--out FILE]
       gavel-bench report [--quick] [--peers FILE] [--out FILE]
       gavel-bench profile warm|fresh|durable|durable-tasks|buffered|writer|writer-durable
       gavel-bench probe-memory warm|fresh|python|concurrent|instance-warm:LANG|instance-fresh:LANG
       gavel-bench mcp-upstream [--http ADDR]";

/// How many mismatches are printed in full.
const SHOWN: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    Check,
    Peers,
    Report,
    /// Decide the workload's short actions for 10 s (to run under a
    /// profiler): `warm` or `fresh` (the 4-policy chain alone), `durable`
    /// or `buffered` (`Runtime::decide` with 64 callers and that log).
    Profile(String),
    /// One memory measurement, in this process (see `memory`).
    ProbeMemory(String),
    /// The MCP figure's trivial upstream: on stdio, or on streamable HTTP
    /// at this address (see `mcp_overhead`).
    McpUpstream(Option<String>),
}

struct Args {
    command: Command,
    n: usize,
    policies: PathBuf,
    rounds: usize,
    out: Option<PathBuf>,
    peers: Option<PathBuf>,
    quick: bool,
}

/// The arguments, or (for `--help` and usage errors) what to print and
/// the exit code.
fn parse_args() -> std::result::Result<Args, (String, u8)> {
    let mut args = std::env::args().skip(1);
    let command = match args.next().as_deref() {
        Some("check") => Command::Check,
        Some("peers") => Command::Peers,
        Some("report") => Command::Report,
        Some("profile") => Command::Profile(args.next().ok_or_else(|| (USAGE.to_owned(), 2))?),
        Some("probe-memory") => {
            Command::ProbeMemory(args.next().ok_or_else(|| (USAGE.to_owned(), 2))?)
        }
        Some("mcp-upstream") => {
            let http = match (args.next(), args.next(), args.next()) {
                (None, _, _) => None,
                (Some(flag), Some(addr), None) if flag == "--http" => Some(addr),
                _ => return Err((format!("mcp-upstream takes only --http ADDR\n{USAGE}"), 2)),
            };
            Command::McpUpstream(http)
        }
        Some("-h" | "--help") => return Err((USAGE.to_owned(), 0)),
        _ => return Err((USAGE.to_owned(), 2)),
    };
    let mut parsed = Args {
        command,
        n: workload::DEFAULT_N,
        policies: gavel_bench::shipped_dir(),
        rounds: 3,
        out: None,
        peers: None,
        quick: false,
    };
    while let Some(flag) = args.next() {
        if flag == "--quick" {
            parsed.quick = true;
            continue;
        }
        let Some(value) = args.next() else {
            return Err((format!("{flag} needs a value\n{USAGE}"), 2));
        };
        match flag.as_str() {
            "--n" => {
                parsed.n = value
                    .parse()
                    .map_err(|e| (format!("--n {value}: {e}\n{USAGE}"), 2))?;
            }
            "--policies" => parsed.policies = PathBuf::from(value),
            "--rounds" => {
                parsed.rounds = value
                    .parse()
                    .map_err(|e| (format!("--rounds {value}: {e}\n{USAGE}"), 2))?;
            }
            "--out" => parsed.out = Some(PathBuf::from(value)),
            "--peers" => parsed.peers = Some(PathBuf::from(value)),
            _ => return Err((format!("unknown option {flag}\n{USAGE}"), 2)),
        }
    }
    Ok(parsed)
}

fn per_action(total: Duration, n: usize) -> String {
    if n == 0 {
        return "-".to_owned();
    }
    let nanos = total.as_nanos() / n as u128;
    if nanos >= 10_000 {
        format!("{:.1} µs", nanos as f64 / 1000.0)
    } else {
        format!("{nanos} ns")
    }
}

fn main() -> Result<ExitCode> {
    let args = match parse_args() {
        Ok(args) => args,
        Err((message, 0)) => {
            println!("{message}");
            return Ok(ExitCode::SUCCESS);
        }
        Err((message, code)) => {
            eprintln!("{message}");
            return Ok(ExitCode::from(code));
        }
    };

    match &args.command {
        Command::Check => check(&args),
        Command::Peers => peers(&args),
        Command::Report => report(&args),
        Command::Profile(what) => profile(what),
        Command::ProbeMemory(what) => probe_memory(what),
        Command::McpUpstream(http) => {
            gavel_bench::mcp_overhead::serve_upstream(http.as_deref())
                .map_err(|e| anyhow!("mcp-upstream: {e}"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn profile(what: &str) -> Result<ExitCode> {
    {
        let isolation = if what == "fresh" {
            Isolation::Fresh
        } else {
            Isolation::Warm
        };
        let requests = workload::try_workload(3_000).map_err(|e| anyhow!("workload: {e}"))?;
        let short: Vec<_> = requests
            .into_iter()
            .filter(gavel_bench::latency::is_short)
            .collect();
        if let Some(mode) = match what {
            "writer" => Some(gavel::LogMode::Buffered),
            "writer-durable" => Some(gavel::LogMode::Durable),
            _ => None,
        } {
            let dir = gavel_bench::shipped_dir();
            let events = std::sync::Arc::new(
                gavel_bench::log_writer::events(&dir, &short)
                    .map_err(|e| anyhow!("events: {e}"))?,
            );
            let producers = if mode == gavel::LogMode::Durable {
                64
            } else {
                1
            };
            let mut row =
                gavel_bench::log_writer::measure(&events, mode, producers, Duration::from_secs(10))
                    .map_err(|e| anyhow!("log writer: {e}"))?;
            println!(
                "{:.0} records/s wall, {:.0} records/s through the writer alone, {:.1} records per commit, commit p50 {:?}",
                row.wall_rate(),
                row.writer_rate(),
                row.committed as f64 / row.commits.len().max(1) as f64,
                row.commits.p50().unwrap_or_default()
            );
            return Ok(ExitCode::SUCCESS);
        }
        if let Some((mode, callers_as)) = match what {
            "durable" => Some((gavel::LogMode::Durable, Callers::Threads)),
            "durable-tasks" => Some((gavel::LogMode::Durable, Callers::Tasks)),
            "buffered" => Some((gavel::LogMode::Buffered, Callers::Threads)),
            _ => None,
        } {
            let rate = gavel_bench::throughput::rate(
                &gavel_bench::shipped_dir(),
                short,
                mode,
                64,
                callers_as,
                Duration::from_secs(10),
            )
            .map_err(|e| anyhow!("throughput: {e}"))?;
            println!("{rate:.0} decisions/s with 64 callers");
            return Ok(ExitCode::SUCCESS);
        }
        let peer = GavelPeer::load(&gavel_bench::shipped_dir(), isolation)
            .map_err(|e| anyhow!("load: {e}"))?;
        let until = Instant::now() + Duration::from_secs(10);
        let mut calls = 0u64;
        while Instant::now() < until {
            for r in &short {
                std::hint::black_box(peer.decide(r));
            }
            calls += short.len() as u64;
        }
        println!("{calls} decisions, {:.2} µs each", 10e6 / calls as f64);
        Ok(ExitCode::SUCCESS)
    }
}

fn probe_memory(what: &str) -> Result<ExitCode> {
    {
        let requests = workload::try_workload(2_000).map_err(|e| anyhow!("workload: {e}"))?;
        let bytes = gavel_bench::memory::probe(what, &gavel_bench::shipped_dir(), &requests)
            .map_err(|e| anyhow!("probe-memory {what}: {e}"))?;
        println!("{bytes:.0}");
        Ok(ExitCode::SUCCESS)
    }
}

/// `peers`: figure 1 as a markdown fragment (stdout, or `--out`).
fn peers(args: &Args) -> Result<ExitCode> {
    let requests = workload::try_workload(args.n).map_err(|e| anyhow!("workload: {e}"))?;
    let result = gavel_bench::comparison::run(&args.policies, &requests, args.rounds)
        .map_err(|e| anyhow!("peers: {e}"))?;
    write_out(args.out.as_deref(), &result.markdown)?;
    for m in result.mismatches.iter().take(SHOWN) {
        eprintln!("mismatch: {m}");
    }
    if result.mismatches.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} mismatches: the peers do not decide as Gavel does, nothing was timed",
            result.mismatches.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// `report`: every figure, as `BENCHMARKS.md` (stdout, or `--out`).
fn report(args: &Args) -> Result<ExitCode> {
    let peers = match &args.peers {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| anyhow!("cannot read {}: {e}", file.display()))?,
        ),
        None => None,
    };
    let options = gavel_bench::report::Options {
        quick: args.quick,
        policies: args.policies.clone(),
        peers,
    };
    let markdown = gavel_bench::report::run(&options).map_err(|e| anyhow!("report: {e}"))?;
    write_out(args.out.as_deref(), &markdown)?;
    Ok(ExitCode::SUCCESS)
}

fn write_out(out: Option<&std::path::Path>, text: &str) -> Result<()> {
    match out {
        Some(file) => {
            std::fs::write(file, text).map_err(|e| anyhow!("cannot write {}: {e}", file.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// `check`: the cross-check, with per-peer counts and times.
fn check(args: &Args) -> Result<ExitCode> {
    let started = Instant::now();
    let requests = workload::try_workload(args.n).map_err(|e| anyhow!("workload: {e}"))?;
    let built = started.elapsed();
    println!("{}", workload::describe_n(args.n));
    println!("Built in {built:.2?}.\n");

    let started = Instant::now();
    let native = Native::load(&args.policies).map_err(|e| anyhow!("native: {e}"))?;
    let engine = PolicyEngine::new()?;
    let data = tempfile::tempdir()?;
    let cache = ArtifactCache::open(data.path(), engine.engine())?;
    let warm = GavelPeer::load_with(&args.policies, Isolation::Warm, &engine, &cache)
        .map_err(|e| anyhow!("gavel (warm): {e}"))?;
    let fresh = GavelPeer::load_with(&args.policies, Isolation::Fresh, &engine, &cache)
        .map_err(|e| anyhow!("gavel (fresh): {e}"))?;
    println!(
        "Loaded {} in {:.2?}.\n",
        args.policies.display(),
        started.elapsed()
    );

    // Cedar and Rego hold the shipped configuration in their own text.
    let shipped = std::fs::canonicalize(&args.policies).ok()
        == std::fs::canonicalize(gavel_bench::shipped_dir()).ok();
    let mut others: Vec<Box<dyn Peer>> = Vec::new();
    if shipped {
        #[cfg(feature = "cedar")]
        others.push(Box::new(
            CedarPeer::shipped().map_err(|e| anyhow!("cedar: {e}"))?,
        ));
        #[cfg(not(feature = "cedar"))]
        println!("Cedar: built without the `cedar` feature, left out.\n");
        for mode in [RegoMode::Shared, RegoMode::ClonePerCall, RegoMode::Compiled] {
            others.push(Box::new(
                RegoPeer::with_mode(mode).map_err(|e| anyhow!("rego: {e}"))?,
            ));
        }
    } else {
        println!("Cedar and Rego encode the shipped policies only: left out.\n");
    }

    let mut peers: Vec<&dyn Peer> = vec![&warm, &native, &fresh];
    peers.extend(others.iter().map(|p| &**p));
    let mut results: Vec<(&'static str, Vec<Outcome>, Duration)> = Vec::new();
    for peer in peers {
        let started = Instant::now();
        let outcomes = decide_all(peer, &requests);
        results.push((peer.name(), outcomes, started.elapsed()));
    }

    // What Cedar and Rego spend in the harness's facts, inside their time.
    let started = Instant::now();
    let facts_minutes: u64 = requests
        .iter()
        .map(|r| u64::from(facts(r).local_minutes))
        .sum();
    let facts_took = started.elapsed();

    println!("## Verdicts\n");
    println!("| peer | approve | deny | escalate | time | per action |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, outcomes, took) in &results {
        let count = |v: Verdict| outcomes.iter().filter(|o| o.verdict == v).count();
        println!(
            "| {name} | {} | {} | {} | {took:.2?} | {} |",
            count(Verdict::Approve),
            count(Verdict::Deny),
            count(Verdict::Escalate),
            per_action(*took, requests.len())
        );
    }

    println!(
        "\nThe harness's facts (local time, PII kinds), included in cedar's and rego's times: {facts_took:.2?}, {} per action (checksum {facts_minutes}).",
        per_action(facts_took, requests.len())
    );

    let Some((reference_name, reference, _)) = results.first() else {
        bail!("no reference peer");
    };
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for outcome in reference {
        *codes.entry(outcome.to_string()).or_default() += 1;
    }
    println!("\n## Outcomes ({reference_name})\n");
    println!("| outcome | count |");
    println!("|---|---:|");
    for (outcome, count) in &codes {
        println!("| {outcome} | {count} |");
    }

    // Decisions whose reasons list an escalation before the deny that
    // decided: there the first reason is not the deciding one.
    let escalated_then_denied = requests
        .iter()
        .zip(reference)
        .filter(|(_, o)| o.verdict == Verdict::Deny)
        .filter(|(r, _)| {
            warm.decision(r)
                .reasons
                .first()
                .is_some_and(|first| first.verdict == Verdict::Escalate)
        })
        .count();
    println!(
        "\n{escalated_then_denied} denies list an escalation as their first reason (an escalate from a higher-priority policy, then a deny); their outcome code is the deny's."
    );

    let mut mismatches: Vec<Mismatch> = Vec::new();
    for (name, outcomes, _) in results.iter().skip(1) {
        mismatches.extend(compare(
            reference_name,
            reference,
            name,
            outcomes,
            &requests,
        ));
    }
    println!("\n## Cross-check against {reference_name}\n");
    for (name, _, _) in results.iter().skip(1) {
        let n = mismatches.iter().filter(|m| m.peer == *name).count();
        println!("- {name}: {n} mismatches of {}", requests.len());
    }
    for m in mismatches.iter().take(SHOWN) {
        println!("  - {m}");
    }
    if mismatches.len() > SHOWN {
        println!("  - ... and {} more", mismatches.len() - SHOWN);
    }
    Ok(if mismatches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
