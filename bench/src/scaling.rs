//! Figure 6: how a decision's latency grows with the message (100 B to
//! 1 MiB, where the pii-egress scan must stay linear) and with the number
//! of loaded policies (4 to 64).
//!
//! - Message size: `send_email` from a registered agent, its body plain
//!   sentences with no PII (so that the scan reads all of it, and all four
//!   policies run), Gavel warm against the native floor.
//! - Policies: the shipped four, repeated under new names (8, 16, 32, 64),
//!   Gavel warm, on the workload's short actions. Every copy applies to
//!   every action, as the originals do.

use crate::fixture::{self, Derive};
use crate::gavel_peer::GavelPeer;
use crate::native::Native;
use crate::peer::Peer;
use crate::stats::{Samples, ratio, show_opt, time_for};
use gavel::{ArtifactCache, Isolation, PolicyEngine, Request};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

/// Message sizes, bytes.
pub const SIZES: [usize; 5] = [100, 1_000, 10_000, 100_000, 1_048_576];

/// Numbers of loaded policies.
pub const POLICY_COUNTS: [usize; 5] = [4, 8, 16, 32, 64];

const SENTENCES: [&str; 6] = [
    "Thanks for the update on the quarterly plan. ",
    "The shipment left the warehouse on Tuesday and should arrive soon. ",
    "Please review the attached summary before the next meeting. ",
    "We moved the review to the afternoon so that everyone can attend. ",
    "Let me know if the revised numbers look right to you. ",
    "The team agreed to keep the current schedule for now. ",
];

/// A clean outbound email whose body is exactly `size` bytes.
pub fn email(size: usize) -> Result<Request, crate::Error> {
    let mut body = String::with_capacity(size + 80);
    let mut i = 0;
    while body.len() < size {
        body.push_str(SENTENCES.get(i % SENTENCES.len()).copied().unwrap_or(". "));
        i += 1;
    }
    body.truncate(size);
    let json = serde_json::json!({
        "request_id": format!("scale-{size}"),
        "agent_id": "customer-support",
        "action": "send_email",
        "timestamp": "2026-11-18T15:00:00Z",
        "params": {"to": "ana@example-corp.com", "subject": "Update", "body": body},
    });
    Ok(Request::from_json(&json.to_string())?)
}

fn time_peer(peer: &dyn Peer, request: &Request, budget: Duration) -> Samples {
    time_for(budget, 5, || {
        black_box(peer.decide(black_box(request)));
    })
}

/// The markdown section. `budget` is the time per measurement.
pub fn run(shipped: &Path, short: &[Request], budget: Duration) -> Result<String, crate::Error> {
    let engine = PolicyEngine::new()?;
    let data = tempfile::tempdir()?;
    let cache = ArtifactCache::open(data.path(), engine.engine())?;
    let warm = GavelPeer::load_with(shipped, Isolation::Warm, &engine, &cache)?;
    let native = Native::load(shipped)?;

    let mut md = String::new();
    let _ = writeln!(
        md,
        "#### Message size (clean `send_email`, all four policies run)\n"
    );
    let _ = writeln!(
        md,
        "| body | gavel-warm p50 | per KiB | × previous size | native p50 | gavel ÷ native |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|");
    let mut previous = None;
    for size in SIZES {
        let request = email(size)?;
        let got = warm.decide(&request);
        if got.verdict != gavel::Verdict::Approve {
            return Err(format!("the clean {size}-byte email was not approved: {got}").into());
        }
        let mut gavel = time_peer(&warm, &request, budget);
        let mut floor = time_peer(&native, &request, budget);
        let p50 = gavel.p50();
        let per_kib = p50.map(|d| d.mul_f64(1024.0 / size as f64));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            crate::stats::show_bytes(size as f64),
            show_opt(p50),
            show_opt(per_kib),
            ratio(p50, previous),
            show_opt(floor.p50()),
            ratio(p50, floor.p50()),
        );
        previous = p50;
    }

    let _ = writeln!(
        md,
        "\n#### Loaded policies (short actions of the workload, Gavel warm)\n"
    );
    let _ = writeln!(md, "| policies | p50 | p99 | p50 per policy |");
    let _ = writeln!(md, "|---:|---:|---:|---:|");
    for count in POLICY_COUNTS {
        let dir = fixture::derive(
            shipped,
            &Derive {
                copies: count / 4,
                ..Derive::default()
            },
        )?;
        let peer = GavelPeer::load_with(dir.path(), Isolation::Warm, &engine, &cache)?;
        if peer.set().policies().len() != count {
            return Err(format!(
                "expected {count} policies, loaded {}",
                peer.set().policies().len()
            )
            .into());
        }
        let mut samples = Samples::default();
        let rounds = crate::latency::measure(&[&peer], short, 1);
        for l in &rounds {
            samples.extend(&l.all);
        }
        let p50 = samples.p50();
        let _ = writeln!(
            md,
            "| {count} | {} | {} | {} |",
            show_opt(p50),
            show_opt(samples.p99()),
            show_opt(p50.map(|d| d / count as u32)),
        );
    }
    Ok(md)
}
