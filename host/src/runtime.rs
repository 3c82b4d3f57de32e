//! [`Runtime`]: a policy set plus the decision log. Every decision is
//! recorded before it is returned; a decision that cannot be recorded is a
//! deny.

use crate::artifact_cache::ArtifactCache;
use crate::decision::{Decision, Reason, Verdict};
use crate::engine::PolicyEngine;
use crate::load_error::LoadError;
use crate::log::{
    DecisionEntry, DecisionLog, LogError, LogEvent, LogOptions, LoggedPolicy, LoggedRequest,
    Redactor, keys,
};
use crate::manifest::Mode;
use crate::policy_set::{PolicySet, RUNTIME_POLICY};
use crate::request::Request;
use std::path::Path;

/// Why the runtime could not start.
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
}

/// Policies plus the decision log, ready to decide.
#[derive(Debug)]
pub struct Runtime {
    set: PolicySet,
    log: DecisionLog,
    redactor: Redactor,
    generation: u64,
}

impl Runtime {
    /// Open the log in `data_dir`, load `policies_dir`, and record the
    /// load (or its rejection).
    pub fn start(
        policies_dir: &Path,
        data_dir: &Path,
        options: LogOptions,
    ) -> Result<Self, RuntimeError> {
        let engine = PolicyEngine::new()?;
        let cache = ArtifactCache::open(data_dir, engine.engine())?;
        let log = DecisionLog::open(data_dir, options)?;
        let redaction_key = keys::load_or_create_secret(&data_dir.join(keys::REDACTION_KEY_FILE))?;
        let generation = log.last_generation() + 1;
        let dir = policies_dir.display().to_string();
        let set = match PolicySet::load(policies_dir, &engine, &cache) {
            Ok(set) => set,
            Err(e) => {
                let event = LogEvent::PolicySetRejected {
                    dir,
                    error: e.to_string(),
                };
                log.append(&event, log.last_generation())?;
                return Err(e.into());
            }
        };
        let event = LogEvent::PolicySetLoaded {
            dir,
            cause: "load".to_owned(),
            policies: set
                .policies()
                .iter()
                .map(|p| LoggedPolicy {
                    name: p.name().to_owned(),
                    digest: p.digest.clone(),
                    priority: p.entry.priority,
                    mode: match p.entry.mode {
                        Mode::Enforce => "enforce".to_owned(),
                        Mode::Shadow => "shadow".to_owned(),
                    },
                    version: p.metadata.version.clone(),
                })
                .collect(),
        };
        log.append(&event, generation)?;
        let redactor = Redactor::new(redaction_key, set.redact_paths().to_vec());
        Ok(Runtime {
            set,
            log,
            redactor,
            generation,
        })
    }

    /// The live policy set.
    pub fn policies(&self) -> &PolicySet {
        &self.set
    }

    /// The decision log.
    pub fn log(&self) -> &DecisionLog {
        &self.log
    }

    /// The live policy-set generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Decide and record. If the record cannot be written, the answer is a
    /// deny with code `log-unavailable`: nothing is ever approved without
    /// a trail.
    pub fn decide(&self, request: &Request) -> Decision {
        let decision = self.set.evaluate(request);
        let entry = self.entry(request, &decision);
        match self.log.append(&LogEvent::Decision(entry), self.generation) {
            Ok(_) => decision,
            Err(e) => fail_closed(decision, &e),
        }
    }

    /// The decision as recorded: the request redacted.
    pub fn entry(&self, request: &Request, decision: &Decision) -> DecisionEntry {
        let mut params = request.params.clone();
        let findings: Vec<_> = decision
            .policies
            .iter()
            .flat_map(|r| r.findings.iter().cloned())
            .collect();
        let redactions = self.redactor.redact(&mut params, &findings);
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
            policies: decision.policies.clone(),
            redactions,
        }
    }

    /// Commit everything, write the shutdown checkpoint and close the log.
    pub fn close(self) -> Result<(), LogError> {
        self.log.close()
    }
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
        request_id: decision.request_id,
        verdict: Verdict::Deny,
        reasons,
        policies: decision.policies,
    }
}
