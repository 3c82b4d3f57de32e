//! Figure 8: what the MCP gateway adds to a tool call, gateway against
//! direct, over stdio and over streamable HTTP.
//!
//! The upstream is [`Echo`], one trivial tool (`echo(text) -> text`),
//! served by `gavel-bench mcp-upstream` (stdio) or `gavel-bench
//! mcp-upstream --http ADDR`. One rmcp client in this process calls it
//! four ways, each on a session of its own opened before anything is
//! timed:
//!
//! - *direct stdio*: the upstream as this process's child;
//! - *gateway stdio*: `gavel mcp-gateway --stdio` as the child, the
//!   upstream as the gateway's child;
//! - *direct HTTP*: the HTTP upstream;
//! - *gateway HTTP*: `gavel mcp-gateway --listen` with a bearer token, in
//!   front of the same HTTP upstream.
//!
//! Calls are sequential (one in flight). Each path gets an untimed
//! warm-up batch, then the timed calls go in rounds, one batch per path in
//! turn, so that every path sees the same machine. Every answer is checked
//! (the tool's text back, no error result): a refused or failed call ends
//! the figure with an error, never a number.
//!
//! The decision cost is `Runtime::decide` in this process, on the same
//! policy directory with the buffered log, on the request the gateway
//! builds for that call.

use crate::stats::{Samples, show, show_opt};
use gavel::{LogMode, LogOptions, Request, Runtime, Verdict};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// The upstream's one tool.
pub const TOOL: &str = "echo";

/// The agent every call is made as (registered in `bench/stateless/`).
pub const AGENT: &str = "customer-support";

/// The text every call sends (and must get back).
pub const TEXT: &str = "hi";

/// The target: the gateway adds at most the decision plus this, at p50.
pub const TARGET: Duration = Duration::from_micros(200);

/// What the HTTP upstream prints on stdout, before its URL, when it is
/// ready.
pub const UPSTREAM_READY: &str = "gavel-bench: MCP upstream on ";

/// What `gavel mcp-gateway --listen` prints on stdout, before its URL,
/// when it is ready.
pub const GATEWAY_READY: &str = "gavel: MCP gateway on ";

/// How long a child gets to say it is ready, and one call to answer.
const WAIT: Duration = Duration::from_secs(60);

/// How many calls, per path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Untimed calls per path before any timed one.
    pub warmup: usize,
    /// Timed calls per path.
    pub calls: usize,
    /// The timed calls come in this many rounds (one batch per path each).
    pub rounds: usize,
}

// ---------------------------------------------------------------------
// The upstream.

/// The trivial upstream: one tool, `echo`, answering its `text`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

fn echo_tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": { "text": { "type": "string" } },
        "required": ["text"],
    });
    let schema: JsonObject = match schema {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    };
    Tool::new(TOOL, "Answers its text.", Arc::new(schema))
}

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("gavel-bench-echo", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![echo_tool()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != TOOL {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{}`", request.name.escape_debug()),
                None,
            ));
        }
        let text = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("text"))
            .and_then(Value::as_str)
            .ok_or_else(|| ErrorData::invalid_params("`text` (a string) is required", None))?;
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// `gavel-bench mcp-upstream [--http ADDR]`: serve [`Echo`] on stdin and
/// stdout, or on streamable HTTP at `http://ADDR/mcp` (the bound address
/// printed after [`UPSTREAM_READY`]; it stops when its stdin closes).
pub fn serve_upstream(http: Option<&str>) -> Result<(), crate::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match http {
            None => serve_stdio().await,
            Some(addr) => serve_http(addr).await,
        }
    })
}

async fn serve_stdio() -> Result<(), crate::Error> {
    let running = Echo
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("the MCP client did not complete the handshake: {e}"))?;
    running.waiting().await?;
    Ok(())
}

