//! Prometheus metrics for the service, in the text exposition format
//! (version 0.0.4), without an external crate.
//!
//! Counters and histograms are atomics; labeled families sit behind a
//! mutex over a sorted map, so the output is deterministic and a series
//! that already exists is updated without allocating. A mutex poisoned by
//! a panic elsewhere never breaks recording or rendering.

use crate::decision::{Decision, RunVerdict, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Upper bounds of the histogram buckets: in nanoseconds (for counting)
/// and as the `le` label (seconds). Roughly log-spaced, 1 µs to 10 s.
const BUCKETS: [(u64, &str); 22] = [
    (1_000, "0.000001"),
    (2_500, "0.0000025"),
    (5_000, "0.000005"),
    (10_000, "0.00001"),
    (25_000, "0.000025"),
    (50_000, "0.00005"),
    (100_000, "0.0001"),
    (250_000, "0.00025"),
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
    (10_000_000_000, "10"),
];

/// A latency histogram with fixed buckets (1 µs … 10 s), lock-free.
///
/// Each observation increments exactly one slot (the first bucket whose
/// bound it does not exceed, or the overflow slot), so a render computes
/// the cumulative `_bucket` series, the `+Inf` bucket and `_count` from one
/// read of the slots: they are always consistent with each other.
#[derive(Debug)]
pub struct Histogram {
    /// One slot per bound, plus the overflow slot (`> 10 s`) last.
    slots: [AtomicU64; BUCKETS.len() + 1],
    /// Sum of all observations, in nanoseconds.
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let slot = BUCKETS
            .iter()
            .position(|&(bound, _)| nanos <= bound)
            .unwrap_or(BUCKETS.len());
        if let Some(slot) = self.slots.get(slot) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// How many observations were recorded.
    pub fn count(&self) -> u64 {
        self.slots.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }

    /// The sum of all observations.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed))
    }

    /// Appends the `_bucket` (cumulative, ending with `+Inf`), `_sum`
    /// (seconds) and `_count` samples of this histogram named `name`, with
    /// extra `labels` (already rendered as `k="v",...`, or empty).
    pub fn render_into(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (slot, &(_, le)) in self.slots.iter().zip(BUCKETS.iter()) {
            cumulative += slot.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        if let Some(overflow) = self.slots.last() {
            cumulative += overflow.load(Ordering::Relaxed);
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let braces = |labels: &str| {
            if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            }
        };
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
    }
}

/// The `kind` label of a policy failure, from its stable failure code.
/// Unknown (or missing) codes are `other`.
pub fn error_kind(code: Option<&str>) -> &'static str {
    match code {
        Some("out-of-fuel") => "fuel",
        Some("timeout") => "deadline",
        Some("out-of-memory") => "memory",
        Some("trap") => "trap",
        Some("invalid-verdict") => "invalid-verdict",
        Some("instantiate-failed") => "instantiate",
        _ => "other",
    }
}

/// The known error kinds, in the order of [`PolicyStats::errors`].
const ERROR_KINDS: [&str; 7] = [
    "fuel",
    "deadline",
    "memory",
    "trap",
    "invalid-verdict",
    "instantiate",
    "other",
];

/// Escapes a label value per the exposition format: backslash, double
/// quote and newline.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One counter per final verdict.
#[derive(Debug, Default)]
struct VerdictCounts {
    approve: AtomicU64,
    deny: AtomicU64,
    escalate: AtomicU64,
}

/// What is tracked per policy.
#[derive(Debug, Default)]
struct PolicyStats {
    approve: AtomicU64,
    deny: AtomicU64,
    escalate: AtomicU64,
    error: AtomicU64,
    /// Indexed like [`ERROR_KINDS`].
    errors: [AtomicU64; ERROR_KINDS.len()],
    evaluation: Histogram,
}

impl PolicyStats {
    fn verdict(&self, verdict: RunVerdict) -> &AtomicU64 {
        match verdict {
            RunVerdict::Approve => &self.approve,
            RunVerdict::Deny => &self.deny,
            RunVerdict::Escalate => &self.escalate,
            RunVerdict::Error => &self.error,
        }
    }
}

/// Point-in-time values rendered as gauges, supplied by the caller at
/// scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// The live policy-set generation.
    pub generation: u64,
    /// Escalations waiting for a human.
    pub pending_escalations: u64,
    /// Whether the kill switch is engaged.
    pub kill_switch_engaged: bool,
    /// Agents individually stopped by the kill switch.
    pub agents_stopped: u64,
    /// Whether the service is ready to decide.
    pub ready: bool,
}

