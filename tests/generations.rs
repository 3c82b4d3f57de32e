//! Generations and the instance pool: a large policy set reloaded again
//! and again under load never runs the pool dry; a set too large to fit
//! is refused at load; a generation that stops being live gives its warm
//! instances back; and a rollback completes while a reload is still
//! loading, which is then set aside.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use gavel::engine::MAX_POLICIES;
use gavel::{
    Decision, LogMode, LogOptions, ReloadOutcome, Request, RunVerdict, Runtime, RuntimeError,
    Verdict,
};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::time::Duration;

/// Version `k` of a set of `count` copies of the shipped
/// `sensitive-actions`, named `v{k}-p{i}`: each approves `probe`, so every
/// policy runs on every decision. (A generous deadline: these tests are
/// about instances, and a busy machine can pause a thread for long.)
fn copies(count: usize, k: usize) -> String {
    let component = common::shipped("sensitive_actions").display().to_string();
    let mut manifest = String::new();
    for i in 0..count {
        manifest.push_str(&format!(
            "[[policy]]\nname = \"v{k}-p{i}\"\ncomponent = \"{component}\"\npriority = 1\ntimeout_ms = 30000\n[policy.config]\nforbidden = [\"other\"]\nallowed = [\"probe\"]\n\n"
        ));
    }
    manifest
}

/// Checks that all `count` policies of one version ran and approved (none
/// failed, with `instantiate-failed` or otherwise), and returns the
/// version.
fn version(d: &Decision, count: usize) -> usize {
    let failed: Vec<_> = d
        .policies
        .iter()
        .filter(|r| r.verdict != RunVerdict::Approve)
        .map(|r| (r.policy.clone(), r.code.clone()))
        .collect();
    assert!(failed.is_empty(), "failed runs: {failed:?}");
    assert_eq!(d.verdict, Verdict::Approve, "{:?}", d.reasons);
    assert_eq!(d.policies.len(), count);
    let (k, _) = d.policies[0].policy[1..].split_once('-').unwrap();
    let prefix = format!("v{k}-");
    assert!(
        d.policies.iter().all(|r| r.policy.starts_with(&prefix)),
        "generation {} ran two versions",
        d.generation
    );
    k.parse().unwrap()
}

/// Replace the manifest atomically (write a temporary file, rename).
fn install(dir: &Path, manifest: &str) {
    let tmp = dir.join(".policies.toml.tmp");
    std::fs::write(&tmp, manifest).unwrap();
    std::fs::rename(&tmp, dir.join("policies.toml")).unwrap();
}

