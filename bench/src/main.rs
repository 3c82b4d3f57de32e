//! `gavel-bench check [--n N] [--policies DIR]`: build the workload, decide
//! it with the native floor, Gavel in warm isolation and Gavel in fresh
//! isolation, and check that native and fresh agree with warm on every
//! action. Exits 1 on any mismatch.

use anyhow::{Result, anyhow, bail};
use gavel::{ArtifactCache, Isolation, PolicyEngine, Verdict};
use gavel_bench::check::{Mismatch, compare, decide_all};
use gavel_bench::gavel_peer::GavelPeer;
use gavel_bench::native::Native;
use gavel_bench::peer::{Outcome, Peer};
use gavel_bench::workload;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: gavel-bench check [--n N] [--policies DIR]";

/// How many mismatches are printed in full.
const SHOWN: usize = 20;

struct Args {
    n: usize,
    policies: PathBuf,
}

/// The arguments, or (for `--help` and usage errors) what to print and
/// the exit code.
fn parse_args() -> std::result::Result<Args, (String, u8)> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("check") => {}
        Some("-h" | "--help") => return Err((USAGE.to_owned(), 0)),
        _ => return Err((USAGE.to_owned(), 2)),
    }
    let mut parsed = Args {
        n: workload::DEFAULT_N,
        policies: gavel_bench::shipped_dir(),
    };
    while let Some(flag) = args.next() {
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

    let peers: [&dyn Peer; 3] = [&warm, &native, &fresh];
    let mut results: Vec<(&'static str, Vec<Outcome>, Duration)> = Vec::new();
    for peer in peers {
        let started = Instant::now();
        let outcomes = decide_all(peer, &requests);
        results.push((peer.name(), outcomes, started.elapsed()));
    }

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
