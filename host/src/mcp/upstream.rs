//! One upstream MCP server: a child process spoken to on stdio, or a
//! streamable HTTP endpoint. Connected on first use; a connection whose
//! transport died (a child that exited, a server that went away) is
//! dropped, and the next call connects again (a child is restarted). Every
//! call has the server's timeout, so an upstream that hangs costs that one
//! call an error result, never the gateway.

use super::servers::{ServerConfig, Transport};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ServerCapabilities, Tool,
};
use rmcp::service::{Peer, RunningService, ServiceError};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use std::future::Future;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Why a call to an upstream failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    /// The child could not be started, or the handshake failed.
    #[error("cannot connect to upstream `{server}`: {why}")]
    Connect {
        /// The server's name.
        server: String,
        /// Why.
        why: String,
    },
    /// No answer within the server's timeout.
    #[error("upstream `{server}` did not answer within {timeout:?}")]
    Timeout {
        /// The server's name.
        server: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The transport failed or closed (the child died, the answer was not
    /// MCP), or the server answered with a JSON-RPC error.
    #[error("upstream `{server}` failed: {why}")]
    Failed {
        /// The server's name.
        server: String,
        /// Why.
        why: String,
        /// The JSON-RPC error the server answered with, if it did.
        error: Option<ErrorData>,
    },
}

/// The gateway's side of an upstream connection. Requests the upstream
/// makes of its client are refused (sampling: method not found) or
/// declined (elicitation), as an MCP client without those capabilities
/// answers them: the gateway shares one connection per upstream among all
/// its agents, so it cannot tell whose model or user such a request is for.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpstreamClient;

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("gavel-mcp-gateway", env!("CARGO_PKG_VERSION")),
        )
    }
}

type Connection = RunningService<RoleClient, UpstreamClient>;

/// One upstream and its (lazily made) connection.
#[derive(Debug)]
pub struct Upstream {
    config: ServerConfig,
    connection: Mutex<Option<Arc<Connection>>>,
}

impl Upstream {
    /// An upstream, not yet connected.
    pub fn new(config: ServerConfig) -> Self {
        Upstream {
            config,
            connection: Mutex::new(None),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The live connection, connecting (or restarting the child) if there
    /// is none or the last one closed.
    async fn connection(&self) -> Result<Arc<Connection>, UpstreamError> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref()
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        *slot = None;
        let connected = tokio::time::timeout(self.config.timeout, self.connect())
            .await
            .map_err(|_| UpstreamError::Timeout {
                server: self.config.name.clone(),
                timeout: self.config.timeout,
            })??;
        let connected = Arc::new(connected);
        *slot = Some(connected.clone());
        Ok(connected)
    }

    async fn connect(&self) -> Result<Connection, UpstreamError> {
        let failed = |why: String| UpstreamError::Connect {
            server: self.config.name.clone(),
            why,
        };
        match &self.config.transport {
            Transport::Stdio { command, args, env } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args).envs(env).kill_on_drop(true);
                // The child's stderr goes where the gateway's goes; its
                // stdout is the MCP channel.
                let (child, _) = TokioChildProcess::builder(cmd)
                    .stderr(Stdio::inherit())
                    .spawn()
                    .map_err(|e| failed(format!("cannot start `{command}`: {e}")))?;
                UpstreamClient
                    .serve(child)
                    .await
                    .map_err(|e| failed(e.to_string()))
            }
            Transport::Http { url } => {
                crate::tls::init();
                let transport = StreamableHttpClientTransport::from_uri(url.as_str());
                UpstreamClient
                    .serve(transport)
                    .await
                    .map_err(|e| failed(e.to_string()))
            }
        }
    }

    /// Forget a connection that failed, so the next call makes a new one.
    async fn drop_if_closed(&self, used: &Arc<Connection>) {
        let mut slot = self.connection.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, used)) {
            *slot = None;
        }
    }

    fn failure(&self, e: ServiceError) -> UpstreamError {
        let error = match &e {
            ServiceError::McpError(data) => Some(data.clone()),
            _ => None,
        };
        UpstreamError::Failed {
            server: self.config.name.clone(),
            why: e.to_string(),
            error,
        }
    }

    /// Send one request through `send` (given the connection's peer), with
    /// the server's timeout. A transport failure drops the connection, so
    /// the next request connects again; the server's own JSON-RPC error
    /// does not.
    pub async fn request<T, F, Fut>(&self, send: F) -> Result<T, UpstreamError>
    where
        F: FnOnce(Peer<RoleClient>) -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        let connection = self.connection().await?;
        let sent = tokio::time::timeout(self.config.timeout, send(connection.peer().clone()));
        match sent.await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                if !matches!(e, ServiceError::McpError(_)) {
                    self.drop_if_closed(&connection).await;
                }
                Err(self.failure(e))
            }
            Err(_) => Err(UpstreamError::Timeout {
                server: self.config.name.clone(),
                timeout: self.config.timeout,
            }),
        }
    }

    /// Call one of its tools (by its own name, without the prefix).
    pub async fn call_tool(
        &self,
        params: CallToolRequestParams,
    ) -> Result<CallToolResult, UpstreamError> {
        self.request(|peer| async move { peer.call_tool(params).await })
            .await
    }

    /// Every tool it offers (following pagination).
    pub async fn list_tools(&self) -> Result<Vec<Tool>, UpstreamError> {
        self.request(|peer| async move { peer.list_all_tools().await })
            .await
    }

    /// What it said it offers in the handshake (connecting if need be).
    pub async fn capabilities(&self) -> Result<ServerCapabilities, UpstreamError> {
        let connection = self.connection().await?;
        Ok(connection
            .peer()
            .peer_info()
            .map(|info| info.capabilities.clone())
            .unwrap_or_default())
    }
}
