//! Figure 7: what memory (budgets, rate limits, prerequisites) and
//! interest dispatch cost, each figure with its target.
//!
//! 1. **Interest dispatch.** The warm four-policy chain (`bench/stateless/`)
//!    on the workload's short actions: its components declare the actions
//!    they judge, so the host asks only those. Beside it, `gavel-scoped`
//!    (every policy scoped by `applies_to` to its config's actions). Target
//!    p50 ≤ [`DISPATCH_TARGET`].
//! 2. **Stateful chain, no log.** The seven shipped policies
//!    (`policies-wasm/`) with raised limits, deciding with a ledger and a
//!    history ([`StatefulChain`]) on the same actions, each under a new
//!    request id, at the wall clock. Target p50 ≤ [`STATEFUL_TARGET`].
//! 3. **Throughput with the durable log.** `Runtime::decide` with
//!    [`CALLERS`] callers, the stateful set against the stateless one
//!    ([`throughput::compare`]). Target ≥ [`THROUGHPUT_TARGET`] of the
//!    stateless rate.
//! 4. **Scaling with dispatch.** 4 to 64 loaded policies, at most 4 of
//!    which concern an action ([`dispatch_scaling`]). Target: 64 policies
//!    < [`SCALING_TARGET`]× the p50 of 4.

use crate::dispatch_scaling::{self, Point};
use crate::gavel_peer::GavelPeer;
use crate::stateful_chain::{StatefulChain, Tally, big_limits_dir, renamed};
use crate::stats::{Samples, ratio, show_opt, show_rate};
use crate::throughput::{self, Measured};
use gavel::{ArtifactCache, LogMode, PolicyEngine, Request};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// Figure 7.1's target: the warm chain's p50 on short actions.
pub const DISPATCH_TARGET: Duration = Duration::from_micros(3);
/// Figure 7.2's target: the stateful chain's p50 without a log.
pub const STATEFUL_TARGET: Duration = Duration::from_micros(6);
/// Figure 7.3's target: stateful ÷ stateless decisions per second.
pub const THROUGHPUT_TARGET: f64 = 0.8;
/// Figure 7.4's target: p50 with 64 policies ÷ p50 with 4.
pub const SCALING_TARGET: f64 = 2.0;
/// Callers in figure 7.3.
pub const CALLERS: usize = 64;

/// How much to measure.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Timed passes over the short actions (figures 7.1, 7.2, 7.4).
    pub rounds: usize,
    /// Time per set in figure 7.3.
    pub throughput: Duration,
}

/// Figure 7.1.
#[derive(Debug, Clone, Default)]
pub struct Dispatch {
    /// The warm chain (with dispatch).
    pub warm: Samples,
    /// The scoped chain.
    pub scoped: Samples,
    /// Policies run per decision, mean, warm.
    pub ran: f64,
    /// The warm chain by policies run: (policies run, actions, p50), for
    /// 0, 1 and 2 or more.
    pub by_ran: Vec<(usize, usize, Option<Duration>)>,
}

/// Figure 7.2.
#[derive(Debug, Clone, Default)]
pub struct Stateful {
    /// Every timed decision.
    pub latency: Samples,
    /// What the timed decisions did.
    pub tally: Tally,
    /// Policies run per decision, mean.
    pub ran: f64,
}

/// Every figure, and the section.
#[derive(Debug, Clone)]
pub struct Figures {
    /// 7.1.
    pub dispatch: Dispatch,
    /// 7.2.
    pub stateful: Stateful,
    /// 7.3: stateless, then stateful.
    pub throughput: [Measured; 2],
    /// 7.4.
    pub scaling: Vec<Point>,
    /// The markdown section.
    pub markdown: String,
}

fn mean_ran(decisions: impl Iterator<Item = usize>) -> f64 {
    let (mut sum, mut n) = (0usize, 0usize);
    for ran in decisions {
        sum += ran;
        n += 1;
    }
    if n == 0 { 0.0 } else { sum as f64 / n as f64 }
}

fn met(ok: bool) -> &'static str {
    if ok { "**met**" } else { "**not met**" }
}

fn dispatch(
    stateless: &Path,
    short: &[Request],
    rounds: usize,
    engine: &PolicyEngine,
    cache: &ArtifactCache,
) -> Result<Dispatch, crate::Error> {
    let warm = GavelPeer::load_with(stateless, gavel::Isolation::Warm, engine, cache)?;
    let scoped = GavelPeer::scoped_with(stateless, engine, cache)?;
    let ran = mean_ran(short.iter().map(|r| warm.decision(r).policies.len()));
    let measured = crate::latency::measure(&[&warm, &scoped], short, rounds);
    let mut out = Dispatch {
        ran,
        ..Dispatch::default()
    };
    if let [w, s] = measured.as_slice() {
        out.warm = w.all.clone();
        out.scoped = s.all.clone();
    }
    // The same chain on the actions that run 0, 1, 2+ policies: what a
    // decision costs before any policy runs, and per policy.
    for ran in 0..=2 {
        let subset: Vec<Request> = short
            .iter()
            .filter(|r| {
                let n = warm.decision(r).policies.len();
                if ran == 2 { n >= 2 } else { n == ran }
            })
            .cloned()
            .collect();
        let mut samples = Samples::default();
        for l in &crate::latency::measure(&[&warm], &subset, rounds) {
            samples.extend(&l.all);
        }
        out.by_ran.push((ran, subset.len(), samples.p50()));
    }
    Ok(out)
}

