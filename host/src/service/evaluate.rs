//! `POST /v1/evaluate` and `POST /v1/evaluate/batch`.

use super::api_error::ApiError;
use super::{Shared, body};
use crate::decision::Decision;
use crate::log::format_time;
use crate::request::Request;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::Value;
use std::time::Instant;

/// One action in, one decision out.
pub async fn one(
    State(service): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    service.access.eval(&headers)?;
    let bytes = body::read(body, &service.limits).await?;
    let request = Request::from_json(body::text(&bytes)?)?;
    let started = Instant::now();
    let decision = service.blocking(move |rt| rt.decide(&request)).await?;
    after(&service, &decision, started);
    Ok(Json(view(&decision)))
}

/// `{"actions": [...]}` in, `{"results": [...]}` out, in order; a bad
/// action gets its error in place.
pub async fn batch(
    State(service): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    service.access.eval(&headers)?;
    let bytes = body::read(body, &service.limits).await?;
    let mut obj = body::object(&bytes, &["actions"])?;
    let Some(Value::Array(actions)) = obj.remove("actions") else {
        return Err(ApiError::invalid(
            Some("actions"),
            "field `actions` must be an array of actions",
        ));
    };
    let max = service.limits.max_batch;
    if actions.len() > max {
        return Err(ApiError::invalid(
            Some("actions"),
            format!("{} actions in one batch; the limit is {max}", actions.len()),
        ));
    }
    let parsed: Vec<Result<Request, ApiError>> = actions
        .into_iter()
        .map(|a| Request::from_value(a).map_err(ApiError::from))
        .collect();
    let started = Instant::now();
    let decided = service
        .blocking(move |rt| {
            parsed
                .into_iter()
                .map(|r| r.map(|request| rt.decide(&request)))
                .collect::<Vec<_>>()
        })
        .await?;
    let results = decided
        .iter()
        .map(|r| match r {
            Ok(decision) => {
                after(&service, decision, started);
                view(decision)
            }
            Err(e) => e.body(),
        })
        .collect::<Vec<_>>();
    Ok(Json(serde_json::json!({ "results": results })))
}

/// Metrics, and the webhook for a new escalation.
fn after(service: &Shared, decision: &Decision, started: Instant) {
    service.metrics.record_decision(decision, started.elapsed());
    let Some(ticket) = &decision.escalation else {
        return;
    };
    service.metrics.record_escalation("opened");
    if let Some(hook) = &service.webhook
        && let Some(escalation) = service.runtime.escalations().get(&ticket.id)
    {
        let why = escalation
            .reasons
            .iter()
            .map(|r| format!("{}: {}", r.policy, r.message))
            .collect::<Vec<_>>()
            .join("; ");
        let text = format!(
            "Gavel: agent `{}` asks to `{}` and needs a reviewer ({why}). Escalation {} expires at {}.",
            escalation.request.agent_id,
            escalation.request.action,
            escalation.id,
            format_time(escalation.deadline_ms).unwrap_or_default(),
        );
        hook.send(crate::webhook::slack_payload(
            &text,
            serde_json::json!({ "escalation": escalation.to_view() }),
        ));
    }
}

/// The decision as the API serves it: `seq` always present (null when not
/// committed yet), `escalation` null or `{id, status, deadline}`.
pub fn view(decision: &Decision) -> Value {
    let mut value = serde_json::to_value(decision).unwrap_or_else(|e| {
        serde_json::json!({
            "request_id": decision.request_id,
            "verdict": "deny",
            "reasons": [{"policy": "gavel", "verdict": "deny", "code": "internal-error",
                         "message": e.to_string()}],
            "policies": [],
        })
    });
    if let Some(obj) = value.as_object_mut() {
        obj.insert("seq".to_owned(), serde_json::json!(decision.seq));
        let escalation = decision.escalation.as_ref().map(|t| {
            serde_json::json!({
                "id": t.id,
                "status": "pending",
                "deadline": format_time(t.deadline_ms),
            })
        });
        obj.insert("escalation".to_owned(), serde_json::json!(escalation));
    }
    value
}
