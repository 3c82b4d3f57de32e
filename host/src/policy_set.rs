//! A loaded policy directory, and the evaluation semantics.
//!
//! 0. A request whose `action` or `agent_id` breaks the name contract
//!    ([`crate::identifier`]) is denied, code `invalid-request`, without
//!    running a policy. ([`Request::from_json`] already refuses such
//!    requests; this covers requests built in code and old log records
//!    replayed.)
//! 1. If `require_registered_agents` is set and the agent is not in the
//!    registry (looked up ASCII-case-insensitively): deny, code
//!    `unregistered-agent`.
//! 2. Applicable policies (their `applies_to` matches the action) run in
//!    descending priority, ties by name.
//! 3. The first deny from an enforce-mode policy is final: lower-priority
//!    enforce policies do not run. An escalate is remembered and evaluation
//!    goes on; a later deny still wins. No deny and no escalate: approve.
//! 4. A failing policy is contained: with `on_error = "deny"` the decision
//!    is deny with the failure's code; with `"skip"` it is recorded and
//!    ignored.
//! 5. Shadow-mode policies always run and are reported, but never change
//!    the verdict.

use crate::artifact_cache::ArtifactCache;
use crate::bindings::current as wit;
use crate::decision::{Decision, Finding, PolicyRun, Reason, RunVerdict, Verdict};
use crate::engine::{MAX_POLICIES, PolicyEngine};
use crate::generation::Snapshot;
use crate::history::{Activity, Fact, FactSource, HistoryView, Subject};
use crate::identifier::identifier_key;
use crate::ledger::Charge;
use crate::load_error::LoadError;
use crate::manifest::{AgentEntry, Manifest, Mode, OnError};
use crate::policy::Policy;
use crate::request::Request;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The policy name used for the runtime's own reasons.
pub const RUNTIME_POLICY: &str = "gavel";

/// The code of a deny for a request whose names break the contract.
pub const INVALID_REQUEST_CODE: &str = "invalid-request";

/// A policy directory, loaded and ready.
#[derive(Debug)]
pub struct PolicySet {
    dir: PathBuf,
    require_registered_agents: bool,
    agents: BTreeMap<String, AgentEntry>,
    /// In evaluation order.
    policies: Vec<Policy>,
    redact: Vec<crate::log::RedactionPath>,
    breaker: Option<crate::breaker::BreakerConfig>,
    dispatch: crate::dispatch::DispatchIndex,
}

impl PolicySet {
    /// Load `dir/policies.toml` and every component it names. Any problem
    /// refuses the whole directory: a broken manifest never goes live.
    pub fn load(
        dir: &Path,
        engine: &PolicyEngine,
        cache: &ArtifactCache,
    ) -> Result<Self, LoadError> {
        Self::from_manifest(Manifest::load(dir)?, engine, cache)
    }

