//! The one wasmtime [`Engine`] and [`Linker`] all policies share, with
//! fuel metering, epoch deadlines and a ticker thread.

use crate::sandbox::Sandbox;
use std::time::Duration;
use wasmtime::component::{Linker, Resource};
use wasmtime::{Config, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. A policy's deadline is honoured to
/// within one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Component instances the pooling allocator holds slots for: every live
/// instance (warm ones waiting in a policy's idle list included) takes
/// one, and an instantiation beyond it fails (the policy's `on_error`
/// applies). Each slot reserves 4 GiB of address space (not memory) for
/// its linear memory, so that guest code needs no explicit bounds checks.
pub const POOL_SLOTS: u32 = 1_000;

/// Bytes at the start of each linear memory kept resident when a pooled
/// instance is dropped: only the pages the instance dirtied are restored
/// (found with the kernel's `PAGEMAP_SCAN`), so the next instance takes no
/// page faults there. This covers a Rust policy's 1 MiB stack, its data
/// and the start of its heap. (Measured on the shipped policies: dropping
/// an instance went from 15 µs, a `memset` of this whole region, to 4 µs.)
const KEEP_RESIDENT: usize = 4 * 1024 * 1024;

/// Bytes of each table zeroed with `memset` when a pooled instance is
/// dropped (the rest is returned to the kernel). Unlike memories, tables
/// are zeroed whether touched or not, so this stays small: a Rust policy's
/// table holds a few hundred entries.
const TABLE_KEEP_RESIDENT: usize = 16 * 1024;

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
            .epoch_interruption(true)
            // Linear memories start as copy-on-write mappings of the
            // component's initialized image instead of being copied.
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool()));
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

/// The pooling allocator: instances, memories and tables come from slots
/// reserved once, so instantiating is mostly a copy-on-write remap.
fn pool() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOL_SLOTS)
        // Rust components hold a few core instances, Python ones more.
        .total_core_instances(POOL_SLOTS * 8)
        .total_memories(POOL_SLOTS)
        .total_tables(POOL_SLOTS * 4)
        .max_tables_per_module(8)
        .max_memories_per_module(1)
        .table_elements(crate::sandbox::MAX_TABLE_ELEMENTS)
        .max_memory_size(
            usize::try_from(crate::manifest::MAX_MEMORY_MB << 20).unwrap_or(usize::MAX),
        )
        // Reset only the pages an instance dirtied (Linux 6.7+; elsewhere
        // the lowest `KEEP_RESIDENT` bytes are reset in full).
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        // Tables are zeroed with `memset` up to this size, touched or not.
        .table_keep_resident(TABLE_KEEP_RESIDENT);
    pool
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
