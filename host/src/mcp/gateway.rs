//! The gateway: every `tools/call` becomes a Gavel decision before any
//! upstream sees it.
//!
//! - **Approve:** the call goes upstream; the result comes back as it
//!   came, and its outcome (completed, or failed on an error result or a
//!   transport failure) is reported to the runtime.
//! - **Deny** (policies, the kill switch, a budget): the upstream is never
//!   touched; the agent gets a [`Refusal`].
//! - **Escalate:** the call waits for a reviewer, with progress
//!   notifications, then forwards (approved) or refuses (denied,
//!   expired, still pending). See [`super::approvals`].

use super::approvals::{Approvals, Held};
use super::catalog::{Catalog, Collision, Listed};
use super::mapping::{ToolCall, call_digest, to_request};
use super::passthrough::Passthrough;
use super::refusal::Refusal;
use super::result_scan::scan_result;
use super::servers::{GatewayOptions, ResultScan, ServersFile};
use super::upstream::{Upstream, UpstreamError};
use crate::decision::{Decision, Verdict};
use crate::log::{LogEvent, LogMode, OutcomeStatus, now_ms};
use crate::request::Request;
use crate::runtime::Runtime;
use rmcp::ErrorData;
use rmcp::RoleServer;
use rmcp::model::{CallToolRequestParams, CallToolResult, ProgressToken, Tool};
use rmcp::service::Peer;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// An upstream could not be reached to list its tools.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Two servers offer the same tool name.
    #[error(transparent)]
    Collision(#[from] Collision),
}

/// Who is calling, as the transport established it (never from anything
/// the client wrote into the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The agent id.
    pub agent: String,
    /// The MCP session, where the transport has one.
    pub session: Option<String>,
}

/// What a call may use to talk back while it waits.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// Cancelled when the client cancels the call.
    pub cancel: CancellationToken,
    /// The client and its progress token, when it gave one.
    pub progress: Option<(Peer<RoleServer>, ProgressToken)>,
}

/// What the upstreams offer beside tools (the gateway offers the same).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offers {
    /// Some upstream offers resources.
    pub resources: bool,
    /// Some upstream offers prompts.
    pub prompts: bool,
}

/// The gateway, shared by every session.
#[derive(Debug)]
pub struct Gateway {
    pub(super) runtime: Arc<Runtime>,
    upstreams: Vec<Upstream>,
    pub(super) options: GatewayOptions,
    catalog: RwLock<Catalog>,
    pub(super) approvals: Approvals,
    passthrough: Passthrough,
    offers: Offers,
    calls: AtomicU64,
    call_prefix: String,
    outcomes: TaskTracker,
}

impl Gateway {
    /// Connect to every upstream and merge their tools. An upstream that
    /// cannot be reached, or two that offer the same name, stop the start.
    pub async fn start(
        runtime: Arc<Runtime>,
        file: ServersFile,
    ) -> Result<Arc<Self>, GatewayError> {
        let upstreams: Vec<Upstream> = file.servers.into_iter().map(Upstream::new).collect();
        let mut offers = Offers::default();
        for u in &upstreams {
            let c = u.capabilities().await?;
            offers.resources |= c.resources.is_some();
            offers.prompts |= c.prompts.is_some();
        }
        let gateway = Arc::new(Gateway {
            runtime,
            upstreams,
            options: file.gateway,
            catalog: RwLock::new(Catalog::default()),
            approvals: Approvals::default(),
            passthrough: Passthrough::default(),
            offers,
            calls: AtomicU64::new(0),
            call_prefix: format!("mcp-{:x}-{:x}", now_ms(), std::process::id()),
            outcomes: TaskTracker::new(),
        });
        let collisions = gateway.refresh().await?;
        if let Some(c) = collisions.into_iter().next() {
            return Err(c.into());
        }
        Ok(gateway)
    }

