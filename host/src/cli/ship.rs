//! `gavel ship`: ship a stopped node's decision log to PostgreSQL; and the
//! same shipper inside `gavel serve` (`--ship-to`).

use super::DataDirArg;
use anyhow::Context;
use gavel::log::{DecisionLog, LOG_FILE, LogError};
use gavel::metrics::{Metrics, ShipGauges};
use gavel::ship::{
    LiveLog, LogFile, ShipError, ShipOptions, ShipStatus, Shipper, node_name, parse_target,
    shipper::{DEFAULT_BATCH, DEFAULT_POLL},
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long `gavel serve` ships the tail after it stops serving.
const FINAL_SHIP: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug)]
pub struct ShipArgs {
    /// The database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (no
    /// TLS: sslmode=require is refused).
    #[arg(long, value_name = "URL")]
    to: String,
    /// This node's name in the database; default: the id in
    /// <data-dir>/node-id (generated on first use).
    #[arg(long)]
    node: Option<String>,
    /// Most records per transaction.
    #[arg(long, default_value_t = DEFAULT_BATCH as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// Ship what is there and exit (non-zero if it could not all be
    /// shipped); otherwise keep following the log until SIGINT or SIGTERM, then ship
    /// what is left.
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    data: DataDirArg,
}

/// `gavel serve`'s shipping flags.
#[derive(clap::Args, Debug)]
pub struct ServeShipArgs {
    /// Ship the decision log to this PostgreSQL database as it is written
    /// (postgres://USER@HOST:PORT/DATABASE; no TLS).
    #[arg(long, value_name = "URL")]
    ship_to: Option<String>,
    /// With --ship-to: this node's name; default: the id in
    /// <data-dir>/node-id (generated on first use).
    #[arg(long, requires = "ship_to")]
    ship_node: Option<String>,
    /// With --ship-to: refuse decisions (fail closed) while more than this
    /// many records are not yet shipped.
    #[arg(long, requires = "ship_to")]
    max_lag: Option<u64>,
}

fn hint(e: ShipError) -> anyhow::Error {
    match e {
        ShipError::Log(LogError::InUse { path }) => anyhow::anyhow!(
            "the decision log {} is open in another process: a running `gavel serve` holds it, and ships it itself with --ship-to",
            path.display()
        ),
        other => other.into(),
    }
}

pub fn run(args: ShipArgs) -> anyhow::Result<u8> {
    let target = parse_target(&args.to)?;
    let path = args.data.data_dir.join(LOG_FILE);
    if !path.is_file() {
        anyhow::bail!("no decision log at {}", path.display());
    }
    let node = node_name(&args.data.data_dir, args.node.as_deref())?;
    let status = Arc::new(ShipStatus::new(Arc::new(AtomicU64::new(0))));
    let options = ShipOptions {
        target: target.clone(),
        node: node.clone(),
        batch: usize::try_from(args.batch).unwrap_or(DEFAULT_BATCH),
        poll: DEFAULT_POLL,
    };
    let mut shipper = Shipper::new(Arc::new(LogFile(path)), options, status.clone());
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if args.once {
        let cursor = tokio.block_on(shipper.once()).map_err(hint)?;
        println!(
            "shipped {} records as node {node} to {}; the database holds records 1 to {}",
            status.shipped_total.load(Ordering::Relaxed),
            target.display,
            cursor.seq
        );
        return Ok(0);
    }
    eprintln!(
        "gavel: shipping as node {node} to {} (stop with Ctrl-C)",
        target.display
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shipped = tokio.block_on(async move {
        let running = tokio::spawn(shipper.run(stopped));
        stop_signal().await;
        let _ = stop.send(true);
        running.await
    });
    match shipped {
        Ok(Ok(())) => Ok(0),
        Ok(Err(e)) => Err(hint(e)),
        Err(e) => Err(anyhow::anyhow!("the shipper failed: {e}")),
    }
}

/// SIGINT or SIGTERM (Ctrl-C alone if they cannot be registered).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The shipper running inside `gavel serve`.
#[derive(Debug)]
pub struct ServeShipping {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), ShipError>>,
}

impl ServeShipArgs {
    /// Start shipping `log` on `tokio` if --ship-to is given: set the lag
    /// gate (--max-lag) before any decision, and expose the lag on
    /// /metrics.
    pub fn start(
        &self,
        log: &DecisionLog,
        data_dir: &std::path::Path,
        metrics: &Metrics,
        tokio: &tokio::runtime::Runtime,
    ) -> anyhow::Result<Option<ServeShipping>> {
        let Some(url) = &self.ship_to else {
            return Ok(None);
        };
        let target = parse_target(url).context("--ship-to")?;
        let node = node_name(data_dir, self.ship_node.as_deref()).context("--ship-node")?;
        let status = Arc::new(ShipStatus::new(log.committed_handle()));
        if let Some(max) = self.max_lag {
            log.set_lag_gate(status.shipped.clone(), max);
        }
        let observed = status.clone();
        metrics.observe_ship(Box::new(move || ShipGauges {
            lag: observed.lag(),
            shipped_total: observed.shipped_total.load(Ordering::Relaxed),
            up: observed.up.load(Ordering::Acquire),
        }));
        println!(
            "gavel: shipping the decision log as node {node} to {}",
            target.display
        );
        let options = ShipOptions {
            target,
            node,
            batch: DEFAULT_BATCH,
            poll: DEFAULT_POLL,
        };
        let shipper = Shipper::new(Arc::new(LiveLog::new(log)), options, status);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio.spawn(shipper.run(stopped));
        Ok(Some(ServeShipping { stop, task }))
    }
}

impl ServeShipping {
    /// After serving: checkpoint the log (committing everything queued),
    /// ship the rest, and stop. What cannot be shipped now (the database
    /// is down) stays in the local log for the next start or `gavel ship`.
    pub fn finish(self, log: &DecisionLog, tokio: &tokio::runtime::Runtime) {
        if let Err(e) = log.checkpoint() {
            tracing::error!("cannot checkpoint the log before the last shipment: {e}");
        }
        let _ = self.stop.send(true);
        let mut task = self.task;
        let finished = tokio.block_on(async { tokio::time::timeout(FINAL_SHIP, &mut task).await });
        match finished {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => eprintln!(
                "gavel: the tail of the decision log is not shipped ({e}); it ships at the next start, or with `gavel ship --once`"
            ),
            Ok(Err(e)) => tracing::error!("the shipper failed: {e}"),
            Err(_) => {
                task.abort();
                eprintln!(
                    "gavel: shipping the tail took longer than {FINAL_SHIP:?}; the rest ships at the next start, or with `gavel ship --once`"
                );
            }
        }
    }
}
