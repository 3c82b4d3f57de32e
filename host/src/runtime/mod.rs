//! [`Runtime`]: the live policy set plus the decision log.
//!
//! Every decision is recorded before it is returned; a decision that
//! cannot be recorded is a deny. The live set is swapped atomically: a
//! reload builds a new [`Generation`] off the hot path (parse, compile or
//! fetch from the artifact cache, check the world, validate configs, smoke-
//! evaluate), then swaps it in; decisions in flight finish on the set they
//! started with, and each reports and logs exactly one generation. A
//! failed reload leaves the live set as it is, and is logged and kept in
//! the status.
//!
//! Reloads run one at a time, but a rollback never waits for one: only
//! the swap itself (a log record and a pointer store) is serialized. A
//! reload still loading when a rollback completes is set aside when it
//! finishes (logged and reported as a refused change, naming the
//! rollback): the operator's choice stands until the policy directory
//! changes again. A generation that stops being live drops its warm
//! instances (see [`crate::engine::POOL_SLOTS`]); one rolled back to warms
//! up again on demand.

use crate::artifact_cache::ArtifactCache;
use crate::decision::{Decision, Reason, Verdict};
use crate::engine::PolicyEngine;
use crate::escalation::{DEFAULT_ESCALATION_TIMEOUT, Escalations};
use crate::generation::{Generation, Snapshot};
use crate::history::{Activity, ApprovedAction, HistoryRecord};
use crate::kill_switch::{Engagement, KILL_SWITCH_CODE, KillSwitch};
use crate::ledger::{
    ChargeRecord, DEFAULT_SETTLE_AFTER, Judgement, Ledger, PolicyCharge, Reservation, Who,
};
use crate::load_error::LoadError;
use crate::log::{
    DecisionEntry, DecisionLog, LogError, LogEvent, LogOptions, LoggedRequest, Redactor, keys,
    now_ms,
};
use crate::policy_set::{PolicySet, RUNTIME_POLICY, refused};
use crate::request::Request;
use arc_swap::ArcSwap;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

mod controls;
mod decide;
mod fleet_escalations;
mod outcome;

pub use outcome::{OutcomeError, OutcomeReport};

/// How a [`Runtime`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// The decision log's options.
    pub log: LogOptions,
    /// How long an escalation waits for a reviewer before it expires.
    pub escalation_timeout: Duration,
    /// How long an approved action's reservations wait for an outcome
    /// before they settle as charged.
    pub settle_after: Duration,
    /// Where the counters live: the data directory, or a Redis server
    /// shared by every node.
    pub usage: UsageStore,
}

/// Where a runtime keeps its counters (budgets, rates, reservations).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UsageStore {
    /// In memory, backed by the decision log's `charges` table.
    #[default]
    Local,
    /// In Redis (`redis://HOST[:PORT][/DB]`), with this timeout per call.
    Redis {
        /// The server's URL.
        url: String,
        /// How long one call may take before the decision is refused.
        timeout: Duration,
    },
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            log: LogOptions::default(),
            escalation_timeout: DEFAULT_ESCALATION_TIMEOUT,
            settle_after: DEFAULT_SETTLE_AFTER,
            usage: UsageStore::Local,
        }
    }
}

/// Generations kept for rollback, the live one included.
pub const KEPT_GENERATIONS: usize = 5;

/// Why the runtime could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// The artifact cache could not be opened.
    #[error(transparent)]
    Cache(#[from] crate::artifact_cache::CacheError),
    /// The log could not be opened or written.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The policy directory was refused (and the refusal was recorded).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The shared counters' URL is not usable.
    #[error(transparent)]
    Usage(#[from] crate::ledger::UsageError),
    /// A rollback named a generation that is not kept.
    #[error("generation {0} is not kept (kept: {1:?})")]
    UnknownGeneration(u64, Vec<u64>),
    /// A reload finished after a rollback that completed while it was
    /// loading: it was set aside, and the rolled-back-to generation stays.
    #[error(
        "the policy change being loaded was set aside: generation {live} was rolled back to while it loaded, and stays live (change the policy directory again to reload)"
    )]
    Superseded {
        /// The generation the rollback put live.
        live: u64,
    },
}

