//! Figure 7 (memory and interest dispatch): every part runs with quick
//! budgets, and the stateful chain it times really reserves charges (so
//! the figure cannot silently time cheap denies).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

use gavel::{ArtifactCache, PolicyEngine, Request, Verdict};
use gavel_bench::dispatch_scaling::{self, GROUP, POLICY_COUNTS};
use gavel_bench::fixture::{self, Derive};
use gavel_bench::memory_figures::{self, Budget};
use gavel_bench::stateful_chain::{BIG_LIMITS, StatefulChain, Tally, renamed};
use gavel_bench::{latency, shipped_dir, stateful_dir, workload};
use std::time::Duration;

fn short(n: usize) -> Vec<Request> {
    workload::workload(n)
        .into_iter()
        .filter(latency::is_short)
        .collect()
}

fn request(json: &str) -> Request {
    Request::from_json(json).unwrap()
}

#[test]
fn every_figure_runs_quick_and_the_stateful_chain_reserves() {
    let short = short(300);
    let figures = memory_figures::run(
        &shipped_dir(),
        &stateful_dir(),
        &short,
        Budget {
            rounds: 1,
            throughput: Duration::from_millis(100),
        },
    )
    .unwrap();

    // 7.1: both chains timed on every short action.
    assert_eq!(figures.dispatch.warm.len(), short.len());
    assert_eq!(figures.dispatch.scoped.len(), short.len());
    assert!(figures.dispatch.ran > 0.0 && figures.dispatch.ran <= 4.0);
    let by_ran: Vec<usize> = figures.dispatch.by_ran.iter().map(|b| b.1).collect();
    assert_eq!(by_ran.len(), 3);
    assert_eq!(by_ran.iter().sum::<usize>(), short.len());

    // 7.2: every decision timed, most reserving, none refused by a limit.
    let t = figures.stateful.tally;
    assert_eq!(t.decisions, short.len());
    assert_eq!(figures.stateful.latency.len(), short.len());
    assert_eq!(t.refused_by_limit, 0, "{t:?}");
    assert!(t.reserved_share() > 0.5, "{t:?}");
    assert_eq!(t.reserved, t.approve + t.escalate, "{t:?}");

    // 7.3: both sets decided; only the stateful one reserved.
    let [plain, memory] = figures.throughput;
    assert!(plain.decisions > 0 && memory.decisions > 0);
    assert_eq!(plain.reserved, 0);
    assert!(memory.reserved > 0);

    // 7.4: every size, 4 policies run per decision.
    let sizes: Vec<usize> = figures.scaling.iter().map(|p| p.policies).collect();
    assert_eq!(sizes, POLICY_COUNTS);
    assert!(
        figures
            .scaling
            .iter()
            .all(|p| p.ran == GROUP && p.p50.is_some())
    );

    for heading in [
        "### 7.1",
        "### 7.2",
        "### 7.3",
        "### 7.4",
        "reserved charges",
    ] {
        assert!(figures.markdown.contains(heading), "{heading} missing");
    }
}

/// Each row: how a request is decided again, and whether that decision
/// reserves. A request id is charged once, so a repeat under the same id
/// reserves nothing: the figure renames every decision.
#[test]
fn the_chain_reserves_each_new_request_id() {
    let engine = PolicyEngine::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(data.path(), engine.engine()).unwrap();
    let chain = StatefulChain::load(&stateful_dir(), &engine, &cache).unwrap();
    assert_eq!(chain.set().policies().len(), 7);
    let search = request(
        r#"{"request_id":"a","agent_id":"research-assistant","action":"search_web","timestamp":"2026-03-03T15:00:00Z"}"#,
    );
    let refund = request(
        r#"{"request_id":"b","agent_id":"financial-advisor","action":"issue_refund","amount":900,"currency":"USD","timestamp":"2026-03-03T15:00:00Z"}"#,
    );
    // (request, id suffix, expected verdict, reserves); a suffix already
    // used is the same request id again
    let cases: [(&Request, &str, Verdict, bool); 6] = [
        (&search, "1", Verdict::Approve, true),
        (&search, "1", Verdict::Approve, false),
        (&search, "2", Verdict::Approve, true),
        (&refund, "1", Verdict::Approve, true),
        (&refund, "1", Verdict::Approve, false),
        (&refund, "2", Verdict::Approve, true),
    ];
    let now = gavel::log::now_ms();
    for (i, (r, tag, verdict, reserves)) in cases.into_iter().enumerate() {
        let r = renamed(r, tag);
        let d = chain.decide(&r, now);
        let mut tally = Tally::default();
        tally.add(&d);
        assert_eq!(d.verdict, verdict, "row {i}: {d:?}");
        assert_eq!(tally.reserved == 1, reserves, "row {i}: {d:?}");
    }
}