    /// The runtime that decides.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// List every upstream's tools again, log new and changed definitions,
    /// and swap in the merged catalog. Returns the collisions (withheld).
    async fn refresh(&self) -> Result<Vec<Collision>, UpstreamError> {
        let mut all = Vec::with_capacity(self.upstreams.len());
        for upstream in &self.upstreams {
            all.push(upstream.list_tools().await?);
        }
        let listed: Vec<Listed<'_>> = self
            .upstreams
            .iter()
            .zip(all)
            .map(|(u, tools)| Listed {
                server: &u.config().name,
                prefix: &u.config().action_prefix,
                tools,
            })
            .collect();
        let (next, collisions, changes) = self
            .catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .merge(&listed);
        for c in &collisions {
            tracing::error!("{c}; the name is withheld");
        }
        if !changes.is_empty() {
            let runtime = self.runtime.clone();
            let generation = runtime.generation();
            let logged = tokio::task::spawn_blocking(move || {
                for change in changes {
                    if change.previous.is_some() {
                        tracing::warn!(
                            "MCP tool {}/{} changed its definition ({} -> {})",
                            change.server,
                            change.tool,
                            change.previous.as_deref().unwrap_or(""),
                            change.digest
                        );
                    }
                    let event = LogEvent::ToolDefinition {
                        server: change.server,
                        tool: change.tool,
                        digest: change.digest,
                        previous: change.previous,
                    };
                    if let Err(e) = runtime.log().append(&event, generation) {
                        tracing::error!("cannot log a tool definition: {e}");
                    }
                }
            });
            if let Err(e) = logged.await {
                tracing::error!("cannot log tool definitions: {e}");
            }
        }
        *self.catalog.write().unwrap_or_else(PoisonError::into_inner) = next;
        Ok(collisions)
    }

    /// `tools/list`: the upstreams' tools, merged, listed afresh (so a
    /// changed definition is seen and logged), without the tools the
    /// policies deny `caller` outright (`hide_denied_tools`).
    pub async fn list_tools(&self, caller: &Caller) -> Result<Vec<Tool>, ErrorData> {
        self.refresh()
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let tools = self
            .catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .tools()
            .to_vec();
        if self.options.hide_denied_tools.is_empty() {
            return Ok(tools);
        }
        let runtime = self.runtime.clone();
        let hide = self.options.hide_denied_tools.clone();
        let caller = caller.clone();
        let prefix = self.call_prefix.clone();
        tokio::task::spawn_blocking(move || {
            let live = runtime.policies();
            let empty = serde_json::Map::new();
            tools
                .into_iter()
                .filter(|tool| {
                    let probe = ToolCall {
                        agent: &caller.agent,
                        action: &tool.name,
                        arguments: &empty,
                        session: caller.session.as_deref(),
                        request_id: &format!("{prefix}-probe"),
                    };
                    // A name the request contract refuses is listed: its
                    // calls are refused by name anyway.
                    let Ok(request) = to_request(&probe, None) else {
                        return true;
                    };
                    let decision = live.set.evaluate(&request);
                    !(decision.verdict == Verdict::Deny
                        && decision
                            .reasons
                            .iter()
                            .any(|r| r.verdict == Verdict::Deny && hide.contains(&r.code)))
                })
                .collect()
        })
        .await
        .map_err(|e| ErrorData::internal_error(format!("listing tools failed: {e}"), None))
    }