    /// Load every component a parsed manifest names.
    pub fn from_manifest(
        manifest: Manifest,
        engine: &PolicyEngine,
        cache: &ArtifactCache,
    ) -> Result<Self, LoadError> {
        check_size(&manifest)?;
        let file = manifest.file.clone();
        let policies = manifest
            .policies
            .iter()
            .cloned()
            .map(|entry| Policy::load(engine, cache, entry, &file))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::assemble(manifest, policies))
    }

    /// Build the set a [`Snapshot`] describes from the very bytes it read
    /// and fingerprinted, so that a file rewritten during the load cannot
    /// mix two versions into one set.
    pub fn from_snapshot(
        snapshot: Snapshot,
        engine: &PolicyEngine,
        cache: &ArtifactCache,
    ) -> Result<Self, LoadError> {
        let Snapshot {
            manifest,
            components,
            ..
        } = snapshot;
        check_size(&manifest)?;
        if components.len() != manifest.policies.len() {
            return Err(LoadError::Manifest {
                file: manifest.file.clone(),
                problem:
                    "the snapshot holds a different number of components than the manifest names"
                        .to_owned(),
            });
        }
        let file = manifest.file.clone();
        let policies = manifest
            .policies
            .iter()
            .cloned()
            .zip(components)
            .map(|(entry, bytes)| Policy::from_bytes(engine, cache, entry, &file, &bytes))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::assemble(manifest, policies))
    }

    /// The set from a manifest and its loaded policies, in evaluation
    /// order.
    fn assemble(manifest: Manifest, mut policies: Vec<Policy>) -> Self {
        policies.sort_by(|a, b| {
            b.entry
                .priority
                .cmp(&a.entry.priority)
                .then_with(|| a.entry.name.cmp(&b.entry.name))
        });
        let dispatch = crate::dispatch::DispatchIndex::build(&policies);
        PolicySet {
            dispatch,
            dir: manifest
                .file
                .parent()
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            require_registered_agents: manifest.require_registered_agents,
            agents: manifest.agents,
            policies,
            redact: manifest.redact,
            breaker: manifest.breaker,
        }
    }

    /// The names of the policies that judge `action`, in evaluation order,
    /// as the dispatch index finds them.
    pub fn applicable(&self, action: &str) -> Vec<&str> {
        let mut candidates = Vec::new();
        self.dispatch.candidates(action, &mut candidates);
        candidates
            .iter()
            .filter_map(|i| self.policies.get(*i))
            .filter(|p| p.applies_to(action))
            .map(Policy::name)
            .collect()
    }

    /// The manifest's `[breaker]`, if any.
    pub fn breaker(&self) -> Option<&crate::breaker::BreakerConfig> {
        self.breaker.as_ref()
    }

    /// The directory this set was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The policies, in evaluation order.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The manifest's redaction paths.
    pub fn redact_paths(&self) -> &[crate::log::RedactionPath] {
        &self.redact
    }

    /// The agent registry.
    pub fn agents(&self) -> &BTreeMap<String, AgentEntry> {
        &self.agents
    }

    /// Evaluate every policy once on a synthetic request under its limits:
    /// a policy that traps, runs out of fuel or memory, overruns its
    /// deadline or answers garbage on it is refused before it goes live.
    /// (Its verdict does not matter.)
    pub fn smoke_test(&self) -> Result<(), LoadError> {
        let request = wit::Request {
            request_id: "gavel-smoke-test".to_owned(),
            agent: wit::Agent {
                id: "gavel-smoke-test".to_owned(),
                registered: false,
                risk_tier: None,
                owner: None,
            },
            action: "gavel.smoke-test".to_owned(),
            params: "{}".to_owned(),
            amount: None,
            currency: None,
            timestamp_ms: crate::log::now_ms(),
            session_id: None,
            user_id: None,
        };
        for policy in &self.policies {
            if let Err(failure) = policy.evaluate(&request, FactSource::Closed).outcome {
                return Err(LoadError::Policy {
                    file: self.dir.join(crate::manifest::MANIFEST_FILE),
                    policy: policy.name().to_owned(),
                    problem: format!(
                        "smoke evaluation failed: {}",
                        failure.message(policy.name())
                    ),
                });
            }
        }
        Ok(())
    }

    /// The registry's entry for `agent_id`, matched ASCII-case-insensitively
    /// (the registry is keyed by [`identifier_key`]).
    pub fn agent(&self, agent_id: &str) -> Option<&AgentEntry> {
        self.agents.get(&identifier_key(agent_id))
    }

    /// Decide one request, with no history: policies that read history
    /// facts see no past actions, and charges are reported, not applied
    /// (a [`crate::runtime::Runtime`] holds the history and the counters).
    pub fn evaluate(&self, request: &Request) -> Decision {
        self.evaluate_with(request, Facts::Empty)
    }

    /// Decide one request, answering history questions from `facts`.
    pub fn evaluate_with(&self, request: &Request, facts: Facts<'_>) -> Decision {
        if let Err(e) = request.check_names() {
            return refused(request, INVALID_REQUEST_CODE, e.to_string());
        }
        let registered = self.agent(&request.agent_id);
        if self.require_registered_agents && registered.is_none() {
            return refused(
                request,
                "unregistered-agent",
                format!("agent `{}` is not in the registry", request.agent_id),
            );
        }
        let wit_request = to_wit(request, registered);
        let live = match &facts {
            Facts::Empty => Some((empty_history(), crate::log::now_ms())),
            Facts::Live { view, now_ms } => Some((Arc::clone(view), *now_ms)),
            Facts::Replay(_) => None,
        }
        .map(|(view, now_ms)| {
            (
                view,
                Arc::new(Subject {
                    agent: request.agent_id.clone(),
                    session: request.session_id.clone(),
                    user: request.user_id.clone(),
                    now_ms,
                }),
            )
        });
        let mut reasons = Vec::new();
        let mut runs = Vec::new();
        let mut denied = false;
        let mut escalated = false;
        let mut candidates = Vec::with_capacity(self.policies.len());
        self.dispatch.candidates(&request.action, &mut candidates);
        for policy in candidates
            .iter()
            .filter_map(|i| self.policies.get(*i))
            .filter(|p| p.applies_to(&request.action))
        {
            let shadow = policy.entry.mode == Mode::Shadow;
            if denied && !shadow {
                continue;
            }
            let source = match (&live, &facts) {
                (Some((view, subject)), _) => FactSource::Live {
                    view: Arc::clone(view),
                    subject: Arc::clone(subject),
                },
                (None, Facts::Replay(recorded)) => {
                    FactSource::Replay(recorded(policy.name()).into())
                }
                (None, _) => FactSource::Closed,
            };
            let result = policy.evaluate(&wit_request, source);
            let (verdict, reason) = match result.outcome.as_ref().map(|o| &o.verdict) {
                Ok(wit::Verdict::Approve) => (RunVerdict::Approve, None),
                Ok(wit::Verdict::Deny(r)) => {
                    (RunVerdict::Deny, Some((r.code.clone(), r.message.clone())))
                }
                Ok(wit::Verdict::Escalate(r)) => (
                    RunVerdict::Escalate,
                    Some((r.code.clone(), r.message.clone())),
                ),
                Err(failure) => (
                    RunVerdict::Error,
                    Some((failure.code().to_owned(), failure.message(policy.name()))),
                ),
            };
            if !shadow {
                let counted = match verdict {
                    RunVerdict::Approve => None,
                    RunVerdict::Deny => Some(Verdict::Deny),
                    RunVerdict::Escalate => Some(Verdict::Escalate),
                    RunVerdict::Error => match policy.entry.on_error {
                        OnError::Deny => Some(Verdict::Deny),
                        OnError::Skip => None,
                    },
                };
                if let (Some(v), Some((code, message))) = (counted, &reason) {
                    denied |= v == Verdict::Deny;
                    escalated |= v == Verdict::Escalate;
                    reasons.push(Reason {
                        policy: policy.name().to_owned(),
                        verdict: v,
                        code: code.clone(),
                        message: message.clone(),
                    });
                }
            }
            let (code, message) = reason.unzip();
            runs.push(PolicyRun {
                policy: policy.name().to_owned(),
                digest: policy.digest.clone(),
                verdict,
                code,
                message,
                fuel: result.fuel,
                micros: result.micros,
                shadow,
                findings: result
                    .outcome
                    .as_ref()
                    .map(|o| {
                        o.findings
                            .iter()
                            .map(|f| Finding {
                                path: f.path.clone(),
                                kinds: f.kinds.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                charges: result
                    .outcome
                    .as_ref()
                    .map(|o| {
                        o.charges
                            .iter()
                            .filter_map(|c| Charge::from_wit(c).ok())
                            .collect()
                    })
                    .unwrap_or_default(),
                facts: result.facts,
            });
        }
        let verdict = if denied {
            Verdict::Deny
        } else if escalated {
            Verdict::Escalate
        } else {
            Verdict::Approve
        };
        Decision {
            request_id: request.request_id.clone(),
            verdict,
            reasons,
            policies: runs,
            generation: 0,
            seq: None,
            escalation: None,
            charges: Vec::new(),
            retry_after_ms: None,
        }
    }
}

/// Where a decision's history facts come from.
pub enum Facts<'a> {
    /// No history: no past actions.
    Empty,
    /// A runtime's history, at the decision time.
    Live {
        /// The history.
        view: Arc<dyn HistoryView>,
        /// The decision time (UTC ms).
        now_ms: i64,
    },
    /// Replay: each policy's recorded facts, by policy name.
    Replay(&'a dyn Fn(&str) -> Vec<Fact>),
}

impl std::fmt::Debug for Facts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Facts::Empty => "Facts::Empty",
            Facts::Live { .. } => "Facts::Live",
            Facts::Replay(_) => "Facts::Replay",
        })
    }
}

