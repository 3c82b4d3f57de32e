//! Gavel as a [`Peer`]: a policy directory loaded with the real runtime
//! (`PolicyEngine`, an `ArtifactCache` in a temporary data directory,
//! `PolicySet::load`), in warm or fresh isolation.

use crate::peer::{Outcome, Peer};
use gavel::{ArtifactCache, Decision, Isolation, PolicyEngine, PolicySet, Verdict};
use std::path::Path;
use tempfile::TempDir;

/// Gavel deciding with one loaded policy set.
#[derive(Debug)]
pub struct GavelPeer {
    name: &'static str,
    set: PolicySet,
    /// The artifact cache and, for fresh isolation, the rewritten manifest;
    /// kept until the peer is dropped.
    _temp: Vec<TempDir>,
}

impl GavelPeer {
    /// Gavel on `dir` as its manifest says (warm by default).
    pub fn warm(dir: &Path) -> Result<Self, crate::Error> {
        Self::load(dir, Isolation::Warm)
    }

    /// Gavel on `dir` with `isolation = "fresh"`: a new instance of every
    /// policy for every evaluation.
    pub fn fresh(dir: &Path) -> Result<Self, crate::Error> {
        Self::load(dir, Isolation::Fresh)
    }

    /// Gavel on `dir` in `isolation`, with its own engine and a fresh
    /// artifact cache in a temporary directory.
    pub fn load(dir: &Path, isolation: Isolation) -> Result<Self, crate::Error> {
        let engine = PolicyEngine::new()?;
        let data = tempfile::tempdir()?;
        let cache = ArtifactCache::open(data.path(), engine.engine())?;
        let mut peer = Self::load_with(dir, isolation, &engine, &cache)?;
        peer._temp.push(data);
        Ok(peer)
    }

    /// Gavel on `dir` in `isolation`, sharing `engine` and `cache` (so
    /// that several peers compile each component once).
    ///
    /// Warm loads `dir` as it is (its manifest's isolation, warm when
    /// unset). Fresh writes a copy of `dir/policies.toml` to a temporary
    /// directory with `isolation = "fresh"` at the top and every component
    /// path made absolute, and loads that; a per-policy `isolation`
    /// override in the manifest is kept (the shipped one has none).
    pub fn load_with(
        dir: &Path,
        isolation: Isolation,
        engine: &PolicyEngine,
        cache: &ArtifactCache,
    ) -> Result<Self, crate::Error> {
        match isolation {
            Isolation::Warm => Ok(GavelPeer {
                name: "gavel-warm",
                set: PolicySet::load(dir, engine, cache)?,
                _temp: Vec::new(),
            }),
            Isolation::Fresh => Self::derived(
                "gavel-fresh",
                dir,
                &crate::fixture::Derive {
                    isolation: Some("fresh"),
                    ..crate::fixture::Derive::default()
                },
                engine,
                cache,
            ),
        }
    }

    /// Gavel warm on `dir` with every policy scoped by `applies_to` to the
    /// actions its config lists (see [`crate::fixture::Derive::scoped`]).
    pub fn scoped_with(
        dir: &Path,
        engine: &PolicyEngine,
        cache: &ArtifactCache,
    ) -> Result<Self, crate::Error> {
        let scoped = crate::fixture::Derive {
            scoped: true,
            ..crate::fixture::Derive::default()
        };
        Self::derived("gavel-scoped", dir, &scoped, engine, cache)
    }

    /// Gavel on a copy of `dir`'s manifest rewritten as `derive` says.
    fn derived(
        name: &'static str,
        dir: &Path,
        derive: &crate::fixture::Derive<'_>,
        engine: &PolicyEngine,
        cache: &ArtifactCache,
    ) -> Result<Self, crate::Error> {
        let copy = crate::fixture::derive(dir, derive)?;
        Ok(GavelPeer {
            name,
            set: PolicySet::load(copy.path(), engine, cache)?,
            _temp: vec![copy],
        })
    }

    /// The loaded policy set.
    pub fn set(&self) -> &PolicySet {
        &self.set
    }

    /// Gavel's full decision on `request`.
    pub fn decision(&self, request: &gavel::Request) -> Decision {
        self.set.evaluate(request)
    }
}

/// The outcome of a decision: its verdict and the code of the reason that
/// decided it, i.e. the first reason whose verdict is the decision's.
///
/// That is the first reason's code in every case but one: when an
/// enforce-mode policy escalates and a lower-priority one then denies
/// (e.g. `transaction-limit` escalates `approval-threshold`, then
/// `business-hours` denies `outside-business-hours`), `reasons` lists the
/// escalation first, but the deny decided.
pub fn outcome(decision: &Decision) -> Outcome {
    match decision.verdict {
        Verdict::Approve => Outcome::approve(),
        verdict => Outcome {
            verdict,
            code: decision
                .reasons
                .iter()
                .find(|r| r.verdict == verdict)
                .or_else(|| decision.reasons.first())
                .map(|r| r.code.clone()),
        },
    }
}

impl Peer for GavelPeer {
    fn name(&self) -> &'static str {
        self.name
    }

    fn decide(&self, request: &gavel::Request) -> Outcome {
        outcome(&self.set.evaluate(request))
    }
}