/// The service's metrics. Create one with [`Metrics::new`] and share it as
/// an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    decisions: VerdictCounts,
    decision_seconds: Histogram,
    policies: Mutex<BTreeMap<String, PolicyStats>>,
    log_commit_seconds: Histogram,
    log_records_committed: AtomicU64,
    reloads_accepted: AtomicU64,
    reloads_rejected: AtomicU64,
    /// route → status → count.
    http: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
    /// outcome → count (the four known outcomes are always present).
    escalations: Mutex<BTreeMap<String, u64>>,
    webhook_delivered: AtomicU64,
    webhook_failed: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All counters at zero.
    pub fn new() -> Self {
        let escalations = ["opened", "approved", "denied", "expired"]
            .into_iter()
            .map(|outcome| (outcome.to_owned(), 0))
            .collect();
        Self {
            decisions: VerdictCounts::default(),
            decision_seconds: Histogram::new(),
            policies: Mutex::new(BTreeMap::new()),
            log_commit_seconds: Histogram::new(),
            log_records_committed: AtomicU64::new(0),
            reloads_accepted: AtomicU64::new(0),
            reloads_rejected: AtomicU64::new(0),
            http: Mutex::new(BTreeMap::new()),
            escalations: Mutex::new(escalations),
            webhook_delivered: AtomicU64::new(0),
            webhook_failed: AtomicU64::new(0),
        }
    }

    /// Records one decision: its final verdict, every policy run (verdict,
    /// failure kind, evaluation time from `micros`), and `elapsed`, the
    /// whole decision's wall time including logging.
    pub fn record_decision(&self, decision: &Decision, elapsed: Duration) {
        bump(match decision.verdict {
            Verdict::Approve => &self.decisions.approve,
            Verdict::Deny => &self.decisions.deny,
            Verdict::Escalate => &self.decisions.escalate,
        });
        self.decision_seconds.observe(elapsed);
        if decision.policies.is_empty() {
            return;
        }
        let mut policies = lock(&self.policies);
        for run in &decision.policies {
            // Allocates only the first time a policy is seen.
            if !policies.contains_key(run.policy.as_str()) {
                policies.insert(run.policy.clone(), PolicyStats::default());
            }
            let Some(stats) = policies.get(run.policy.as_str()) else {
                continue;
            };
            bump(stats.verdict(run.verdict));
            if run.verdict == RunVerdict::Error {
                let kind = error_kind(run.code.as_deref());
                let slot = ERROR_KINDS.iter().position(|k| *k == kind);
                if let Some(counter) = slot.and_then(|i| stats.errors.get(i)) {
                    bump(counter);
                }
            }
            stats.evaluation.observe(Duration::from_micros(run.micros));
        }
    }

    /// Records one commit of the decision log: how long it took and how
    /// many records it made durable.
    pub fn record_log_commit(&self, elapsed: Duration, records: usize) {
        self.log_commit_seconds.observe(elapsed);
        self.log_records_committed.fetch_add(
            u64::try_from(records).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Records one policy-set reload, accepted or rejected.
    pub fn record_reload(&self, accepted: bool) {
        bump(if accepted {
            &self.reloads_accepted
        } else {
            &self.reloads_rejected
        });
    }

    /// Records one HTTP response. `route` should be the matched route
    /// template (e.g. `/v1/escalations/{id}`), never the raw path, to keep
    /// the label set bounded.
    pub fn record_http(&self, route: &str, status: u16) {
        let mut http = lock(&self.http);
        if !http.contains_key(route) {
            http.insert(route.to_owned(), BTreeMap::new());
        }
        if let Some(statuses) = http.get_mut(route) {
            *statuses.entry(status).or_insert(0) += 1;
        }
    }

    /// Records an escalation event: `opened`, `approved`, `denied` or
    /// `expired`.
    pub fn record_escalation(&self, outcome: &str) {
        let mut escalations = lock(&self.escalations);
        match escalations.get_mut(outcome) {
            Some(count) => *count += 1,
            None => {
                escalations.insert(outcome.to_owned(), 1);
            }
        }
    }

    /// Records one webhook delivery, delivered or failed.
    pub fn record_webhook(&self, ok: bool) {
        bump(if ok {
            &self.webhook_delivered
        } else {
            &self.webhook_failed
        });
    }

    /// Every metric in the Prometheus text exposition format, with the
    /// point-in-time `gauges`.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(8 * 1024);

        header(
            &mut out,
            "gavel_decisions_total",
            "counter",
            "Decisions answered, by final verdict.",
        );
        for (verdict, counter) in [
            ("approve", &self.decisions.approve),
            ("deny", &self.decisions.deny),
            ("escalate", &self.decisions.escalate),
        ] {
            let _ = writeln!(
                out,
                "gavel_decisions_total{{verdict=\"{verdict}\"}} {}",
                load(counter)
            );
        }

        header(
            &mut out,
            "gavel_decision_seconds",
            "histogram",
            "Wall time of a whole decision, including the decision log.",
        );
        self.decision_seconds
            .render_into(&mut out, "gavel_decision_seconds", "");

        {
            let policies = lock(&self.policies);
            let labels: Vec<(String, &PolicyStats)> = policies
                .iter()
                .map(|(name, stats)| (escape_label_value(name), stats))
                .collect();

            header(
                &mut out,
                "gavel_policy_verdicts_total",
                "counter",
                "Policy runs, by policy and what the policy answered.",
            );
            for (policy, stats) in &labels {
                for (verdict, counter) in [
                    ("approve", &stats.approve),
                    ("deny", &stats.deny),
                    ("escalate", &stats.escalate),
                    ("error", &stats.error),
                ] {
                    let _ = writeln!(
                        out,
                        "gavel_policy_verdicts_total{{policy=\"{policy}\",verdict=\"{verdict}\"}} {}",
                        load(counter)
                    );
                }
            }

            header(
                &mut out,
                "gavel_policy_errors_total",
                "counter",
                "Contained policy failures, by policy and kind.",
            );
            for (policy, stats) in &labels {
                for (kind, counter) in ERROR_KINDS.iter().zip(stats.errors.iter()) {
                    let count = load(counter);
                    // `other` only appears once something unexpected did.
                    if *kind == "other" && count == 0 {
                        continue;
                    }
                    let _ = writeln!(
                        out,
                        "gavel_policy_errors_total{{policy=\"{policy}\",kind=\"{kind}\"}} {count}"
                    );
                }
            }

            header(
                &mut out,
                "gavel_policy_evaluation_seconds",
                "histogram",
                "Wall time of one policy's evaluation.",
            );
            for (policy, stats) in &labels {
                stats.evaluation.render_into(
                    &mut out,
                    "gavel_policy_evaluation_seconds",
                    &format!("policy=\"{policy}\""),
                );
            }
        }

        header(
            &mut out,
            "gavel_log_commit_seconds",
            "histogram",
            "Wall time of one decision-log commit.",
        );
        self.log_commit_seconds
            .render_into(&mut out, "gavel_log_commit_seconds", "");

        header(
            &mut out,
            "gavel_log_records_committed_total",
            "counter",
            "Decision-log records made durable.",
        );
        let _ = writeln!(
            out,
            "gavel_log_records_committed_total {}",
            load(&self.log_records_committed)
        );

        header(
            &mut out,
            "gavel_reloads_total",
            "counter",
            "Policy-set reloads, by outcome.",
        );
        let _ = writeln!(
            out,
            "gavel_reloads_total{{outcome=\"accepted\"}} {}",
            load(&self.reloads_accepted)
        );
        let _ = writeln!(
            out,
            "gavel_reloads_total{{outcome=\"rejected\"}} {}",
            load(&self.reloads_rejected)
        );
        header(
            &mut out,
            "gavel_reloads_rejected_total",
            "counter",
            "Policy-set reloads rejected (the previous generation stayed live).",
        );
        let _ = writeln!(
            out,
            "gavel_reloads_rejected_total {}",
            load(&self.reloads_rejected)
        );

        header(
            &mut out,
            "gavel_http_requests_total",
            "counter",
            "HTTP requests answered, by route and status.",
        );
        for (route, statuses) in lock(&self.http).iter() {
            let route = escape_label_value(route);
            for (status, count) in statuses {
                let _ = writeln!(
                    out,
                    "gavel_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }

        header(
            &mut out,
            "gavel_escalations_total",
            "counter",
            "Escalation events, by outcome.",
        );
        for (outcome, count) in lock(&self.escalations).iter() {
            let _ = writeln!(
                out,
                "gavel_escalations_total{{outcome=\"{}\"}} {count}",
                escape_label_value(outcome)
            );
        }

        header(
            &mut out,
            "gavel_webhook_deliveries_total",
            "counter",
            "Escalation webhook deliveries, by outcome.",
        );
        let _ = writeln!(
            out,
            "gavel_webhook_deliveries_total{{outcome=\"delivered\"}} {}",
            load(&self.webhook_delivered)
        );
        let _ = writeln!(
            out,
            "gavel_webhook_deliveries_total{{outcome=\"failed\"}} {}",
            load(&self.webhook_failed)
        );

        for (name, help, value) in [
            (
                "gavel_policy_generation",
                "The live policy-set generation.",
                gauges.generation,
            ),
            (
                "gavel_escalations_pending",
                "Escalations waiting for a human.",
                gauges.pending_escalations,
            ),
            (
                "gavel_kill_switch_engaged",
                "1 while the kill switch is engaged, else 0.",
                u64::from(gauges.kill_switch_engaged),
            ),
            (
                "gavel_kill_switch_agents",
                "Agents individually stopped by the kill switch.",
                gauges.agents_stopped,
            ),
            (
                "gavel_ready",
                "1 while the service is ready to decide, else 0.",
                u64::from(gauges.ready),
            ),
        ] {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }

        out
    }
}

/// The `# HELP` and `# TYPE` lines of a family.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
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
}
