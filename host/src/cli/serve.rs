//! `gavel serve`: the runtime as an HTTP service.

use super::DataDirArg;
use super::eval::LogArgs;
use super::mcp_gateway::allowed_hosts;
use anyhow::Context;
use gavel::mcp::http::{MCP_PATH, router as mcp_router};
use gavel::mcp::{AgentTokens, Gateway, ServersFile};
use gavel::metrics::Metrics;
use gavel::policy_watcher::DEFAULT_DEBOUNCE;
use gavel::service::{self, Access, Limits, Service, Token, parse_duration};
use gavel::webhook::{Webhook, WebhookConfig};
use gavel::{PolicyWatcher, Runtime, RuntimeOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The admin token's file in the data directory, when none is given.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// How long in-flight requests (long-polls included) get after a signal
/// to stop.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The policy directory (holding policies.toml). Watched: changes are
    /// swapped in while serving (SIGHUP also reloads). Or a signed policy
    /// set in an OCI registry: oci://HOST[:PORT]/REPO@sha256:... (needs
    /// --trust-key), or oci://HOST/REPO:TAG with --poll.
    #[arg(long)]
    policies: PathBuf,
    /// With --policies oci://...: a public key file (hex) whose signatures
    /// are trusted. Repeat for several keys.
    #[arg(long, value_name = "FILE")]
    trust_key: Vec<PathBuf>,
    /// With --policies oci://HOST/REPO:TAG: follow the tag, checking it
    /// this often (e.g. 30s); a new digest signed by a trusted key is
    /// pulled, verified and swapped in.
    #[arg(long, value_parser = positive_duration)]
    poll: Option<Duration>,
    /// Address to listen on. Keep it on loopback unless a proxy with TLS
    /// fronts the service.
    #[arg(long, env = "GAVEL_LISTEN", default_value = "127.0.0.1:7700")]
    listen: String,
    /// File holding the admin token. Otherwise $GAVEL_ADMIN_TOKEN, otherwise
    /// <data-dir>/admin.token (generated on first start, mode 0600).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// File holding a token that evaluation requires. Otherwise
    /// $GAVEL_EVAL_TOKEN; without either, evaluation is open.
    #[arg(long)]
    eval_token_file: Option<PathBuf>,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    max_body: usize,
    /// Most actions in one batch.
    #[arg(long, default_value_t = 100)]
    max_batch: usize,
    /// How long a client has to send a complete request head, from the
    /// moment its connection opens or its previous response went out;
    /// slow, silent and idle keep-alive connections are closed after it.
    #[arg(long, default_value = "10s", value_parser = positive_duration)]
    header_timeout: Duration,
    /// How long a request body has to arrive in full; later: 408.
    #[arg(long, default_value = "30s", value_parser = positive_duration)]
    body_timeout: Duration,
    /// Most connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// How long an escalation waits for a reviewer before it expires
    /// (a deny): e.g. 90s, 5m, 1h.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    escalation_timeout: Duration,
    /// How long an approved action's reservations wait for an outcome
    /// (`POST /v1/decisions/{seq}/outcome`) before they settle as charged.
    #[arg(long, default_value = "1h", value_parser = positive_duration)]
    settle_after: Duration,
    /// POST each new escalation to this URL (Slack-compatible JSON), with
    /// retries.
    #[arg(long, env = "GAVEL_WEBHOOK")]
    webhook: Option<String>,
    /// Do not watch the policy directory (SIGHUP and rollback still work).
    #[arg(long)]
    no_watch: bool,
    /// Also serve an MCP gateway at /mcp (streamable HTTP) in front of the
    /// upstream servers in this file, sharing this service's log,
    /// escalations and kill switch. Needs --mcp-tokens.
    #[arg(long, requires = "mcp_tokens")]
    mcp_servers: Option<PathBuf>,
    /// With --mcp-servers: the file mapping bearer tokens to agent ids.
    #[arg(long, requires = "mcp_servers")]
    mcp_tokens: Option<PathBuf>,
    #[command(flatten)]
    ship: super::ship::ServeShipArgs,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    usage: super::counters::UsageArg,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    let data_dir = &args.data.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let (admin, admin_source) = admin_token(args.admin_token_file.as_deref(), data_dir)?;
    let mcp = match (&args.mcp_servers, &args.mcp_tokens) {
        (Some(servers), Some(tokens)) => Some((
            ServersFile::load(servers)?,
            Arc::new(AgentTokens::load(tokens).map_err(anyhow::Error::msg)?),
        )),
        _ => None,
    };
    let eval = eval_token(&args)?;
    let options = RuntimeOptions {
        log: args.log.options(),
        escalation_timeout: args.escalation_timeout,
        settle_after: args.settle_after,
        usage: args.usage.store(),
    };
    // A registry source: pulled (or the verified local copy), signature
    // and digests checked, before anything starts; a refusal stops here.
    let oci = oci_source(&args, data_dir)?;
    let policies_dir = match &oci {
        Some((_, dir, _)) => dir.clone(),
        None => args.policies.clone(),
    };
    let runtime = Arc::new(
        Runtime::start_with(&policies_dir, data_dir, options).with_context(|| {
            format!(
                "cannot start (policies from {}, data in {})",
                args.policies.display(),
                data_dir.display()
            )
        })?,
    );
    let metrics = Arc::new(Metrics::new());
    let webhook = match &args.webhook {
        Some(url) => {
            let observed = metrics.clone();
            Some(
                Webhook::start(WebhookConfig::new(url.clone()), move |ok| {
                    observed.record_webhook(ok)
                })
                .context("--webhook")?,
            )
        }
        None => None,
    };
    let limits = Limits {
        max_body: args.max_body,
        max_batch: args.max_batch.max(1),
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        max_connections: usize::try_from(args.max_connections)
            .context("--max-connections is too large for this machine")?,
        ..Limits::default()
    };
    let access = Access { admin, eval };
    let service = Arc::new(Service::new(
        runtime.clone(),
        access,
        limits,
        metrics.clone(),
        webhook,
    ));
    // A registry source is never watched on disk: only a verified digest
    // replaces it (through the poller).
    let poller = match &oci {
        Some((source, _, digest)) => source
            .follow(runtime.clone(), digest.clone())
            .context("cannot follow the tag")?,
        None => None,
    };
    let watcher = match args.no_watch || oci.is_some() {
        true => None,
        false => Some(
            PolicyWatcher::start(runtime.clone(), DEFAULT_DEBOUNCE)
                .context("cannot watch the policy directory")?,
        ),
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gavel-serve")
        .build()
        .context("cannot start the async runtime")?;
    let shipping = args.ship.start(runtime.log(), data_dir, &metrics, &tokio)?;
    let served = tokio.block_on(serve(service, &args, &admin_source, runtime.clone(), mcp));
    if let Some(shipping) = shipping {
        shipping.finish(runtime.log(), &tokio);
    }
    tokio.shutdown_timeout(DRAIN);
    if let Some(w) = watcher {
        w.stop();
    }
    if let Some(p) = poller {
        p.stop();
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
    service: Arc<Service>,
    args: &ServeArgs,
    admin_source: &str,
    runtime: Arc<Runtime>,
    mcp: Option<(ServersFile, Arc<AgentTokens>)>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let gateway = match mcp {
        Some((servers, tokens)) => {
            let gateway = Gateway::start(runtime.clone(), servers)
                .await
                .context("cannot start the MCP gateway")?;
            let app = mcp_router(gateway.clone(), tokens, allowed_hosts(&addr));
            Some((gateway, app))
        }
        None => None,
    };
    // The handlers are in place before the service says it is serving: a
    // SIGTERM right after that line stops it cleanly, never kills it.
    let handlers = SignalHandlers::install();
    let generation = runtime.policies();
    println!(
        "gavel: serving generation {} ({} policies from {}) on http://{addr}",
        generation.number,
        generation.set.policies().len(),
        args.policies.display()
    );
    println!("gavel: admin token {admin_source}");
    println!("gavel: try it from another terminal:");
    println!(
        "  curl -s http://{addr}/v1/evaluate -d '{{\"agent_id\":\"customer-support\",\"action\":\"issue_refund\",\"amount\":150,\"currency\":\"USD\"}}'"
    );
    println!("  python3 clients/python/examples/agent.py --url http://{addr}");
    println!(
        "  gavel escalations list --url http://{addr} --data-dir {}",
        args.data.data_dir.display()
    );
    if gateway.is_some() {
        println!("gavel: MCP gateway on http://{addr}{MCP_PATH}");
    }
    println!("gavel: stop with Ctrl-C");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(signals(runtime, stop, handlers));
    let mut on_stop = stopped.clone();
    let shutdown = async move {
        let _ = on_stop.wait_for(|s| *s).await;
    };
    let (gateway, extra) = match gateway {
        Some((g, app)) => (Some(g), Some(app)),
        None => (None, None),
    };
    let server = service::serve_with(service, listener, extra, shutdown);
    let mut drained = stopped;
    let deadline = async move {
        let _ = drained.wait_for(|s| *s).await;
        tokio::time::sleep(DRAIN).await;
    };
    tokio::select! {
        served = server => served.context("serving")?,
        () = deadline => tracing::warn!("requests still in flight after {DRAIN:?}; stopping anyway"),
    }
    if let Some(g) = gateway {
        g.drain().await;
    }
    Ok(())
}

/// The SIGINT, SIGTERM and SIGHUP streams, registered (`None` if they
/// could not be).
pub(super) struct SignalHandlers(
    Option<(
        tokio::signal::unix::Signal,
        tokio::signal::unix::Signal,
        tokio::signal::unix::Signal,
    )>,
);

impl SignalHandlers {
    pub(super) fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        SignalHandlers(
            match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) {
                (Ok(int), Ok(term), Ok(hup)) => Some((int, term, hup)),
                _ => None,
            },
        )
    }
}