async fn serve_http(addr: &str) -> Result<(), crate::Error> {
    let service: StreamableHttpService<Echo, LocalSessionManager> = StreamableHttpService::new(
        || Ok(Echo),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let mut out = std::io::stdout();
    writeln!(out, "{UPSTREAM_READY}http://{local}/mcp")?;
    out.flush()?;
    // Stop when whoever started it closes our stdin (or goes away).
    let closed = async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(closed)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------
// Reading the numbers.

/// The URL in a readiness line: what follows `prefix`, up to the first
/// comma or whitespace; `None` when the line is not that line.
pub fn ready_url<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = line.trim_end().strip_prefix(prefix)?;
    let url = rest
        .split(|c: char| c == ',' || c.is_whitespace())
        .next()
        .unwrap_or_default();
    (url.starts_with("http://") && url.len() > "http://".len()).then_some(url)
}

/// `a − b` in nanoseconds (negative when `b` is larger).
pub fn minus(a: Option<Duration>, b: Option<Duration>) -> Option<i128> {
    Some(nanos(a?) - nanos(b?))
}

fn nanos(d: Duration) -> i128 {
    i128::try_from(d.as_nanos()).unwrap_or(i128::MAX)
}

/// A signed duration for a table: `+41.20 µs`, `−3.10 µs`, `-` when
/// missing.
pub fn show_signed(n: Option<i128>) -> String {
    match n {
        None => "-".to_owned(),
        Some(n) => {
            let magnitude =
                Duration::from_nanos(u64::try_from(n.unsigned_abs()).unwrap_or(u64::MAX));
            let sign = if n < 0 { "−" } else { "+" };
            format!("{sign}{}", show(magnitude))
        }
    }
}

/// Whether `extra` (the overhead beyond the decision, in nanoseconds)
/// meets [`TARGET`]: strictly below it. A missing figure does not.
pub fn meets_target(extra: Option<i128>) -> bool {
    extra.is_some_and(|n| n < nanos(TARGET))
}

/// One path's timed calls.
#[derive(Debug, Clone)]
pub struct PathResult {
    /// `direct stdio`, `gateway stdio`, ...
    pub name: &'static str,
    /// The timed calls.
    pub samples: Samples,
}

/// Everything the figure reports.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Direct and through the gateway, on stdio.
    pub stdio: (PathResult, PathResult),
    /// Direct and through the gateway, on HTTP.
    pub http: (PathResult, PathResult),
    /// `Runtime::decide` on the equivalent request.
    pub decision: Samples,
    /// How many policies that decision ran.
    pub policies_run: usize,
    /// How many policies the set holds.
    pub policies_loaded: usize,
    /// The cores the processes share.
    pub cores: usize,
    /// The budget it ran with.
    pub budget: Budget,
}

