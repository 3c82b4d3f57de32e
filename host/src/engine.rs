//! The one wasmtime [`Engine`] and [`Linker`] all policies share, with
//! fuel metering, epoch deadlines and a ticker thread.

use crate::sandbox::Sandbox;
use std::time::Duration;
use wasmtime::component::{Linker, Resource};
use wasmtime::{Config, Engine, EngineWeak};

/// How often the epoch advances. A policy's deadline is honoured to
/// within one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Errors building the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// wasmtime refused the configuration or the WASI linking.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Setup(String),
}

/// The shared engine and linker.
#[derive(Clone)]
pub struct PolicyEngine {
    engine: Engine,
    linker: Linker<Sandbox>,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine").finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// Build the engine, link the empty WASI world, and start the epoch
    /// ticker (it stops when the last engine handle is dropped).
    pub fn new() -> Result<Self, EngineError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            // Component-model async is unused; leaving it on makes every
            // synchronous call about 3x slower.
            .concurrency_support(false)
            .consume_fuel(true)
            .epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| EngineError::Setup(e.to_string()))?;
        let linker = sandbox_linker(&engine).map_err(|e| EngineError::Setup(e.to_string()))?;
        start_ticker(engine.weak())
            .map_err(|e| EngineError::Setup(format!("cannot start the epoch ticker: {e}")))?;
        Ok(PolicyEngine { engine, linker })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker every policy instance is linked with.
    pub fn linker(&self) -> &Linker<Sandbox> {
        &self.linker
    }

    /// Epoch ticks for a deadline of `timeout`: rounded up, plus one so
    /// that a policy always gets at least its full time.
    pub fn deadline_ticks(timeout: Duration) -> u64 {
        let tick = EPOCH_TICK.as_micros().max(1);
        let ticks = timeout.as_micros().div_ceil(tick);
        u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
    }
}

/// A linker with WASI p2 over a context that grants nothing, where the two
/// ways to sleep (`monotonic-clock.subscribe-*`) trap instead: a sleeping
/// guest would block the host thread, and epoch deadlines cannot interrupt
/// a host call.
fn sandbox_linker(engine: &Engine) -> wasmtime::Result<Linker<Sandbox>> {
    let mut linker = Linker::<Sandbox>::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance("wasi:clocks/monotonic-clock@0.2.12")?;
    clock.func_wrap(
        "subscribe-duration",
        |_store, (_ns,): (u64,)| -> wasmtime::Result<(Resource<wasmtime_wasi::p2::DynPollable>,)> {
            Err(wasmtime::format_err!("policies may not sleep"))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |_store, (_at,): (u64,)| -> wasmtime::Result<(Resource<wasmtime_wasi::p2::DynPollable>,)> {
            Err(wasmtime::format_err!("policies may not sleep"))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(linker)
}

fn start_ticker(engine: EngineWeak) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("gavel-epoch".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        })
        .map(|_| ())
}
