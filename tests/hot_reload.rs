//! Hot reload under load: 100 swaps (some invalid) while threads decide
//! continuously; the watcher reacting to every kind of file change; and
//! rollback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use gavel::{
    GenerationChange, LogMode, LogOptions, PolicyWatcher, ReloadOutcome, Request, RunVerdict,
    Runtime, Verdict,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Version `k`: one policy named `v{k}` whose verdict on the action
/// `probe` depends on k: deny, escalate or approve.
fn valid(k: usize) -> String {
    let rule = match k % 3 {
        0 => "forbidden = [\"probe\"]",
        1 => "require_approval = [\"probe\"]",
        _ => "allowed = [\"probe\"]",
    };
    format!(
        "[[policy]]\nname = \"v{k}\"\ncomponent = \"{}\"\npriority = 1\n[policy.config]\n{rule}\n",
        common::shipped("sensitive_actions").display()
    )
}

fn expected(k: usize) -> Verdict {
    match k % 3 {
        0 => Verdict::Deny,
        1 => Verdict::Escalate,
        _ => Verdict::Approve,
    }
}

/// Invalid versions, each broken in a different way.
fn invalid(k: usize) -> String {
    let component = common::shipped("sensitive_actions").display().to_string();
    match k % 4 {
        0 => format!(
            "[[policy]]\nname = \"bad{k}\"\ncomponent = \"{component}\"\npriority = 1\nfule = 3\n"
        ),
        1 => format!(
            "[[policy]]\nname = \"bad{k}\"\ncomponent = \"{component}\"\npriority = 1\n[policy.config]\nforbiden = []\n"
        ),
        2 => format!(
            "[[policy]]\nname = \"bad{k}\"\ncomponent = \"/nonexistent/x.wasm\"\npriority = 1\n"
        ),
        _ => format!(
            "[[policy]]\nname = \"bad{k}\"\ncomponent = \"{}\"\npriority = 1\n",
            common::fixture("hostile_trap").display()
        ),
    }
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

#[test]
fn a_hundred_swaps_under_load_lose_and_mix_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    install(dir.path(), &valid(0));
    let options = LogOptions {
        mode: LogMode::Buffered,
        ..LogOptions::default()
    };
    let runtime = Arc::new(Runtime::start(dir.path(), data.path(), options).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    // generation -> version, as observed in decisions.
    let seen: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (runtime, stop, seen) = (runtime.clone(), stop.clone(), seen.clone());
        workers.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let d = runtime.decide(&probe());
                let [run] = d.policies.as_slice() else {
                    panic!("one policy runs: {d:?}")
                };
                assert_ne!(run.verdict, RunVerdict::Error, "{d:?}");
                let k: usize = run
                    .policy
                    .strip_prefix('v')
                    .expect("only valid versions serve")
                    .parse()
                    .unwrap();
                assert_eq!(
                    d.verdict,
                    expected(k),
                    "generation {} reported v{k}: {d:?}",
                    d.generation
                );
                let previous = seen
                    .lock()
                    .unwrap()
                    .insert(d.generation, run.policy.clone());
                if let Some(p) = previous {
                    assert_eq!(
                        p, run.policy,
                        "generation {} served two versions",
                        d.generation
                    );
                }
                n += 1;
            }
            n
        }));
    }
    let mut live_version = 0;
    let mut swapped = 0;
    let mut versions: BTreeMap<u64, String> = BTreeMap::new();
    let mut refused = 0;
    for k in 1..=100 {
        let before = runtime.generation();
        if k % 5 == 0 {
            install(dir.path(), &invalid(k));
            let err = runtime
                .reload()
                .expect_err("an invalid version must be refused");
            assert!(
                err.to_string().contains(&format!("bad{k}")),
                "names the policy: {err}"
            );
            assert_eq!(runtime.generation(), before, "the live set stays");
            let status = runtime.status();
            assert!(
                status
                    .last_rejection
                    .unwrap()
                    .1
                    .contains(&format!("bad{k}"))
            );
            assert_eq!(status.policies[0].0, format!("v{live_version}"));
            refused += 1;
        } else {
            install(dir.path(), &valid(k));
            match runtime.reload().unwrap() {
                ReloadOutcome::Swapped(g) => {
                    assert!(g > before);
                    versions.insert(g, format!("v{k}"));
                }
                ReloadOutcome::Unchanged => panic!("version {k} changed the manifest"),
            }
            live_version = k;
            swapped += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // Touching without changing content does not make a generation.
    install(dir.path(), &valid(live_version));
    assert_eq!(runtime.reload().unwrap(), ReloadOutcome::Unchanged);
    stop.store(true, Ordering::Relaxed);
    let decided: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let seen = seen.lock().unwrap();
    assert!(decided > 1000, "only {decided} decisions");
    assert!(
        seen.len() > 10,
        "decisions saw only {} generations",
        seen.len()
    );
    assert!(seen.values().all(|v| v.starts_with('v')));
    println!(
        "{swapped} swaps, {refused} refused, {decided} decisions across {} generations",
        seen.len()
    );

    // Rollback puts the previous generation back, with its number.
    let live = runtime.generation();
    let back = runtime.rollback(None).unwrap();
    assert!(back < live);
    let d = runtime.decide(&probe());
    assert_eq!(d.generation, back);
    // A stray reload (a late SIGHUP, an unrelated event) does not undo it:
    // the directory has not changed since the rollback set it aside.
    assert_eq!(runtime.reload().unwrap(), ReloadOutcome::Unchanged);
    assert_eq!(runtime.generation(), back);
    // (Read from the swaps: a generation live for a few milliseconds may
    // have decided nothing.)
    assert_eq!(d.policies[0].policy, versions[&back]);
    assert!(
        runtime.rollback(Some(1)).is_err(),
        "generation 1 is no longer kept"
    );
    let runtime = Arc::into_inner(runtime).unwrap();
    runtime.close().unwrap();

    // The log holds every load, rejection and rollback, and verifies.
    let out = common::gavel(&["log", "stats", "--format", "json"], data.path(), None);
    let stats: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert_eq!(stats["by_kind"]["policy-set-rejected"], refused, "{stats}");
    assert_eq!(
        stats["by_kind"]["policy-set-loaded"],
        1 + swapped + 1,
        "{stats}"
    );
    assert_eq!(
        common::gavel(&["log", "verify"], data.path(), None)
            .status
            .code(),
        Some(0)
    );
}

/// Wait for the next change notification.
fn next(changes: &std::sync::mpsc::Receiver<GenerationChange>) -> GenerationChange {
    changes
        .recv_timeout(Duration::from_secs(20))
        .expect("the watcher reacted")
}

#[test]
fn the_watcher_reacts_to_every_kind_of_change() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    // The component lives in the watched directory, copied in.
    std::fs::copy(
        common::shipped("sensitive_actions"),
        dir.path().join("sa.wasm"),
    )
    .unwrap();
    let local = |k: usize| {
        valid(k).replace(
            &common::shipped("sensitive_actions").display().to_string(),
            "sa.wasm",
        )
    };
    std::fs::write(dir.path().join("policies.toml"), local(0)).unwrap();
    let runtime = Arc::new(Runtime::start(dir.path(), data.path(), LogOptions::default()).unwrap());
    let changes = runtime.subscribe();
    let _watcher = PolicyWatcher::start(runtime.clone(), Duration::from_millis(100)).unwrap();
    let version = |runtime: &Runtime| runtime.decide(&probe()).policies[0].policy.clone();

    // Edited in place.
    std::fs::write(dir.path().join("policies.toml"), local(1)).unwrap();
    assert!(matches!(next(&changes), GenerationChange::Live { .. }));
    assert_eq!(version(&runtime), "v1");
    // Replaced by atomic rename.
    install(dir.path(), &local(2));
    assert!(matches!(next(&changes), GenerationChange::Live { .. }));
    assert_eq!(version(&runtime), "v2");
    // Component deleted: refused, v2 keeps serving.
    std::fs::remove_file(dir.path().join("sa.wasm")).unwrap();
    assert!(matches!(next(&changes), GenerationChange::Rejected { .. }));
    assert_eq!(version(&runtime), "v2");
    // Copied back in with a new manifest: live again.
    std::fs::copy(
        common::shipped("sensitive_actions"),
        dir.path().join("sa.wasm"),
    )
    .unwrap();
    install(dir.path(), &local(3));
    assert!(matches!(next(&changes), GenerationChange::Live { .. }));
    assert_eq!(version(&runtime), "v3");
    // Editor temporaries alone change nothing.
    std::fs::write(dir.path().join(".policies.toml.swp"), "junk").unwrap();
    std::fs::write(dir.path().join("4913"), "").unwrap();
    assert!(
        changes.recv_timeout(Duration::from_millis(600)).is_err(),
        "no reload for temporaries"
    );
    assert_eq!(version(&runtime), "v3");
}

