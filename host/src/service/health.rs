//! `GET /healthz`, `GET /readyz` and `GET /metrics`.

use super::Shared;
use crate::metrics::Gauges;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The process answers.
pub async fn healthz() -> Json<Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// A valid policy set is live and the log accepts writes.
pub async fn readyz(State(service): State<Shared>) -> Response {
    let generation = service.runtime.generation();
    match service.runtime.ready() {
        Ok(()) => Json(serde_json::json!({
            "ready": true, "generation": generation, "log": "writable",
        }))
        .into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "ready": false, "generation": generation, "log": "unavailable", "reason": reason,
            })),
        )
            .into_response(),
    }
}

/// Prometheus text format.
pub async fn metrics(State(service): State<Shared>) -> Response {
    let kill = service.runtime.kill_switch().state();
    let gauges = Gauges {
        generation: service.runtime.generation(),
        pending_escalations: service.runtime.escalations().pending() as u64,
        kill_switch_engaged: kill.global.is_some(),
        agents_stopped: kill.agents.len() as u64,
        ready: service.runtime.ready().is_ok(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        service.metrics.render(&gauges),
    )
        .into_response()
}
