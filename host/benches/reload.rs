//! `make bench`: how long from a policy file landing in the watched
//! directory to the new generation serving, through the real watcher
//! (debounce included), for a Rust policy with its compiled artifact
//! cached and not, and for the Python policy; and what evaluations pay
//! meanwhile.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmark setup: a failed step is a failed run"
)]

use gavel::policy_watcher::DEFAULT_DEBOUNCE;
use gavel::{GenerationChange, LogMode, LogOptions, PolicyWatcher, Request, Runtime};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn manifest(component: &str, k: usize) -> String {
    format!(
        "[[policy]]\nname = \"p\"\ncomponent = \"{component}\"\npriority = 1\n[policy.config]\nforbidden = [\"v{k}\"]\n"
    )
}

/// Land a file atomically (temporary file, then rename).
fn land(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("landing.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The component with a custom section appended: same behaviour, new digest.
fn variant(bytes: &[u8], tag: usize) -> Vec<u8> {
    let name = b"gavel-bench";
    let payload = tag.to_le_bytes();
    let body_len = 1 + name.len() + payload.len();
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    out.push(u8::try_from(body_len).unwrap()); // LEB128, < 128
    out.push(u8::try_from(name.len()).unwrap());
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn wait_live(changes: &std::sync::mpsc::Receiver<GenerationChange>) {
    let change = changes
        .recv_timeout(Duration::from_secs(60))
        .expect("the watcher reacted");
    assert!(
        matches!(change, GenerationChange::Live { .. }),
        "refused: {change:?}"
    );
}

fn main() {
    let work = root().join("target/bench-reload");
    let _ = std::fs::remove_dir_all(&work);
    let dir = work.join("policies");
    let data = work.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let rust = std::fs::read(root().join("policies-wasm/sensitive_actions.wasm")).unwrap();
    let python = std::fs::read(root().join("policies-wasm/sensitive_actions_py.wasm")).unwrap();
    land(&dir.join("rust.wasm"), &rust);
    land(
        &dir.join("policies.toml"),
        manifest("rust.wasm", 0).as_bytes(),
    );
    let options = LogOptions {
        mode: LogMode::Buffered,
        ..LogOptions::default()
    };
    let runtime = Arc::new(Runtime::start(&dir, &data, options).unwrap());
    let changes = runtime.subscribe();
    let watcher = PolicyWatcher::start(runtime.clone(), DEFAULT_DEBOUNCE).unwrap();
    println!(
        "file landing -> new generation serving (watcher, {} ms debounce)",
        DEFAULT_DEBOUNCE.as_millis()
    );

    // Rust, config change: the component's artifact is cached.
    let mut cached = Vec::new();
    for k in 1..=15 {
        let started = Instant::now();
        land(
            &dir.join("policies.toml"),
            manifest("rust.wasm", k).as_bytes(),
        );
        wait_live(&changes);
        cached.push(started.elapsed());
    }
    // Rust, new component bytes: compiled on reload.
    let mut uncached = Vec::new();
    for k in 1..=10 {
        let name = format!("rust-{k}.wasm");
        land(&dir.join(&name), &variant(&rust, k));
        let started = Instant::now();
        land(&dir.join("policies.toml"), manifest(&name, k).as_bytes());
        wait_live(&changes);
        uncached.push(started.elapsed());
    }
    println!(
        "  rust, cached artifact     median {:>8.1?}  (n={})",
        median(cached.clone()),
        cached.len()
    );
    println!(
        "  rust, compiled on reload  median {:>8.1?}  (n={})",
        median(uncached.clone()),
        uncached.len()
    );

    // Python, compiled on reload, while four threads keep deciding.
    let stop = Arc::new(AtomicBool::new(false));
    let request = Request::from_json(r#"{"agent_id":"a","action":"probe"}"#).unwrap();
    let deciders: Vec<_> = (0..2)
        .map(|_| {
            let (runtime, stop, request) = (runtime.clone(), stop.clone(), request.clone());
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    std::hint::black_box(runtime.decide(&request));
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut python_uncached = Vec::new();
    for k in 1..=2 {
        let name = format!("python-{k}.wasm");
        land(&dir.join(&name), &variant(&python, k));
        let started = Instant::now();
        land(&dir.join("policies.toml"), manifest(&name, k).as_bytes());
        wait_live(&changes);
        python_uncached.push(started.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    let mut during: Vec<Duration> = deciders
        .into_iter()
        .flat_map(|d| d.join().unwrap())
        .collect();
    during.sort();
    // Python, cached: switch between two already-compiled variants.
    let mut python_cached = Vec::new();
    for k in 0..6 {
        let name = format!("python-{}.wasm", 1 + k % 2);
        let started = Instant::now();
        land(
            &dir.join("policies.toml"),
            manifest(&name, 100 + k).as_bytes(),
        );
        wait_live(&changes);
        python_cached.push(started.elapsed());
    }
    println!(
        "  python, compiled on reload median {:>8.1?}  (n={})",
        median(python_uncached.clone()),
        python_uncached.len()
    );
    println!(
        "  python, cached artifact   median {:>8.1?}  (n={})",
        median(python_cached.clone()),
        python_cached.len()
    );
    println!(
        "decide() while the python policy compiled: {} decisions, p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        during.len(),
        during[during.len() / 2],
        during[during.len() * 99 / 100],
        during[during.len() - 1]
    );
    watcher.stop();
    Arc::into_inner(runtime).unwrap().close().unwrap();
}
