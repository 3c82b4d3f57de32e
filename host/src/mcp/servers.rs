//! The servers file: the upstream MCP servers a gateway fronts, how their
//! tool calls map onto Gavel requests, and the gateway's own options.
//!
//! ```toml
//! [gateway]
//! escalation_wait = "60s"   # how long a call waits for a reviewer
//! results = "off"           # "off" | "block" | "redact": scan tool results
//! hide_denied_tools = ["forbidden-action"]  # tools/list hides what is denied outright
//!
//! [servers.shop]            # launched as a child process, spoken to on stdio
//! command = "python3"
//! args = ["shop_server.py"]
//! env = { SHOP_DB = "shop.db" }
//!
//! [servers.docs]            # or reached over streamable HTTP
//! url = "http://127.0.0.1:9000/mcp"
//! action_prefix = "docs."
//!
//! [servers.shop.tools.issue_refund]
//! amount = "/amount"        # JSON pointers into the tool's arguments
//! currency = "/currency"
//! ```

use crate::bounded_read::read_regular_text;
use crate::identifier::is_identifier_char;
use crate::service::parse_duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Largest servers file read, in bytes.
pub const MAX_SERVERS_FILE: u64 = 1024 * 1024;

/// How long one upstream call may take, unless a server says otherwise.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a call waits for a reviewer, unless the file says otherwise.
pub const DEFAULT_ESCALATION_WAIT: Duration = Duration::from_secs(60);

/// Why a servers file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServersError {
    /// Not readable, not a regular file, or too large.
    #[error("cannot read the servers file {path}: {why}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// Not valid TOML for this format, or a value out of range.
    #[error("the servers file {path}: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// What was wrong, naming the key.
        why: String,
    },
}

/// What happens to tool results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResultScan {
    /// Results go back as they came.
    #[default]
    Off,
    /// A result that policies deny (action `result:<tool>`) is replaced by
    /// an error result naming the policy.
    Block,
    /// The values a denying policy found (PII, secrets) are masked; the
    /// rest of the result goes back. A deny without findings blocks.
    Redact,
}

/// How a refused call is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DenyAs {
    /// A tool result with `isError: true`, which the model reads.
    #[default]
    Result,
    /// A JSON-RPC error.
    Error,
}

/// The `[gateway]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayOptions {
    /// How long a call waits for a reviewer (never beyond the escalation's
    /// own deadline).
    pub escalation_wait: Duration,
    /// Whether tool results pass through the policies.
    pub results: ResultScan,
    /// `tools/list` hides a tool when the policies, asked about a call to
    /// it with no arguments, deny it with one of these codes (e.g.
    /// `forbidden-action`). Empty: every tool is listed.
    pub hide_denied_tools: Vec<String>,
}

/// How an upstream is reached.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// A child process spoken to on its stdin and stdout.
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables.
        env: BTreeMap<String, String>,
    },
    /// Streamable HTTP at this URL.
    Http {
        /// The endpoint, e.g. `http://127.0.0.1:9000/mcp`.
        url: String,
    },
}

/// Where a tool's amount and currency are in its arguments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolMapping {
    /// JSON pointer to the amount (a number).
    pub amount: Option<String>,
    /// JSON pointer to the currency (a string).
    pub currency: Option<String>,
}

/// One upstream server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Its name in the file.
    pub name: String,
    /// How it is reached.
    pub transport: Transport,
    /// Prepended to its tool names to form action names.
    pub action_prefix: String,
    /// How refusals are answered.
    pub deny_as: DenyAs,
    /// How long one call may take.
    pub timeout: Duration,
    /// Per-tool argument mapping.
    pub tools: BTreeMap<String, ToolMapping>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq)]
pub struct ServersFile {
    /// `[gateway]`.
    pub gateway: GatewayOptions,
    /// The servers, by name.
    pub servers: Vec<ServerConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    gateway: RawGateway,
    #[serde(default)]
    servers: BTreeMap<String, RawServer>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    escalation_wait: Option<String>,
    #[serde(default)]
    results: ResultScan,
    #[serde(default)]
    hide_denied_tools: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    url: Option<String>,
    #[serde(default)]
    action_prefix: String,
    #[serde(default)]
    deny_as: DenyAs,
    timeout: Option<String>,
    #[serde(default)]
    tools: BTreeMap<String, RawTool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    amount: Option<String>,
    currency: Option<String>,
}

