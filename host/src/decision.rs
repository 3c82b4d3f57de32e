//! What Gavel answers: the final verdict, every reason, and what each
//! policy did.

use crate::escalation::EscalationTicket;
use serde::{Deserialize, Serialize};

/// The final verdict of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The action may go ahead.
    Approve,
    /// The action is refused.
    Deny,
    /// A human must decide.
    Escalate,
}

impl Verdict {
    /// The CLI's exit code for this verdict: 0 approve, 2 deny, 3 escalate.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Approve => 0,
            Verdict::Deny => 2,
            Verdict::Escalate => 3,
        }
    }

    /// `approve`, `deny` or `escalate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
            Verdict::Escalate => "escalate",
        }
    }
}

/// Why the decision is not a plain approve: one deny or escalate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The policy that gave it, or `gavel` for the runtime's own reasons.
    pub policy: String,
    /// `deny` or `escalate`.
    pub verdict: Verdict,
    /// Stable and machine-readable, e.g. `over-limit` or `out-of-fuel`.
    pub code: String,
    /// For humans.
    pub message: String,
}

/// What one policy did with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunVerdict {
    /// The policy approved.
    Approve,
    /// The policy denied.
    Deny,
    /// The policy escalated.
    Escalate,
    /// The policy failed (trap, fuel, memory, deadline, garbage answer).
    Error,
}

/// One policy's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRun {
    /// The policy's name from the manifest.
    pub policy: String,
    /// SHA-256 of the component, `sha256:<hex>`.
    pub digest: String,
    /// What it answered.
    pub verdict: RunVerdict,
    /// The reason code for deny and escalate, the failure code for error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The message that goes with `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fuel consumed by the call.
    pub fuel: u64,
    /// Wall time of the call, in microseconds.
    pub micros: u64,
    /// Shadow-mode: recorded, never changes the verdict.
    pub shadow: bool,
    /// Sensitive values the policy found (paths and kinds, never the
    /// values); the decision log stores those values only as keyed hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// The history facts the policy read, with their answers, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<crate::history::Fact>,
    /// The charges the policy asked for (applied only by a runtime, and
    /// only when the decision approves or escalates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charges: Vec<crate::ledger::Charge>,
}

/// A sensitive value a policy found in the request's params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Where, e.g. `params.body` or `params.items[0].note`.
    pub path: String,
    /// What, e.g. `email`, `credit_card`.
    pub kinds: Vec<String>,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The request's id.
    pub request_id: String,
    /// The final verdict.
    pub verdict: Verdict,
    /// Every deny and escalate that counted, in evaluation order.
    pub reasons: Vec<Reason>,
    /// Every policy that ran, in evaluation order.
    pub policies: Vec<PolicyRun>,
    /// The policy-set generation that decided (0 outside a runtime).
    #[serde(default)]
    pub generation: u64,
    /// The decision's sequence number in the log, once committed (absent
    /// outside a runtime, and when the log runs buffered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The escalation this decision opened (escalate verdicts in a runtime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<EscalationTicket>,
    /// The counters the decision's charges met, each with what it held
    /// before (a runtime's decisions only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charges: Vec<crate::ledger::ChargeRecord>,
    /// For a `rate-limited` deny: when to try again, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl Decision {
    /// The decision as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail; fall back to a
        // fail-closed line rather than panic if it ever did.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                r#"{{"request_id":{},"verdict":"deny","reasons":[{{"policy":"gavel","verdict":"deny","code":"internal-error","message":{}}}],"policies":[]}}"#,
                serde_json::Value::String(self.request_id.clone()),
                serde_json::Value::String(e.to_string())
            )
        })
    }
}
