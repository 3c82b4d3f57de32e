//! Figure 2.2: `rules.wasm` with 1, 10 and 100 simple rules, warm.
//!
//! - keyed on the action: every rule compares the action and the amount
//!   (`action == "act_7" && amount > 107.0`). A request for another action
//!   holds for none (`rules` skips a rule keyed on another action without
//!   running it); a request for the last rule's action is denied by it;
//! - on the amount only (`amount > 1007.0 && currency == "EUR"`): every
//!   rule runs, and none holds.

use crate::fixture;
use crate::stats::{show_opt, thousands, time_for};
use gavel::bindings::current as wit;
use gavel::{ArtifactCache, PolicyEngine, PolicySet};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

/// The rule counts measured.
pub const COUNTS: [usize; 3] = [1, 10, 100];

/// `count` rules as manifest TOML: keyed on the action, or on the amount.
pub fn rules(count: usize, keyed: bool) -> String {
    let mut toml = String::new();
    for i in 0..count {
        let when = if keyed {
            format!("action == \"act_{i}\" && amount > {}.0", 100 + i)
        } else {
            format!("amount > {}.0 && currency == \"EUR\"", 1000 + i)
        };
        let _ = write!(
            toml,
            "[[policy.config.rule]]\nwhen = '{when}'\nverdict = \"deny\"\ncode = \"rule-{i}\"\nmessage = \"rule {i} holds\"\n"
        );
    }
    toml
}

fn request(action: &str, amount: f64) -> wit::Request {
    let mut request = crate::call_cost::request_for(action);
    request.amount = Some(amount);
    request.currency = Some("USD".to_owned());
    request
}

fn load(
    count: usize,
    keyed: bool,
    engine: &PolicyEngine,
    cache: &ArtifactCache,
) -> Result<(tempfile::TempDir, PolicySet), crate::Error> {
    let component = crate::components_dir().join("rules.wasm");
    let dir = fixture::one_policy_then(&component, "warm", &rules(count, keyed))?;
    let set = PolicySet::load(dir.path(), engine, cache)?;
    Ok((dir, set))
}

/// The markdown section; `budget` is the time per measurement.
pub fn run(budget: Duration) -> Result<String, crate::Error> {
    let engine = PolicyEngine::new()?;
    let data = tempfile::tempdir()?;
    let cache = ArtifactCache::open(data.path(), engine.engine())?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| rules | keyed on the action, none holds: warm call p50 | fuel | keyed, the last rule denies: p50 | fuel | on the amount, every rule runs, none holds: p50 | fuel |\n|---:|---:|---:|---:|---:|---:|---:|"
    );
    for count in COUNTS {
        let (_keyed_dir, keyed) = load(count, true, &engine, &cache)?;
        let (_amount_dir, on_amount) = load(count, false, &engine, &cache)?;
        let last = count - 1;
        let cases = [
            // Another action: every `action ==` is false.
            (&keyed, request("search_web", 50.0), false),
            // The last rule's action, with an amount above its bound.
            (&keyed, request(&format!("act_{last}"), 10_000.0), true),
            // Below every bound.
            (&on_amount, request("search_web", 50.0), false),
        ];
        let mut cells = Vec::new();
        for (i, (set, req, deny)) in cases.iter().enumerate() {
            let policy = set.policies().first().ok_or("no policy loaded")?;
            let run = policy.evaluate(req, gavel::history::FactSource::Closed);
            let outcome = run
                .outcome
                .map_err(|f| format!("{count} rules: {}", f.message(policy.name())))?;
            let denied = matches!(outcome.verdict, wit::Verdict::Deny(_));
            if denied != *deny {
                return Err(format!("{count} rules: unexpected verdict on case {i}").into());
            }
            let mut samples = time_for(budget, 20, || {
                black_box(policy.evaluate(black_box(req), gavel::history::FactSource::Closed));
            });
            cells.push(format!(
                "{} | {}",
                show_opt(samples.p50()),
                thousands(run.fuel)
            ));
        }
        let _ = writeln!(md, "| {count} | {} |", cells.join(" | "));
    }
    Ok(md)
}