/// The history of a decision outside a runtime: nothing happened before.
fn empty_history() -> Arc<dyn HistoryView> {
    static EMPTY: OnceLock<Arc<Activity>> = OnceLock::new();
    let empty: Arc<Activity> = Arc::clone(EMPTY.get_or_init(|| Arc::new(Activity::empty())));
    empty
}

/// A deny by the runtime itself, before any policy runs.
pub(crate) fn refused(request: &Request, code: &str, message: String) -> Decision {
    Decision {
        request_id: request.request_id.clone(),
        verdict: Verdict::Deny,
        reasons: vec![Reason {
            policy: RUNTIME_POLICY.to_owned(),
            verdict: Verdict::Deny,
            code: code.to_owned(),
            message,
        }],
        policies: Vec::new(),
        generation: 0,
        seq: None,
        escalation: None,
        charges: Vec::new(),
        retry_after_ms: None,
    }
}

/// A set larger than the instance pool can keep warm is refused at load,
/// not left to fail decisions once live.
fn check_size(manifest: &Manifest) -> Result<(), LoadError> {
    if manifest.policies.len() > MAX_POLICIES {
        return Err(LoadError::Manifest {
            problem: format!(
                "it names {} policies; a policy set may hold at most {MAX_POLICIES} (so that the live set and a reload's candidate each keep a warm instance of every policy in the instance pool)",
                manifest.policies.len()
            ),
            file: manifest.file.clone(),
        });
    }
    Ok(())
}