/// SIGINT and SIGTERM stop the service; SIGHUP reloads the policies.
pub(super) async fn signals(
    runtime: Arc<Runtime>,
    stop: tokio::sync::watch::Sender<bool>,
    handlers: SignalHandlers,
) {
    let SignalHandlers(Some((mut int, mut term, mut hup))) = handlers else {
        tracing::error!("cannot handle signals");
        return;
    };
    loop {
        tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            _ = hup.recv() => {
                let runtime = runtime.clone();
                // Outcomes are logged, recorded and kept in the status.
                // Not awaited: a reload that hangs must not hold up the
                // signals that follow (Ctrl-C, SIGTERM).
                drop(tokio::task::spawn_blocking(move || runtime.reload()));
            }
        }
    }
    eprintln!("gavel: stopping");
    let _ = stop.send(true);
}

/// With `--policies oci://...`: the source, the verified directory to
/// start with, and its digest. `--trust-key` and `--poll` are refused for
/// a local directory.
fn oci_source(
    args: &ServeArgs,
    data_dir: &Path,
) -> anyhow::Result<Option<(gavel::oci::PolicySource, PathBuf, gavel::oci::Digest)>> {
    let text = args.policies.to_string_lossy();
    if !gavel::oci::OciReference::is_oci(&text) {
        if !args.trust_key.is_empty() || args.poll.is_some() {
            anyhow::bail!("--trust-key and --poll are for --policies oci://...");
        }
        return Ok(None);
    }
    let source = gavel::oci::PolicySource::new(&text, &args.trust_key, args.poll, data_dir)?;
    let (dir, digest) = source
        .open()
        .with_context(|| format!("cannot serve {text}"))?;
    eprintln!("gavel: {text} is {digest}, signed by a trusted key and verified");
    Ok(Some((source, dir, digest)))
}

