//! The MCP server side of the gateway: what an agent's MCP client talks
//! to, on stdio or streamable HTTP. `tools/list` and `tools/call` are
//! governed by [`Gateway`]; resources and prompts pass through
//! ([`super::passthrough`]); `ping` and the handshake are answered here.

use super::gateway::{CallContext, Caller, Gateway};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, GetPromptRequestParams, GetPromptResponse,
    Implementation, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::sync::Arc;

/// The agent a request is made as, put into the HTTP request's extensions
/// by the bearer-token check (never read from what the client wrote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedAgent(pub String);

/// Where a session's agent comes from.
#[derive(Debug, Clone)]
enum Identity {
    /// Fixed for the whole connection (`--stdio --agent ID`).
    Fixed(Caller),
    /// From each HTTP request's verified bearer token.
    Bearer,
}

/// One MCP session's handler.
#[derive(Debug, Clone)]
pub struct GatewayHandler {
    gateway: Arc<Gateway>,
    identity: Identity,
}

impl GatewayHandler {
    /// A handler whose every call is made as `agent`, in `session`.
    pub fn fixed(gateway: Arc<Gateway>, agent: String, session: String) -> Self {
        GatewayHandler {
            gateway,
            identity: Identity::Fixed(Caller {
                agent,
                session: Some(session),
            }),
        }
    }

    /// A handler that takes the agent from each HTTP request's verified
    /// token, and the session from its `Mcp-Session-Id` header.
    pub fn bearer(gateway: Arc<Gateway>) -> Self {
        GatewayHandler {
            gateway,
            identity: Identity::Bearer,
        }
    }

    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
        match &self.identity {
            Identity::Fixed(caller) => Ok(caller.clone()),
            Identity::Bearer => {
                let parts = context.extensions.get::<axum::http::request::Parts>();
                let agent = parts
                    .and_then(|p| p.extensions.get::<AuthenticatedAgent>())
                    .ok_or_else(|| {
                        ErrorData::invalid_request("no authenticated agent for this request", None)
                    })?;
                let session = parts
                    .and_then(|p| p.headers.get("mcp-session-id"))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Ok(Caller {
                    agent: agent.0.clone(),
                    session,
                })
            }
        }
    }
}

impl ServerHandler for GatewayHandler {
    fn get_info(&self) -> ServerConfig {
        let offers = self.gateway.offers();
        let capabilities = match (offers.resources, offers.prompts) {
            (true, true) => ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
            (true, false) => ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
            (false, true) => ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .build(),
            (false, false) => ServerCapabilities::builder().enable_tools().build(),
        };
        let mut info = ServerConfig::new(capabilities);
        info.server_info = Implementation::new("gavel-mcp-gateway", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "Every tool call is decided by Gavel's policies before it reaches the tool. \
             A refused call returns an error result naming the policy and the reason."
                .to_owned(),
        );
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&context)?;
        let tools = self.gateway.list_tools(&caller).await?;
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let (p, upstreams) = self.gateway.passthrough();
        Ok(ListResourcesResult::with_all_items(
            p.list_resources(upstreams).await?,
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let (p, upstreams) = self.gateway.passthrough();
        Ok(ListResourceTemplatesResult::with_all_items(
            p.list_resource_templates(upstreams).await?,
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let (p, upstreams) = self.gateway.passthrough();
        Ok(ReadResourceResponse::Complete(
            p.read_resource(upstreams, request).await?,
        ))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let (p, upstreams) = self.gateway.passthrough();
        Ok(ListPromptsResult::with_all_items(
            p.list_prompts(upstreams).await?,
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let (p, upstreams) = self.gateway.passthrough();
        Ok(GetPromptResponse::Complete(
            p.get_prompt(upstreams, request).await?,
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller(&context)?;
        let call = CallContext {
            cancel: context.ct.clone(),
            progress: context
                .meta
                .get_progress_token()
                .map(|token| (context.peer.clone(), token)),
        };
        let result = self.gateway.call_tool(&caller, request, &call).await?;
        Ok(CallToolResponse::Complete(result))
    }
}