/// The request as policies receive it, with the registry's facts.
fn to_wit(request: &Request, registered: Option<&AgentEntry>) -> wit::Request {
    wit::Request {
        request_id: request.request_id.clone(),
        agent: wit::Agent {
            id: request.agent_id.clone(),
            registered: registered.is_some(),
            risk_tier: registered.map(|a| a.risk_tier),
            owner: registered.and_then(|a| a.owner.clone()),
        },
        action: request.action.clone(),
        params: request.params_json(),
        amount: request.amount,
        currency: request.currency.clone(),
        timestamp_ms: request.timestamp_ms,
        session_id: request.session_id.clone(),
        user_id: request.user_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set whose one policy approves everything (`sensitive-actions`
    /// with no list), the registry holding `financial-advisor`, and
    /// registration required.
    fn registry_only() -> (tempfile::TempDir, PolicySet) {
        let dir = tempfile::tempdir().unwrap();
        let component =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-wasm/sensitive_actions.wasm");
        let text = format!(
            "require_registered_agents = true\n\n[agents.financial-advisor]\nrisk_tier = 4\n\n[[policy]]\nname = \"open\"\ncomponent = {:?}\npriority = 1\n",
            component.display().to_string()
        );
        let manifest = Manifest::parse(&text, &dir.path().join("policies.toml")).unwrap();
        let engine = PolicyEngine::new().unwrap();
        let cache = ArtifactCache::open(dir.path(), engine.engine()).unwrap();
        let set = PolicySet::from_manifest(manifest, &engine, &cache).unwrap();
        (dir, set)
    }

    fn request(agent_id: &str, action: &str) -> Request {
        let mut r = Request::from_json(r#"{"agent_id":"a","action":"x"}"#).unwrap();
        r.agent_id = agent_id.to_owned();
        r.action = action.to_owned();
        r
    }

    #[test]
    fn registry_lookup_folds_ascii_case_and_nothing_else() {
        let (_dir, set) = registry_only();
        // (agent id, verdict, code)
        let cases = [
            ("financial-advisor", Verdict::Approve, None),
            ("Financial-Advisor", Verdict::Approve, None),
            ("FINANCIAL-ADVISOR", Verdict::Approve, None),
            (
                "financial-advisor2",
                Verdict::Deny,
                Some("unregistered-agent"),
            ),
            (
                "financial-advisor\u{200b}",
                Verdict::Deny,
                Some(INVALID_REQUEST_CODE),
            ),
            (
                "financial-advisor ",
                Verdict::Deny,
                Some(INVALID_REQUEST_CODE),
            ),
            (
                "ﬁnancial-advisor",
                Verdict::Deny,
                Some(INVALID_REQUEST_CODE),
            ),
        ];
        for (agent, verdict, code) in cases {
            let d = set.evaluate(&request(agent, "read_docs"));
            assert_eq!(d.verdict, verdict, "{agent:?}");
            assert_eq!(
                d.reasons.first().map(|r| r.code.as_str()),
                code,
                "{agent:?}"
            );
        }
        assert_eq!(set.agent("Financial-Advisor").map(|a| a.risk_tier), Some(4));
    }

    #[test]
    fn a_request_built_in_code_with_a_bad_action_is_denied_not_judged() {
        let (_dir, set) = registry_only();
        for action in [
            "delete\u{200b}account",
            "delete_account ",
            "",
            "dеlete_account",
        ] {
            let d = set.evaluate(&request("financial-advisor", action));
            assert_eq!(d.verdict, Verdict::Deny, "{action:?}");
            let reason = d.reasons.first().unwrap();
            assert_eq!(reason.code, INVALID_REQUEST_CODE);
            assert!(
                reason
                    .message
                    .starts_with("invalid request: field `action`: "),
                "{}",
                reason.message
            );
            assert!(d.policies.is_empty());
        }
    }
}
