//! `gavel serve`: the runtime over HTTP.
//!
//! Evaluation, outcomes of approved actions, decision reads, counter
//! usage, policy status and rollback, escalation review with
//! long-polling, the kill switch, health, readiness and Prometheus
//! metrics; documented in `openapi.yaml` at the repository root.
//! Blocking work (policy evaluation, log commits, redb reads) runs on
//! tokio's blocking pool; the async side only parses, waits and answers.

mod api_error;
mod auth;
mod body;
mod connections;
mod controls;
mod decisions;
mod duration;
mod escalations;
mod evaluate;
mod health;
mod outcomes;
mod unique_headers;
mod usage;

pub use api_error::ApiError;
pub(crate) use auth::bearer;
pub use auth::{Access, MIN_TOKEN_BYTES, Token};
pub use duration::parse_duration;

use crate::metrics::{MemoryGauges, Metrics, ReservationCounts};
use crate::runtime::{GenerationChange, Runtime};
use crate::webhook::Webhook;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;

/// The service's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted request body, in bytes (larger: 413, at once when
    /// the declared `Content-Length` is larger).
    pub max_body: usize,
    /// Most actions in one batch.
    pub max_batch: usize,
    /// Longest long-poll on an escalation.
    pub max_wait: Duration,
    /// How long a client has to send a complete request head, from the
    /// moment its connection opens or its previous response went out; an
    /// idle keep-alive connection is closed after it too.
    pub header_timeout: Duration,
    /// How long a request body has to arrive in full once its head has
    /// (longer: 408).
    pub body_timeout: Duration,
    /// Most connections served at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 2 * 1024 * 1024,
            max_batch: 100,
            max_wait: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Service {
    runtime: Arc<Runtime>,
    access: Access,
    limits: Limits,
    metrics: Arc<Metrics>,
    webhook: Option<Webhook>,
}

type Shared = Arc<Service>;

