//! Figure 2: what one policy costs in each authoring language. The same
//! policy, `sensitive-actions` with the shipped config, written in Rust,
//! Python, JavaScript and C, and as CEL rules for `rules.wasm`, judging the
//! same actions: its size, its first load (compile, empty artifact cache),
//! a load from the cache, a call on a warm instance, a call on a fresh one
//! (instantiate, construct the evaluator from the config, call, drop), the
//! memory an instance dirties (RSS of warm copies minus fresh copies, each
//! in a child process), and the fuel a call burns.

use crate::fixture;
use crate::stats::{Samples, show, show_opt, time_for};
use gavel::bindings::current as wit;
use gavel::{ArtifactCache, PolicyEngine, PolicySet};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// `sensitive-actions`' shipped config as CEL rules (as in
/// `policies-src/rules/tests/sensitive_actions.toml`).
const RULES_CONFIG: &str = r#"[[policy.config.rule]]
when = 'action in ["delete_account", "access_payment_details", "change_pricing_tiers", "modify_own_instructions"]'
verdict = "deny"
code = "forbidden-action"
message = "this action is forbidden"
[[policy.config.rule]]
when = 'action.startsWith("delete_") || action in ["contract_modification", "external_vendor_communication"]'
verdict = "escalate"
code = "approval-required"
message = "this action requires human approval"
"#;

/// One language's `sensitive-actions`: (key, label, component, config).
pub type Language = (&'static str, &'static str, &'static str, &'static str);

/// Every authoring language, in the table's order.
pub const LANGUAGES: [Language; 5] = [
    (
        "rust",
        "Rust",
        "sensitive_actions.wasm",
        fixture::SENSITIVE_ACTIONS_CONFIG,
    ),
    (
        "python",
        "Python",
        "sensitive_actions_py.wasm",
        fixture::SENSITIVE_ACTIONS_CONFIG,
    ),
    (
        "js",
        "JavaScript",
        "sensitive_actions_js.wasm",
        fixture::SENSITIVE_ACTIONS_CONFIG,
    ),
    (
        "c",
        "C",
        "sensitive_actions_c.wasm",
        fixture::SENSITIVE_ACTIONS_CONFIG,
    ),
    ("rules", "CEL rules", "rules.wasm", RULES_CONFIG),
];

/// The language with this key.
pub fn language(key: &str) -> Option<Language> {
    LANGUAGES.into_iter().find(|l| l.0 == key)
}

/// The actions every call judges, in turn: approves, denies and
/// escalates of the shipped config.
const ACTIONS: [&str; 8] = [
    "search_knowledge_base",
    "delete_account",
    "delete_records",
    "contract_modification",
    "read_file",
    "send_email",
    "access_payment_details",
    "external_vendor_communication",
];

/// A request for `action`.
pub fn request_for(action: &str) -> wit::Request {
    wit::Request {
        request_id: "bench-call".to_owned(),
        agent: wit::Agent {
            id: "financial-advisor".to_owned(),
            registered: true,
            risk_tier: Some(4),
            owner: Some("payments-team@example.com".to_owned()),
        },
        action: action.to_owned(),
        params: r#"{"query":"refund policy for annual plans"}"#.to_owned(),
        amount: None,
        currency: None,
        timestamp_ms: 1_795_000_000_000,
        session_id: Some("sess-1".to_owned()),
        user_id: None,
    }
}

/// The request of figure 2's first version: an ordinary action (approve).
pub fn request() -> wit::Request {
    request_for(ACTIONS[0])
}

/// A one-policy directory for `language`, in `isolation`.
pub fn policy_dir(language: &Language, isolation: &str) -> Result<tempfile::TempDir, crate::Error> {
    let component = crate::components_dir().join(language.2);
    if language.0 == "rules" {
        // Arrays of tables: after the entry, not under `[policy.config]`.
        return fixture::one_policy_then(&component, isolation, RULES_CONFIG);
    }
    fixture::one_policy(&component, isolation, language.3)
}

struct Timed {
    samples: Samples,
    fuel: Vec<u64>,
}

