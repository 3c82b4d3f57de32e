//! Escalation review: list, look up (with a long-poll), approve, deny.

use super::api_error::ApiError;
use super::decisions::url_pairs;
use super::{Shared, body, parse_duration};
use crate::escalation::{EscalationError, EscalationStatus};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::Value;
use std::time::Duration;

/// `GET /v1/escalations?status=pending|approved|denied|expired|all`.
pub async fn list(
    State(service): State<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    service.access.admin(&headers)?;
    let mut status = Some(EscalationStatus::Pending);
    for (key, value) in url_pairs(raw.as_deref().unwrap_or(""))? {
        match (key.as_str(), value.as_str()) {
            ("status", "all") => status = None,
            ("status", s) => {
                status = Some(EscalationStatus::parse(s).ok_or_else(|| {
                    ApiError::invalid(
                        Some("status"),
                        format!("unknown status {s:?}: expected pending, approved, denied, expired or all"),
                    )
                })?);
            }
            (other, _) => {
                return Err(ApiError::invalid(
                    Some(other),
                    format!("unknown query parameter `{other}` (expected status)"),
                ));
            }
        }
    }
    let list: Vec<Value> = service
        .runtime
        .escalations()
        .list(status)
        .iter()
        .map(|e| e.to_view())
        .collect();
    Ok(Json(serde_json::json!({ "escalations": list })))
}

/// `GET /v1/escalations/{id}?wait=30s`: the agent's host waits for the
/// outcome (at most the service's longest wait).
pub async fn one(
    State(service): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    service.access.eval(&headers)?;
    let mut wait = Duration::ZERO;
    for (key, value) in url_pairs(raw.as_deref().unwrap_or(""))? {
        match key.as_str() {
            "wait" => {
                wait = parse_duration(&value)
                    .map_err(|e| ApiError::invalid(Some("wait"), e))?
                    .min(service.limits.max_wait);
            }
            other => {
                return Err(ApiError::invalid(
                    Some(other),
                    format!("unknown query parameter `{other}` (expected wait)"),
                ));
            }
        }
    }
    let escalations = service.runtime.escalations();
    let found = match wait.is_zero() {
        true => escalations.get(&id),
        false => escalations.wait(&id, wait).await,
    };
    found
        .map(|e| Json(e.to_view()))
        .ok_or_else(|| ApiError::not_found(format!("no escalation `{id}`")))
}

/// `POST /v1/escalations/{id}/approve`.
pub async fn approve(
    state: State<Shared>,
    headers: HeaderMap,
    id: Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    resolve(state, headers, id, body, true).await
}

/// `POST /v1/escalations/{id}/deny`.
pub async fn deny(
    state: State<Shared>,
    headers: HeaderMap,
    id: Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    resolve(state, headers, id, body, false).await
}

async fn resolve(
    State(service): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Body,
    approve: bool,
) -> Result<Json<Value>, ApiError> {
    service.access.admin(&headers)?;
    let bytes = body::read(body, &service.limits).await?;
    let obj = body::object(&bytes, &["reviewer", "comment"])?;
    let reviewer = body::string(&obj, "reviewer", true)?.unwrap_or_default();
    let comment = body::string(&obj, "comment", false)?.unwrap_or_default();
    let resolved = service
        .blocking(move |rt| rt.resolve_escalation(&id, approve, &reviewer, &comment))
        .await?
        .map_err(|e| match e {
            EscalationError::NotFound(_) => ApiError::not_found(e.to_string()),
            EscalationError::NotPending { .. } => ApiError::conflict(e.to_string()),
            EscalationError::NoReviewer => ApiError::invalid(Some("reviewer"), e.to_string()),
            EscalationError::Log(_) => ApiError::log_unavailable(e),
            EscalationError::Unavailable(_) => ApiError::plain(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                crate::ledger::USAGE_UNAVAILABLE,
                e.to_string(),
            ),
        })?;
    service.metrics.record_escalation(resolved.status.as_str());
    Ok(Json(resolved.to_view()))
}
