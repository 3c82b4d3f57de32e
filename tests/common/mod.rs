//! Shared test scaffolding: temporary policy directories and loading.
#![allow(dead_code, reason = "each test crate uses a different part")]

use gavel::{ArtifactCache, Decision, LoadError, PolicyEngine, PolicySet, Request};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// A built hostile fixture, e.g. `fixture("hostile_trap")`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(format!("{name}.wasm"))
}

/// A shipped component, e.g. `shipped("sensitive_actions")`.
pub fn shipped(name: &str) -> PathBuf {
    root().join("policies-wasm").join(format!("{name}.wasm"))
}

/// A policy directory holding only `policies.toml` with `manifest`.
/// `{fixtures}` and `{shipped}` expand to the component directories.
pub fn policy_dir(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = manifest
        .replace(
            "{fixtures}",
            &root().join("tests/fixtures").display().to_string(),
        )
        .replace(
            "{shipped}",
            &root().join("policies-wasm").display().to_string(),
        );
    std::fs::write(dir.path().join("policies.toml"), text).expect("write manifest");
    dir
}

/// One engine and artifact cache for the whole test binary.
fn runtime() -> &'static (PolicyEngine, ArtifactCache) {
    static RUNTIME: OnceLock<(PolicyEngine, ArtifactCache)> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let engine = PolicyEngine::new().expect("engine");
        let data = root().join("target/test-data");
        let cache = ArtifactCache::open(&data, engine.engine()).expect("cache");
        (engine, cache)
    })
}

/// Load a policy directory written from `manifest`.
pub fn load(manifest: &str) -> Result<PolicySet, LoadError> {
    let dir = policy_dir(manifest);
    let (engine, cache) = runtime();
    PolicySet::load(dir.path(), engine, cache)
}

/// Evaluate a JSON request.
pub fn decide(set: &PolicySet, request: &str) -> Decision {
    set.evaluate(&Request::from_json(request).expect("valid request"))
}

/// Run the `gavel` binary with `GAVEL_DATA_DIR=data_dir`, feeding `stdin`
/// from a thread (so a large input cannot deadlock on full pipes).
pub fn gavel(args: &[&str], data_dir: &Path, stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(args)
        .env("GAVEL_DATA_DIR", data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gavel");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.unwrap_or("").to_owned();
    let feeder = std::thread::spawn(move || {
        // The child may exit without reading everything; that is its answer.
        let _ = pipe.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("wait");
    feeder.join().expect("stdin feeder");
    out
}

/// Standard output as text.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The shipped policy directory, as an argument.
pub fn shipped_dir() -> String {
    root().join("policies-wasm").display().to_string()
}

/// xorshift64*: a small, seeded, reproducible generator for randomized
/// trials.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi);
        lo + self.next() % (hi - lo + 1)
    }
}

pub mod postgres;
pub mod redis;
pub mod registry;
pub mod server;
