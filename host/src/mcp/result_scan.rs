//! Tool results through the policies: the action `result:<tool>`, with the
//! result as params (`content`, and `structuredContent` when present). A
//! deny blocks the result, or (mode `redact`) masks the values the
//! denying policies found and lets the rest through. Anything that keeps
//! a result from being scanned blocks it: results fail closed like calls.

use super::gateway::Gateway;
use super::refusal::Refusal;
use super::servers::ResultScan;
use crate::decision::{Finding, Verdict};
use crate::log::mask_findings;
use crate::request::Request;
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value, json};

/// The prefix of a result's action name.
pub const RESULT_PREFIX: &str = "result:";

/// The request that scans `result` of the call `call`.
pub fn result_request(call: &Request, result: &CallToolResult) -> Result<Request, String> {
    let mut params = Map::new();
    params.insert(
        "content".to_owned(),
        serde_json::to_value(&result.content).map_err(|e| e.to_string())?,
    );
    if let Some(s) = &result.structured_content {
        params.insert("structuredContent".to_owned(), s.clone());
    }
    let mut request = json!({
        "request_id": format!("{}-result", call.request_id),
        "agent_id": call.agent_id,
        "action": format!("{RESULT_PREFIX}{}", call.action),
        "params": params,
    });
    if let (Some(s), Value::Object(map)) = (&call.session_id, &mut request) {
        map.insert("session_id".into(), Value::String(s.clone()));
    }
    Request::from_value(request).map_err(|e| e.to_string())
}

/// `result` with every finding masked, or `None` if it cannot be rebuilt.
pub fn masked(result: &CallToolResult, params: &Map<String, Value>) -> Option<CallToolResult> {
    let content: Vec<ContentBlock> = serde_json::from_value(params.get("content")?.clone()).ok()?;
    let mut out = result.clone();
    out.content = content;
    out.structured_content = params.get("structuredContent").cloned();
    Some(out)
}

/// Scan `result`. `Ok(Ok(result))` goes to the agent; `Ok(Err(refusal))`
/// replaces it.
pub(super) async fn scan_result(
    gateway: &Gateway,
    call: &Request,
    result: CallToolResult,
    mode: ResultScan,
) -> Result<Result<CallToolResult, Refusal>, ErrorData> {
    let request = match result_request(call, &result) {
        Ok(r) => r,
        Err(e) => {
            return Ok(Err(Refusal::own(
                "deny",
                "result-unscannable",
                format!("the result could not be scanned, so it is withheld: {e}"),
                &call.request_id,
            )));
        }
    };
    let decision = gateway.decide(request.clone()).await?;
    if decision.verdict == Verdict::Approve {
        return Ok(Ok(result));
    }
    let mut refusal = Refusal::denied(&decision);
    refusal.verdict = "deny";
    refusal.message = format!("the tool's result was withheld: {}", refusal.message);
    if mode != ResultScan::Redact {
        return Ok(Err(refusal));
    }
    let findings: Vec<Finding> = decision
        .policies
        .iter()
        .filter(|run| {
            matches!(
                run.verdict,
                crate::decision::RunVerdict::Deny | crate::decision::RunVerdict::Escalate
            )
        })
        .flat_map(|run| run.findings.iter().cloned())
        .collect();
    let mut params = request.params;
    if findings.is_empty() || mask_findings(&mut params, &findings) == 0 {
        return Ok(Err(refusal));
    }
    Ok(masked(&result, &params).ok_or(refusal))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Request {
        Request::from_value(json!({
            "request_id": "mcp-1",
            "agent_id": "bot",
            "action": "lookup_order",
            "session_id": "s",
        }))
        .unwrap()
    }

    #[test]
    fn a_result_becomes_a_result_action_with_its_content_as_params() {
        let mut result = CallToolResult::success(vec![ContentBlock::text("hello")]);
        result.structured_content = Some(json!({"email": "a@b.example"}));
        let r = result_request(&call(), &result).unwrap();
        assert_eq!(r.action, "result:lookup_order");
        assert_eq!(r.request_id, "mcp-1-result");
        assert_eq!(r.session_id.as_deref(), Some("s"));
        assert_eq!(r.params["content"][0]["text"], "hello");
        assert_eq!(r.params["structuredContent"]["email"], "a@b.example");
    }

    #[test]
    fn findings_are_masked_and_the_rest_kept() {
        let mut result = CallToolResult::success(vec![
            ContentBlock::text("card 4111 1111 1111 1111"),
            ContentBlock::text("order 7 shipped"),
        ]);
        result.structured_content = Some(json!({"email": "a@b.example", "id": 7}));
        let r = result_request(&call(), &result).unwrap();
        let mut params = r.params;
        let findings = vec![
            Finding {
                path: "params.content[0].text".into(),
                kinds: vec!["credit_card".into()],
            },
            Finding {
                path: "params.structuredContent.email".into(),
                kinds: vec!["email".into()],
            },
        ];
        assert_eq!(mask_findings(&mut params, &findings), 2);
        let out = masked(&result, &params).unwrap();
        let text = serde_json::to_value(&out.content).unwrap();
        assert_eq!(text[0]["text"], "[redacted: credit_card]");
        assert_eq!(text[1]["text"], "order 7 shipped");
        assert_eq!(
            out.structured_content,
            Some(json!({"email": "[redacted: email]", "id": 7}))
        );
    }
}
