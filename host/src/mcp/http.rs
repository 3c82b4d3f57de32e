//! Streamable HTTP on `/mcp`: each bearer token maps to one agent id.
//!
//! The tokens file (readable by its owner only, like the admin token):
//!
//! ```toml
//! [agents]
//! support-bot = "a-long-random-token-for-support-bot"
//! billing-bot = ["current-token-of-billing", "the-next-one-during-rotation"]
//! ```
//!
//! A request without a valid token gets a 401. The agent a call is made
//! as comes only from the token, never from anything in the request body.

use super::gateway::Gateway;
use super::handler::{AuthenticatedAgent, GatewayHandler};
use crate::bounded_read::read_regular_text;
use crate::identifier::{identifier_key, validate_identifier};
use crate::service::{ApiError, Token, bearer};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::WWW_AUTHENTICATE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// Largest tokens file read, in bytes.
pub const MAX_TOKENS_FILE: u64 = 1024 * 1024;

/// The path the endpoint is served on.
pub const MCP_PATH: &str = "/mcp";

/// Bearer tokens and the agents they stand for.
#[derive(Debug, Clone)]
pub struct AgentTokens {
    tokens: Vec<(Token, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    agents: BTreeMap<String, toml::Value>,
}

impl AgentTokens {
    /// Read the tokens file: a regular file that only its owner can read.
    pub fn load(path: &Path) -> Result<Self, String> {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read the tokens file {}: {e}", path.display()))?;
        crate::log::keys::owner_only(&meta)
            .map_err(|why| format!("the tokens file {}: {why}", path.display()))?;
        let text = read_regular_text(path, MAX_TOKENS_FILE)
            .map_err(|e| format!("cannot read the tokens file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("the tokens file {}: {e}", path.display()))
    }

    /// Parse the file's text; errors name the agent at fault, never a token.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawTokens = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut tokens = Vec::new();
        let mut seen_tokens = HashSet::new();
        let mut seen_agents = HashSet::new();
        for (agent, given) in raw.agents {
            validate_identifier(&agent)
                .map_err(|e| format!("agent `{}`: the id {e}", agent.escape_debug()))?;
            if !seen_agents.insert(identifier_key(&agent)) {
                return Err(format!(
                    "agent `{agent}` appears twice (ids differing only in case are one agent)"
                ));
            }
            let shape =
                || format!("agent `{agent}`: give a token string or a list of token strings");
            let list: Vec<String> = match given {
                toml::Value::String(t) => vec![t],
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        toml::Value::String(t) => Ok(t),
                        _ => Err(shape()),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(shape()),
            };
            if list.is_empty() {
                return Err(format!("agent `{agent}` has no token"));
            }
            for text in list {
                let token = Token::new(&text).map_err(|e| format!("agent `{agent}`: {e}"))?;
                if !seen_tokens.insert(text.trim().to_owned()) {
                    return Err(format!(
                        "agent `{agent}`: a token is given twice; each token names one agent"
                    ));
                }
                tokens.push((token, agent.clone()));
            }
        }
        if tokens.is_empty() {
            return Err("no agents under [agents]: nobody could call".to_owned());
        }
        Ok(AgentTokens { tokens })
    }

    /// The agent `offered` stands for. Every token is compared in constant
    /// time, whichever matches.
    pub fn agent(&self, offered: &[u8]) -> Option<&str> {
        let mut found = None;
        for (token, agent) in &self.tokens {
            if token.matches(offered) && found.is_none() {
                found = Some(agent.as_str());
            }
        }
        found
    }
}

/// The `/mcp` endpoint, for `gavel mcp-gateway --listen` and for
/// `gavel serve --mcp-servers`.
pub fn router(
    gateway: Arc<Gateway>,
    tokens: Arc<AgentTokens>,
    allowed_hosts: Vec<String>,
) -> Router {
    let mut config = StreamableHttpServerConfig::default();
    if !allowed_hosts.is_empty() {
        config = config.with_allowed_hosts(allowed_hosts);
    }
    let service: StreamableHttpService<GatewayHandler, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(GatewayHandler::bearer(gateway.clone())),
            Arc::new(LocalSessionManager::default()),
            config,
        );
    Router::new()
        .nest_service(MCP_PATH, service)
        .layer(axum::middleware::from_fn_with_state(tokens, authenticate))
}

async fn authenticate(
    State(tokens): State<Arc<AgentTokens>>,
    mut request: Request,
    next: Next,
) -> Response {
    let agent = match bearer(request.headers()) {
        Ok(Some(offered)) => tokens.agent(offered).map(str::to_owned),
        Ok(None) => None,
        Err(e) => return e.into_response(),
    };
    let Some(agent) = agent else {
        let mut response = ApiError::unauthorized(
            "the MCP endpoint needs an agent's bearer token (Authorization: Bearer ...)",
        )
        .into_response();
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
        return response;
    };
    // Whatever the client sent, the agent is the token's.
    request.extensions_mut().insert(AuthenticatedAgent(agent));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "token-of-support-bot-0001";
    const B: &str = "token-of-billing-bot-0001";

    #[test]
    fn each_token_names_its_agent() {
        let t = AgentTokens::parse(&format!(
            "[agents]\nsupport-bot = \"{A}\"\nbilling-bot = [\"{B}\", \"token-of-billing-bot-0002\"]\n"
        ))
        .unwrap();
        assert_eq!(t.agent(A.as_bytes()), Some("support-bot"));
        assert_eq!(t.agent(B.as_bytes()), Some("billing-bot"));
        assert_eq!(t.agent(b"token-of-billing-bot-0002"), Some("billing-bot"));
        assert_eq!(t.agent(b"token-of-nobody-at-all-01"), None);
        assert_eq!(t.agent(b""), None);
    }

    /// One row per file: a fragment its refusal must hold.
    #[test]
    fn bad_files_are_refused_by_name() {
        let rows = [
            ("", "agents"),
            ("[agents]\n", "no agents"),
            ("[agents]\nbot = \"short\"\n", "at least"),
            (
                "[agents]\n\"a b\" = \"token-of-support-bot-0001\"\n",
                "agent `a b`",
            ),
            (
                "[agents]\na = \"token-of-support-bot-0001\"\nb = \"token-of-support-bot-0001\"\n",
                "given twice",
            ),
            (
                "[agents]\nBot = \"token-of-support-bot-0001\"\nbot = \"token-of-support-bot-0002\"\n",
                "twice",
            ),
            ("[agents]\nbot = []\n", "no token"),
            ("[agents]\nbot = 5\n", "agent `bot`: give a token string"),
            ("[other]\nx = 1\n", "other"),
        ];
        for (text, fragment) in rows {
            let e = AgentTokens::parse(text).unwrap_err();
            assert!(e.contains(fragment), "{text:?}: {e}");
            assert!(!e.contains("token-of"), "{text:?}: a token leaked into {e}");
        }
    }
}
