//! `make bench`: the cost of a decision and of its parts, on the shipped
//! `sensitive-actions` policy.
//!
//! - `decision/{warm,fresh}`: `PolicySet::evaluate` end to end in each
//!   isolation mode;
//! - `config-passing/{resource,per-call}`: on one live instance, calling
//!   `evaluate` on an existing evaluator versus handing the config over
//!   with every call (create + evaluate + drop), which is what passing the
//!   config per call would cost;
//! - `load/{compile,cached}`: getting a runnable component from the bytes
//!   versus from the on-disk artifact cache;
//! - `kill-switch/{policies,stopped}`: `Runtime::decide` on the shipped
//!   four-policy directory with a durable log, normally (policies run, the
//!   answer waits for the commit) versus with the kill switch engaged (no
//!   policy runs, the deny is queued for the log).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a failed step is a failed run"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use gavel::bindings::current as wit;
use gavel::sandbox::Sandbox;
use gavel::{ArtifactCache, PolicyEngine, PolicySet, Request};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use wasmtime::Store;

const CONFIG: &str = r#"{"forbidden":["delete_account","access_payment_details","change_pricing_tiers","modify_own_instructions"],"require_approval":["delete_*","contract_modification","external_vendor_communication"]}"#;
const REQUEST: &str = r#"{"request_id":"b-1","agent_id":"financial-advisor","action":"execute_transaction","amount":250,"currency":"USD","params":{"to":"acct-1","memo":"invoice 2291"},"timestamp":"2026-11-20T15:00:00Z"}"#;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn set_with(isolation: &str, data: &Path, engine: &PolicyEngine) -> PolicySet {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "isolation = \"{isolation}\"\n[[policy]]\nname = \"sensitive-actions\"\ncomponent = \"{}\"\npriority = 100\n[policy.config]\nforbidden = [\"delete_account\"]\nrequire_approval = [\"delete_*\"]\n",
        root()
            .join("policies-wasm/sensitive_actions.wasm")
            .display()
    );
    std::fs::write(dir.path().join("policies.toml"), manifest).unwrap();
    let cache = ArtifactCache::open(data, engine.engine()).unwrap();
    PolicySet::load(dir.path(), engine, &cache).unwrap()
}

fn decision(c: &mut Criterion) {
    let engine = PolicyEngine::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let request = Request::from_json(REQUEST).unwrap();
    let mut group = c.benchmark_group("decision");
    for isolation in ["warm", "fresh"] {
        let set = set_with(isolation, data.path(), &engine);
        group.bench_function(isolation, |b| {
            b.iter(|| black_box(set.evaluate(black_box(&request))))
        });
    }
    group.finish();
}

fn wit_request() -> wit::Request {
    let r = Request::from_json(REQUEST).unwrap();
    wit::Request {
        request_id: r.request_id.clone(),
        agent: wit::Agent {
            id: r.agent_id.clone(),
            registered: true,
            risk_tier: Some(4),
            owner: None,
        },
        action: r.action.clone(),
        params: r.params_json(),
        amount: r.amount,
        currency: r.currency.clone(),
        timestamp_ms: r.timestamp_ms,
        session_id: None,
        user_id: None,
    }
}

fn config_passing(c: &mut Criterion) {
    let engine = PolicyEngine::new().unwrap();
    let bytes = std::fs::read(root().join("policies-wasm/sensitive_actions.wasm")).unwrap();
    let component = wasmtime::component::Component::new(engine.engine(), &bytes).unwrap();
    let pre =
        wit::PolicyWorldPre::new(engine.linker().instantiate_pre(&component).unwrap()).unwrap();
    let mut store = Store::new(engine.engine(), Sandbox::new(32 << 20));
    store.set_fuel(u64::MAX / 2).unwrap();
    store.set_epoch_deadline(u64::MAX / 2);
    let bindings = pre.instantiate(&mut store).unwrap();
    let api = bindings.gavel_policy_policy().evaluator();
    let evaluator = api.call_create(&mut store, CONFIG).unwrap().unwrap();
    let request = wit_request();
    let mut group = c.benchmark_group("config-passing");
    group.bench_function("resource", |b| {
        b.iter(|| {
            black_box(
                api.call_evaluate(&mut store, evaluator, black_box(&request))
                    .unwrap(),
            )
        })
    });
    group.bench_function("per-call", |b| {
        b.iter(|| {
            let e = api
                .call_create(&mut store, black_box(CONFIG))
                .unwrap()
                .unwrap();
            let v = api
                .call_evaluate(&mut store, e, black_box(&request))
                .unwrap();
            e.resource_drop(&mut store).unwrap();
            black_box(v)
        })
    });
    group.finish();
}

fn load(c: &mut Criterion) {
    let engine = PolicyEngine::new().unwrap();
    let bytes = std::fs::read(root().join("policies-wasm/sensitive_actions.wasm")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(data.path(), engine.engine()).unwrap();
    cache.load(engine.engine(), "bench", &bytes).unwrap();
    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    group.bench_function("compile", |b| {
        b.iter(|| black_box(wasmtime::component::Component::new(engine.engine(), &bytes).unwrap()))
    });
    group.bench_function("cached", |b| {
        b.iter(|| black_box(cache.load(engine.engine(), "bench", &bytes).unwrap()))
    });
    group.finish();
}

fn kill_switch(c: &mut Criterion) {
    let data = tempfile::tempdir().unwrap();
    let runtime = gavel::Runtime::start(
        &root().join("policies-wasm"),
        data.path(),
        gavel::LogOptions::default(),
    )
    .unwrap();
    let request = Request::from_json(REQUEST).unwrap();
    let mut group = c.benchmark_group("kill-switch");
    group.bench_function("policies", |b| {
        b.iter(|| black_box(runtime.decide(black_box(&request))))
    });
    runtime
        .set_kill_switch(true, None, "bench", "measuring the stop")
        .unwrap();
    group.bench_function("stopped", |b| {
        b.iter(|| black_box(runtime.decide(black_box(&request))))
    });
    group.finish();
}

criterion_group!(benches, decision, config_passing, load, kill_switch);
criterion_main!(benches);