/// A duration flag that must not be zero.
pub(super) fn positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err(format!("`{text}` is zero; give a duration such as 10s")),
        d => Ok(d),
    }
}

/// The admin token and where it came from (never the token itself).
pub(super) fn admin_token(file: Option<&Path>, data_dir: &Path) -> anyhow::Result<(Token, String)> {
    if let Some(file) = file {
        return Ok((read_token(file)?, format!("from {}", file.display())));
    }
    if let Ok(text) = std::env::var("GAVEL_ADMIN_TOKEN") {
        let token = Token::new(&text).map_err(|e| anyhow::anyhow!("GAVEL_ADMIN_TOKEN: {e}"))?;
        return Ok((token, "from $GAVEL_ADMIN_TOKEN".to_owned()));
    }
    // Generated on first start like the log's keys: 256 bits, hex, 0600.
    let file = data_dir.join(ADMIN_TOKEN_FILE);
    let existed = file.exists();
    let secret = gavel::log::keys::load_or_create_secret(&file)?;
    let token = Token::new(&hex::encode(secret)).map_err(anyhow::Error::msg)?;
    let verb = if existed { "in" } else { "generated in" };
    Ok((token, format!("{verb} {}", file.display())))
}

fn eval_token(args: &ServeArgs) -> anyhow::Result<Option<Token>> {
    if let Some(file) = &args.eval_token_file {
        return Ok(Some(read_token(file)?));
    }
    match std::env::var("GAVEL_EVAL_TOKEN") {
        Ok(text) => Ok(Some(
            Token::new(&text).map_err(|e| anyhow::anyhow!("GAVEL_EVAL_TOKEN: {e}"))?,
        )),
        Err(_) => Ok(None),
    }
}

fn read_token(file: &Path) -> anyhow::Result<Token> {
    let meta = std::fs::metadata(file)
        .with_context(|| format!("cannot read the token file {}", file.display()))?;
    gavel::log::keys::owner_only(&meta)
        .map_err(|why| anyhow::anyhow!("the token file {}: {why}", file.display()))?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the token file {}", file.display()))?;
    Token::new(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}