/// `gavel eval` on `dir` as a long-running child (with `--watch` if
/// asked), and a way to ask it one decision at a time.
struct Served {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Served {
    fn start(dir: &Path, data: &Path, watch: bool) -> Self {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut command = Command::new(env!("CARGO_BIN_EXE_gavel"));
        command.arg("eval");
        if watch {
            command.arg("--watch");
        }
        let mut child = command
            .arg("--policies")
            .arg(dir)
            .arg("--data-dir")
            .arg(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        Served {
            child,
            input,
            output,
        }
    }

    /// Decide `probe`: (generation, version).
    fn ask(&mut self) -> (u64, String) {
        use std::io::Write;
        writeln!(self.input, r#"{{"agent_id":"a","action":"probe"}}"#).unwrap();
        self.input.flush().unwrap();
        let d: serde_json::Value =
            serde_json::from_str(&self.output.next().unwrap().unwrap()).unwrap();
        (
            d["generation"].as_u64().unwrap(),
            d["policies"][0]["policy"].as_str().unwrap().to_owned(),
        )
    }

    fn hup(&self) {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status();
        assert!(status.unwrap().success());
    }

    /// Close the input and expect a clean exit.
    fn finish(self) {
        let Served {
            mut child, input, ..
        } = self;
        drop(input);
        assert!(child.wait().unwrap().success());
    }
}

/// The operator's view, through the binary: `gavel eval --watch` serving a
/// stream, a change on disk, SIGHUP, `gavel policies status`, and
/// `gavel policies rollback`.
#[test]
fn operators_reload_inspect_and_roll_back_a_running_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    install(dir.path(), &valid(0));
    let mut served = Served::start(dir.path(), data.path(), true);
    let status = || -> serde_json::Value {
        let out = common::gavel(
            &["policies", "status", "--format", "json"],
            data.path(),
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
        serde_json::from_str(&common::stdout(&out)).unwrap()
    };
    let wait_for_generation = |g: u64| {
        for _ in 0..200 {
            if status()["generation"] == g {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("generation {g} never went live: {}", status());
    };
    assert_eq!(served.ask(), (1, "v0".to_owned()));

    // A change on disk, picked up by the watcher.
    install(dir.path(), &valid(1));
    wait_for_generation(2);
    assert_eq!(served.ask(), (2, "v1".to_owned()));

    // An invalid change: refused, shown in the status, v1 keeps serving.
    install(dir.path(), &invalid(1));
    for _ in 0..200 {
        if !status()["last_rejection"].is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = status();
    assert!(
        s["last_rejection"][1].as_str().unwrap().contains("bad1"),
        "{s}"
    );
    assert_eq!(served.ask(), (2, "v1".to_owned()));

    // SIGHUP reloads too (here after a change the watcher also sees; the
    // generation goes live once either way).
    install(dir.path(), &valid(2));
    served.hup();
    wait_for_generation(3);
    assert_eq!(served.ask(), (3, "v2".to_owned()));
    let s = status();
    assert_eq!(s["policies"][0][0], "v2");
    assert_eq!(s["kept"], serde_json::json!([1, 2, 3]));

    // Roll back to generation 1.
    let out = common::gavel(&["policies", "rollback", "1"], data.path(), None);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains("generation 1 is live"),
        "{}",
        common::stdout(&out)
    );
    assert_eq!(served.ask(), (1, "v0".to_owned()));
    let out = common::gavel(&["policies", "rollback", "9"], data.path(), None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("not kept"),
        "{}",
        common::stderr(&out)
    );

    served.finish();
    assert_eq!(
        common::gavel(&["log", "verify"], data.path(), None)
            .status
            .code(),
        Some(0)
    );
}

/// Without a watcher, a change on disk waits for SIGHUP.
#[test]
fn sighup_reloads_a_runtime_without_a_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    install(dir.path(), &valid(0));
    let mut served = Served::start(dir.path(), data.path(), false);
    assert_eq!(served.ask().0, 1);
    install(dir.path(), &valid(1));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(served.ask().0, 1, "no watcher: nothing reloads by itself");
    served.hup();
    let mut generation = 1;
    for _ in 0..200 {
        generation = served.ask().0;
        if generation == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(generation, 2, "SIGHUP reloaded");
    served.finish();
}

/// Version `k` of a manifest that denies `delete_account`. Its config
/// comes first and `priority` last, so every cut of the text before its
/// end fails to parse or lacks a required key: only the empty file (the
/// state an in-place write starts with) names no policy.
fn guarded(k: usize) -> String {
    format!(
        "[[policy]]\nname = \"v{k}\"\nconfig = {{ forbidden = [\"delete_account\"] }}\ncomponent = \"{}\"\npriority = 1\n",
        common::shipped("sensitive_actions").display()
    )
}

/// Rewrite `path` in place as `cat > path` or `cp` do: truncate, then
/// write, here in two pieces with pauses between (a slow writer).
fn rewrite_in_place(path: &Path, text: &str, rng: &mut common::Rng, hold_empty: Duration) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    std::thread::sleep(hold_empty + Duration::from_micros(rng.range(0, 3000)));
    let cut = rng.range(1, text.len() as u64 - 1) as usize;
    file.write_all(&text.as_bytes()[..cut]).unwrap();
    std::thread::sleep(Duration::from_micros(rng.range(0, 3000)));
    file.write_all(&text.as_bytes()[cut..]).unwrap();
}

/// 200 in-place rewrites of a watched manifest, some holding it empty for
/// longer than the debounce, while a thread asks for `delete_account`
/// throughout: every version denies it, and no empty or half-written state
/// ever goes live, so it is never approved.
#[test]
fn in_place_rewrites_never_put_a_half_written_manifest_live() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("policies.toml");
    std::fs::write(&manifest, guarded(0)).unwrap();
    let options = LogOptions {
        mode: LogMode::Buffered,
        ..LogOptions::default()
    };
    let runtime = Arc::new(Runtime::start(dir.path(), data.path(), options).unwrap());
    let watcher = PolicyWatcher::start(runtime.clone(), Duration::from_millis(100)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let decider = {
        let (runtime, stop) = (runtime.clone(), stop.clone());
        std::thread::spawn(move || {
            let delete =
                Request::from_json(r#"{"agent_id":"a","action":"delete_account"}"#).unwrap();
            let (mut decided, mut approved) = (0u64, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let d = runtime.decide(&delete);
                if d.verdict != Verdict::Deny {
                    approved.push(format!("generation {}: {d:?}", d.generation));
                }
                decided += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            (decided, approved)
        })
    };
    let mut rng = common::Rng(0x5eed_1234_abcd_0013);
    let rewrites = 200;
    for k in 1..=rewrites {
        // Every 25th rewrite leaves the file empty well past the debounce.
        let hold = if k % 25 == 0 {
            Duration::from_millis(300)
        } else {
            Duration::ZERO
        };
        rewrite_in_place(&manifest, &guarded(k), &mut rng, hold);
        std::thread::sleep(Duration::from_millis(rng.range(0, 20)));
    }
    // The last version goes live once the directory settles.
    let last = format!("v{rewrites}");
    let mut live = String::new();
    for _ in 0..400 {
        live = runtime.status().policies[0].0.clone();
        if live == last {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let (decided, approved) = decider.join().unwrap();
    watcher.stop();
    assert!(
        approved.is_empty(),
        "{} of {decided} decisions were not deny; first: {}",
        approved.len(),
        approved[0]
    );
    assert_eq!(live, last, "the last version went live");
    assert!(runtime.generation() > 1, "the watcher reloaded");
    assert!(decided > 100, "only {decided} decisions");
    println!(
        "{rewrites} in-place rewrites, {decided} decisions, generation {} live",
        runtime.generation()
    );
    Arc::into_inner(runtime).unwrap().close().unwrap();
}