/// The markdown section for `measured`.
pub fn markdown(measured: &Measured) -> String {
    let mut m = measured.clone();
    let decision = (m.decision.p50(), m.decision.p99());
    let mut md = String::new();
    let _ = writeln!(
        md,
        "One tool call, `{TOOL}` with `{{\"text\":\"{TEXT}\"}}`, from an rmcp client in the harness to a trivial rmcp upstream (`gavel-bench mcp-upstream`, which answers the text), directly and through `gavel mcp-gateway` (agent `{AGENT}`, the four stateless policies of `bench/stateless/`), over stdio (the server a child process) and over streamable HTTP on loopback (the gateway with a bearer token). Calls are sequential; each path gets {} untimed calls, then {} timed calls in {} interleaved rounds. Every answer is checked: the text came back and the gateway approved the call.\n",
        m.budget.warmup, m.budget.calls, m.budget.rounds
    );
    let _ = writeln!(md, "| path | p50 | p99 | calls |\n|---|---:|---:|---:|");
    for p in [&mut m.stdio.0, &mut m.stdio.1, &mut m.http.0, &mut m.http.1] {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            p.name,
            show_opt(p.samples.p50()),
            show_opt(p.samples.p99()),
            p.samples.len()
        );
    }
    let _ = writeln!(
        md,
        "| the decision alone (`Runtime::decide`, buffered log) | {} | {} | {} |",
        show_opt(decision.0),
        show_opt(decision.1),
        m.decision.len()
    );
    let _ = writeln!(
        md,
        "\nThe overhead is the gateway's percentile minus the direct one; what the gateway adds beyond its decision is that minus the decision's percentile.\n"
    );
    let _ = writeln!(
        md,
        "| transport | overhead p50 | overhead p99 | overhead − decision, p50 | overhead − decision, p99 |\n|---|---:|---:|---:|---:|"
    );
    let mut verdicts = Vec::new();
    for (transport, pair) in [("stdio", &mut m.stdio), ("HTTP", &mut m.http)] {
        let over50 = minus(pair.1.samples.p50(), pair.0.samples.p50());
        let over99 = minus(pair.1.samples.p99(), pair.0.samples.p99());
        let extra50 = over50.zip(decision.0).map(|(o, d)| o - nanos(d));
        let extra99 = over99.zip(decision.1).map(|(o, d)| o - nanos(d));
        let _ = writeln!(
            md,
            "| {transport} | {} | {} | {} | {} |",
            show_signed(over50),
            show_signed(over99),
            show_signed(extra50),
            show_signed(extra99)
        );
        verdicts.push((transport, extra50));
    }
    let _ = writeln!(
        md,
        "\nThe decision ran {} of the {} policies (interest dispatch: a policy runs only for the actions it judges); its verdict was approve. The gateway is one more hop: besides its decision, the overhead holds the client's call to the gateway and the gateway's own call to the upstream, on the same transport.\n",
        m.policies_run, m.policies_loaded
    );
    let shown: Vec<String> = verdicts
        .iter()
        .map(|(t, extra)| {
            let met = if meets_target(*extra) {
                "met"
            } else {
                "not met"
            };
            format!("{t} **{met}** ({})", show_signed(*extra))
        })
        .collect();
    let _ = writeln!(
        md,
        "Target: the gateway adds the decision plus less than {} at p50: {}.\n",
        show(TARGET),
        shown.join(", ")
    );
    let _ = writeln!(
        md,
        "The gateway ran with `--log-mode buffered --no-watch`: a buffered decision has no committed `seq` when it answers, so no outcome report is written after the upstream's answer (with the durable log the call would also wait for the decision's commit). Client, gateway and upstream are separate processes sharing the machine's {} cores. The HTTP client is rmcp's default (reqwest, no idle connection reuse), the same for both HTTP paths and for the gateway's own upstream connection. For scale: agentgateway reports a p50 of 0.23 ms through its whole proxy at 3,000 requests/s.",
        m.cores
    );
    md
}

// ---------------------------------------------------------------------
// Running it.

type Client = RunningService<RoleClient, ()>;

/// Where the programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// `gavel-bench` (serves the upstream).
    pub bench: PathBuf,
    /// `gavel` (the gateway).
    pub gavel: PathBuf,
}

impl Programs {
    /// `gavel-bench` is this executable; `gavel` is beside it.
    pub fn beside(bench: &Path) -> Result<Self, crate::Error> {
        let dir = bench
            .parent()
            .ok_or_else(|| format!("{} has no directory", bench.display()))?;
        let gavel = dir.join("gavel");
        if !gavel.is_file() {
            return Err(format!(
                "the MCP figure needs the gateway at {} (build it with `cargo build --release --workspace --bins`)",
                gavel.display()
            )
            .into());
        }
        Ok(Programs {
            bench: bench.to_path_buf(),
            gavel,
        })
    }
}

/// The last lines a child wrote to its stderr file, for an error message.
fn tail(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(12);
    let shown = lines.get(from..).unwrap_or_default().join("\n  ");
    if shown.is_empty() {
        "(nothing on stderr)".to_owned()
    } else {
        format!("its stderr ({}):\n  {shown}", file.display())
    }
}

fn stderr_file(file: &Path) -> Result<std::fs::File, crate::Error> {
    std::fs::File::create(file).map_err(|e| format!("cannot create {}: {e}", file.display()).into())
}

/// A child that prints its URL on stdout when ready.
struct Listening {
    child: Child,
    url: String,
    stderr: PathBuf,
}