fn time_calls(set: &PolicySet, budget: Duration) -> Result<Timed, crate::Error> {
    let policy = set.policies().first().ok_or("no policy loaded")?;
    let requests: Vec<wit::Request> = ACTIONS.iter().map(|a| request_for(a)).collect();
    let mut fuel = Vec::new();
    for request in &requests {
        let run = policy.evaluate(request, gavel::history::FactSource::Closed);
        if let Err(failure) = run.outcome {
            return Err(format!("{}: {}", policy.name(), failure.message(policy.name())).into());
        }
        fuel.push(run.fuel);
    }
    fuel.sort_unstable();
    let mut next = requests.iter().cycle();
    let samples = time_for(budget, 20, || {
        if let Some(request) = next.next() {
            black_box(policy.evaluate(black_box(request), gavel::history::FactSource::Closed));
        }
    });
    Ok(Timed { samples, fuel })
}

fn median(sorted: &[u64]) -> u64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

/// The p50 of `runs` loads of `dir`, each with a new artifact cache
/// (`cold`) or with the shared, warm one.
fn time_loads(
    dir: &Path,
    engine: &PolicyEngine,
    cache: &ArtifactCache,
    cold: bool,
    runs: usize,
) -> Result<Option<Duration>, crate::Error> {
    let mut samples = Samples::with_capacity(runs);
    for _ in 0..runs {
        let empty = tempfile::tempdir()?;
        let fresh_cache;
        let cache = if cold {
            fresh_cache = ArtifactCache::open(empty.path(), engine.engine())?;
            &fresh_cache
        } else {
            cache
        };
        let started = Instant::now();
        let set = PolicySet::load(dir, engine, cache)?;
        samples.push(started.elapsed());
        drop(set);
    }
    Ok(samples.p50())
}

/// How many loads each load figure takes.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Time per call measurement.
    pub call: Duration,
    /// Loads with an empty cache (compiles).
    pub cold_loads: usize,
    /// Loads from the cache.
    pub cached_loads: usize,
}

/// The markdown section. `exe` is this harness (for the memory probes, in
/// child processes), or `None` to leave memory out.
pub fn run(budget: Budget, exe: Option<&Path>) -> Result<String, crate::Error> {
    let engine = PolicyEngine::new()?;
    let data = tempfile::tempdir()?;
    let cache = ArtifactCache::open(data.path(), engine.engine())?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| language | component | size | first load (compile) p50 | cached load p50 | warm call p50 | fresh call p50 | memory per instance | fuel per call, warm (median) | fuel per call, fresh instance (median) |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for language in LANGUAGES {
        let (key, label, file, _) = language;
        let component = crate::components_dir().join(file);
        let size = std::fs::metadata(&component)
            .map_err(|e| format!("{}: {e}", component.display()))?
            .len();
        let warm_dir = policy_dir(&language, "warm")?;
        let fresh_dir = policy_dir(&language, "fresh")?;
        let first = time_loads(warm_dir.path(), &engine, &cache, true, budget.cold_loads)?;
        // Fill the shared cache, untimed.
        drop(PolicySet::load(warm_dir.path(), &engine, &cache)?);
        let cached = time_loads(warm_dir.path(), &engine, &cache, false, budget.cached_loads)?;
        let mut warm = time_calls(
            &PolicySet::load(warm_dir.path(), &engine, &cache)?,
            budget.call,
        )?;
        let mut fresh = time_calls(
            &PolicySet::load(fresh_dir.path(), &engine, &cache)?,
            budget.call,
        )?;
        let memory = match exe {
            Some(exe) => {
                let warm = crate::memory::probe_in_child(exe, &format!("instance-warm:{key}"))?;
                let fresh = crate::memory::probe_in_child(exe, &format!("instance-fresh:{key}"))?;
                crate::stats::show_bytes((warm - fresh).max(0.0))
            }
            None => "-".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {label} | `{file}` | {} | {} | {} | {} | {} | {memory} | {} | {} |",
            crate::stats::show_bytes(size as f64),
            first.map_or("-".to_owned(), show),
            cached.map_or("-".to_owned(), show),
            show_opt(warm.samples.p50()),
            show_opt(fresh.samples.p50()),
            crate::stats::thousands(median(&warm.fuel)),
            crate::stats::thousands(median(&fresh.fuel)),
        );
    }
    let _ = writeln!(
        md,
        "\nEach call judges one of {} actions in turn (approves, denies and escalates of the shipped config). First load: `PolicySet::load` with an empty artifact cache ({} runs); cached load: from a filled cache ({} runs). Memory per instance: the resident growth of 8 warm copies minus 8 fresh copies (compiled code only), per copy, each measured in a child process. Fuel counts the call alone (instantiation and the evaluator's construction run on a tank of their own); on a fresh instance it includes what a language does lazily on its first call.",
        ACTIONS.len(),
        budget.cold_loads,
        budget.cached_loads
    );
    Ok(md)
}
