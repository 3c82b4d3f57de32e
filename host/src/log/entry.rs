//! What the log holds: one [`LogEntry`] per event, serialized canonically.
//!
//! An entry's JSON serialization is canonical: fields in declaration
//! order, object keys sorted (serde_json's map is ordered), no whitespace,
//! shortest round-trip floats. The stored bytes (`record_format`: the
//! first format was this JSON, the compact one embeds it) are what the
//! chain hashes, so verification never has to re-serialize anything.

use crate::decision::{PolicyRun, Reason, Verdict};
use crate::escalation::{EscalationStatus, EscalationTicket};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    /// Gap-free, starting at 1.
    pub seq: u64,
    /// When the host logged it, in UTC milliseconds.
    pub time_ms: i64,
    /// The policy-set generation in force.
    pub generation: u64,
    /// What happened.
    pub event: LogEvent,
}

/// The kinds of events the log records, in one sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every event is a decision; boxing it would add an allocation to each"
)]
pub enum LogEvent {
    /// A decision.
    Decision(DecisionEntry),
    /// A policy set went live.
    PolicySetLoaded {
        /// The policy directory.
        dir: String,
        /// `load` at start, `reload` when swapped while serving.
        cause: String,
        /// The policies, in evaluation order.
        policies: Vec<LoggedPolicy>,
    },
    /// A policy set was refused; the previous one (if any) stays live.
    PolicySetRejected {
        /// The policy directory.
        dir: String,
        /// Why.
        error: String,
    },
    /// The kill switch was engaged or released, for every agent or one.
    KillSwitch {
        /// Engaged (true) or released.
        engaged: bool,
        /// Who.
        actor: String,
        /// Why.
        reason: String,
        /// Only this agent's switch; absent for the fleet-wide one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
    },
    /// An escalation left `pending`: a reviewer approved or denied it, or
    /// its deadline passed (`expired`, which is a deny). It was opened by
    /// the decision record whose `escalation.id` is `id`.
    EscalationResolved {
        /// The escalation.
        id: String,
        /// The escalated request's id.
        request_id: String,
        /// `approved`, `denied` or `expired`.
        status: EscalationStatus,
        /// The reviewer; absent when it expired.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reviewer: Option<String>,
        /// The reviewer's comment.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        comment: String,
    },
    /// The host reported what happened to an approved action.
    Outcome {
        /// The decision record's sequence number.
        decision: u64,
        /// Its request id.
        request_id: String,
        /// Its agent.
        agent_id: String,
        /// Its action.
        action: String,
        /// Its session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        /// Completed or failed.
        status: OutcomeStatus,
        /// The actual amount, replacing the estimate on budget counters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amount: Option<f64>,
    },
    /// The MCP gateway saw an upstream tool's definition (name,
    /// description, schemas, annotations) for the first time since it
    /// started, or saw it change. A tool that silently rewrites its
    /// description is a known attack on agents.
    ToolDefinition {
        /// The upstream server, as named in the servers file.
        server: String,
        /// The tool's name at the upstream.
        tool: String,
        /// `sha256:<hex>` of the definition in canonical JSON.
        digest: String,
        /// The digest seen before, when the definition changed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
}

impl LogEvent {
    /// The event kind as stored (`decision`, `policy-set-loaded`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            LogEvent::Decision(_) => "decision",
            LogEvent::PolicySetLoaded { .. } => "policy-set-loaded",
            LogEvent::PolicySetRejected { .. } => "policy-set-rejected",
            LogEvent::KillSwitch { .. } => "kill-switch",
            LogEvent::EscalationResolved { .. } => "escalation-resolved",
            LogEvent::Outcome { .. } => "outcome",
            LogEvent::ToolDefinition { .. } => "tool-definition",
        }
    }
}

/// A policy as recorded with a policy-set change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedPolicy {
    /// Manifest name.
    pub name: String,
    /// `sha256:<hex>` of the component.
    pub digest: String,
    /// Priority.
    pub priority: i64,
    /// `enforce` or `shadow`.
    pub mode: String,
    /// The policy's own version.
    pub version: String,
}

/// A decision as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionEntry {
    /// The request, after redaction.
    pub request: LoggedRequest,
    /// The final verdict.
    pub verdict: Verdict,
    /// Every reason.
    pub reasons: Vec<Reason>,
    /// Every policy that ran.
    pub policies: Vec<PolicyRun>,
    /// Which param values were replaced by keyed hashes, and why.
    pub redactions: Vec<Redaction>,
    /// The escalation this decision opened (escalate verdicts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<EscalationTicket>,
    /// The counters the decision's charges met, each with what it held
    /// before: with the policies' recorded facts, what replay needs to
    /// reproduce the host's part of the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charges: Vec<crate::ledger::ChargeRecord>,
    /// For a `rate-limited` deny: when to try again, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// What happened to an approved action, as its host reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeStatus {
    /// The action was carried out.
    Completed,
    /// The action failed: its reservations are freed.
    Failed,
}

impl OutcomeStatus {
    /// `completed` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Completed => "completed",
            OutcomeStatus::Failed => "failed",
        }
    }
}

/// The request as recorded: enough to replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedRequest {
    /// The request id.
    pub request_id: String,
    /// The agent.
    pub agent_id: String,
    /// The action.
    pub action: String,
    /// The params, with redacted values replaced by `redacted:hmac-sha256:<hex>`.
    pub params: Map<String, Value>,
    /// The amount.
    pub amount: Option<f64>,
    /// The currency.
    pub currency: Option<String>,
    /// The request's own timestamp, UTC milliseconds.
    pub timestamp_ms: i64,
    /// The session.
    pub session_id: Option<String>,
    /// The user.
    pub user_id: Option<String>,
}

/// One redacted param value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redaction {
    /// Where, e.g. `params.card.number`.
    pub path: String,
    /// `configured` (an operator's redaction path) or the PII kinds a
    /// policy found there (`email`, `credit_card`, ...).
    pub kinds: Vec<String>,
}

impl LogEntry {
    /// The entry's JSON (the first stored format, and the body of the
    /// export form).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// The bytes the host stores for the entry now (the compact format;
    /// see `record_format`).
    pub fn stored_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        super::record_format::encode(self)
    }

    /// Decode a stored body, in either format.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, super::record_format::FormatError> {
        super::record_format::decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    /// Canonical bytes sort object keys, which holds only while no crate in
    /// the build turns on serde_json's `preserve_order` (Cargo unifies
    /// features). If one does, records change bytes: fail loudly here.
    #[test]
    fn object_keys_serialize_sorted() {
        let value: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":2,"c":3}}"#).unwrap();
        assert_eq!(value.to_string(), r#"{"a":{"c":3,"d":2},"b":1}"#);
    }
}