/// Start `command` (stdout piped, stderr to `stderr`), and wait for the
/// line that starts with `prefix`: its URL. The rest of its stdout is
/// drained (a closed pipe would fail its next write).
async fn listening(
    mut command: Command,
    prefix: &str,
    stderr: &Path,
) -> Result<Listening, crate::Error> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr_file(stderr)?)
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout from the child")?;
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = ready_url(&line, prefix) {
                return Ok::<_, std::io::Error>(Some(url.to_owned()));
            }
        }
        Ok(None)
    })
    .await;
    let url = match found {
        Ok(Ok(Some(url))) => url,
        Ok(Ok(None)) => {
            return Err(format!("it exited before saying `{prefix}…`; {}", tail(stderr)).into());
        }
        Ok(Err(e)) => return Err(format!("cannot read its stdout: {e}; {}", tail(stderr)).into()),
        Err(_) => {
            return Err(format!(
                "it did not say `{prefix}…` within {} s; {}",
                WAIT.as_secs(),
                tail(stderr)
            )
            .into());
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Listening {
        child,
        url,
        stderr: stderr.to_path_buf(),
    })
}

/// An rmcp client on a child's stdin and stdout.
async fn stdio_client(mut command: Command, stderr: &Path) -> Result<Client, crate::Error> {
    command.kill_on_drop(true);
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(stderr_file(stderr)?)
        .spawn()?;
    tokio::time::timeout(WAIT, ().serve(transport))
        .await
        .map_err(|_| format!("no handshake within {} s; {}", WAIT.as_secs(), tail(stderr)))?
        .map_err(|e| format!("the handshake failed: {e}; {}", tail(stderr)).into())
}

/// An rmcp client on streamable HTTP, with a bearer token if given.
async fn http_client(
    url: &str,
    token: Option<&str>,
    stderr: &Path,
) -> Result<Client, crate::Error> {
    // rmcp's HTTP client is reqwest on rustls, whose crypto provider is
    // installed once per process (ring, as in the gateway).
    gavel::tls::init();
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    tokio::time::timeout(WAIT, ().serve(transport))
        .await
        .map_err(|_| format!("no handshake within {} s; {}", WAIT.as_secs(), tail(stderr)))?
        .map_err(|e| format!("the handshake failed: {e}; {}", tail(stderr)).into())
}

fn echo_call() -> CallToolRequestParams {
    let mut arguments = JsonObject::new();
    arguments.insert("text".to_owned(), Value::String(TEXT.to_owned()));
    CallToolRequestParams::new(TOOL).with_arguments(arguments)
}

/// Why an answer is not the echo of an approved call; `None` when it is.
pub fn wrong_answer(result: &CallToolResult) -> Option<String> {
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    if result.is_error == Some(true) {
        return Some(format!("an error result: {}", texts.join(" ")));
    }
    match texts.as_slice() {
        [text] if *text == TEXT => None,
        _ => Some(format!("not the text sent back: {texts:?}")),
    }
}

/// One timed call, checked.
async fn call(client: &Client, name: &str, stderr: &Path) -> Result<Duration, crate::Error> {
    let params = echo_call();
    let started = Instant::now();
    let answer = tokio::time::timeout(WAIT, client.peer().call_tool(params)).await;
    let took = started.elapsed();
    let result = match answer {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => return Err(format!("{name}: the call failed: {e}; {}", tail(stderr)).into()),
        Err(_) => {
            return Err(format!(
                "{name}: no answer within {} s; {}",
                WAIT.as_secs(),
                tail(stderr)
            )
            .into());
        }
    };
    match wrong_answer(&result) {
        None => Ok(took),
        Some(why) => Err(format!("{name}: `{TOOL}` was not answered as approved: {why}").into()),
    }
}

struct Session {
    name: &'static str,
    client: Client,
    stderr: PathBuf,
    samples: Samples,
}

