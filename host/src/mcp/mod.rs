//! The MCP gateway: every agent tool call governed, with no code in the
//! agent. An agent points its MCP client at the gateway instead of at its
//! servers; each `tools/call` becomes a Gavel decision before any upstream
//! sees it (see [`gateway`]).
//!
//! Governed: `tools/call` (decided, and its outcome reported) and
//! `tools/list` (merged across upstreams; every tool definition's digest
//! is logged when first seen and when it changes). Passed through without
//! a decision: resources and prompts (lists merged, reads and gets routed
//! to the upstream that listed them). Answered by the gateway itself: the
//! handshake and `ping`. Upstream requests to the client (sampling) are
//! refused; elicitation is declined.

pub mod approvals;
pub mod catalog;
pub mod gateway;
pub mod handler;
pub mod http;
pub mod mapping;
pub mod passthrough;
pub mod refusal;
pub mod result_scan;
pub mod review;
pub mod servers;
pub mod upstream;

pub use gateway::{Caller, Gateway, GatewayError};
pub use handler::GatewayHandler;
pub use http::AgentTokens;
pub use servers::{ServersError, ServersFile};
