//! The operator's controls: the kill switch, the live policy set, rollback.

use super::api_error::ApiError;
use super::{Shared, body};
use crate::log::format_time;
use crate::runtime::RuntimeError;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::Value;

/// `GET /v1/killswitch`.
pub async fn kill_switch(
    State(service): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    service.access.admin(&headers)?;
    Ok(Json(service.runtime.kill_switch().state().to_view()))
}

/// `POST /v1/killswitch` `{"engaged", "reason", "actor", "agent"?}`.
pub async fn set_kill_switch(
    State(service): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    service.access.admin(&headers)?;
    let bytes = body::read(body, &service.limits).await?;
    let obj = body::object(&bytes, &["engaged", "reason", "actor", "agent"])?;
    let engaged = body::boolean(&obj, "engaged")?;
    let reason = body::string(&obj, "reason", true)?.unwrap_or_default();
    let actor = body::string(&obj, "actor", true)?.unwrap_or_default();
    if obj.get("agent").is_some_and(Value::is_null) {
        // A client bug must not turn an agent's release into the fleet's.
        return Err(ApiError::invalid(
            Some("agent"),
            "field `agent` must be a string (omit it for the fleet-wide switch)",
        ));
    }
    let agent = body::string(&obj, "agent", false)?;
    if agent.as_deref().is_some_and(|a| a.trim().is_empty()) {
        return Err(ApiError::invalid(
            Some("agent"),
            "field `agent` must not be empty (omit it for the fleet-wide switch)",
        ));
    }
    if let Some(a) = agent.as_deref()
        && let Err(e) = service
            .runtime
            .kill_switch()
            .state()
            .check_agent(a, engaged)
    {
        return Err(ApiError::invalid(
            Some("agent"),
            format!("field `agent`: {e}"),
        ));
    }
    let state = service
        .blocking(move |rt| rt.set_kill_switch(engaged, agent.as_deref(), &actor, &reason))
        .await?
        .map_err(ApiError::log_unavailable)?;
    Ok(Json(state.to_view()))
}

/// `GET /v1/policies`: the live generation and its policies.
pub async fn policies(
    State(service): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    service.access.admin(&headers)?;
    let status = service.runtime.status();
    let live = service.runtime.policies();
    Ok(Json(serde_json::json!({
        "generation": status.generation,
        "live_since": format_time(status.live_since_ms),
        "policies": live.logged_policies(),
        "kept": status.kept,
        "last_rejection": status.last_rejection.map(|(at, error)| serde_json::json!({
            "at": format_time(at),
            "error": error,
        })),
    })))
}

/// `POST /v1/policies/rollback` `{"generation"?}`.
pub async fn rollback(
    State(service): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    service.access.admin(&headers)?;
    let bytes = body::read(body, &service.limits).await?;
    let obj = body::object(&bytes, &["generation"])?;
    let generation = body::unsigned(&obj, "generation")?;
    let live = service
        .blocking(move |rt| rt.rollback(generation))
        .await?
        .map_err(|e| match e {
            RuntimeError::UnknownGeneration(..) => ApiError::not_found(e.to_string()),
            RuntimeError::Log(_) => ApiError::log_unavailable(e),
            other => ApiError::internal(other.to_string()),
        })?;
    Ok(Json(serde_json::json!({ "generation": live })))
}
