//! Prometheus metrics for the service, in the text exposition format
//! (version 0.0.4), without an external crate.
//!
//! Counters and histograms are atomics; labeled families sit behind a
//! mutex over a sorted map, so the output is deterministic and a series
//! that already exists is updated without allocating. A mutex poisoned by
//! a panic elsewhere never breaks recording or rendering.

use crate::decision::{Decision, RunVerdict, Verdict};
use crate::ledger::{BUDGET_EXCEEDED, RATE_LIMITED, UsageRow};
use crate::log::OutcomeStatus;
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

/// Most `gavel_counter_utilisation` series one scrape renders: the
/// fullest counters first.
pub const MAX_UTILISATION_SERIES: usize = 1000;

/// How many reservations are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReservationCounts {
    /// Held by a pending escalation.
    pub held: u64,
    /// Waiting for an outcome.
    pub open: u64,
    /// Settled (an outcome came, or its time passed) and still in a window.
    pub settled: u64,
}

/// The counters' point-in-time values, read at scrape time from the
/// source given to [`Metrics::observe_memory`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryGauges {
    /// Every live counter (rendered as `gavel_counter_utilisation`, at most
    /// [`MAX_UTILISATION_SERIES`] of them).
    pub counters: Vec<UsageRow>,
    /// Reservations by state.
    pub reservations: ReservationCounts,
    /// Times the breaker engaged an agent's kill switch since the process
    /// started (rendered as a counter).
    pub breaker_trips: u64,
}

/// Where [`MemoryGauges`] come from.
pub type MemorySource = Box<dyn Fn() -> MemoryGauges + Send + Sync>;

/// The source, if any (a closure has no `Debug`).
#[derive(Default)]
struct MemorySlot(Mutex<Option<MemorySource>>);

impl std::fmt::Debug for MemorySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemorySlot")
    }
}

/// The log shipper's state, read at scrape time from the source given to
/// [`Metrics::observe_ship`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShipGauges {
    /// Committed records not yet shipped.
    pub lag: u64,
    /// Records shipped by this process.
    pub shipped_total: u64,
    /// Whether the last shipping attempt succeeded.
    pub up: bool,
}

/// Where [`ShipGauges`] come from.
pub type ShipSource = Box<dyn Fn() -> ShipGauges + Send + Sync>;

/// The shipper's source, if shipping is on.
#[derive(Default)]
struct ShipSlot(Mutex<Option<ShipSource>>);

impl std::fmt::Debug for ShipSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShipSlot")
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
    /// Decisions denied `rate-limited`.
    rate_limited: AtomicU64,
    /// Decisions denied `budget-exceeded`.
    budget_exceeded: AtomicU64,
    outcomes_completed: AtomicU64,
    outcomes_failed: AtomicU64,
    memory: MemorySlot,
    ship: ShipSlot,
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
            rate_limited: AtomicU64::new(0),
            budget_exceeded: AtomicU64::new(0),
            outcomes_completed: AtomicU64::new(0),
            outcomes_failed: AtomicU64::new(0),
            memory: MemorySlot::default(),
            ship: ShipSlot::default(),
        }
    }

    /// Records one decision: its final verdict, whether a deny was
    /// `rate-limited` or `budget-exceeded` (once per decision, whichever
    /// policy or counter said so), every policy run (verdict, failure
    /// kind, evaluation time from `micros`), and `elapsed`, the whole
    /// decision's wall time including logging.
    pub fn record_decision(&self, decision: &Decision, elapsed: Duration) {
        bump(match decision.verdict {
            Verdict::Approve => &self.decisions.approve,
            Verdict::Deny => &self.decisions.deny,
            Verdict::Escalate => &self.decisions.escalate,
        });
        if decision.verdict == Verdict::Deny {
            let denied = |code: &str| {
                decision
                    .reasons
                    .iter()
                    .any(|r| r.verdict == Verdict::Deny && r.code == code)
            };
            if denied(RATE_LIMITED) {
                bump(&self.rate_limited);
            }
            if denied(BUDGET_EXCEEDED) {
                bump(&self.budget_exceeded);
            }
        }
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

    /// Read the counters' gauges from `source` at every render (the last
    /// source given wins); without one they render as empty.
    pub fn observe_memory(&self, source: MemorySource) {
        *lock(&self.memory.0) = Some(source);
    }

    /// Read the log shipper's state from `source` at every render; without
    /// one (shipping off) its metrics are not rendered.
    pub fn observe_ship(&self, source: ShipSource) {
        *lock(&self.ship.0) = Some(source);
    }

    /// The counters' gauges now.
    fn memory(&self) -> MemoryGauges {
        lock(&self.memory.0)
            .as_ref()
            .map(|source| source())
            .unwrap_or_default()
    }

    /// Records one outcome report accepted for an approved action.
    pub fn record_outcome(&self, status: OutcomeStatus) {
        bump(match status {
            OutcomeStatus::Completed => &self.outcomes_completed,
            OutcomeStatus::Failed => &self.outcomes_failed,
        });
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
        let memory = self.memory();

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

        header(
            &mut out,
            "gavel_rate_limited_total",
            "counter",
            "Decisions denied `rate-limited` (a rate counter was full).",
        );
        let _ = writeln!(out, "gavel_rate_limited_total {}", load(&self.rate_limited));
        header(
            &mut out,
            "gavel_budget_exceeded_total",
            "counter",
            "Decisions denied `budget-exceeded` (a budget counter was full).",
        );
        let _ = writeln!(
            out,
            "gavel_budget_exceeded_total {}",
            load(&self.budget_exceeded)
        );
        header(
            &mut out,
            "gavel_outcomes_total",
            "counter",
            "Outcomes reported for approved actions, by status.",
        );
        for (status, counter) in [
            ("completed", &self.outcomes_completed),
            ("failed", &self.outcomes_failed),
        ] {
            let _ = writeln!(
                out,
                "gavel_outcomes_total{{status=\"{status}\"}} {}",
                load(counter)
            );
        }
        header(
            &mut out,
            "gavel_breaker_trips_total",
            "counter",
            "Times the breaker engaged an agent's kill switch since the process started.",
        );
        let _ = writeln!(out, "gavel_breaker_trips_total {}", memory.breaker_trips);

        header(
            &mut out,
            "gavel_reservations",
            "gauge",
            "Counter reservations, by state: held (an escalation is pending), open (waiting for an outcome), settled.",
        );
        for (state, count) in [
            ("held", memory.reservations.held),
            ("open", memory.reservations.open),
            ("settled", memory.reservations.settled),
        ] {
            let _ = writeln!(out, "gavel_reservations{{state=\"{state}\"}} {count}");
        }
        render_utilisation(&mut out, &memory.counters);

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
        render_ship(&mut out, lock(&self.ship.0).as_ref().map(|source| source()));

        out
    }
}

