//! Figure 1: the four-policy chain in Gavel (warm and fresh instances)
//! beside the native floor, Cedar and Rego, on the same workload, after a
//! cross-check that every peer gives Gavel's verdicts. A third Gavel row,
//! `gavel-scoped`, is the same set with each policy's `applies_to` set to
//! the actions its config lists: the host then runs only the policies an
//! action concerns, as a deployment that scopes its policies would.

use crate::check::{Mismatch, compare, decide_all};
use crate::gavel_peer::GavelPeer;
use crate::latency::{self, Latency, SHORT_PARAMS};
use crate::native::Native;
use crate::peer::Peer;
use crate::rego::RegoPeer;
use crate::stats::{ratio, show_opt};
use gavel::{ArtifactCache, Isolation, PolicyEngine};
use std::fmt::Write as _;
use std::path::Path;

/// The comparison's result.
#[derive(Debug)]
pub struct Comparison {
    /// The markdown section.
    pub markdown: String,
    /// Every disagreement with Gavel (warm). Timing is skipped unless empty.
    pub mismatches: Vec<Mismatch>,
}

/// Load every peer on the shipped policies in `dir`, cross-check them on
/// `workload` against Gavel (warm), and, if they all agree and `rounds`
/// is not 0, time them.
pub fn run(
    dir: &Path,
    workload: &[gavel::Request],
    rounds: usize,
) -> Result<Comparison, crate::Error> {
    let engine = PolicyEngine::new()?;
    let data = tempfile::tempdir()?;
    let cache = ArtifactCache::open(data.path(), engine.engine())?;
    let warm = GavelPeer::load_with(dir, Isolation::Warm, &engine, &cache)?;
    let fresh = GavelPeer::load_with(dir, Isolation::Fresh, &engine, &cache)?;
    let scoped = GavelPeer::scoped_with(dir, &engine, &cache)?;
    let native = Native::load(dir)?;
    let rego = RegoPeer::shipped()?;
    #[cfg(feature = "cedar")]
    let cedar = crate::cedar::CedarPeer::shipped()?;

    let mut peers: Vec<&dyn Peer> = vec![&warm, &fresh, &scoped, &native];
    #[cfg(feature = "cedar")]
    peers.push(&cedar);
    peers.push(&rego);

    let expected = decide_all(&warm, workload);
    let mut mismatches = Vec::new();
    let mut md = String::new();
    let _ = writeln!(md, "### Cross-check\n");
    for peer in peers.iter().skip(1) {
        let got = decide_all(*peer, workload);
        let found = compare(warm.name(), &expected, peer.name(), &got, workload);
        let _ = writeln!(
            md,
            "- {}: {} of {} actions decided as Gavel (warm) decides them",
            peer.name(),
            workload.len() - found.len(),
            workload.len()
        );
        mismatches.extend(found);
    }
    #[cfg(not(feature = "cedar"))]
    let _ = writeln!(
        md,
        "- cedar: not in this build (the harness was built without `--features cedar`)"
    );
    if !mismatches.is_empty() || rounds == 0 {
        return Ok(Comparison {
            markdown: md,
            mismatches,
        });
    }

    let mut measured = latency::measure(&peers, workload, rounds);
    let short_count = measured.first().map_or(0, |l| l.short.len() / rounds);
    let _ = writeln!(
        md,
        "\n### Latency per decision ({} actions × {rounds} rounds; short = params ≤ {SHORT_PARAMS} B of JSON, {short_count} of them)\n",
        workload.len()
    );
    let _ = writeln!(
        md,
        "| peer | p50 short | p99 short | p50 all | p99 all | p50 long |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    for (peer, l) in peers.iter().zip(measured.iter_mut()) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            peer.name(),
            show_opt(l.short.p50()),
            show_opt(l.short.p99()),
            show_opt(l.all.p50()),
            show_opt(l.all.p99()),
            show_opt(l.long.p50()),
        );
    }
    let by_name = |name: &str, measured: &mut [Latency], short: bool| {
        peers
            .iter()
            .position(|p| p.name() == name)
            .and_then(|i| measured.get_mut(i))
            .and_then(|l| if short { l.short.p50() } else { l.all.p50() })
    };
    let _ = writeln!(md, "\n### Ratios of medians (lower is better for Gavel)\n");
    let _ = writeln!(md, "| ratio | short actions | all actions |");
    let _ = writeln!(md, "|---|---:|---:|");
    for gavel in ["gavel-warm", "gavel-fresh", "gavel-scoped"] {
        for other in ["native", "cedar", "rego"] {
            if !peers.iter().any(|p| p.name() == other) {
                continue;
            }
            let _ = writeln!(
                md,
                "| {gavel} ÷ {other} | {} | {} |",
                ratio(
                    by_name(gavel, &mut measured, true),
                    by_name(other, &mut measured, true)
                ),
                ratio(
                    by_name(gavel, &mut measured, false),
                    by_name(other, &mut measured, false)
                ),
            );
        }
    }
    Ok(Comparison {
        markdown: md,
        mismatches,
    })
}