fn probe() -> Request {
    Request::from_json(r#"{"agent_id":"a","action":"probe"}"#).unwrap()
}

fn buffered() -> LogOptions {
    LogOptions {
        mode: LogMode::Buffered,
        ..LogOptions::default()
    }
}

/// 300 policies, 6 changes, 4 callers deciding all along: every change
/// goes live and no decision fails to get an instance. (Before the
/// instance pool was shared out, the 4th change was refused for good and
/// decisions failed with `instantiate-failed`.)
#[test]
fn three_hundred_policies_reloaded_six_times_under_load() {
    const COUNT: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    install(dir.path(), &copies(COUNT, 0));
    let runtime = Arc::new(Runtime::start(dir.path(), data.path(), buffered()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (runtime, stop) = (runtime.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut decided = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    version(&runtime.decide(&probe()), COUNT);
                    decided += 1;
                }
                decided
            })
        })
        .collect();
    for k in 1..=6 {
        install(dir.path(), &copies(COUNT, k));
        let outcome = runtime.reload();
        assert!(
            matches!(outcome, Ok(ReloadOutcome::Swapped(_))),
            "change {k}: {outcome:?}"
        );
        for _ in 0..5 {
            assert_eq!(version(&runtime.decide(&probe()), COUNT), k);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let decided: Vec<u64> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(decided.iter().all(|&n| n > 0), "decisions: {decided:?}");
    assert_eq!(runtime.generation(), 7);
}

/// A generation that stops being live keeps no warm instance, not even
/// one given back by a decision still running on it; rolled back to, it
/// warms up again.
#[test]
fn a_generation_no_longer_live_gives_its_warm_instances_back() {
    const COUNT: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    install(dir.path(), &copies(COUNT, 0));
    let runtime = Runtime::start(dir.path(), data.path(), buffered()).unwrap();
    let idle = |g: &gavel::Generation| -> usize {
        g.policies().iter().map(gavel::Policy::idle_instances).sum()
    };
    let first = runtime.policies();
    assert_eq!(version(&runtime.decide(&probe()), COUNT), 0);
    assert_eq!(idle(&first), COUNT, "live: one warm instance per policy");

    install(dir.path(), &copies(COUNT, 1));
    assert_eq!(runtime.reload().unwrap(), ReloadOutcome::Swapped(2));
    let second = runtime.policies();
    assert_eq!(
        idle(&first),
        0,
        "no longer live: its warm instances are gone"
    );
    assert_eq!(idle(&second), COUNT);
    // A decision that started on generation 1 and finishes after the swap.
    assert_eq!(version(&first.evaluate(&probe()), COUNT), 0);
    assert_eq!(
        idle(&first),
        0,
        "instances given back after the swap are dropped"
    );

    assert_eq!(runtime.rollback(Some(1)).unwrap(), 1);
    assert_eq!(idle(&second), 0);
    let d = runtime.decide(&probe());
    assert_eq!((d.generation, version(&d, COUNT)), (1, 0));
    assert_eq!(idle(&first), COUNT, "live again: warm again");
}

/// A set with more policies than the pool can keep warm is refused at
/// load, at start and on reload, naming the count and the limit; the live
/// set stays.
#[test]
fn a_set_too_large_to_fit_is_refused_at_load() {
    let too_many = MAX_POLICIES + 1;
    let fragment = format!("{too_many} policies; a policy set may hold at most {MAX_POLICIES}");
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();

    install(dir.path(), &copies(too_many, 0));
    let err = match Runtime::start(dir.path(), data.path(), buffered()) {
        Ok(_) => panic!("a set of {too_many} policies went live"),
        Err(e) => e,
    };
    assert!(matches!(err, RuntimeError::Load(_)), "{err:?}");
    assert!(err.to_string().contains(&fragment), "{err}");
    assert!(err.to_string().contains("policies.toml"), "{err}");

    install(dir.path(), &copies(MAX_POLICIES, 0));
    let runtime = Runtime::start(dir.path(), data.path(), buffered()).unwrap();
    install(dir.path(), &copies(too_many, 1));
    let err = runtime.reload().unwrap_err();
    assert!(err.to_string().contains(&fragment), "{err}");
    let d = runtime.decide(&probe());
    assert_eq!((d.generation, version(&d, MAX_POLICIES)), (1, 0));
    assert!(
        runtime
            .status()
            .last_rejection
            .unwrap()
            .1
            .contains(&fragment)
    );
}

/// A reload held in progress (as a slow disk or a long compile would hold
/// it) does not block a rollback; when it finishes it is set aside, so it
/// does not override the operator's choice. The next change goes live.
#[test]
fn a_rollback_completes_while_a_reload_is_loading() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    install(dir.path(), &copies(1, 0));
    let runtime = Arc::new(Runtime::start(dir.path(), data.path(), buffered()).unwrap());
    for k in 1..=2 {
        install(dir.path(), &copies(1, k));
        assert!(matches!(runtime.reload(), Ok(ReloadOutcome::Swapped(_))));
    }
    assert_eq!(runtime.generation(), 3);

    install(dir.path(), &copies(1, 3));
    let (built, is_built) = channel();
    let (release, released) = channel::<()>();
    let reloading = {
        let runtime = runtime.clone();
        std::thread::spawn(move || {
            runtime.reload_pausing(move || {
                built.send(()).unwrap();
                let _ = released.recv();
            })
        })
    };
    is_built.recv().unwrap();
    assert!(runtime.status().reloading_since_ms.is_some());

    let (done, rolled_back) = channel();
    {
        let runtime = runtime.clone();
        std::thread::spawn(move || {
            let _ = done.send(runtime.rollback(Some(1)).map_err(|e| e.to_string()));
        });
    }
    // Generous: only a rollback that waits for the reload takes this long.
    let rollback = rolled_back.recv_timeout(Duration::from_secs(30));
    if rollback.is_err() {
        release.send(()).unwrap();
        panic!("the rollback waited for the reload in progress");
    }
    assert_eq!(rollback.unwrap(), Ok(1));
    assert_eq!(runtime.decide(&probe()).generation, 1);

    release.send(()).unwrap();
    let outcome = reloading.join().unwrap();
    assert!(
        matches!(outcome, Err(RuntimeError::Superseded { live: 1 })),
        "{outcome:?}"
    );
    let message = outcome.unwrap_err().to_string();
    assert!(message.contains("rolled back to"), "{message}");
    let d = runtime.decide(&probe());
    assert_eq!((d.generation, version(&d, 1)), (1, 0));
    let status = runtime.status();
    assert_eq!(status.generation, 1);
    assert_eq!(status.reloading_since_ms, None);
    assert_eq!(status.last_rejection.unwrap().1, message);
    // A stray reload does not bring the set-aside change back ...
    assert_eq!(runtime.reload().unwrap(), ReloadOutcome::Unchanged);
    assert_eq!(runtime.generation(), 1);
    // ... the next change does.
    install(dir.path(), &copies(1, 4));
    assert_eq!(runtime.reload().unwrap(), ReloadOutcome::Swapped(4));
    assert_eq!(version(&runtime.decide(&probe()), 1), 4);

    let runtime = Arc::into_inner(runtime).unwrap();
    runtime.close().unwrap();
    let out = common::gavel(&["log", "stats", "--format", "json"], data.path(), None);
    let stats: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert_eq!(stats["by_kind"]["policy-set-rejected"], 1, "{stats}");
    // load, two reloads, the rollback, the last reload.
    assert_eq!(stats["by_kind"]["policy-set-loaded"], 5, "{stats}");
    assert_eq!(
        common::gavel(&["log", "verify"], data.path(), None)
            .status
            .code(),
        Some(0)
    );
}