/// `gavel_counter_utilisation`: (used + reserved) / limit per counter,
/// the fullest [`MAX_UTILISATION_SERIES`] first. Counters that share
/// their labels (one name in two windows) show the fuller one.
fn render_utilisation(out: &mut String, counters: &[UsageRow]) {
    header(
        out,
        "gavel_counter_utilisation",
        "gauge",
        &format!(
            "Used and reserved over the limit, per counter (1 is full); at most {MAX_UTILISATION_SERIES} series, the fullest first."
        ),
    );
    let mut rows: Vec<(f64, &UsageRow)> = counters
        .iter()
        .map(|row| (row.utilisation(), row))
        .filter(|(u, _)| u.is_finite())
        .collect();
    rows.sort_by(|(ua, a), (ub, b)| {
        ub.total_cmp(ua)
            .then_with(|| (&a.counter, a.scope, &a.subject).cmp(&(&b.counter, b.scope, &b.subject)))
    });
    let mut seen = std::collections::HashSet::new();
    for (utilisation, row) in rows {
        if seen.len() >= MAX_UTILISATION_SERIES {
            break;
        }
        if !seen.insert((row.counter.as_str(), row.scope, row.subject.as_str())) {
            continue;
        }
        let _ = writeln!(
            out,
            "gavel_counter_utilisation{{counter=\"{}\",scope=\"{}\",subject=\"{}\"}} {utilisation}",
            escape_label_value(&row.counter),
            row.scope.as_str(),
            escape_label_value(&row.subject),
        );
    }
}

/// The log shipper's metrics, when shipping is on.
fn render_ship(out: &mut String, ship: Option<ShipGauges>) {
    let Some(ship) = ship else {
        return;
    };
    header(
        out,
        "gavel_ship_lag_records",
        "gauge",
        "Committed decision-log records not yet shipped to the central log.",
    );
    let _ = writeln!(out, "gavel_ship_lag_records {}", ship.lag);
    header(
        out,
        "gavel_ship_shipped_records_total",
        "counter",
        "Decision-log records shipped to the central log by this process.",
    );
    let _ = writeln!(
        out,
        "gavel_ship_shipped_records_total {}",
        ship.shipped_total
    );
    header(
        out,
        "gavel_ship_up",
        "gauge",
        "1 while the last shipping attempt succeeded, else 0.",
    );
    let _ = writeln!(out, "gavel_ship_up {}", u64::from(ship.up));
}

/// The `# HELP` and `# TYPE` lines of a family.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests;
