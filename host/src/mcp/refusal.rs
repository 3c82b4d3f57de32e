//! How the gateway answers a call it does not forward (or whose upstream
//! failed): an MCP tool result with `isError: true` that the model can
//! read, or, where a server asks for it, a JSON-RPC error. Both carry the
//! same structured object:
//! `{verdict, code, policy, message, request_id, seq}` (plus `escalation`
//! where one was opened).

use super::servers::DenyAs;
use crate::decision::{Decision, Verdict};
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock, ErrorCode};
use serde_json::{Value, json};

/// The JSON-RPC error code of a refusal answered as an error (in the
/// range JSON-RPC leaves to servers).
pub const REFUSED_CODE: i32 = -32001;

/// A call the gateway answers itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// `deny` or `escalate` (a wait that ended while still pending), or
    /// `error` for an upstream that failed.
    pub verdict: &'static str,
    /// Machine-readable, e.g. `forbidden-action`, `kill-switch`,
    /// `escalation-denied`, `upstream-failed`.
    pub code: String,
    /// The policy that decided, or `gavel` for the gateway's own reasons.
    pub policy: String,
    /// For the model and for people.
    pub message: String,
    /// The call's request id.
    pub request_id: String,
    /// The decision's sequence number in the log, once committed.
    pub seq: Option<u64>,
    /// The escalation involved, if any.
    pub escalation: Option<String>,
}

impl Refusal {
    /// The refusal of a denied decision: the first deny reason decides
    /// (the runtime lists them in evaluation order).
    pub fn denied(decision: &Decision) -> Self {
        let reason = decision
            .reasons
            .iter()
            .find(|r| r.verdict == Verdict::Deny)
            .or_else(|| decision.reasons.first());
        Refusal {
            verdict: "deny",
            code: reason.map_or_else(|| "denied".to_owned(), |r| r.code.clone()),
            policy: reason.map_or_else(|| "gavel".to_owned(), |r| r.policy.clone()),
            message: reason.map_or_else(|| "denied".to_owned(), |r| r.message.clone()),
            request_id: decision.request_id.clone(),
            seq: decision.seq,
            escalation: None,
        }
    }

    /// A refusal for the gateway's own reason (policy `gavel`).
    pub fn own(verdict: &'static str, code: &str, message: String, request_id: &str) -> Self {
        Refusal {
            verdict,
            code: code.to_owned(),
            policy: "gavel".to_owned(),
            message,
            request_id: request_id.to_owned(),
            seq: None,
            escalation: None,
        }
    }

    /// The structured object.
    pub fn to_value(&self) -> Value {
        let mut value = json!({
            "verdict": self.verdict,
            "code": self.code,
            "policy": self.policy,
            "message": self.message,
            "request_id": self.request_id,
            "seq": self.seq,
        });
        if let (Some(id), Value::Object(map)) = (&self.escalation, &mut value) {
            map.insert("escalation".into(), Value::String(id.clone()));
        }
        value
    }

    /// The sentence the model reads.
    pub fn text(&self) -> String {
        let what = match self.verdict {
            "deny" => "Gavel refused this tool call",
            "escalate" => "Gavel is holding this tool call for a human reviewer",
            _ => "This tool call failed",
        };
        let mut text = format!("{what}: {} ({}): {}", self.policy, self.code, self.message);
        if let Some(id) = &self.escalation {
            text.push_str(&format!(" [escalation {id}]"));
        }
        text.push_str(&format!(" [request {}]", self.request_id));
        text
    }

    /// The tool result: `isError: true`, the sentence as text, the object
    /// as `structuredContent`.
    pub fn to_result(&self) -> CallToolResult {
        let mut result = CallToolResult::error(vec![ContentBlock::text(self.text())]);
        result.structured_content = Some(self.to_value());
        result
    }

    /// The JSON-RPC error.
    pub fn to_error(&self) -> ErrorData {
        ErrorData::new(ErrorCode(REFUSED_CODE), self.text(), Some(self.to_value()))
    }

    /// The answer in the server's chosen shape.
    pub fn answer(&self, shape: DenyAs) -> Result<CallToolResult, ErrorData> {
        match shape {
            DenyAs::Result => Ok(self.to_result()),
            DenyAs::Error => Err(self.to_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Reason;

    fn denied() -> Decision {
        Decision {
            request_id: "mcp-7".into(),
            verdict: Verdict::Deny,
            reasons: vec![
                Reason {
                    policy: "approval".into(),
                    verdict: Verdict::Escalate,
                    code: "needs-review".into(),
                    message: "big".into(),
                },
                Reason {
                    policy: "sensitive-actions".into(),
                    verdict: Verdict::Deny,
                    code: "forbidden-action".into(),
                    message: "delete_account is forbidden".into(),
                },
            ],
            policies: vec![],
            generation: 1,
            seq: Some(42),
            escalation: None,
            charges: vec![],
            retry_after_ms: None,
        }
    }

    #[test]
    fn a_denied_decision_names_the_denying_policy_code_and_message() {
        let r = Refusal::denied(&denied());
        let result = r.to_result();
        assert_eq!(result.is_error, Some(true));
        assert_eq!(
            result.structured_content,
            Some(json!({
                "verdict": "deny",
                "code": "forbidden-action",
                "policy": "sensitive-actions",
                "message": "delete_account is forbidden",
                "request_id": "mcp-7",
                "seq": 42,
            }))
        );
        let text = r.text();
        for part in [
            "sensitive-actions",
            "forbidden-action",
            "delete_account is forbidden",
            "mcp-7",
        ] {
            assert!(text.contains(part), "{text}");
        }
    }

    #[test]
    fn the_error_shape_carries_the_same_object() {
        let r = Refusal::denied(&denied());
        let e = r.answer(DenyAs::Error).unwrap_err();
        assert_eq!(e.code, ErrorCode(REFUSED_CODE));
        assert_eq!(e.data, Some(r.to_value()));
        assert!(r.answer(DenyAs::Result).is_ok());
    }

    #[test]
    fn an_escalation_is_named() {
        let mut r = Refusal::own(
            "escalate",
            "escalation-pending",
            "still waiting".into(),
            "mcp-1",
        );
        r.escalation = Some("esc-9".into());
        assert_eq!(r.to_value()["escalation"], "esc-9");
        assert!(r.text().contains("esc-9"));
        assert!(r.text().contains("human reviewer"));
    }
}
