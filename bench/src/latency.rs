//! Figure 1: per-decision latency of each peer on the workload.
//!
//! Every action is timed on its own (`Instant` before and after
//! [`Peer::decide`], about 25 ns of overhead each). Peers take turns: one
//! untimed pass each to warm up, then `rounds` timed passes, peer after
//! peer within each round, so that a slow minute on the machine falls on
//! every peer alike. Samples are split by message size: "short" actions
//! have params of at most [`SHORT_PARAMS`] bytes of JSON.

use crate::peer::Peer;
use crate::stats::Samples;
use std::hint::black_box;
use std::time::Instant;

/// The largest params (JSON bytes) of a "short" action.
pub const SHORT_PARAMS: usize = 1024;

/// Whether `request` is short: params of at most [`SHORT_PARAMS`] bytes.
pub fn is_short(request: &gavel::Request) -> bool {
    request.params_json().len() <= SHORT_PARAMS
}

/// Which actions of `workload` are short.
pub fn short_mask(workload: &[gavel::Request]) -> Vec<bool> {
    workload.iter().map(is_short).collect()
}

/// One peer's samples.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    /// Every action.
    pub all: Samples,
    /// Actions with params of at most [`SHORT_PARAMS`] bytes.
    pub short: Samples,
    /// The others.
    pub long: Samples,
}

/// Time every peer on every action of `workload`, `rounds` times each,
/// after one untimed pass. The result is in the order of `peers`.
pub fn measure(peers: &[&dyn Peer], workload: &[gavel::Request], rounds: usize) -> Vec<Latency> {
    let short = short_mask(workload);
    for peer in peers {
        for request in workload {
            black_box(peer.decide(request));
        }
    }
    let mut out: Vec<Latency> = peers
        .iter()
        .map(|_| Latency {
            all: Samples::with_capacity(workload.len() * rounds),
            ..Latency::default()
        })
        .collect();
    for _ in 0..rounds {
        for (peer, latency) in peers.iter().zip(out.iter_mut()) {
            for (request, is_short) in workload.iter().zip(&short) {
                let started = Instant::now();
                let outcome = peer.decide(request);
                let took = started.elapsed();
                black_box(outcome);
                latency.all.push(took);
                if *is_short {
                    latency.short.push(took);
                } else {
                    latency.long.push(took);
                }
            }
        }
    }
    out
}