/// What happened to the live set; sent to subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenerationChange {
    /// A generation went live (`cause`: `load`, `reload`, `rollback`).
    Live {
        /// Its number.
        generation: u64,
        /// Why.
        cause: String,
    },
    /// A change was refused; the live set stays.
    Rejected {
        /// Why (names file, policy and problem).
        error: String,
    },
}

/// What `reload` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new generation is live.
    Swapped(u64),
    /// Nothing the policy set is built from changed.
    Unchanged,
}

/// The runtime's state, as `gavel policies status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// The live generation.
    pub generation: u64,
    /// When it went live (UTC ms).
    pub live_since_ms: i64,
    /// Its policies: (name, digest).
    pub policies: Vec<(String, String)>,
    /// The generations kept for rollback, oldest first.
    pub kept: Vec<u64>,
    /// The last refused change: (when, why).
    pub last_rejection: Option<(i64, String)>,
    /// When the reload in progress began (UTC ms), if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reloading_since_ms: Option<i64>,
}

/// The status file's name in the data directory.
pub const STATUS_FILE: &str = "status.json";

/// What `<data-dir>/status.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusFile {
    /// The process that wrote it.
    pub pid: u32,
    /// Its policy directory.
    pub policies_dir: String,
    /// Its status.
    #[serde(flatten)]
    pub status: Status,
}

/// Policies plus the decision log, ready to decide.
#[derive(Debug)]
pub struct Runtime {
    dir: PathBuf,
    data_dir: PathBuf,
    engine: PolicyEngine,
    cache: ArtifactCache,
    log: DecisionLog,
    redaction_key: [u8; 32],
    live: ArcSwap<Generation>,
    kill_switch: KillSwitch,
    escalations: Escalations,
    escalation_timeout: Duration,
    ledger: Ledger,
    activity: Arc<dyn HistoryRecord>,
    breaker: crate::breaker::Breaker,
    breaker_trips: std::sync::atomic::AtomicU64,
    /// One outcome report at a time (a second for the same decision must
    /// see the first).
    reporting: Mutex<()>,
    state: Mutex<State>,
    /// One reload at a time (reloads are slow; decisions and rollbacks
    /// never take this).
    reloading: Mutex<()>,
    /// One swap of the live set at a time (a log record and a store: held
    /// briefly, never while loading).
    swapping: Mutex<()>,
}

#[derive(Debug)]
struct State {
    kept: VecDeque<Arc<Generation>>,
    /// The directory's fingerprint when it was last acted on (loaded,
    /// refused, or set aside by a rollback): a reload happens only when
    /// the directory differs from it, so a rollback is not undone by a
    /// stray event or a late SIGHUP.
    acted_on: Option<[u8; 32]>,
    next_generation: u64,
    last_rejection: Option<(i64, String)>,
    subscribers: Vec<Sender<GenerationChange>>,
    /// Rollbacks so far: a reload that sees this change while it loads is
    /// set aside.
    rollbacks: u64,
    /// When the reload in progress began.
    reloading_since_ms: Option<i64>,
}

impl Runtime {
    /// Open the log in `data_dir`, load `policies_dir`, and record the
    /// load (or its rejection).
    pub fn start(
        policies_dir: &Path,
        data_dir: &Path,
        options: LogOptions,
    ) -> Result<Self, RuntimeError> {
        let options = RuntimeOptions {
            log: options,
            ..RuntimeOptions::default()
        };
        Self::start_with(policies_dir, data_dir, options)
    }