impl ServersFile {
    /// Read and check a servers file (a regular file, at most
    /// [`MAX_SERVERS_FILE`] bytes).
    pub fn load(path: &Path) -> Result<Self, ServersError> {
        let text = read_regular_text(path, MAX_SERVERS_FILE).map_err(|e| ServersError::Read {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Self::parse(&text).map_err(|why| ServersError::Invalid {
            path: path.display().to_string(),
            why,
        })
    }

    /// Parse and check the file's text; the error names the key at fault.
    pub fn parse(text: &str) -> Result<Self, String> {
        let root = toml::de::DeTable::parse(text).map_err(|e| e.message().to_owned())?;
        let raw: RawFile = serde_path_to_error::deserialize(toml::de::Deserializer::from(root))
            .map_err(|e| format!("`{}`: {}", e.path(), e.inner().message()))?;
        if raw.servers.is_empty() {
            return Err("no [servers.NAME] table: a gateway needs at least one upstream".into());
        }
        let escalation_wait = match raw.gateway.escalation_wait {
            Some(text) => {
                parse_duration(&text).map_err(|e| format!("`gateway.escalation_wait`: {e}"))?
            }
            None => DEFAULT_ESCALATION_WAIT,
        };
        let mut servers = Vec::with_capacity(raw.servers.len());
        for (name, server) in raw.servers {
            servers.push(check_server(name, server)?);
        }
        Ok(ServersFile {
            gateway: GatewayOptions {
                escalation_wait,
                results: raw.gateway.results,
                hide_denied_tools: raw.gateway.hide_denied_tools,
            },
            servers,
        })
    }
}

fn check_server(name: String, raw: RawServer) -> Result<ServerConfig, String> {
    let at = |key: &str| format!("`servers.{name}.{key}`");
    if name.is_empty() || !name.chars().all(is_identifier_char) {
        return Err(format!(
            "`servers.{name}`: a server name is ASCII letters, digits, `_`, `-`, `.`, `:` or `/`"
        ));
    }
    let transport = match (raw.command, raw.url) {
        (Some(command), None) => {
            if command.trim().is_empty() {
                return Err(format!("{}: is empty", at("command")));
            }
            Transport::Stdio {
                command,
                args: raw.args,
                env: raw.env,
            }
        }
        (None, Some(url)) => {
            if !raw.args.is_empty() || !raw.env.is_empty() {
                return Err(format!(
                    "`servers.{name}`: `args` and `env` belong to a `command`, not a `url`"
                ));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{}: `{url}` is not an http:// URL", at("url")));
            }
            Transport::Http { url }
        }
        (Some(_), Some(_)) => {
            return Err(format!(
                "`servers.{name}`: give `command` (a child process) or `url` (streamable HTTP), not both"
            ));
        }
        (None, None) => {
            return Err(format!(
                "`servers.{name}`: give `command` (a child process) or `url` (streamable HTTP)"
            ));
        }
    };
    if !raw.action_prefix.chars().all(is_identifier_char) {
        return Err(format!(
            "{}: `{}` may hold only ASCII letters, digits, `_`, `-`, `.`, `:` and `/`",
            at("action_prefix"),
            raw.action_prefix.escape_debug()
        ));
    }
    let timeout = match raw.timeout {
        Some(text) => match parse_duration(&text) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => return Err(format!("{}: must not be zero", at("timeout"))),
            Err(e) => return Err(format!("{}: {e}", at("timeout"))),
        },
        None => DEFAULT_CALL_TIMEOUT,
    };
    let mut tools = BTreeMap::new();
    for (tool, mapping) in raw.tools {
        for (key, pointer) in [("amount", &mapping.amount), ("currency", &mapping.currency)] {
            if let Some(p) = pointer
                && !p.starts_with('/')
            {
                return Err(format!(
                    "{}: `{p}` is not a JSON pointer (it starts with `/`, e.g. `/amount`)",
                    at(&format!("tools.{tool}.{key}"))
                ));
            }
        }
        tools.insert(
            tool,
            ToolMapping {
                amount: mapping.amount,
                currency: mapping.currency,
            },
        );
    }
    Ok(ServerConfig {
        name,
        transport,
        action_prefix: raw.action_prefix,
        deny_as: raw.deny_as,
        timeout,
        tools,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per file: the text, and a fragment the error must hold
    /// (`None`: the file is accepted).
    const CASES: &[(&str, Option<&str>)] = &[
        ("[servers.a]\ncommand = \"python3\"\n", None),
        ("[servers.a]\nurl = \"http://127.0.0.1:9/mcp\"\n", None),
        ("", Some("no [servers.NAME]")),
        ("[servers.a]\n", Some("give `command`")),
        (
            "[servers.a]\ncommand = \"x\"\nurl = \"http://h/mcp\"\n",
            Some("not both"),
        ),
        ("[servers.a]\nurl = \"ftp://h\"\n", Some("`servers.a.url`")),
        (
            "[servers.a]\nurl = \"http://h\"\nargs = [\"x\"]\n",
            Some("belong to a `command`"),
        ),
        ("[servers.a]\ncommand = \"x\"\ncolour = 1\n", Some("colour")),
        (
            "[servers.a]\ncommand = \"x\"\ntimeout = \"0s\"\n",
            Some("`servers.a.timeout`"),
        ),
        (
            "[servers.a]\ncommand = \"x\"\ntimeout = \"soon\"\n",
            Some("`servers.a.timeout`"),
        ),
        (
            "[servers.a]\ncommand = \"x\"\naction_prefix = \"a b\"\n",
            Some("action_prefix"),
        ),
        (
            "[servers.a]\ncommand = \"x\"\n[servers.a.tools.t]\namount = \"amount\"\n",
            Some("`servers.a.tools.t.amount`"),
        ),
        (
            "[servers.a]\ncommand = \"x\"\ndeny_as = \"shout\"\n",
            Some("deny_as"),
        ),
        (
            "[gateway]\nresults = \"redact\"\nescalation_wait = \"2m\"\n[servers.a]\ncommand = \"x\"\n",
            None,
        ),
        (
            "[gateway]\nescalation_wait = \"later\"\n[servers.a]\ncommand = \"x\"\n",
            Some("`gateway.escalation_wait`"),
        ),
        ("[servers.\"a b\"]\ncommand = \"x\"\n", Some("server name")),
        ("[servers.a]\ncommand = \"  \"\n", Some("is empty")),
    ];

    #[test]
    fn each_file_is_accepted_or_refused_by_name() {
        for (text, expected) in CASES {
            match (ServersFile::parse(text), expected) {
                (Ok(_), None) => {}
                (Err(e), Some(fragment)) => {
                    assert!(e.contains(fragment), "{text:?}: {e} lacks {fragment}")
                }
                (got, want) => panic!("{text:?}: got {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn the_example_maps_every_key() {
        let file = ServersFile::parse(
            r#"
[servers.shop]
command = "python3"
args = ["shop_server.py"]
env = { SHOP_DB = "shop.db" }
[servers.docs]
url = "http://127.0.0.1:9000/mcp"
action_prefix = "docs."
deny_as = "error"
timeout = "5s"
[servers.shop.tools.issue_refund]
amount = "/amount"
currency = "/currency"
"#,
        )
        .unwrap();
        assert_eq!(file.gateway.escalation_wait, DEFAULT_ESCALATION_WAIT);
        assert_eq!(file.gateway.results, ResultScan::Off);
        let docs = &file.servers[0];
        assert_eq!(docs.name, "docs");
        assert_eq!(docs.action_prefix, "docs.");
        assert_eq!(docs.deny_as, DenyAs::Error);
        assert_eq!(docs.timeout, Duration::from_secs(5));
        let shop = &file.servers[1];
        assert_eq!(
            shop.tools["issue_refund"].amount.as_deref(),
            Some("/amount")
        );
        assert!(
            matches!(&shop.transport, Transport::Stdio { env, .. } if env["SHOP_DB"] == "shop.db")
        );
    }

    proptest::proptest! {
        /// Any text is answered, never a panic.
        #[test]
        fn any_text_is_answered(text in "\\PC{0,200}") {
            let _ = ServersFile::parse(&text);
        }
    }
}