/// The gateway's command line, without its transport.
fn gateway_command(programs: &Programs, policies: &Path, servers: &Path, data: &Path) -> Command {
    let mut command = Command::new(&programs.gavel);
    command
        .arg("mcp-gateway")
        .arg("--policies")
        .arg(policies)
        .arg("--servers")
        .arg(servers)
        .arg("--data-dir")
        .arg(data)
        .args(["--log-mode", "buffered", "--no-watch"]);
    command
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn write_private(file: &Path, text: &str) -> Result<(), crate::Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| format!("cannot create {}: {e}", file.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// A bearer token for this run only (the gateway listens on loopback, for
/// the length of the figure).
fn run_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("gavel-bench-{:016x}-{:016x}", nanos, std::process::id())
}

/// Run the four paths and the decision; the measured numbers.
pub fn measure(
    policies: &Path,
    programs: &Programs,
    budget: Budget,
) -> Result<Measured, crate::Error> {
    let work = crate::throughput::disk_tempdir("mcp")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stdio, http) = runtime.block_on(paths(policies, programs, budget, work.path()))?;
    drop(runtime);
    let cost = decision_cost(policies, budget, &work.path().join("decide"))?;
    Ok(Measured {
        stdio,
        http,
        decision: cost.samples,
        policies_run: cost.ran,
        policies_loaded: cost.loaded,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        budget,
    })
}