    /// [`Runtime::start`] with every option. Also loads the persisted kill
    /// switch and escalations.
    pub fn start_with(
        policies_dir: &Path,
        data_dir: &Path,
        options: RuntimeOptions,
    ) -> Result<Self, RuntimeError> {
        let engine = PolicyEngine::new()?;
        let cache = ArtifactCache::open(data_dir, engine.engine())?;
        let log = DecisionLog::open(data_dir, options.log)?;
        let kill_switch = KillSwitch::load(log.database())?;
        let escalations = Escalations::load(log.database())?;
        let ledger = match &options.usage {
            UsageStore::Local => Ledger::load(log.database(), options.settle_after)?,
            UsageStore::Redis { url, timeout } => Ledger::shared(
                crate::ledger::SharedCounters::open(url, *timeout)?,
                options.settle_after,
            ),
        };
        // Shared counters bring a shared history: what an agent did through
        // any node counts on every node.
        let activity: Arc<dyn HistoryRecord> = match ledger.shared_counters() {
            Some(shared) => Arc::new(crate::history::SharedActivity::new(shared.link())),
            None => Arc::new(Activity::rebuild(log.database(), &escalations, now_ms())?),
        };
        let redaction_key = keys::load_or_create_secret(&data_dir.join(keys::REDACTION_KEY_FILE))?;
        let number = log.last_generation() + 1;
        let first = match build(
            Snapshot::read(policies_dir),
            &engine,
            &cache,
            redaction_key,
            number,
        ) {
            Ok(g) => g,
            Err(e) => {
                let event = LogEvent::PolicySetRejected {
                    dir: policies_dir.display().to_string(),
                    error: e.to_string(),
                };
                log.append(&event, log.last_generation())?;
                return Err(e.into());
            }
        };
        let first = Arc::new(first);
        log_live(&log, policies_dir, &first, "load")?;
        let runtime = Runtime {
            dir: policies_dir.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            engine,
            cache,
            log,
            redaction_key,
            live: ArcSwap::new(first.clone()),
            kill_switch,
            escalations,
            escalation_timeout: options.escalation_timeout,
            ledger,
            activity,
            breaker: crate::breaker::Breaker::default(),
            breaker_trips: std::sync::atomic::AtomicU64::new(0),
            reporting: Mutex::new(()),
            state: Mutex::new(State {
                acted_on: Some(first.fingerprint),
                kept: VecDeque::from([first]),
                next_generation: number + 1,
                last_rejection: None,
                subscribers: Vec::new(),
                rollbacks: 0,
                reloading_since_ms: None,
            }),
            reloading: Mutex::new(()),
            swapping: Mutex::new(()),
        };
        runtime.write_status();
        Ok(runtime)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Write [`Runtime::status`] to `<data-dir>/status.json` (atomically),
    /// where `gavel policies status` reads it, even while this process
    /// holds the log.
    fn write_status(&self) {
        let status = StatusFile {
            pid: std::process::id(),
            policies_dir: self.dir.display().to_string(),
            status: self.status(),
        };
        let path = self.data_dir.join(STATUS_FILE);
        let tmp = self
            .data_dir
            .join(format!(".{STATUS_FILE}.{}.tmp", std::process::id()));
        let written = serde_json::to_vec_pretty(&status)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
    }

    /// The policy directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The live generation (it derefs to its [`PolicySet`]).
    pub fn policies(&self) -> Arc<Generation> {
        self.live.load_full()
    }

    /// The decision log.
    pub fn log(&self) -> &DecisionLog {
        &self.log
    }

    /// The live generation's number.
    pub fn generation(&self) -> u64 {
        self.live.load().number
    }

    /// Take back a reservation whose decision could not be recorded.
    fn undo(&self, request: &Request, reservation: Option<&Reservation>) {
        if let Some(r) = reservation {
            self.ledger.undo(&request.request_id, r);
        }
    }

    /// The counters (for `gavel usage`).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The history policies read.
    pub fn activity(&self) -> &Arc<dyn HistoryRecord> {
        &self.activity
    }

    /// The decision as the live generation would record it (redacted).
    pub fn entry(&self, request: &Request, decision: &Decision) -> DecisionEntry {
        entry(&self.live.load().redactor, request, decision)
    }

    /// Rebuild the policy set from the directory and swap it in, unless the
    /// directory has not changed since it was last acted on. Runs on the
    /// caller's thread; decisions go on, on the live set, meanwhile, and a
    /// rollback may complete meanwhile (then this reload is set aside:
    /// [`RuntimeError::Superseded`]). A refused change is logged, kept in
    /// the status, sent to subscribers and returned as the error; the live
    /// set stays.
    pub fn reload(&self) -> Result<ReloadOutcome, RuntimeError> {
        self.reload_pausing(|| ())
    }

    /// [`Runtime::reload`], running `pause` once the new generation is
    /// built (or refused) and before it may go live: lets a test hold a
    /// reload in progress, as a slow disk or a long compile would.
    #[doc(hidden)]
    pub fn reload_pausing(&self, pause: impl FnOnce()) -> Result<ReloadOutcome, RuntimeError> {
        self.reload_inner(|| Ok(()), pause)
    }

    /// [`Runtime::reload`], running `prepare` first while holding the
    /// reload lock, so that no other reload (SIGHUP) reads the policy
    /// directory half-changed: e.g. to repoint it (a symlink) at a newly
    /// fetched set. A `prepare` that fails is a refused change (logged,
    /// kept in the status, announced); the live set stays.
    pub fn reload_prepared(
        &self,
        prepare: impl FnOnce() -> Result<(), LoadError>,
    ) -> Result<ReloadOutcome, RuntimeError> {
        self.reload_inner(prepare, || ())
    }

    fn reload_inner(
        &self,
        prepare: impl FnOnce() -> Result<(), LoadError>,
        pause: impl FnOnce(),
    ) -> Result<ReloadOutcome, RuntimeError> {
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = prepare() {
            let error = RuntimeError::Load(e);
            let _swap = self.swapping.lock().unwrap_or_else(PoisonError::into_inner);
            self.refuse(&error)?;
            return Err(error);
        }
        // Read once: the fingerprint compared here is of exactly the bytes
        // the new set is built from.
        let snapshot = Snapshot::read(&self.dir);
        let now = snapshot.as_ref().ok().map(|s| s.fingerprint);
        let (number, rollbacks) = {
            let mut state = self.lock_state();
            let live = self.live.load();
            let unchanged = now == state.acted_on || now == Some(live.fingerprint);
            state.acted_on = now;
            if unchanged {
                return Ok(ReloadOutcome::Unchanged);
            }
            state.reloading_since_ms = Some(now_ms());
            (state.next_generation, state.rollbacks)
        };
        self.write_status();
        tracing::info!("reloading the policies in {}", self.dir.display());
        let built = build(
            snapshot,
            &self.engine,
            &self.cache,
            self.redaction_key,
            number,
        );
        pause();
        let _swap = self.swapping.lock().unwrap_or_else(PoisonError::into_inner);
        let superseded = {
            let mut state = self.lock_state();
            state.reloading_since_ms = None;
            state.rollbacks != rollbacks
        };
        let error = match built {
            Ok(_) if superseded => RuntimeError::Superseded {
                live: self.live.load().number,
            },
            Ok(g) => {
                let swapped = self.go_live(Arc::new(g), "reload");
                if swapped.is_err() {
                    // The status no longer shows the reload in progress.
                    self.write_status();
                }
                swapped?;
                return Ok(ReloadOutcome::Swapped(number));
            }
            Err(e) => e.into(),
        };
        self.refuse(&error)?;
        Err(error)
    }

    /// Log, keep in the status and announce a change that did not go
    /// live. The caller holds the swap lock.
    fn refuse(&self, error: &RuntimeError) -> Result<(), RuntimeError> {
        let error = error.to_string();
        let live = self.live.load().number;
        tracing::error!("policy reload refused, generation {live} stays live: {error}");
        let event = LogEvent::PolicySetRejected {
            dir: self.dir.display().to_string(),
            error: error.clone(),
        };
        let logged = self.log.append(&event, live);
        let mut state = self.lock_state();
        state.last_rejection = Some((now_ms(), error.clone()));
        notify(&mut state.subscribers, GenerationChange::Rejected { error });
        drop(state);
        self.write_status();
        logged?;
        Ok(())
    }

    /// Put a kept generation back live: `Some(n)` for generation `n`,
    /// `None` for the one before the live one. It keeps its number, so its
    /// decisions report the generation whose policies made them. Never
    /// waits for a reload in progress; that reload is set aside when it
    /// finishes.
    pub fn rollback(&self, generation: Option<u64>) -> Result<u64, RuntimeError> {
        let _swap = self.swapping.lock().unwrap_or_else(PoisonError::into_inner);
        let live = self.live.load().number;
        let (target, kept) = {
            let state = self.lock_state();
            let kept: Vec<u64> = state.kept.iter().map(|g| g.number).collect();
            let target = match generation {
                Some(n) => state.kept.iter().find(|g| g.number == n).cloned(),
                None => state.kept.iter().rev().find(|g| g.number < live).cloned(),
            };
            (target, kept)
        };
        let target = target.ok_or(RuntimeError::UnknownGeneration(
            generation.unwrap_or(0),
            kept,
        ))?;
        let number = target.number;
        self.go_live(target, "rollback")?;
        self.lock_state().rollbacks += 1;
        Ok(number)
    }

    /// Swap `g` in, log it, remember it, tell subscribers. The generation
    /// it replaces drops its warm instances. The caller holds the swap
    /// lock.
    fn go_live(&self, g: Arc<Generation>, cause: &str) -> Result<(), RuntimeError> {
        log_live(&self.log, &self.dir, &g, cause)?;
        for policy in g.policies() {
            policy.unpark();
        }
        let old = self.live.swap(g.clone());
        if old.number != g.number {
            for policy in old.policies() {
                policy.park();
            }
        }
        let mut state = self.lock_state();
        state.kept.retain(|k| k.number != g.number);
        state.kept.push_back(g.clone());
        while state.kept.len() > KEPT_GENERATIONS {
            state.kept.pop_front();
        }
        state.next_generation = state.next_generation.max(g.number + 1);
        let change = GenerationChange::Live {
            generation: g.number,
            cause: cause.to_owned(),
        };
        notify(&mut state.subscribers, change);
        drop(state);
        tracing::info!("generation {} is live ({cause})", g.number);
        self.write_status();
        Ok(())
    }

    /// Changes of the live set, from now on.
    pub fn subscribe(&self) -> Receiver<GenerationChange> {
        let (send, receive) = channel();
        self.lock_state().subscribers.push(send);
        receive
    }

    /// The live generation, the kept ones, and the last refused change.
    pub fn status(&self) -> Status {
        let live = self.live.load_full();
        let state = self.lock_state();
        let mut kept: Vec<u64> = state.kept.iter().map(|g| g.number).collect();
        kept.sort_unstable();
        Status {
            generation: live.number,
            live_since_ms: live.live_since_ms,
            policies: live
                .set
                .policies()
                .iter()
                .map(|p| (p.name().to_owned(), p.digest.clone()))
                .collect(),
            kept,
            last_rejection: state.last_rejection.clone(),
            reloading_since_ms: state.reloading_since_ms,
        }
    }

    /// Commit everything, write the shutdown checkpoint and close the log.
    pub fn close(self) -> Result<(), LogError> {
        self.log.close()
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Build a generation from a directory's snapshot: load every policy
/// (compiling only what the artifact cache lacks), then smoke-evaluate
/// each.
fn build(
    snapshot: Result<Snapshot, LoadError>,
    engine: &PolicyEngine,
    cache: &ArtifactCache,
    redaction_key: [u8; 32],
    number: u64,
) -> Result<Generation, LoadError> {
    let snapshot = snapshot?;
    let fingerprint = snapshot.fingerprint;
    let set = PolicySet::from_snapshot(snapshot, engine, cache)?;
    set.smoke_test()?;
    let redactor = Redactor::new(redaction_key, set.redact_paths().to_vec());
    Ok(Generation {
        number,
        set,
        redactor,
        live_since_ms: now_ms(),
        // The fingerprint of exactly the bytes the set was built from.
        fingerprint,
    })
}

fn log_live(log: &DecisionLog, dir: &Path, g: &Generation, cause: &str) -> Result<(), LogError> {
    let event = LogEvent::PolicySetLoaded {
        dir: dir.display().to_string(),
        cause: cause.to_owned(),
        policies: g.logged_policies(),
    };
    log.append(&event, g.number).map(|_| ())
}

fn notify(subscribers: &mut Vec<Sender<GenerationChange>>, change: GenerationChange) {
    subscribers.retain(|s| s.send(change.clone()).is_ok());
}

/// The decision as recorded: the request redacted.
fn entry(redactor: &Redactor, request: &Request, decision: &Decision) -> DecisionEntry {
    let mut params = request.params.clone();
    let findings: Vec<_> = decision
        .policies
        .iter()
        .flat_map(|r| r.findings.iter().cloned())
        .collect();
    let redactions = redactor.redact(&mut params, &findings);
    DecisionEntry {
        request: LoggedRequest {
            request_id: request.request_id.clone(),
            agent_id: request.agent_id.clone(),
            action: request.action.clone(),
            params,
            amount: request.amount,
            currency: request.currency.clone(),
            timestamp_ms: request.timestamp_ms,
            session_id: request.session_id.clone(),
            user_id: request.user_id.clone(),
        },
        verdict: decision.verdict,
        reasons: decision.reasons.clone(),
        // A run's charges are in the record once, in `charges` (with the
        // policy's name and what each counter held).
        policies: decision
            .policies
            .iter()
            .map(|run| crate::decision::PolicyRun {
                charges: Vec::new(),
                ..run.clone()
            })
            .collect(),
        redactions,
        escalation: None,
        charges: decision.charges.clone(),
        retry_after_ms: decision.retry_after_ms,
    }
}

/// Turn a decision by what the ledger said: a stop denies (the first
/// reason), a mark crossed escalates an approve.
pub(crate) fn apply_judgement(decision: &mut Decision, judgement: &Judgement) {
    match judgement {
        Judgement::Stops(stop) => {
            decision.verdict = Verdict::Deny;
            decision.retry_after_ms = stop
                .retry_after_ms
                .filter(|_| stop.code == crate::ledger::RATE_LIMITED);
            decision.reasons.push(Reason {
                policy: RUNTIME_POLICY.to_owned(),
                verdict: Verdict::Deny,
                code: stop.code.to_owned(),
                message: stop.message.clone(),
            });
        }
        Judgement::Fits(near) => {
            if near.is_empty() {
                return;
            }
            decision.verdict = Verdict::Escalate;
            for (_, message) in near {
                decision.reasons.push(Reason {
                    policy: RUNTIME_POLICY.to_owned(),
                    verdict: Verdict::Escalate,
                    code: crate::ledger::BUDGET_NEAR_LIMIT.to_owned(),
                    message: message.clone(),
                });
            }
        }
    }
}

/// Apply the charges of a decision the policies approve or escalate:
/// reserve all of them or none, turning the decision into a deny past a
/// limit, or an approve into an escalate past an `escalate-above` mark.
/// Charges of shadow-mode policies never count.
pub fn charge_decision(
    ledger: &Ledger,
    request: &Request,
    decision: &mut Decision,
    now: i64,
) -> Option<Reservation> {
    if decision.verdict == Verdict::Deny {
        return None;
    }
    let charges: Vec<PolicyCharge> = decision
        .policies
        .iter()
        .filter(|run| !run.shadow)
        .flat_map(|run| {
            run.charges.iter().map(|c| PolicyCharge {
                policy: run.policy.clone(),
                charge: c.clone(),
            })
        })
        .collect();
    if charges.is_empty() {
        return None;
    }
    let who = Who {
        agent: &request.agent_id,
        session: request.session_id.as_deref(),
        user: request.user_id.as_deref(),
    };
    let reservation = ledger.reserve(
        &request.request_id,
        who,
        &charges,
        now,
        decision.verdict == Verdict::Escalate,
    );
    decision.charges = reservation.records.clone();
    apply_judgement(decision, &reservation.judgement);
    Some(reservation)
}

/// Apply the host's part of a recorded decision to a replayed one: its
/// charges (as the replayed policies ask for them now) judged against
/// what each counter held when the decision was made. A counter the
/// recorded decision did not touch is taken as empty.
pub fn rejudge(decision: &mut Decision, recorded: &[ChargeRecord], request: &Request) {
    if decision.verdict == Verdict::Deny {
        return;
    }
    let records: Vec<ChargeRecord> = decision
        .policies
        .iter()
        .filter(|run| !run.shadow)
        .flat_map(|run| run.charges.iter().map(move |c| (run.policy.as_str(), c)))
        .map(|(policy, charge)| {
            let same = recorded.iter().find(|r| {
                r.policy == policy
                    && r.charge.counter == charge.counter
                    && r.charge.kind == charge.kind
                    && r.charge.scope == charge.scope
                    && r.charge.window == charge.window
            });
            ChargeRecord {
                policy: policy.to_owned(),
                charge: charge.clone(),
                subject: same.map(|r| r.subject.clone()).unwrap_or_default(),
                before: same.map_or(0.0, |r| r.before),
                duplicate: same.is_some_and(|r| r.duplicate),
                retry_after_ms: same.and_then(|r| r.retry_after_ms),
            }
        })
        .collect();
    if records.is_empty() {
        return;
    }
    let judgement = match uncountable(&records, request) {
        Some(stop) => Judgement::Stops(stop),
        None => crate::ledger::judge(&records),
    };
    decision.charges = records;
    apply_judgement(decision, &judgement);
}

/// The stop the ledger gives before any limit: a charge scoped to a
/// session or user the request lacks, or in an unknown time zone.
fn uncountable(records: &[ChargeRecord], request: &Request) -> Option<crate::ledger::Stop> {
    use crate::history::Scope;
    records.iter().find_map(|r| {
        let c = &r.charge;
        let missing = match c.scope {
            Scope::Session => request.session_id.is_none(),
            Scope::User => request.user_id.is_none(),
            Scope::Agent | Scope::Fleet => false,
        };
        if missing {
            return Some(crate::ledger::scope_missing(&r.policy, c));
        }
        match &c.window {
            crate::ledger::Window::Calendar { timezone, .. } => crate::ledger::time_zone(timezone)
                .err()
                .map(|e| crate::ledger::counter_invalid(&r.policy, c, &e)),
            crate::ledger::Window::Rolling { .. } => None,
        }
    })
}

/// An approved request, as the history remembers it.
pub fn approved_action(request: &Request, now: i64) -> ApprovedAction {
    ApprovedAction {
        time_ms: now,
        agent: request.agent_id.clone(),
        session: request.session_id.clone(),
        user: request.user_id.clone(),
        action: request.action.clone(),
        amount: request.amount,
    }
}

/// The decision when a kill switch stops the agent: no policy runs.
fn stopped(request: &Request, engagement: &Engagement, global: bool) -> Decision {
    let which = if global {
        "the kill switch is engaged".to_owned()
    } else {
        format!("agent `{}` is stopped by its kill switch", request.agent_id)
    };
    refused(
        request,
        KILL_SWITCH_CODE,
        format!("{which} (by {}: {})", engagement.actor, engagement.reason),
    )
}

fn fail_closed(decision: Decision, error: &LogError) -> Decision {
    let mut reasons = vec![Reason {
        policy: RUNTIME_POLICY.to_owned(),
        verdict: Verdict::Deny,
        code: "log-unavailable".to_owned(),
        message: format!("the decision could not be recorded, so it is denied: {error}"),
    }];
    reasons.extend(decision.reasons);
    Decision {
        reasons,
        verdict: Verdict::Deny,
        seq: None,
        escalation: None,
        charges: Vec::new(),
        retry_after_ms: None,
        ..decision
    }
}
