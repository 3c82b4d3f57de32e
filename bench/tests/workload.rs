//! The workload is deterministic, valid, and covers every category and
//! every edge it promises.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

use gavel::Verdict;
use gavel_bench::facts::{FactFinder, facts, kind_names, local_time};
use gavel_bench::native::Native;
use gavel_bench::peer::{Outcome, Peer};
use gavel_bench::workload::{self, AGENTS, BODY_BYTES, Category};
use std::collections::{BTreeMap, BTreeSet};

const N: usize = 3_000;

/// FNV-1a, 64 bits: enough to pin the bytes.
fn fnv1a(lines: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for line in lines {
        for b in line.bytes().chain(std::iter::once(b'\n')) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The digest of `workload_json(3000)`. A change here changes every
/// benchmark's input: update it only on purpose.
const PINNED: u64 = 0x7987_0659_5f3e_e149;

#[test]
#[cfg_attr(
    feature = "cedar",
    ignore = "cedar-policy-core turns on serde_json's preserve_order, which changes the workload's key order and so its bytes"
)]
fn same_seed_same_bytes() {
    let a = workload::workload_json(N).unwrap();
    let b = workload::workload_json(N).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), N);
    // Every prefix is the same stream.
    assert_eq!(workload::workload_json(500).unwrap(), a[..500]);
    let digest = fnv1a(&a);
    assert_eq!(digest, PINNED, "workload digest is {digest:#x}");
}

#[test]
fn every_action_is_valid_and_ids_are_unique() {
    let requests = workload::workload(N);
    assert_eq!(requests.len(), N);
    let ids: BTreeSet<&str> = requests.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids.len(), N);
}

/// The outcomes the native floor gives each category (the agreement test
/// shows Gavel gives the same).
fn outcomes_by_category() -> BTreeMap<Category, Vec<(gavel::Request, Outcome)>> {
    let native = Native::shipped().unwrap();
    let mut by: BTreeMap<Category, Vec<(gavel::Request, Outcome)>> = BTreeMap::new();
    for (request, category) in workload::workload(N).into_iter().zip(workload::schedule(N)) {
        let outcome = native.decide(&request);
        by.entry(category).or_default().push((request, outcome));
    }
    by
}