impl Service {
    /// A service over `runtime`. Log commits and policy-set changes feed
    /// its metrics from here on.
    pub fn new(
        runtime: Arc<Runtime>,
        access: Access,
        limits: Limits,
        metrics: Arc<Metrics>,
        webhook: Option<Webhook>,
    ) -> Self {
        let observed = metrics.clone();
        runtime
            .log()
            .observe_commits(Box::new(move |took, records| {
                observed.record_log_commit(took, records);
            }));
        // A weak reference: the runtime's log already holds the metrics.
        let counted = Arc::downgrade(&runtime);
        metrics.observe_memory(Box::new(move || {
            counted.upgrade().map_or_else(MemoryGauges::default, |rt| {
                let now = crate::log::now_ms();
                // Unreadable shared counters show as none (and the
                // decisions that need them are refused meanwhile).
                let (counters, (held, open, settled)) =
                    rt.ledger().snapshot(now).unwrap_or_default();
                MemoryGauges {
                    counters,
                    reservations: ReservationCounts {
                        held,
                        open,
                        settled,
                    },
                    breaker_trips: rt.breaker_trips(),
                }
            })
        }));
        let changes = runtime.subscribe();
        let observed = metrics.clone();
        let spawned = std::thread::Builder::new()
            .name("gavel-reload-metrics".to_owned())
            .spawn(move || {
                for change in changes {
                    match change {
                        GenerationChange::Live { cause, .. } if cause == "reload" => {
                            observed.record_reload(true);
                        }
                        GenerationChange::Live { .. } => {}
                        GenerationChange::Rejected { .. } => observed.record_reload(false),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("reload metrics are off: cannot start their thread: {e}");
        }
        Service {
            runtime,
            access,
            limits,
            metrics,
            webhook,
        }
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Run `work` on the blocking pool; a panic there is a 500, never an
    /// answer.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Runtime) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let runtime = self.runtime.clone();
        tokio::task::spawn_blocking(move || work(&runtime))
            .await
            .map_err(|e| ApiError::internal(format!("the request failed: {e}")))
    }
}

/// Every route.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/v1/evaluate", post(evaluate::one))
        .route("/v1/evaluate/batch", post(evaluate::batch))
        .route("/v1/decisions", get(decisions::list))
        .route("/v1/decisions/{seq}", get(decisions::one))
        .route("/v1/decisions/{seq}/outcome", post(outcomes::report))
        .route("/v1/usage", get(usage::usage))
        .route("/v1/policies", get(controls::policies))
        .route("/v1/policies/rollback", post(controls::rollback))
        .route(
            "/v1/killswitch",
            get(controls::kill_switch).post(controls::set_kill_switch),
        )
        .route("/v1/escalations", get(escalations::list))
        .route("/v1/escalations/{id}", get(escalations::one))
        .route("/v1/escalations/{id}/approve", post(escalations::approve))
        .route("/v1/escalations/{id}/deny", post(escalations::deny))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route_layer(axum::middleware::from_fn(unique_headers::refuse_duplicates))
        .route_layer(axum::middleware::from_fn_with_state(service.clone(), track))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(service)
}

/// Count every answer by route and status.
async fn track(State(service): State<Shared>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    service
        .metrics
        .record_http(&route, response.status().as_u16());
    response
}

async fn not_found(request: Request) -> Response {
    ApiError::not_found(format!("no such endpoint: {}", request.uri().path())).into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    ApiError::plain(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

/// Serve until `shutdown` resolves, then let requests in flight finish
/// (idle connections close at once). Also expires escalations whose
/// deadline passes (checked every 250 ms).
pub async fn serve(
    service: Arc<Service>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(service, listener, None, shutdown).await
}

/// [`serve`], with more routes beside the API (the MCP endpoint of
/// `gavel serve --mcp-servers`).
pub async fn serve_with(
    service: Arc<Service>,
    listener: tokio::net::TcpListener,
    extra: Option<Router>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(expire_escalations(service.clone()));
    let limits = service.limits;
    let mut app = router(service);
    if let Some(extra) = extra {
        app = app.merge(extra);
    }
    let served = connections::serve(listener, app, limits, shutdown).await;
    sweeper.abort();
    served
}

/// Serve `app` alone, with the service's connection limits and timeouts
/// (`gavel mcp-gateway --listen`).
pub async fn serve_router(
    app: Router,
    listener: tokio::net::TcpListener,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connections::serve(listener, app, limits, shutdown).await
}

/// Expire escalations whose deadline passed, every 250 ms, until dropped
/// (for a gateway that serves no API; [`serve`] does this itself).
pub async fn expire_escalations_of(runtime: Arc<Runtime>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        sync_fleet_escalations(&runtime).await;
        if runtime.escalations().due(crate::log::now_ms()).is_empty() {
            continue;
        }
        let r = runtime.clone();
        match tokio::task::spawn_blocking(move || r.expire_escalations()).await {
            Ok(Ok(expired)) => {
                for e in expired {
                    tracing::info!("escalation {} expired (a deny)", e.id);
                }
            }
            Ok(Err(e)) => tracing::error!("cannot expire escalations: {e}"),
            Err(e) => tracing::error!("cannot expire escalations: {e}"),
        }
    }
}

/// Take over what other nodes of the fleet resolved of this node's
/// pending escalations (with shared counters only).
async fn sync_fleet_escalations(runtime: &Arc<Runtime>) {
    if runtime.ledger().shared_counters().is_none() || runtime.escalations().pending() == 0 {
        return;
    }
    let r = runtime.clone();
    match tokio::task::spawn_blocking(move || r.sync_fleet_escalations()).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!("{n} escalation(s) resolved through another node"),
        Ok(Err(e)) => tracing::debug!("cannot read the fleet's escalations: {e}"),
        Err(e) => tracing::error!("cannot read the fleet's escalations: {e}"),
    }
}

async fn expire_escalations(service: Shared) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        sync_fleet_escalations(&service.runtime).await;
        if service
            .runtime
            .escalations()
            .due(crate::log::now_ms())
            .is_empty()
        {
            continue;
        }
        match service.blocking(Runtime::expire_escalations).await {
            Ok(Ok(expired)) => {
                for e in expired {
                    tracing::info!("escalation {} expired (a deny)", e.id);
                    service.metrics.record_escalation("expired");
                }
            }
            Ok(Err(e)) => tracing::error!("cannot expire escalations: {e}"),
            Err(e) => tracing::error!("cannot expire escalations: {}", e.message),
        }
    }
}