    fn next_request_id(&self) -> String {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.call_prefix)
    }

    /// `tools/call`, governed.
    pub async fn call_tool(
        &self,
        caller: &Caller,
        params: CallToolRequestParams,
        context: &CallContext,
    ) -> Result<CallToolResult, ErrorData> {
        let name = params.name.to_string();
        let mut route = self.route(&name);
        if route.is_none() {
            // A tool added upstream since the last list.
            if let Err(e) = self.refresh().await {
                tracing::warn!("cannot refresh the tool list: {e}");
            }
            route = self.route(&name);
        }
        let Some(route) = route else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{}`", name.escape_debug()),
                None,
            ));
        };
        let Some(upstream) = self.upstreams.get(route.server) else {
            return Err(ErrorData::internal_error("no such upstream", None));
        };
        let shape = upstream.config().deny_as;
        let arguments = params.arguments.clone().unwrap_or_default();
        let request_id = self.next_request_id();
        let call = ToolCall {
            agent: &caller.agent,
            action: &name,
            arguments: &arguments,
            session: caller.session.as_deref(),
            request_id: &request_id,
        };
        let request = match to_request(&call, upstream.config().tools.get(&route.tool)) {
            Ok(r) => r,
            Err(e) => {
                return Refusal::own("deny", "bad-arguments", e.to_string(), &request_id)
                    .answer(shape);
            }
        };
        let digest = call_digest(&caller.agent, &name, &arguments);
        let seq = match self.approvals.get(&digest) {
            // An identical call is held for a reviewer: pick up the answer.
            Some(held) => self.await_review(&digest, held, context).await?,
            None => {
                let decision = self.decide(request.clone()).await?;
                match decision.verdict {
                    Verdict::Approve => Ok(decision.seq),
                    Verdict::Deny => Err(Refusal::denied(&decision)),
                    Verdict::Escalate => {
                        let Some(ticket) = &decision.escalation else {
                            return Refusal::denied(&decision).answer(shape);
                        };
                        let held = Held {
                            escalation: ticket.id.clone(),
                            seq: decision.seq,
                            request_id: decision.request_id.clone(),
                        };
                        self.approvals.hold(digest.clone(), held.clone());
                        self.await_review(&digest, held, context).await?
                    }
                }
            }
        };
        let seq = match seq {
            Ok(seq) => seq,
            Err(refusal) => return refusal.answer(shape),
        };
        let mut upstream_params = CallToolRequestParams::new(route.tool.clone());
        upstream_params.arguments = params.arguments;
        let called = tokio::select! {
            r = upstream.call_tool(upstream_params) => r,
            () = context.cancel.cancelled() => {
                self.report(seq, OutcomeStatus::Failed);
                return Err(ErrorData::internal_error("the call was cancelled", None));
            }
        };
        match called {
            Ok(result) => {
                let status = match result.is_error {
                    Some(true) => OutcomeStatus::Failed,
                    _ => OutcomeStatus::Completed,
                };
                self.report(seq, status);
                if self.options.results == ResultScan::Off || result.is_error == Some(true) {
                    return Ok(result);
                }
                let scanned = scan_result(self, &request, result, self.options.results).await?;
                match scanned {
                    Ok(result) => Ok(result),
                    Err(refusal) => refusal.answer(shape),
                }
            }
            Err(UpstreamError::Failed {
                error: Some(error), ..
            }) => {
                // The upstream's own protocol answer goes back as it came.
                self.report(seq, OutcomeStatus::Failed);
                Err(error)
            }
            Err(e) => {
                self.report(seq, OutcomeStatus::Failed);
                let code = match e {
                    UpstreamError::Timeout { .. } => "upstream-timeout",
                    _ => "upstream-failed",
                };
                let mut refusal = Refusal::own("error", code, e.to_string(), &request_id);
                refusal.seq = seq;
                // Not a refusal by policy: always a result the model reads.
                Ok(refusal.to_result())
            }
        }
    }

    fn route(&self, name: &str) -> Option<super::catalog::Route> {
        self.catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .route(name)
            .cloned()
    }

    /// Decide. With the buffered log a decision is microseconds of
    /// policy code and a queued record, so it runs right here; with the
    /// durable log it waits for the disk, on the blocking pool.
    pub(super) async fn decide(&self, request: Request) -> Result<Decision, ErrorData> {
        if self.runtime.log().mode() == LogMode::Buffered {
            return Ok(self.runtime.decide(&request));
        }
        let runtime = self.runtime.clone();
        tokio::task::spawn_blocking(move || runtime.decide(&request))
            .await
            .map_err(|e| ErrorData::internal_error(format!("the decision failed: {e}"), None))
    }

    /// Report an approved call's outcome in the background (only a
    /// committed decision has a `seq` to report on).
    fn report(&self, seq: Option<u64>, status: OutcomeStatus) {
        let Some(seq) = seq else { return };
        let runtime = self.runtime.clone();
        self.outcomes.spawn_blocking(move || {
            if let Err(e) = runtime.report_outcome(seq, status, None) {
                tracing::warn!("cannot report the outcome of decision {seq}: {e}");
            }
        });
    }

    /// Wait for every outcome report in flight (at shutdown).
    pub async fn drain(&self) {
        self.outcomes.close();
        self.outcomes.wait().await;
    }

    /// What the upstreams offer beside tools.
    pub fn offers(&self) -> Offers {
        self.offers
    }

    /// The methods passed through, and the upstreams they go to.
    pub fn passthrough(&self) -> (&Passthrough, &[Upstream]) {
        (&self.passthrough, &self.upstreams)
    }

    /// The options in force.
    pub fn options(&self) -> &GatewayOptions {
        &self.options
    }
}
