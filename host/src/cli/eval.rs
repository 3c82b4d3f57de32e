//! `gavel eval`: decide one action (`--action`) or a stream of JSON Lines,
//! recording every decision in the decision log.

use super::counters::UsageArg;
use super::{DataDirArg, EXIT_ERROR};
use anyhow::Context;
use gavel::policy_watcher::DEFAULT_DEBOUNCE;
use gavel::{LogMode, LogOptions, PolicyWatcher, Request, Runtime};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The policy directory (holding policies.toml).
    #[arg(long)]
    policies: PathBuf,
    /// One action as JSON. Without it, actions are read as JSON Lines from
    /// stdin and decisions written one per line, in input order.
    #[arg(long)]
    action: Option<String>,
    /// Evaluate the stdin stream on this many threads (output stays in
    /// input order).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Watch the policy directory and swap in changes while serving (and
    /// carry out `gavel policies rollback`). SIGHUP always reloads.
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    usage: UsageArg,
    #[command(flatten)]
    data: DataDirArg,
}

/// How the decision log runs.
#[derive(clap::Args, Debug, Clone)]
pub struct LogArgs {
    /// `durable`: a decision is returned only once its record is committed
    /// to disk. `buffered`: records are committed in the background (at
    /// most --log-queue records can be lost in a crash).
    #[arg(long, default_value = "durable", value_parser = ["durable", "buffered"])]
    log_mode: String,
    /// Records between signed checkpoints.
    #[arg(long, default_value_t = 1000)]
    checkpoint_every: u64,
    /// The writer's queue: the buffered loss window and backpressure point.
    #[arg(long, default_value_t = 4096)]
    log_queue: usize,
}

impl LogArgs {
    pub fn options(&self) -> LogOptions {
        LogOptions {
            mode: if self.log_mode == "buffered" {
                LogMode::Buffered
            } else {
                LogMode::Durable
            },
            checkpoint_every: self.checkpoint_every,
            queue: self.log_queue,
        }
    }
}

pub fn run(args: EvalArgs) -> anyhow::Result<u8> {
    let options = gavel::RuntimeOptions {
        log: args.log.options(),
        usage: args.usage.store(),
        ..gavel::RuntimeOptions::default()
    };
    let runtime =
        Runtime::start_with(&args.policies, &args.data.data_dir, options).with_context(|| {
            format!(
                "cannot start (policies from {}, data in {})",
                args.policies.display(),
                args.data.data_dir.display()
            )
        })?;
    if let Some(text) = &args.action {
        let code = eval_one(&runtime, text);
        runtime.close().context("closing the decision log")?;
        return Ok(code);
    }
    let runtime = Arc::new(runtime);
    let watcher = match args.watch {
        true => Some(
            PolicyWatcher::start(runtime.clone(), DEFAULT_DEBOUNCE)
                .context("cannot watch the policy directory")?,
        ),
        false => None,
    };
    let reloader = Reloader::start(runtime.clone())?;
    let code = eval_stream(&runtime, args.workers.max(1));
    if let Some(w) = watcher {
        w.stop();
    }
    reloader.stop();
    let runtime = Arc::into_inner(runtime).context("the runtime is still in use")?;
    runtime.close().context("closing the decision log")?;
    code
}

/// Reloads the runtime on SIGHUP.
struct Reloader {
    handle: signal_hook::iterator::Handle,
    thread: std::thread::JoinHandle<()>,
}

impl Reloader {
    fn start(runtime: Arc<Runtime>) -> anyhow::Result<Self> {
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
            .context("cannot handle SIGHUP")?;
        let handle = signals.handle();
        let thread = std::thread::spawn(move || {
            for _ in signals.forever() {
                // Outcomes are logged, recorded and kept in the status.
                let _ = runtime.reload();
            }
        });
        Ok(Reloader { handle, thread })
    }

    fn stop(self) {
        self.handle.close();
        let _ = self.thread.join();
    }
}

fn eval_one(runtime: &Runtime, text: &str) -> u8 {
    match Request::from_json(text) {
        Ok(request) => {
            let decision = runtime.decide(&request);
            println!("{}", decision.to_json());
            decision.verdict.exit_code()
        }
        Err(e) => {
            println!("{}", error_line(&e.to_string(), None));
            eprintln!("error: {e}");
            EXIT_ERROR
        }
    }
}

fn reply(runtime: &Runtime, number: usize, line: std::io::Result<String>) -> String {
    match line {
        Err(e) => error_line(&format!("cannot read line: {e}"), Some(number)),
        Ok(text) if text.trim().is_empty() => {
            error_line("invalid request: empty line", Some(number))
        }
        Ok(text) => match Request::from_json(&text) {
            Ok(request) => runtime.decide(&request).to_json(),
            Err(e) => error_line(&e.to_string(), Some(number)),
        },
    }
}

fn eval_stream(runtime: &Runtime, workers: usize) -> anyhow::Result<u8> {
    let stdin = std::io::stdin().lock();
    let out = Mutex::new(Ordered {
        next: 1,
        waiting: BTreeMap::new(),
        out: std::io::stdout(),
    });
    if workers == 1 {
        for (index, line) in stdin.lines().enumerate() {
            out.lock()
                .map_err(|_| anyhow::anyhow!("output lock poisoned"))?
                .put(index + 1, reply(runtime, index + 1, line))?;
        }
        return Ok(0);
    }
    // Lines go to the workers through a bounded queue; each worker writes
    // its reply into the reorder buffer, which prints in input order.
    let (send, receive) = sync_channel::<(usize, std::io::Result<String>)>(workers * 4);
    let receive = Arc::new(Mutex::new(receive));
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut handles = Vec::new();
        for _ in 0..workers {
            let (receive, out) = (receive.clone(), &out);
            handles.push(scope.spawn(move || -> anyhow::Result<()> {
                loop {
                    let job = receive
                        .lock()
                        .map_err(|_| anyhow::anyhow!("queue lock poisoned"))?
                        .recv();
                    let Ok((number, line)) = job else {
                        return Ok(());
                    };
                    let text = reply(runtime, number, line);
                    out.lock()
                        .map_err(|_| anyhow::anyhow!("output lock poisoned"))?
                        .put(number, text)?;
                }
            }));
        }
        for (index, line) in stdin.lines().enumerate() {
            if send.send((index + 1, line)).is_err() {
                break;
            }
        }
        drop(send);
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
        }
        Ok(())
    })?;
    Ok(0)
}

/// Prints replies in input order as they complete.
struct Ordered<W: Write> {
    next: usize,
    waiting: BTreeMap<usize, String>,
    out: W,
}

impl<W: Write> Ordered<W> {
    fn put(&mut self, number: usize, text: String) -> std::io::Result<()> {
        self.waiting.insert(number, text);
        while let Some(text) = self.waiting.remove(&self.next) {
            writeln!(self.out, "{text}")?;
            self.next += 1;
        }
        self.out.flush()
    }
}

fn error_line(message: &str, line: Option<usize>) -> String {
    match line {
        Some(n) => serde_json::json!({ "error": message, "line": n }),
        None => serde_json::json!({ "error": message }),
    }
    .to_string()
}
