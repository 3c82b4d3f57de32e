use super::*;
use crate::decision::PolicyRun;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

fn run(policy: &str, verdict: RunVerdict, code: Option<&str>, micros: u64) -> PolicyRun {
    PolicyRun {
        policy: policy.to_owned(),
        digest: "sha256:00".to_owned(),
        verdict,
        code: code.map(str::to_owned),
        message: None,
        fuel: 10,
        micros,
        shadow: false,
        findings: Vec::new(),
        facts: Vec::new(),
        charges: Vec::new(),
    }
}

fn decision(verdict: Verdict, policies: Vec<PolicyRun>) -> Decision {
    // Through serde, so optional fields added later keep their defaults.
    serde_json::from_value(serde_json::json!({
        "request_id": "r",
        "verdict": verdict,
        "reasons": [],
        "policies": policies,
        "generation": 1,
    }))
    .unwrap()
}

type Labels = Vec<(String, String)>;

/// One parsed sample line.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

impl Sample {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `k="v",k2="v2"` (with escapes) into pairs.
fn parse_labels(text: &str) -> Labels {
    let mut labels = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        assert!(valid_name(&key), "bad label name {key:?} in {text:?}");
        assert_eq!(chars.next(), Some('='));
        assert_eq!(chars.next(), Some('"'), "unquoted value in {text:?}");
        let mut value = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '\\' => match chars.next().expect("dangling escape") {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    other => panic!("bad escape \\{other} in {text:?}"),
                },
                '"' => break,
                '\n' => panic!("raw newline in label value"),
                c => value.push(c),
            }
        }
        labels.push((key, value));
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(c) => panic!("unexpected {c:?} after label in {text:?}"),
        }
    }
    labels
}

/// A tiny exposition-format checker: returns the samples and the
/// families (name → type), asserting the format along the way.
fn parse(text: &str) -> (Vec<Sample>, HashMap<String, String>) {
    let mut samples = Vec::new();
    let mut helps = BTreeSet::new();
    let mut types = HashMap::new();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        assert!(!line.is_empty(), "empty line");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP without text");
            assert!(valid_name(name) && !help.is_empty());
            assert!(helps.insert(name.to_owned()), "duplicate HELP {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE without type");
            assert!(["counter", "gauge", "histogram"].contains(&kind));
            assert!(helps.contains(name), "TYPE before HELP for {name}");
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "duplicate TYPE {name}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("sample without value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("unclosed labels");
                (name, parse_labels(inner))
            }
            None => (series, Vec::new()),
        };
        assert!(valid_name(name), "bad metric name {name:?}");
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    // Every sample belongs to a family with HELP and TYPE.
    for sample in &samples {
        let family = if types.contains_key(&sample.name) {
            sample.name.clone()
        } else {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| sample.name.strip_suffix(s))
                .unwrap_or_else(|| panic!("no family for {}", sample.name));
            assert_eq!(types.get(base).map(String::as_str), Some("histogram"));
            base.to_owned()
        };
        assert!(helps.contains(&family), "no HELP for {family}");
    }
    (samples, types)
}

/// Asserts every histogram series is cumulative, monotone, ends with
/// `+Inf` equal to `_count`; returns the number of series checked.
fn check_histograms(samples: &[Sample], types: &HashMap<String, String>) -> usize {
    let mut checked = 0;
    for (family, _) in types.iter().filter(|(_, t)| *t == "histogram") {
        let bucket_name = format!("{family}_bucket");
        // Group buckets by their labels minus `le`.
        let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == bucket_name) {
            let le = s.label("le").expect("bucket without le");
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("bad le")
            };
            let rest: Vec<_> = s
                .labels
                .iter()
                .filter(|(k, _)| k != "le")
                .cloned()
                .collect();
            series.entry(rest).or_default().push((le, s.value));
        }
        for (labels, buckets) in &series {
            assert_eq!(buckets.len(), BUCKETS.len() + 1);
            for pair in buckets.windows(2) {
                assert!(pair[0].0 < pair[1].0, "le not increasing in {family}");
                assert!(pair[0].1 <= pair[1].1, "buckets not cumulative in {family}");
            }
            let (last_le, inf) = *buckets.last().unwrap();
            assert!(last_le.is_infinite());
            let count = samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && &s.labels == labels)
                .expect("no _count");
            assert_eq!(inf, count.value, "+Inf != _count in {family}");
            assert!(
                samples
                    .iter()
                    .any(|s| s.name == format!("{family}_sum") && &s.labels == labels)
            );
            checked += 1;
        }
    }
    checked
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.label(k) == Some(v))
        })
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
        .value
}

