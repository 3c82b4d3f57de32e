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