/// Figure 7.2: one untimed pass, then `rounds` timed passes, every
/// decision under a request id of its own.
pub fn stateful(
    chain: &StatefulChain,
    short: &[Request],
    rounds: usize,
) -> Result<Stateful, crate::Error> {
    let mut out = Stateful {
        latency: Samples::with_capacity(short.len() * rounds),
        ..Stateful::default()
    };
    let mut ran = Vec::with_capacity(short.len());
    for request in short {
        let d = chain.decide(&renamed(request, "warm-up"), gavel::log::now_ms());
        ran.push(d.policies.len());
    }
    out.ran = mean_ran(ran.into_iter());
    for round in 0..rounds {
        let tag = format!("r{round}");
        let requests: Vec<Request> = short.iter().map(|r| renamed(r, &tag)).collect();
        for request in &requests {
            let now = gavel::log::now_ms();
            let started = Instant::now();
            let decision = chain.decide(black_box(request), now);
            out.latency.push(started.elapsed());
            out.tally.add(&decision);
            black_box(decision);
        }
    }
    Ok(out)
}

/// Run every figure: `stateless` is `bench/stateless/`, `stateful` the
/// shipped `policies-wasm/` (whose components figure 7.4 copies), `short`
/// the workload's short actions.
pub fn run(
    stateless: &Path,
    stateful_dir: &Path,
    short: &[Request],
    budget: Budget,
) -> Result<Figures, crate::Error> {
    let rounds = budget.rounds.max(1);
    let engine = PolicyEngine::new()?;
    let data = tempfile::tempdir()?;
    let cache = ArtifactCache::open(data.path(), engine.engine())?;

    let mut dispatch = dispatch(stateless, short, rounds, &engine, &cache)?;
    let chain = StatefulChain::load(stateful_dir, &engine, &cache)?;
    let mut stateful = stateful(&chain, short, rounds)?;
    drop(chain);
    let big = big_limits_dir(stateful_dir)?;
    let [plain, memory] = match throughput::compare(
        &[stateless, big.path()],
        short.to_vec(),
        LogMode::Durable,
        CALLERS,
        budget.throughput,
        Some(data.path()),
    )?
    .as_slice()
    {
        [a, b] => [*a, *b],
        _ => return Err("throughput: expected two measurements".into()),
    };
    let scaling = dispatch_scaling::measure(stateful_dir, short, rounds, &engine, &cache)?;

    let mut md = String::new();
    let n = short.len();
    let warm_p50 = dispatch.warm.p50();

    let _ = writeln!(md, "### 7.1 Interest dispatch\n");
    let _ = writeln!(
        md,
        "The warm four-policy chain (`bench/stateless/`) on the workload's {n} short actions × {rounds} rounds, no log. Each component declares the actions it judges, and the host asks only the policies an action concerns ({:.2} of 4 run per action, mean). `gavel-scoped` adds `applies_to` from each config, as before interest existed.\n",
        dispatch.ran
    );
    let _ = writeln!(md, "| chain | p50 | p99 | ÷ gavel-warm (p50) |");
    let _ = writeln!(md, "|---|---:|---:|---:|");
    let _ = writeln!(
        md,
        "| gavel-warm (dispatch) | {} | {} | 1.00× |",
        show_opt(warm_p50),
        show_opt(dispatch.warm.p99())
    );
    let scoped_p50 = dispatch.scoped.p50();
    let _ = writeln!(
        md,
        "| gavel-scoped | {} | {} | {} |",
        show_opt(scoped_p50),
        show_opt(dispatch.scoped.p99()),
        ratio(scoped_p50, warm_p50)
    );
    let _ = writeln!(
        md,
        "\nThe same warm chain by the number of policies an action runs (what a decision costs before any policy runs, and with them):\n"
    );
    let _ = writeln!(md, "| policies run | actions | p50 |");
    let _ = writeln!(md, "|---:|---:|---:|");
    for (ran, count, p50) in &dispatch.by_ran {
        let label = if *ran >= 2 {
            format!("{ran} or more")
        } else {
            ran.to_string()
        };
        let _ = writeln!(md, "| {label} | {count} | {} |", show_opt(*p50));
    }
    let _ = writeln!(
        md,
        "\nTarget: p50 ≤ {}: {}.",
        crate::stats::show(DISPATCH_TARGET),
        met(warm_p50.is_some_and(|p| p <= DISPATCH_TARGET))
    );

    let t = stateful.tally;
    let s_p50 = stateful.latency.p50();
    let _ = writeln!(md, "\n### 7.2 Stateful chain, no log\n");
    let _ = writeln!(
        md,
        "The seven shipped policies (`policies-wasm/`: the four above with `budget`, `rate-limit` and `prerequisites`), warm, with a ledger and a history and no log, as `gavel test` decides a case: history facts, the policies, the decision's charges reserved atomically, approves recorded in the history. Limits are raised (budgets {} per agent and for the fleet, rates {} per window) so that charges are reserved rather than refused; every decision has a request id of its own (a request id is charged once) and the wall clock as its time. Same {n} short actions × {rounds} rounds; {:.2} policies run per action (mean).\n",
        crate::stats::thousands(crate::stateful_chain::BIG_LIMITS.amount.unsigned_abs()),
        crate::stats::thousands(crate::stateful_chain::BIG_LIMITS.count.unsigned_abs()),
        stateful.ran
    );
    let _ = writeln!(
        md,
        "| chain | p50 | p90 | p99 | ÷ gavel-warm stateless (p50) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    let _ = writeln!(
        md,
        "| stateful, no log | {} | {} | {} | {} |",
        show_opt(s_p50),
        show_opt(stateful.latency.quantile(0.9)),
        show_opt(stateful.latency.p99()),
        ratio(s_p50, warm_p50)
    );
    let _ = writeln!(
        md,
        "\nOf {} timed decisions: {} approved, {} escalated, {} denied; **{:.1}% reserved charges** (approved or escalated with a charge); {} were refused by a full counter.",
        crate::stats::thousands(t.decisions as u64),
        crate::stats::thousands(t.approve as u64),
        crate::stats::thousands(t.escalate as u64),
        crate::stats::thousands(t.deny as u64),
        t.reserved_share() * 100.0,
        crate::stats::thousands(t.refused_by_limit as u64),
    );
    let _ = writeln!(
        md,
        "\nTarget: p50 ≤ {}: {}.",
        crate::stats::show(STATEFUL_TARGET),
        met(s_p50.is_some_and(|p| p <= STATEFUL_TARGET))
    );

    let share = memory.per_second / plain.per_second.max(1e-9);
    let _ = writeln!(md, "\n### 7.3 Throughput with the durable log\n");
    let _ = writeln!(
        md,
        "`Runtime::decide` (as in figure 3) with {CALLERS} callers and the durable log, {:.1} s per set, every call under a request id of its own; the stateful set with the raised limits of 7.2, its reservations written in each decision's transaction.\n",
        budget.throughput.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| set | decisions | decisions/s | p50 per call | reserved charges | records per commit | writer time per record | ÷ stateless (decisions/s) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, m, r) in [
        ("stateless (4 policies)", &plain, "1.00×".to_owned()),
        ("stateful (7 policies)", &memory, format!("{share:.2}×")),
    ] {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {:.1}% | {:.1} | {} | {r} |",
            crate::stats::thousands(m.decisions as u64),
            show_rate(m.per_second),
            show_opt(m.p50),
            100.0 * m.reserved as f64 / (m.decisions.max(1)) as f64,
            m.per_commit,
            show_opt(m.writer_per_record),
        );
    }
    let _ = writeln!(
        md,
        "\nTarget: ≥ {:.0}% of the stateless rate: {} ({:.0}%).",
        THROUGHPUT_TARGET * 100.0,
        met(share >= THROUGHPUT_TARGET),
        share * 100.0
    );

    let _ = writeln!(md, "\n### 7.4 Scaling with dispatch\n");
    let _ = writeln!(
        md,
        "Synthetic sets of copies of the shipped `sensitive-actions` and `transaction-limit` components, in groups of four that judge {} action names of their own (each `sensitive-actions` copy requires approval for them, each `transaction-limit` copy limits them), so that every action concerns exactly 4 of the loaded policies, and all 4 run. The workload's short actions, each distinct name mapped onto one of the set's names (params, agents and timestamps kept; amount kept or 10, no currency), × {rounds} rounds, warm, no log.\n",
        dispatch_scaling::NAMES_PER_GROUP
    );
    md.push_str(&dispatch_scaling::table(&scaling));
    let first = scaling.first().and_then(|p| p.p50);
    let last = scaling.last().and_then(|p| p.p50);
    let growth = match (first, last) {
        (Some(a), Some(b)) if !a.is_zero() => Some(b.as_secs_f64() / a.as_secs_f64()),
        _ => None,
    };
    let _ = writeln!(
        md,
        "\nTarget: {} policies < {SCALING_TARGET:.0}× the p50 of {}: {} ({}).",
        scaling.last().map_or(0, |p| p.policies),
        scaling.first().map_or(0, |p| p.policies),
        met(growth.is_some_and(|g| g < SCALING_TARGET)),
        ratio(last, first)
    );

    Ok(Figures {
        dispatch,
        stateful,
        throughput: [plain, memory],
        scaling,
        markdown: md,
    })
}
