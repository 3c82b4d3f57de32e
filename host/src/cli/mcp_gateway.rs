//! `gavel mcp-gateway`: an MCP server in front of MCP servers, deciding
//! every tool call with the policies before it goes upstream.

use super::DataDirArg;
use super::eval::LogArgs;
use super::serve::{SignalHandlers, admin_token, positive_duration, signals};
use anyhow::Context;
use gavel::mcp::http::{MCP_PATH, router as mcp_router};
use gavel::mcp::{AgentTokens, Gateway, GatewayHandler, ServersFile};
use gavel::metrics::Metrics;
use gavel::policy_watcher::DEFAULT_DEBOUNCE;
use gavel::service::{self, Access, Limits, Service, parse_duration};
use gavel::{PolicyWatcher, Runtime, RuntimeOptions};
use rmcp::ServiceExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long calls in flight get after a signal to stop.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("transport").required(true).args(["stdio", "listen"])))]
pub struct McpGatewayArgs {
    /// The policy directory (holding policies.toml). Watched: changes are
    /// swapped in while serving.
    #[arg(long)]
    policies: PathBuf,
    /// The servers file: the upstream MCP servers and how their tools map
    /// onto actions.
    #[arg(long)]
    servers: PathBuf,
    /// Speak MCP on stdin and stdout (for an MCP client that launches the
    /// gateway as a command). Needs --agent.
    #[arg(long, requires = "agent")]
    stdio: bool,
    /// With --stdio: the agent every call is made as.
    #[arg(long)]
    agent: Option<String>,
    /// Serve streamable HTTP on this address, at /mcp. Needs --tokens.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:7701", requires = "tokens")]
    listen: Option<String>,
    /// With --listen: the file mapping bearer tokens to agent ids (readable
    /// by its owner only).
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Also serve the Gavel HTTP API here (escalation review, the kill
    /// switch, decisions), with the admin token.
    #[arg(long)]
    api: Option<String>,
    /// File holding the admin token for --api. Otherwise $GAVEL_ADMIN_TOKEN,
    /// otherwise <data-dir>/admin.token (generated on first start).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// How long an escalation waits for a reviewer before it expires.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    escalation_timeout: Duration,
    /// How long an approved call's reservations wait for its outcome
    /// before they settle as charged.
    #[arg(long, default_value = "1h", value_parser = positive_duration)]
    settle_after: Duration,
    /// Do not watch the policy directory.
    #[arg(long)]
    no_watch: bool,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    usage: super::counters::UsageArg,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn run(args: McpGatewayArgs) -> anyhow::Result<u8> {
    let data_dir = &args.data.data_dir;
    let servers = ServersFile::load(&args.servers)?;
    let tokens = match &args.tokens {
        Some(file) => Some(Arc::new(
            AgentTokens::load(file).map_err(anyhow::Error::msg)?,
        )),
        None => None,
    };
    if let Some(agent) = &args.agent {
        gavel::identifier::validate_identifier(agent)
            .map_err(|e| anyhow::anyhow!("--agent: the id {e}"))?;
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let options = RuntimeOptions {
        log: args.log.options(),
        escalation_timeout: args.escalation_timeout,
        settle_after: args.settle_after,
        usage: args.usage.store(),
    };
    let runtime = Arc::new(
        Runtime::start_with(&args.policies, data_dir, options).with_context(|| {
            format!(
                "cannot start (policies from {}, data in {})",
                args.policies.display(),
                data_dir.display()
            )
        })?,
    );
    let watcher = match args.no_watch {
        true => None,
        false => Some(
            PolicyWatcher::start(runtime.clone(), DEFAULT_DEBOUNCE)
                .context("cannot watch the policy directory")?,
        ),
    };
    // One client on stdio: one thread runs the session, the upstreams and
    // the API, with no hand-offs between worker threads on every message
    // (the durable log's waits still go to the blocking pool).
    let mut builder = match args.stdio {
        true => tokio::runtime::Builder::new_current_thread(),
        false => tokio::runtime::Builder::new_multi_thread(),
    };
    let tokio = builder
        .enable_all()
        .thread_name("gavel-mcp")
        .build()
        .context("cannot start the async runtime")?;
    let served = tokio.block_on(serve(&args, runtime.clone(), servers, tokens));
    tokio.shutdown_timeout(DRAIN);
    if let Some(w) = watcher {
        w.stop();
    }
    served?;
    match Arc::into_inner(runtime) {
        Some(runtime) => runtime.close().context("closing the decision log")?,
        None => tracing::warn!("the runtime is still in use; the log closes when it is dropped"),
    }
    eprintln!("gavel: stopped");
    Ok(0)
}

async fn serve(
    args: &McpGatewayArgs,
    runtime: Arc<Runtime>,
    servers: ServersFile,
    tokens: Option<Arc<AgentTokens>>,
) -> anyhow::Result<()> {
    let gateway = Gateway::start(runtime.clone(), servers)
        .await
        .context("cannot start the MCP gateway")?;
    let handlers = SignalHandlers::install();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(signals(runtime.clone(), stop.clone(), handlers));
    let shutdown = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    // Reviewers answer escalations through the API; without it, they
    // still expire on time.
    let api = match &args.api {
        Some(addr) => {
            let (admin, source) =
                admin_token(args.admin_token_file.as_deref(), &args.data.data_dir)?;
            let service = Arc::new(Service::new(
                runtime.clone(),
                Access { admin, eval: None },
                Limits::default(),
                Arc::new(Metrics::new()),
                None,
            ));
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--api)"))?;
            eprintln!(
                "gavel: API on http://{} (admin token {source})",
                listener.local_addr()?
            );
            tokio::spawn(service::serve(service, listener, shutdown(stopped.clone())))
        }
        None => tokio::spawn(async move {
            service::expire_escalations_of(runtime.clone()).await;
            Ok::<(), std::io::Error>(())
        }),
    };
    let generation = gateway.runtime().policies();
    let described = format!(
        "generation {} ({} policies from {})",
        generation.number,
        generation.set.policies().len(),
        args.policies.display()
    );
    if args.stdio {
        let agent = args.agent.clone().unwrap_or_default();
        let session = format!("stdio-{}", gavel::escalation::Escalations::new_id());
        eprintln!("gavel: MCP gateway on stdio as agent {agent}, {described}");
        let handler = GatewayHandler::fixed(gateway.clone(), agent, session);
        let running = handler
            .serve(rmcp::transport::stdio())
            .await
            .context("the MCP client did not complete the handshake")?;
        let mut on_stop = stopped.clone();
        tokio::select! {
            quit = running.waiting() => {
                if let Err(e) = quit {
                    tracing::warn!("the stdio session ended abnormally: {e}");
                }
            }
            _ = on_stop.wait_for(|s| *s) => {}
        }
        let _ = stop.send(true);
    } else if let (Some(addr), Some(tokens)) = (&args.listen, tokens) {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let app = mcp_router(gateway.clone(), tokens, allowed_hosts(&local));
        println!("gavel: MCP gateway on http://{local}{MCP_PATH}, {described}");
        println!("gavel: stop with Ctrl-C");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        service::serve_router(app, listener, Limits::default(), shutdown(stopped.clone()))
            .await
            .context("serving")?;
    }
    gateway.drain().await;
    api.abort();
    Ok(())
}

/// The `Host` values the MCP endpoint accepts: loopback names, and the
/// address it listens on (DNS-rebinding protection).
pub(super) fn allowed_hosts(local: &std::net::SocketAddr) -> Vec<String> {
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let ip = local.ip().to_string();
    if !local.ip().is_unspecified() && !hosts.contains(&ip) {
        hosts.push(ip);
    }
    hosts
}