/// With the shipped limits, a run of refunds soon meets the budget (the
/// financial advisor's 5,000 a day): the raised limits are what keep the
/// figure's decisions reserving.
#[test]
fn shipped_limits_run_out_and_raised_ones_do_not() {
    let engine = PolicyEngine::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(data.path(), engine.engine()).unwrap();
    let refund = request(
        r#"{"request_id":"r","agent_id":"financial-advisor","action":"issue_refund","amount":900,"currency":"USD","timestamp":"2026-03-03T15:00:00Z"}"#,
    );
    let shipped = gavel::PolicySet::load(&stateful_dir(), &engine, &cache).unwrap();
    let memory = gavel::case_history::CaseHistory::replay(&shipped, &refund, &[]).unwrap();
    let raised = StatefulChain::load(&stateful_dir(), &engine, &cache).unwrap();
    let now = gavel::log::now_ms();
    let (mut plain, mut big) = (Tally::default(), Tally::default());
    for i in 0..20 {
        let r = renamed(&refund, &i.to_string());
        plain.add(&memory.decide(&shipped, &r, now));
        big.add(&raised.decide(&r, now));
    }
    assert!(plain.deny > 0, "{plain:?}");
    assert_eq!(big.reserved, 20, "{big:?}");
    assert_eq!(big.refused_by_limit, 0, "{big:?}");
}

/// Each row: a limit in the shipped manifest and the value the derived one
/// holds (`None`: unchanged).
#[test]
fn big_limits_raise_budgets_and_rates_only() {
    let dir = fixture::derive(
        &stateful_dir(),
        &Derive {
            big_limits: Some(BIG_LIMITS),
            ..Derive::default()
        },
    )
    .unwrap();
    let text = std::fs::read_to_string(dir.path().join("policies.toml")).unwrap();
    let top: toml::Table = toml::from_str(&text).unwrap();
    let policy = |name: &str| -> toml::Value {
        top["policy"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .unwrap()
            .clone()
    };
    let at = |name: &str, path: &[&str]| -> toml::Value {
        path.iter()
            .fold(policy(name)["config"].clone(), |v, k| v[*k].clone())
    };
    let rows: [(&str, &[&str], toml::Value); 7] = [
        (
            "budget",
            &["per_agent", "financial-advisor"],
            BIG_LIMITS.amount.into(),
        ),
        (
            "budget",
            &["per_agent", "default"],
            BIG_LIMITS.amount.into(),
        ),
        ("budget", &["fleet", "limit"], BIG_LIMITS.amount.into()),
        ("budget", &["escalate_above"], 0.9.into()),
        (
            "rate-limit",
            &["per_agent", "limit"],
            BIG_LIMITS.count.into(),
        ),
        (
            "rate-limit",
            &["actions", "send_email", "limit"],
            BIG_LIMITS.count.into(),
        ),
        (
            "transaction-limit",
            &["limits", "financial-advisor", "max"],
            1000.into(),
        ),
    ];
    for (name, path, expected) in rows {
        assert_eq!(at(name, path), expected, "{name} {path:?}");
    }
}

/// The synthetic sets: every mapped action concerns exactly one group.
#[test]
fn synthetic_sets_concern_four_policies_per_action() {
    let short = short(200);
    for count in POLICY_COUNTS {
        let mapped = dispatch_scaling::mapped(&short, count / GROUP);
        assert_eq!(mapped.len(), short.len());
        assert!(
            mapped
                .iter()
                .all(|r| r.amount.is_some() && r.currency.is_none())
        );
        let groups: std::collections::BTreeSet<&str> = mapped
            .iter()
            .filter_map(|r| r.action.split('_').next())
            .collect();
        assert!(groups.len() <= count / GROUP, "{count}: {groups:?}");
    }
    let errors = [0, 3, 6];
    for count in errors {
        assert!(dispatch_scaling::synthetic_dir(&stateful_dir(), count).is_err());
    }
}