fn codes(rows: &[(gavel::Request, Outcome)]) -> BTreeSet<String> {
    rows.iter().map(|(_, o)| o.to_string()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn each_category_is_present_and_decided_as_documented() {
    let by = outcomes_by_category();
    for (category, count) in workload::counts(N) {
        let rows = by.get(&category).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(rows.len(), count, "{category:?}");
        assert!(count > 0, "{category:?}");
        let got = codes(rows);
        let expected = match category {
            Category::Ordinary
            | Category::ActionNearMiss
            | Category::OutboundClean
            | Category::OutboundNearMiss
            | Category::PiiNotOutbound => set(&["approve"]),
            Category::Forbidden => set(&["deny (forbidden-action)"]),
            Category::ApprovalRequired => set(&["escalate (approval-required)"]),
            Category::TransactionLimit => set(&[
                "approve",
                "escalate (approval-threshold)",
                "deny (over-limit)",
                "deny (outside-business-hours)",
            ]),
            Category::TransactionCurrency => set(&["deny (currency-mismatch)"]),
            Category::TransactionNoAmount => set(&["deny (amount-required)"]),
            Category::BusinessHours => set(&["approve", "deny (outside-business-hours)"]),
            Category::OutboundPii => set(&["deny (pii-detected)"]),
        };
        assert_eq!(got, expected, "{category:?}");
    }
}

#[test]
fn pii_facts_match_the_categories() {
    let by = outcomes_by_category();
    let mut kinds = BTreeSet::new();
    for (category, rows) in &by {
        for (request, _) in rows {
            let f = facts(request);
            match category {
                Category::OutboundPii | Category::PiiNotOutbound => {
                    assert!(!f.pii_kinds.is_empty(), "{}", request.request_id);
                    kinds.extend(f.pii_kinds);
                }
                Category::OutboundClean | Category::OutboundNearMiss => {
                    assert!(
                        f.pii_kinds.is_empty(),
                        "{}: {:?}",
                        request.request_id,
                        f.pii_kinds
                    );
                }
                _ => {}
            }
        }
    }
    let all: BTreeSet<String> = kind_names().iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(kinds, all, "every kind the policy detects appears");
}

#[test]
fn agents_amounts_and_currencies_cover_every_limit() {
    let requests = workload::workload(N);
    let agents: BTreeSet<&str> = requests.iter().map(|r| r.agent_id.as_str()).collect();
    assert_eq!(agents, AGENTS.iter().copied().collect());

    let money = ["execute_transaction", "issue_refund", "make_payment"];
    let seen: BTreeSet<(String, u64)> = requests
        .iter()
        .filter(|r| money.contains(&r.action.as_str()))
        .filter_map(|r| r.amount.map(|a| (r.agent_id.clone(), a.to_bits())))
        .collect();
    let bounds: [(&str, &[f64]); 4] = [
        ("financial-advisor", &[1000.0]),
        ("customer-support", &[100.0, 500.0]),
        ("research-assistant", &[0.0]),
        (workload::UNREGISTERED_AGENT, &[0.0]),
    ];
    for (agent, limits) in bounds {
        for &limit in limits {
            let mut around = vec![limit, limit.next_up(), limit + 0.01];
            if limit > 0.0 {
                around.push(limit - 0.01);
            }
            for amount in around {
                assert!(
                    seen.contains(&(agent.to_owned(), amount.to_bits())),
                    "{agent} {amount}"
                );
            }
        }
    }

    let currencies: BTreeSet<Option<&str>> =
        requests.iter().map(|r| r.currency.as_deref()).collect();
    for c in [
        None,
        Some("USD"),
        Some("usd"),
        Some("EUR"),
        Some("JPY"),
        Some("USD "),
    ] {
        assert!(currencies.contains(&c), "{c:?}");
    }
}

#[test]
fn timestamps_cover_the_week_the_edges_and_both_dst_changes() {
    let requests = workload::workload(N);
    let facts: Vec<_> = requests.iter().map(facts).collect();
    let days: BTreeSet<&str> = facts.iter().map(|f| f.weekday).collect();
    assert_eq!(days.len(), 7, "{days:?}");
    let minutes: BTreeSet<u32> = facts.iter().map(|f| f.local_minutes).collect();
    for edge in [8 * 60 + 59, 9 * 60, 16 * 60 + 59, 17 * 60] {
        assert!(minutes.contains(&edge), "{edge}");
    }
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let dates: BTreeSet<String> = requests
        .iter()
        .filter_map(|r| local_time(r.timestamp_ms, &tz))
        .map(|t| t.date.to_string())
        .collect();
    for d in [
        "2026-03-06",
        "2026-03-08",
        "2026-03-09",
        "2026-10-30",
        "2026-11-01",
        "2026-11-02",
    ] {
        assert!(dates.contains(d), "{d}");
    }
    // Both sides of each change, to the millisecond.
    let stamps: BTreeSet<i64> = requests.iter().map(|r| r.timestamp_ms).collect();
    for t in [
        "2026-03-08T06:59:59.999Z",
        "2026-03-08T07:00:00Z",
        "2026-11-01T05:59:59.999Z",
        "2026-11-01T06:00:00Z",
    ] {
        let ms = gavel::request::parse_timestamp(t).unwrap();
        assert!(stamps.contains(&ms), "{t}");
    }
}

#[test]
fn bodies_span_100_bytes_to_64_kib() {
    let requests = workload::workload(N);
    let sizes: Vec<usize> = requests
        .iter()
        .filter_map(|r| {
            ["body", "text", "payload", "notes"]
                .iter()
                .find_map(|k| r.params.get(*k).and_then(|v| v.as_str()))
                .map(str::len)
        })
        .filter(|&len| len >= 90)
        .collect();
    assert!(sizes.len() > N / 5, "{}", sizes.len());
    let (min, max) = (
        sizes.iter().min().copied().unwrap(),
        sizes.iter().max().copied().unwrap(),
    );
    assert!(min >= BODY_BYTES.0 && min < 200, "{min}");
    assert!(max <= BODY_BYTES.1 && max > 60_000, "{max}");
}

#[test]
fn describe_counts_every_category() {
    let text = workload::describe();
    for category in Category::ALL {
        assert!(text.contains(&format!("`{}`", category.name())), "{text}");
    }
    let total: usize = workload::counts(workload::DEFAULT_N)
        .iter()
        .map(|(_, c)| c)
        .sum();
    assert_eq!(total, workload::DEFAULT_N);
}

#[test]
fn facts_are_new_york_wall_clock() {
    let request = |at: &str, params: &str| {
        gavel::Request::from_json(&format!(
            r#"{{"agent_id":"a","action":"send_email","timestamp":"{at}","params":{params}}}"#
        ))
        .unwrap()
    };
    // Friday 2026-03-06 13:30Z is 08:30 EST; Monday 03-09 13:30Z is 09:30 EDT.
    let f = facts(&request("2026-03-06T13:30:00Z", "{}"));
    assert_eq!((f.weekday, f.local_minutes), ("fri", 8 * 60 + 30));
    let f = facts(&request("2026-03-09T13:30:00Z", "{}"));
    assert_eq!((f.weekday, f.local_minutes), ("mon", 9 * 60 + 30));
    // Saturday 00:30 UTC is still Friday in New York.
    let f = facts(&request("2026-11-28T00:30:00Z", "{}"));
    assert_eq!((f.weekday, f.local_minutes), ("fri", 19 * 60 + 30));
    let f = facts(&request(
        "2026-11-23T14:00:00Z",
        r#"{"to":"a@eu.example-corp.com","x":[{"y":"call (415) 555-2671"}],"jane@gmail.com":"key only","b":"card 4111 1111 1111 1111, ssn 123-45-6789"}"#,
    ));
    assert_eq!(f.pii_kinds, ["phone", "ssn", "credit_card"]);
    let finder = FactFinder::new("UTC", &[]).unwrap();
    let f = finder.facts(&request(
        "2026-11-23T14:00:00Z",
        r#"{"to":"a@example-corp.com"}"#,
    ));
    assert_eq!((f.weekday, f.local_minutes), ("mon", 14 * 60));
    assert_eq!(f.pii_kinds, ["email"]);
}

#[test]
fn verdict_mix_is_not_degenerate() {
    let native = Native::shipped().unwrap();
    let outcomes: Vec<Outcome> = workload::workload(N)
        .iter()
        .map(|r| native.decide(r))
        .collect();
    for v in [Verdict::Approve, Verdict::Deny, Verdict::Escalate] {
        let share = outcomes.iter().filter(|o| o.verdict == v).count() as f64 / N as f64;
        assert!(share > 0.05, "{v:?}: {share}");
    }
}