async fn paths(
    policies: &Path,
    programs: &Programs,
    budget: Budget,
    work: &Path,
) -> Result<((PathResult, PathResult), (PathResult, PathResult)), crate::Error> {
    // The HTTP upstream, shared by the direct and the gateway HTTP paths.
    let mut upstream_cmd = Command::new(&programs.bench);
    upstream_cmd.args(["mcp-upstream", "--http", "127.0.0.1:0"]);
    let upstream = listening(
        upstream_cmd,
        UPSTREAM_READY,
        &work.join("upstream-http.err"),
    )
    .await
    .map_err(|e| format!("the HTTP upstream: {e}"))?;

    let stdio_servers = work.join("servers-stdio.toml");
    std::fs::write(
        &stdio_servers,
        format!(
            "[servers.bench]\ncommand = {}\nargs = [\"mcp-upstream\"]\n",
            toml_string(&programs.bench.to_string_lossy())
        ),
    )?;
    let http_servers = work.join("servers-http.toml");
    std::fs::write(
        &http_servers,
        format!("[servers.bench]\nurl = {}\n", toml_string(&upstream.url)),
    )?;
    let token = run_token();
    let tokens = work.join("tokens.toml");
    write_private(
        &tokens,
        &format!("[agents]\n{AGENT} = {}\n", toml_string(&token)),
    )?;

    let mut sessions = Vec::new();

    let mut direct = Command::new(&programs.bench);
    direct.arg("mcp-upstream");
    let stderr = work.join("upstream-stdio.err");
    let client = stdio_client(direct, &stderr)
        .await
        .map_err(|e| format!("direct stdio: {e}"))?;
    sessions.push(Session {
        name: "direct stdio",
        client,
        stderr,
        samples: Samples::with_capacity(budget.calls),
    });

    let mut gateway = gateway_command(programs, policies, &stdio_servers, &work.join("gw-stdio"));
    gateway.args(["--stdio", "--agent", AGENT]);
    let stderr = work.join("gateway-stdio.err");
    let client = stdio_client(gateway, &stderr)
        .await
        .map_err(|e| format!("gateway stdio: {e}"))?;
    sessions.push(Session {
        name: "gateway stdio",
        client,
        stderr,
        samples: Samples::with_capacity(budget.calls),
    });

    let client = http_client(&upstream.url, None, &upstream.stderr)
        .await
        .map_err(|e| format!("direct HTTP: {e}"))?;
    sessions.push(Session {
        name: "direct HTTP",
        client,
        stderr: upstream.stderr.clone(),
        samples: Samples::with_capacity(budget.calls),
    });

    let mut gateway = gateway_command(programs, policies, &http_servers, &work.join("gw-http"));
    gateway
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--tokens")
        .arg(&tokens);
    let gateway_http = listening(gateway, GATEWAY_READY, &work.join("gateway-http.err"))
        .await
        .map_err(|e| format!("gateway HTTP: {e}"))?;
    let client = http_client(&gateway_http.url, Some(&token), &gateway_http.stderr)
        .await
        .map_err(|e| format!("gateway HTTP: {e}"))?;
    sessions.push(Session {
        name: "gateway HTTP",
        client,
        stderr: gateway_http.stderr.clone(),
        samples: Samples::with_capacity(budget.calls),
    });

    for s in &sessions {
        for _ in 0..budget.warmup.max(1) {
            call(&s.client, s.name, &s.stderr).await?;
        }
    }
    let rounds = budget.rounds.clamp(1, budget.calls.max(1));
    for round in 0..rounds {
        // Spread the calls over the rounds: the first `calls % rounds`
        // rounds take one more.
        let batch = budget.calls / rounds + usize::from(round < budget.calls % rounds);
        for s in &mut sessions {
            for _ in 0..batch {
                let took = call(&s.client, s.name, &s.stderr).await?;
                s.samples.push(took);
            }
        }
    }

    let mut results = Vec::new();
    for s in sessions {
        let _ = s.client.cancel().await;
        results.push(PathResult {
            name: s.name,
            samples: s.samples,
        });
    }
    for mut child in [upstream.child, gateway_http.child] {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    let mut results = results.into_iter();
    match (
        results.next(),
        results.next(),
        results.next(),
        results.next(),
    ) {
        (Some(a), Some(b), Some(c), Some(d)) => Ok(((a, b), (c, d))),
        _ => Err("a path went missing".into()),
    }
}

/// The request the gateway builds for the call (its own request id per
/// call, its session).
fn request(i: usize) -> Result<Request, crate::Error> {
    Ok(Request::from_value(json!({
        "request_id": format!("mcp-bench-{i}"),
        "agent_id": AGENT,
        "action": TOOL,
        "params": { "text": TEXT },
        "session_id": "stdio-bench",
    }))?)
}

/// The decision's timed calls, and how many policies it ran of how many.
struct DecisionCost {
    samples: Samples,
    ran: usize,
    loaded: usize,
}

/// `Runtime::decide` on the call's request, buffered log.
fn decision_cost(
    policies: &Path,
    budget: Budget,
    data: &Path,
) -> Result<DecisionCost, crate::Error> {
    std::fs::create_dir_all(data)?;
    let options = LogOptions {
        mode: LogMode::Buffered,
        ..LogOptions::default()
    };
    let runtime = Runtime::start(policies, data, options)?;
    let warm = budget.warmup.max(1);
    let requests = (0..warm + budget.calls)
        .map(request)
        .collect::<Result<Vec<_>, _>>()?;
    let mut samples = Samples::with_capacity(budget.calls);
    let mut ran = 0;
    for (i, r) in requests.iter().enumerate() {
        let started = Instant::now();
        let decision = runtime.decide(r);
        let took = started.elapsed();
        if decision.verdict != Verdict::Approve {
            return Err(format!(
                "the decision on `{TOOL}` for {AGENT} was {:?}, not approve: {:?}",
                decision.verdict, decision.reasons
            )
            .into());
        }
        ran = decision.policies.len();
        if i >= warm {
            samples.push(took);
        }
    }
    let loaded = runtime.policies().set.policies().len();
    runtime.close()?;
    Ok(DecisionCost {
        samples,
        ran,
        loaded,
    })
}

/// The figure's markdown: measure, then [`markdown`].
pub fn run(policies: &Path, programs: &Programs, budget: Budget) -> Result<String, crate::Error> {
    Ok(markdown(&measure(policies, programs, budget)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_lines_give_their_url() {
        let rows: [(&str, &str, Option<&str>); 7] = [
            (
                "gavel: MCP gateway on http://127.0.0.1:4100/mcp, generation 1 (4 policies from x)",
                GATEWAY_READY,
                Some("http://127.0.0.1:4100/mcp"),
            ),
            (
                "gavel-bench: MCP upstream on http://127.0.0.1:39001/mcp\n",
                UPSTREAM_READY,
                Some("http://127.0.0.1:39001/mcp"),
            ),
            ("gavel: stop with Ctrl-C", GATEWAY_READY, None),
            ("gavel: MCP gateway on ", GATEWAY_READY, None),
            ("gavel: MCP gateway on http://", GATEWAY_READY, None),
            (
                "gavel: MCP gateway on stdio as agent x",
                GATEWAY_READY,
                None,
            ),
            (
                "gavel-bench: MCP upstream on http://127.0.0.1:1/mcp",
                GATEWAY_READY,
                None,
            ),
        ];
        for (line, prefix, expected) in rows {
            assert_eq!(ready_url(line, prefix), expected, "{line:?}");
        }
    }

    #[test]
    fn overheads_are_signed_and_judged_against_the_target() {
        // (gateway µs, direct µs, difference ns, shown, within the target)
        type Row = (Option<u64>, Option<u64>, Option<i128>, &'static str, bool);
        let rows: [Row; 5] = [
            (Some(500), Some(300), Some(200_000), "+200.00 µs", false),
            (Some(499), Some(300), Some(199_000), "+199.00 µs", true),
            (Some(300), Some(310), Some(-10_000), "−10.00 µs", true),
            (None, Some(300), None, "-", false),
            (Some(300), None, None, "-", false),
        ];
        for (a, b, diff, shown, met) in rows {
            let (a, b) = (a.map(Duration::from_micros), b.map(Duration::from_micros));
            assert_eq!(minus(a, b), diff, "{a:?} − {b:?}");
            assert_eq!(show_signed(diff), shown);
            assert_eq!(meets_target(diff), met, "{diff:?}");
        }
    }

    #[test]
    fn only_the_echo_of_an_approved_call_is_accepted() {
        let rows: [(CallToolResult, bool); 6] = [
            // An error result is refused even when it carries the text.
            (CallToolResult::error(vec![ContentBlock::text(TEXT)]), false),
            (
                CallToolResult::success(vec![ContentBlock::text(TEXT)]),
                true,
            ),
            (
                CallToolResult::error(vec![ContentBlock::text("denied by policy x")]),
                false,
            ),
            (
                CallToolResult::success(vec![ContentBlock::text("something else")]),
                false,
            ),
            (CallToolResult::success(vec![]), false),
            (
                CallToolResult::success(vec![ContentBlock::text(TEXT), ContentBlock::text(TEXT)]),
                false,
            ),
        ];
        for (result, ok) in rows {
            assert_eq!(wrong_answer(&result).is_none(), ok, "{result:?}");
        }
    }

    fn samples(micros: &[u64]) -> Samples {
        let mut s = Samples::default();
        for m in micros {
            s.push(Duration::from_micros(*m));
        }
        s
    }

    #[test]
    fn the_figure_reports_each_path_and_the_verdict_per_transport() {
        let path = |name, micros: &[u64]| PathResult {
            name,
            samples: samples(micros),
        };
        let measured = Measured {
            stdio: (
                path("direct stdio", &[100, 100, 100]),
                path("gateway stdio", &[250, 250, 250]),
            ),
            http: (
                path("direct HTTP", &[300, 300, 300]),
                path("gateway HTTP", &[700, 700, 700]),
            ),
            decision: samples(&[5, 5, 5]),
            policies_run: 0,
            policies_loaded: 4,
            cores: 2,
            budget: Budget {
                warmup: 1,
                calls: 3,
                rounds: 1,
            },
        };
        let md = markdown(&measured);
        for expected in [
            "| gateway stdio | 250.00 µs | 250.00 µs | 3 |",
            "| stdio | +150.00 µs | +150.00 µs | +145.00 µs | +145.00 µs |",
            "| HTTP | +400.00 µs | +400.00 µs | +395.00 µs | +395.00 µs |",
            "stdio **met** (+145.00 µs), HTTP **not met** (+395.00 µs)",
            "ran 0 of the 4 policies",
            "sharing the machine's 2 cores",
            "`--log-mode buffered --no-watch`",
        ] {
            assert!(md.contains(expected), "missing {expected:?} in\n{md}");
        }
    }
}
