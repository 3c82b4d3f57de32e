//! Runs test cases against built policy components: what `gavel test`
//! does, usable from Rust too.

use crate::action_pattern::ActionPattern;
use crate::artifact_cache::ArtifactCache;
use crate::bounded_read::DEFAULT_MAX_COMPONENT_BYTES;
use crate::case_file::{Case, CaseFile, Expect};
use crate::decision::{Decision, Verdict};
use crate::engine::PolicyEngine;
use crate::load_error::LoadError;
use crate::manifest::{self, Isolation, Limits, Manifest, Mode, OnError, PolicyEntry};
use crate::policy_set::PolicySet;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    /// As expected.
    Pass,
    /// Not as expected: what happened instead.
    Fail(String),
}

/// Runs case files against the components in one policy directory.
#[derive(Debug)]
pub struct CaseRunner<'a> {
    engine: &'a PolicyEngine,
    cache: &'a ArtifactCache,
    policies_dir: PathBuf,
    component_override: Option<PathBuf>,
    /// Limits and the component cap per component file name, from the
    /// directory's manifest.
    limits: HashMap<PathBuf, (Limits, u64)>,
    loaded: HashMap<(PathBuf, String, String), Result<PolicySet, LoadError>>,
}

impl<'a> CaseRunner<'a> {
    /// A runner for the components in `policies_dir`. A policy listed in
    /// that directory's manifest runs under the manifest's limits; any
    /// other under the defaults. `component_override` replaces every case
    /// file's `component` (to run one policy's cases against another build
    /// of it).
    pub fn new(
        engine: &'a PolicyEngine,
        cache: &'a ArtifactCache,
        policies_dir: &Path,
        component_override: Option<PathBuf>,
    ) -> Self {
        let limits = Manifest::load(policies_dir)
            .map(|m| {
                m.policies
                    .into_iter()
                    .filter_map(|p| {
                        let name = PathBuf::from(p.component.file_name()?);
                        Some((name, (p.limits, p.max_component_bytes)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        CaseRunner {
            engine,
            cache,
            policies_dir: policies_dir.to_path_buf(),
            component_override,
            limits,
            loaded: HashMap::new(),
        }
    }

    /// The component a file's cases run against.
    pub fn component_for(&self, file: &CaseFile) -> PathBuf {
        self.policies_dir
            .join(self.component_override.as_ref().unwrap_or(&file.component))
    }

    /// Run one case.
    pub fn run(&mut self, file: &CaseFile, case: &Case) -> CaseOutcome {
        let component = self.component_for(file);
        let agents_key = format!("{:?}", file.agents);
        let key = (component.clone(), case.config.clone(), agents_key);
        if !self.loaded.contains_key(&key) {
            let set = self.load(file, &component, &case.config);
            self.loaded.insert(key.clone(), set);
        }
        let Some(set) = self.loaded.get(&key) else {
            return CaseOutcome::Fail("internal: policy set missing".to_owned());
        };
        match (set, &case.request) {
            (Err(e), _) => check_load_error(e, case),
            (Ok(_), None) => {
                CaseOutcome::Fail("expected config-error, but the config was accepted".to_owned())
            }
            (Ok(set), Some(request)) => {
                match crate::case_history::CaseHistory::replay(set, request, &case.history) {
                    Ok(memory) => {
                        check_decision(&memory.decide(set, request, request.timestamp_ms), case)
                    }
                    Err(problem) => CaseOutcome::Fail(problem),
                }
            }
        }
    }

    fn load(
        &self,
        file: &CaseFile,
        component: &Path,
        config: &str,
    ) -> Result<PolicySet, LoadError> {
        let name = component
            .file_stem()
            .map(|s| s.to_string_lossy().replace('_', "-"))
            .unwrap_or_else(|| "policy".to_owned());
        let (limits, max_component_bytes) = component
            .file_name()
            .and_then(|n| self.limits.get(Path::new(n)))
            .copied()
            .unwrap_or_else(|| (manifest::default_limits(), DEFAULT_MAX_COMPONENT_BYTES));
        let manifest = Manifest {
            file: file.path.clone(),
            require_registered_agents: false,
            approve_all: false,
            agents: file.agents.clone(),
            policies: vec![PolicyEntry {
                name,
                component: component.to_path_buf(),
                priority: 0,
                applies_to: vec![ActionPattern::Any],
                mode: Mode::Enforce,
                on_error: OnError::Deny,
                limits,
                isolation: Isolation::Warm,
                config: config.to_owned(),
                max_component_bytes,
            }],
            redact: Vec::new(),
            breaker: None,
        };
        PolicySet::from_manifest(manifest, self.engine, self.cache)
    }
}

fn check_load_error(error: &LoadError, case: &Case) -> CaseOutcome {
    let problem = error.problem();
    if case.expect != Expect::ConfigError || !problem.starts_with("config rejected") {
        return CaseOutcome::Fail(format!("the policy did not load: {problem}"));
    }
    match &case.error_contains {
        Some(fragment) if !problem.contains(fragment.as_str()) => CaseOutcome::Fail(format!(
            "config rejected, but without {fragment:?}: {problem}"
        )),
        _ => CaseOutcome::Pass,
    }
}

fn check_decision(decision: &Decision, case: &Case) -> CaseOutcome {
    let expected = match case.expect {
        Expect::Approve => Verdict::Approve,
        Expect::Deny => Verdict::Deny,
        Expect::Escalate => Verdict::Escalate,
        Expect::ConfigError => {
            return CaseOutcome::Fail(format!(
                "expected config-error, but the config was accepted and the verdict was {}",
                decision.verdict.as_str()
            ));
        }
    };
    let got_code = decision.reasons.first().map(|r| r.code.as_str());
    let shown = |v: Verdict, code: Option<&str>| match code {
        Some(c) => format!("{}/{c}", v.as_str()),
        None => v.as_str().to_owned(),
    };
    if decision.verdict != expected || got_code != case.code.as_deref() {
        let message = decision
            .reasons
            .first()
            .map(|r| format!(" ({})", r.message))
            .unwrap_or_default();
        return CaseOutcome::Fail(format!(
            "expected {}, got {}{message}",
            shown(expected, case.code.as_deref()),
            shown(decision.verdict, got_code)
        ));
    }
    let messages: Vec<&str> = decision
        .reasons
        .iter()
        .map(|r| r.message.as_str())
        .collect();
    let joined = messages.join("\n");
    for fragment in &case.message_contains {
        if !joined.contains(fragment.as_str()) {
            return CaseOutcome::Fail(format!("message lacks {fragment:?}: {joined:?}"));
        }
    }
    let whole = policy_text(decision);
    for secret in &case.message_excludes {
        if whole.contains(secret.as_str()) {
            return CaseOutcome::Fail(format!("the decision contains {secret:?}"));
        }
    }
    CaseOutcome::Pass
}

/// The decision as JSON, less the identifiers the host makes up (the
/// request id and the components' digests): `message_excludes` asks
/// whether a policy let a value through, and a few digits of a secret can
/// occur in any hex digest.
fn policy_text(decision: &Decision) -> String {
    let mut value = match serde_json::to_value(decision) {
        Ok(value) => value,
        // Cannot happen for these plain structs; the whole text is then
        // checked, which can only fail a case, never pass one.
        Err(_) => return decision.to_json(),
    };
    if let Some(obj) = value.as_object_mut() {
        obj.remove("request_id");
    }
    if let Some(runs) = value.get_mut("policies").and_then(|p| p.as_array_mut()) {
        for run in runs.iter_mut().filter_map(|r| r.as_object_mut()) {
            run.remove("digest");
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{PolicyRun, RunVerdict};

    fn decision(digest: &str, message: &str) -> Decision {
        Decision {
            request_id: "req-4111".to_owned(),
            verdict: Verdict::Deny,
            reasons: Vec::new(),
            policies: vec![PolicyRun {
                policy: "p".to_owned(),
                digest: digest.to_owned(),
                verdict: RunVerdict::Deny,
                code: Some("pii-detected".to_owned()),
                message: Some(message.to_owned()),
                fuel: 0,
                micros: 0,
                shadow: false,
                findings: Vec::new(),
                facts: Vec::new(),
                charges: Vec::new(),
            }],
            generation: 0,
            seq: None,
            escalation: None,
            charges: Vec::new(),
            retry_after_ms: None,
        }
    }

    #[test]
    fn excluded_text_is_sought_in_what_policies_said_not_in_host_ids() {
        // (digest, message, leaks "4111")
        let cases = [
            ("sha256:ee4111", "PII in params.payload", false),
            ("sha256:ee", "card 4111 in params.payload", true),
        ];
        for (digest, message, leaks) in cases {
            let text = policy_text(&decision(digest, message));
            assert_eq!(text.contains("4111"), leaks, "{digest} {message}: {text}");
        }
    }
}