#[test]
fn render_format_is_valid_and_complete() {
    let metrics = Metrics::new();
    metrics.record_decision(
        &decision(
            Verdict::Deny,
            vec![
                run("spend-limit", RunVerdict::Deny, Some("over-limit"), 120),
                run("pii", RunVerdict::Error, Some("out-of-fuel"), 9_000),
                run("pii", RunVerdict::Approve, None, 3),
            ],
        ),
        Duration::from_micros(450),
    );
    metrics.record_decision(
        &decision(
            Verdict::Approve,
            vec![run("spend-limit", RunVerdict::Approve, None, 80)],
        ),
        Duration::from_secs(20),
    );
    metrics.record_log_commit(Duration::from_millis(3), 17);
    metrics.record_reload(true);
    metrics.record_reload(false);
    metrics.record_reload(false);
    metrics.record_http("/v1/decide", 200);
    metrics.record_http("/v1/decide", 200);
    metrics.record_http("/v1/decide", 400);
    metrics.record_escalation("opened");
    metrics.record_escalation("approved");
    metrics.record_webhook(true);
    metrics.record_webhook(false);

    let text = metrics.render(&Gauges {
        generation: 7,
        pending_escalations: 2,
        kill_switch_engaged: true,
        agents_stopped: 3,
        ready: true,
    });
    let (samples, types) = parse(&text);
    // decision_seconds, log_commit_seconds, two policies.
    assert_eq!(check_histograms(&samples, &types), 4);

    let expected_families = [
        "gavel_decisions_total",
        "gavel_decision_seconds",
        "gavel_policy_verdicts_total",
        "gavel_policy_errors_total",
        "gavel_policy_evaluation_seconds",
        "gavel_log_commit_seconds",
        "gavel_log_records_committed_total",
        "gavel_reloads_total",
        "gavel_reloads_rejected_total",
        "gavel_http_requests_total",
        "gavel_escalations_total",
        "gavel_webhook_deliveries_total",
        "gavel_rate_limited_total",
        "gavel_budget_exceeded_total",
        "gavel_outcomes_total",
        "gavel_breaker_trips_total",
        "gavel_reservations",
        "gavel_counter_utilisation",
        "gavel_policy_generation",
        "gavel_escalations_pending",
        "gavel_kill_switch_engaged",
        "gavel_kill_switch_agents",
        "gavel_ready",
    ];
    for family in expected_families {
        assert!(types.contains_key(family), "missing family {family}");
    }
    assert_eq!(types.len(), expected_families.len());

    assert_eq!(
        value(&samples, "gavel_decisions_total", &[("verdict", "deny")]),
        1.0
    );
    assert_eq!(
        value(&samples, "gavel_decisions_total", &[("verdict", "approve")]),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_decisions_total",
            &[("verdict", "escalate")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_policy_verdicts_total",
            &[("policy", "pii"), ("verdict", "error")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_policy_verdicts_total",
            &[("policy", "spend-limit"), ("verdict", "approve")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_policy_errors_total",
            &[("policy", "pii"), ("kind", "fuel")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_policy_errors_total",
            &[("policy", "spend-limit"), ("kind", "trap")]
        ),
        0.0
    );
    // The 20 s decision overflows every finite bucket.
    assert_eq!(value(&samples, "gavel_decision_seconds_count", &[]), 2.0);
    assert_eq!(
        value(&samples, "gavel_decision_seconds_bucket", &[("le", "10")]),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_decision_seconds_bucket",
            &[("le", "0.0005")]
        ),
        1.0
    );
    assert!((value(&samples, "gavel_decision_seconds_sum", &[]) - 20.00045).abs() < 1e-9);
    assert_eq!(
        value(
            &samples,
            "gavel_policy_evaluation_seconds_count",
            &[("policy", "pii")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_policy_evaluation_seconds_bucket",
            &[("policy", "pii"), ("le", "0.000005")]
        ),
        1.0
    );
    assert_eq!(
        value(&samples, "gavel_log_records_committed_total", &[]),
        17.0
    );
    assert_eq!(
        value(&samples, "gavel_reloads_total", &[("outcome", "rejected")]),
        2.0
    );
    assert_eq!(
        value(&samples, "gavel_reloads_total", &[("outcome", "accepted")]),
        1.0
    );
    assert_eq!(value(&samples, "gavel_reloads_rejected_total", &[]), 2.0);
    assert_eq!(
        value(
            &samples,
            "gavel_http_requests_total",
            &[("route", "/v1/decide"), ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_escalations_total",
            &[("outcome", "opened")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_escalations_total",
            &[("outcome", "expired")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_webhook_deliveries_total",
            &[("outcome", "failed")]
        ),
        1.0
    );
    assert_eq!(value(&samples, "gavel_policy_generation", &[]), 7.0);
    assert_eq!(value(&samples, "gavel_escalations_pending", &[]), 2.0);
    assert_eq!(value(&samples, "gavel_kill_switch_engaged", &[]), 1.0);
    assert_eq!(value(&samples, "gavel_kill_switch_agents", &[]), 3.0);
    assert_eq!(value(&samples, "gavel_ready", &[]), 1.0);
}

#[test]
fn empty_metrics_render_valid_text() {
    let text = Metrics::new().render(&Gauges::default());
    let (samples, types) = parse(&text);
    assert_eq!(check_histograms(&samples, &types), 2);
    assert_eq!(value(&samples, "gavel_ready", &[]), 0.0);
    assert_eq!(value(&samples, "gavel_kill_switch_engaged", &[]), 0.0);
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape_label_value(r#"a\b"c"#), r#"a\\b\"c"#);
    assert_eq!(escape_label_value("x\ny"), "x\\ny");
    assert_eq!(escape_label_value("plain-name_1"), "plain-name_1");

    let nasty = "we\"ird\\po\nlicy";
    let metrics = Metrics::new();
    metrics.record_decision(
        &decision(
            Verdict::Approve,
            vec![run(nasty, RunVerdict::Approve, None, 5)],
        ),
        Duration::from_micros(10),
    );
    metrics.record_http("/a\"b", 500);
    metrics.record_escalation("odd\noutcome");
    let text = metrics.render(&Gauges::default());
    assert!(text.contains(r#"policy="we\"ird\\po\nlicy""#));
    let (samples, types) = parse(&text);
    check_histograms(&samples, &types);
    // The checker unescapes back to the original values.
    assert_eq!(
        value(
            &samples,
            "gavel_policy_verdicts_total",
            &[("policy", nasty), ("verdict", "approve")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_http_requests_total",
            &[("route", "/a\"b"), ("status", "500")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_escalations_total",
            &[("outcome", "odd\noutcome")]
        ),
        1.0
    );
}

#[test]
fn concurrent_observations_sum_correctly() {
    let histogram = Arc::new(Histogram::new());
    let metrics = Arc::new(Metrics::new());
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let histogram = Arc::clone(&histogram);
            let metrics = Arc::clone(&metrics);
            std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    histogram.observe(Duration::from_nanos(t * 1_000 + i));
                    metrics.record_decision(
                        &decision(
                            Verdict::Approve,
                            vec![run("p", RunVerdict::Approve, None, 1)],
                        ),
                        Duration::from_micros(1),
                    );
                    metrics.record_http("/v1/decide", 200);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(histogram.count(), 80_000);
    let expected: u64 = (0..8u64)
        .map(|t| (0..10_000u64).map(|i| t * 1_000 + i).sum::<u64>())
        .sum();
    assert_eq!(histogram.sum(), Duration::from_nanos(expected));

    let mut out = String::new();
    histogram.render_into(&mut out, "h", "");
    let inf = out
        .lines()
        .find(|l| l.starts_with("h_bucket{le=\"+Inf\"}"))
        .unwrap();
    assert_eq!(inf, "h_bucket{le=\"+Inf\"} 80000");

    let (samples, _) = parse(&metrics.render(&Gauges::default()));
    assert_eq!(
        value(&samples, "gavel_decisions_total", &[("verdict", "approve")]),
        80_000.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_policy_verdicts_total",
            &[("policy", "p"), ("verdict", "approve")]
        ),
        80_000.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_policy_evaluation_seconds_count",
            &[("policy", "p")]
        ),
        80_000.0
    );
    assert_eq!(
        value(
            &samples,
            "gavel_http_requests_total",
            &[("route", "/v1/decide"), ("status", "200")]
        ),
        80_000.0
    );
}

#[test]
fn error_kinds_map_from_failure_codes() {
    for (code, kind) in [
        ("out-of-fuel", "fuel"),
        ("timeout", "deadline"),
        ("out-of-memory", "memory"),
        ("trap", "trap"),
        ("invalid-verdict", "invalid-verdict"),
        ("instantiate-failed", "instantiate"),
        ("something-new", "other"),
    ] {
        assert_eq!(error_kind(Some(code)), kind, "{code}");
    }
    assert_eq!(error_kind(None), "other");

    let metrics = Metrics::new();
    let runs = [
        "out-of-fuel",
        "timeout",
        "out-of-memory",
        "trap",
        "invalid-verdict",
        "instantiate-failed",
    ]
    .into_iter()
    .map(|code| run("p", RunVerdict::Error, Some(code), 1))
    .collect();
    metrics.record_decision(&decision(Verdict::Deny, runs), Duration::from_micros(1));
    let (samples, _) = parse(&metrics.render(&Gauges::default()));
    for kind in [
        "fuel",
        "deadline",
        "memory",
        "trap",
        "invalid-verdict",
        "instantiate",
    ] {
        assert_eq!(
            value(
                &samples,
                "gavel_policy_errors_total",
                &[("policy", "p"), ("kind", kind)]
            ),
            1.0,
            "{kind}"
        );
    }
    // No unexpected failure, so no `other` series.
    assert!(!samples.iter().any(|s| s.label("kind") == Some("other")));
    assert_eq!(
        value(
            &samples,
            "gavel_policy_verdicts_total",
            &[("policy", "p"), ("verdict", "error")]
        ),
        6.0
    );
    // A deny with a reason code is not an error.
    metrics.record_decision(
        &decision(
            Verdict::Deny,
            vec![run("p", RunVerdict::Deny, Some("trap"), 1)],
        ),
        Duration::from_micros(1),
    );
    let (samples, _) = parse(&metrics.render(&Gauges::default()));
    assert_eq!(
        value(
            &samples,
            "gavel_policy_errors_total",
            &[("policy", "p"), ("kind", "trap")]
        ),
        1.0
    );
}

#[test]
fn poisoned_lock_does_not_break_rendering() {
    let metrics = Arc::new(Metrics::new());
    metrics.record_http("/v1/decide", 200);
    let poisoner = Arc::clone(&metrics);
    let result = std::thread::spawn(move || {
        let _guard = poisoner.http.lock().unwrap();
        panic!("poison the lock");
    })
    .join();
    assert!(result.is_err());
    assert!(metrics.http.is_poisoned());
    metrics.record_http("/v1/decide", 200);
    let (samples, _) = parse(&metrics.render(&Gauges::default()));
    assert_eq!(
        value(
            &samples,
            "gavel_http_requests_total",
            &[("route", "/v1/decide"), ("status", "200")]
        ),
        2.0
    );
}

fn denied(verdict: Verdict, codes: &[(Verdict, &str)]) -> Decision {
    let reasons: Vec<serde_json::Value> = codes
        .iter()
        .map(|(v, code)| {
            serde_json::json!({"policy": "p", "verdict": v, "code": code, "message": "m"})
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "request_id": "r",
        "verdict": verdict,
        "reasons": reasons,
        "policies": [],
    }))
    .unwrap()
}

#[test]
fn limit_denials_are_counted_once_per_decision() {
    use Verdict::{Approve, Deny, Escalate};
    // (final verdict, reasons, rate_limited, budget_exceeded)
    type Case<'a> = (Verdict, &'a [(Verdict, &'a str)], f64, f64);
    let cases: &[Case] = &[
        (Deny, &[(Deny, "rate-limited")], 1.0, 0.0),
        (Deny, &[(Deny, "budget-exceeded")], 0.0, 1.0),
        (
            Deny,
            &[(Deny, "budget-exceeded"), (Deny, "budget-exceeded")],
            0.0,
            1.0,
        ),
        (
            Deny,
            &[(Deny, "rate-limited"), (Deny, "budget-exceeded")],
            1.0,
            1.0,
        ),
        (Deny, &[(Deny, "over-limit")], 0.0, 0.0),
        (Deny, &[(Deny, "kill-switch")], 0.0, 0.0),
        // An escalation near the limit is not a denial.
        (Escalate, &[(Escalate, "budget-near-limit")], 0.0, 0.0),
        (Escalate, &[(Escalate, "budget-exceeded")], 0.0, 0.0),
        (Approve, &[], 0.0, 0.0),
    ];
    for (verdict, reasons, rate, budget) in cases {
        let metrics = Metrics::new();
        metrics.record_decision(&denied(*verdict, reasons), Duration::from_micros(1));
        let (samples, _) = parse(&metrics.render(&Gauges::default()));
        assert_eq!(
            value(&samples, "gavel_rate_limited_total", &[]),
            *rate,
            "{reasons:?}"
        );
        assert_eq!(
            value(&samples, "gavel_budget_exceeded_total", &[]),
            *budget,
            "{reasons:?}"
        );
    }
    let metrics = Metrics::new();
    metrics.record_outcome(OutcomeStatus::Completed);
    metrics.record_outcome(OutcomeStatus::Failed);
    metrics.record_outcome(OutcomeStatus::Failed);
    let (samples, _) = parse(&metrics.render(&Gauges::default()));
    assert_eq!(
        value(&samples, "gavel_outcomes_total", &[("status", "completed")]),
        1.0
    );
    assert_eq!(
        value(&samples, "gavel_outcomes_total", &[("status", "failed")]),
        2.0
    );
}

fn usage_row(counter: &str, subject: &str, used: f64, reserved: f64, limit: f64) -> UsageRow {
    UsageRow {
        counter: counter.to_owned(),
        kind: crate::ledger::ChargeKind::Budget,
        scope: crate::history::Scope::Agent,
        subject: subject.to_owned(),
        window: crate::ledger::Window::Rolling { ms: 60_000 },
        window_start_ms: None,
        window_end_ms: None,
        used,
        reserved,
        limit,
        left: (limit - used - reserved).max(0.0),
        reservations: 1,
    }
}

#[test]
fn memory_gauges_come_from_the_source_at_render_time() {
    let metrics = Metrics::new();
    // No source: the families are there, empty or zero.
    let (samples, types) = parse(&metrics.render(&Gauges::default()));
    assert_eq!(types.get("gavel_counter_utilisation").unwrap(), "gauge");
    assert_eq!(types.get("gavel_reservations").unwrap(), "gauge");
    assert_eq!(types.get("gavel_breaker_trips_total").unwrap(), "counter");
    assert!(
        !samples
            .iter()
            .any(|s| s.name == "gavel_counter_utilisation")
    );
    assert_eq!(
        value(&samples, "gavel_reservations", &[("state", "open")]),
        0.0
    );
    assert_eq!(value(&samples, "gavel_breaker_trips_total", &[]), 0.0);

    let trips = Arc::new(AtomicU64::new(2));
    let seen = Arc::clone(&trips);
    metrics.observe_memory(Box::new(move || MemoryGauges {
        counters: vec![
            usage_row("budget", "financial-advisor", 990.0, 10.0, 1000.0),
            usage_row("rate:per-agent", "we\"ird", 0.0, 15.0, 30.0),
            usage_row("budget", "nobody", 0.0, 0.0, 0.0),
            usage_row("budget", "over", 5.0, 0.0, 0.0),
        ],
        reservations: ReservationCounts {
            held: 1,
            open: 2,
            settled: 3,
        },
        breaker_trips: seen.load(Ordering::Relaxed),
    }));
    trips.store(5, Ordering::Relaxed);
    let (samples, _) = parse(&metrics.render(&Gauges::default()));
    let utilisation = |counter: &str, subject: &str| {
        value(
            &samples,
            "gavel_counter_utilisation",
            &[
                ("counter", counter),
                ("scope", "agent"),
                ("subject", subject),
            ],
        )
    };
    // (counter, subject, used+reserved over limit)
    let cases = [
        ("budget", "financial-advisor", 1.0),
        ("rate:per-agent", "we\"ird", 0.5),
        ("budget", "nobody", 0.0),
        ("budget", "over", 1.0),
    ];
    for (counter, subject, expected) in cases {
        assert_eq!(
            utilisation(counter, subject),
            expected,
            "{counter} {subject}"
        );
    }
    for (state, expected) in [("held", 1.0), ("open", 2.0), ("settled", 3.0)] {
        assert_eq!(
            value(&samples, "gavel_reservations", &[("state", state)]),
            expected
        );
    }
    // Read when rendered, not when the source was given.
    assert_eq!(value(&samples, "gavel_breaker_trips_total", &[]), 5.0);
}

#[test]
fn utilisation_series_are_capped_fullest_first_and_unique() {
    let metrics = Metrics::new();
    let total = MAX_UTILISATION_SERIES + 500;
    metrics.observe_memory(Box::new(move || {
        let mut counters: Vec<UsageRow> = (0..total)
            .map(|i| usage_row("budget", &format!("agent-{i}"), i as f64, 0.0, total as f64))
            .collect();
        // The same labels in another window: only the fuller one shows.
        let mut twin = usage_row("budget", "agent-0", total as f64, 0.0, total as f64);
        twin.window = crate::ledger::Window::Rolling { ms: 120_000 };
        counters.push(twin);
        MemoryGauges {
            counters,
            ..MemoryGauges::default()
        }
    }));
    let (samples, _) = parse(&metrics.render(&Gauges::default()));
    let series: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "gavel_counter_utilisation")
        .collect();
    assert_eq!(series.len(), MAX_UTILISATION_SERIES);
    let subjects: BTreeSet<&str> = series.iter().map(|s| s.label("subject").unwrap()).collect();
    assert_eq!(subjects.len(), MAX_UTILISATION_SERIES, "a label set twice");
    // The fullest first: agent-0's twin (full), then agent-1499 down.
    assert_eq!(series[0].label("subject"), Some("agent-0"));
    assert_eq!(series[0].value, 1.0);
    let values: Vec<f64> = series.iter().map(|s| s.value).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "not fullest first");
    assert_eq!(
        series[1].label("subject"),
        Some(format!("agent-{}", total - 1).as_str())
    );
    // The emptiest are the ones left out.
    assert!(!subjects.contains("agent-1"));
    let help = metrics.render(&Gauges::default());
    assert!(help.contains(&format!(
        "# HELP gavel_counter_utilisation Used and reserved over the limit, per counter (1 is full); at most {MAX_UTILISATION_SERIES} series, the fullest first."
    )));
}

#[test]
fn ship_metrics_render_only_while_shipping_and_read_the_source() {
    let metrics = Metrics::new();
    let off = metrics.render(&Gauges::default());
    assert!(!off.contains("gavel_ship_"), "{off}");
    let lag = Arc::new(std::sync::atomic::AtomicU64::new(7));
    let read = lag.clone();
    metrics.observe_ship(Box::new(move || ShipGauges {
        lag: read.load(std::sync::atomic::Ordering::Relaxed),
        shipped_total: 40,
        up: false,
    }));
    for (now, expected) in [(7u64, 7.0), (12, 12.0)] {
        lag.store(now, std::sync::atomic::Ordering::Relaxed);
        let (samples, _) = parse(&metrics.render(&Gauges::default()));
        let value = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
        assert_eq!(value("gavel_ship_lag_records"), Some(expected));
        assert_eq!(value("gavel_ship_shipped_records_total"), Some(40.0));
        assert_eq!(value("gavel_ship_up"), Some(0.0));
    }
}
