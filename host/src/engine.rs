//! The one wasmtime [`Engine`] and [`Linker`] all policies share, with
//! fuel metering, epoch deadlines and a ticker thread.

use crate::sandbox::Sandbox;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use wasmtime::component::{Linker, Resource};
use wasmtime::{Config, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. A policy's deadline is honoured to
/// within one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Component instances the pooling allocator holds slots for, and how
/// they are shared out so that the pool can never run dry:
///
/// - every instance is either *checked out* (an evaluation, a load or a
///   smoke test is using it) or *idle* (warm in a policy's idle list);
/// - at most [`CHECKOUT_SLOTS`] (200) are checked out at once, across all
///   policies and generations: an evaluation takes one instance at a time
///   (policies run one after another) and gives it back before the next,
///   so 200 decisions run their policies in parallel and the 201st waits
///   for a slot instead of failing; no one holds two slots, and each
///   holder gives its slot back within its policy's deadline (twice that
///   when it instantiates: the constructor has its own);
/// - at most [`IDLE_SLOTS`] (800) are idle at once, again across all
///   policies and generations (and at most 64 per policy): an instance
///   given back when the idle slots are full is dropped, and the next call
///   instantiates afresh (about 20 µs instead of 1 µs);
/// - a generation that stops being live drops its idle instances at once
///   (see [`crate::policy::Policy::park`]), so idle slots go to the live
///   set and to a reload's candidate; a generation rolled back to warms up
///   again on demand.
///
/// So at most 200 + 800 = 1,000 instances exist, whatever the number of
/// policies, generations, reloads or callers. Each instance is also held
/// to [`MAX_CORE_INSTANCES_PER_COMPONENT`] core instances,
/// [`MAX_MEMORIES_PER_COMPONENT`] memory and [`MAX_TABLES_PER_COMPONENT`]
/// tables (a shipped Rust policy has 3, 1 and 2; the Python one 14, 1
/// and 2), and the pool holds that many of each per slot, so no other
/// pool runs out first. A component that needs more is refused at load.
///
/// Each memory slot reserves 4 GiB plus a 32 MiB guard of address space
/// (not memory) so that guest code needs no explicit bounds checks: about
/// 4 TiB for the pool, out of Linux x86-64's 128 TiB. No fiber stacks are
/// reserved (policies never run async).
pub const POOL_SLOTS: u32 = 1_000;

/// Instances checked out at once; see [`POOL_SLOTS`].
pub const CHECKOUT_SLOTS: usize = 200;

/// Instances kept idle at once, all policies together; see [`POOL_SLOTS`].
pub const IDLE_SLOTS: usize = 800;

/// The most policies one policy set may hold: the live set and a reload's
/// candidate can then each keep one warm instance per policy within
/// [`IDLE_SLOTS`] (a larger set would decide correctly, but some of its
/// policies would instantiate on every call).
pub const MAX_POLICIES: usize = IDLE_SLOTS / 2;

/// Core (module) instances one policy instance may hold.
pub const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 16;

/// Linear memories one policy instance may hold.
pub const MAX_MEMORIES_PER_COMPONENT: u32 = 1;

/// Tables one policy instance may hold.
pub const MAX_TABLES_PER_COMPONENT: u32 = 4;

const _: () = assert!(CHECKOUT_SLOTS + IDLE_SLOTS <= POOL_SLOTS as usize);

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
    slots: Arc<Slots>,
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
        Ok(PolicyEngine {
            engine,
            linker,
            slots: Arc::new(Slots::new(CHECKOUT_SLOTS, IDLE_SLOTS)),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker every policy instance is linked with.
    pub fn linker(&self) -> &Linker<Sandbox> {
        &self.linker
    }

    /// A checkout slot for one instance (to instantiate, or to take an
    /// idle one): waits while [`CHECKOUT_SLOTS`] are in use. Drop the
    /// instance (or make it idle) before the slot.
    pub fn checkout(&self) -> Checkout {
        self.slots.checkout()
    }

    /// An idle slot for one warm instance, or `None` when
    /// [`IDLE_SLOTS`] are taken (then drop the instance).
    pub fn idle_slot(&self) -> Option<IdleSlot> {
        self.slots.idle_slot()
    }

    /// Instances checked out and idle right now.
    pub fn slots_in_use(&self) -> SlotsInUse {
        self.slots.in_use()
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
        // Each component instance is held to a fixed share of the other
        // pools, so that the component-instance count (which the slots
        // bound) is the only one that could run out.
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .total_core_instances(POOL_SLOTS * MAX_CORE_INSTANCES_PER_COMPONENT)
        .total_memories(POOL_SLOTS * MAX_MEMORIES_PER_COMPONENT)
        .total_tables(POOL_SLOTS * MAX_TABLES_PER_COMPONENT)
        // Fiber stacks serve async calls only, which policies never make:
        // reserve none (the default is 1,000 stacks of 2 MiB).
        .total_stacks(0)
        .max_tables_per_module(MAX_TABLES_PER_COMPONENT)
        .max_memories_per_module(MAX_MEMORIES_PER_COMPONENT)
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
    crate::bindings::v0_3::gavel::policy::history::add_to_linker::<
        Sandbox,
        wasmtime::component::HasSelf<Sandbox>,
    >(&mut linker, |sandbox| sandbox)?;
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

/// How many instances are checked out and idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotsInUse {
    /// Used by an evaluation, a load or a smoke test.
    pub checked_out: usize,
    /// Warm in a policy's idle list.
    pub idle: usize,
}

/// The two counted shares of the pool (see [`POOL_SLOTS`]).
#[derive(Debug)]
struct Slots {
    max_checked_out: usize,
    max_idle: usize,
    checked_out: AtomicUsize,
    idle: AtomicUsize,
    /// Threads waiting for a checkout slot.
    waiting: AtomicUsize,
    lock: Mutex<()>,
    freed: Condvar,
}

impl Slots {
    fn new(max_checked_out: usize, max_idle: usize) -> Self {
        Slots {
            max_checked_out,
            max_idle,
            checked_out: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            lock: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    fn checkout(self: &Arc<Self>) -> Checkout {
        if !take(&self.checked_out, self.max_checked_out) {
            let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            // Counted before the last check, under the lock: a release
            // that misses this count freed its slot before the check saw it.
            self.waiting.fetch_add(1, Ordering::SeqCst);
            while !take(&self.checked_out, self.max_checked_out) {
                guard = self
                    .freed
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        Checkout(self.clone())
    }

    fn release_checkout(&self) {
        self.checked_out.fetch_sub(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.freed.notify_one();
        }
    }

    fn idle_slot(self: &Arc<Self>) -> Option<IdleSlot> {
        take(&self.idle, self.max_idle).then(|| IdleSlot(self.clone()))
    }

    fn in_use(&self) -> SlotsInUse {
        SlotsInUse {
            checked_out: self.checked_out.load(Ordering::SeqCst),
            idle: self.idle.load(Ordering::SeqCst),
        }
    }
}

/// Add one to `count` unless it is at `max`.
fn take(count: &AtomicUsize, max: usize) -> bool {
    count
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

/// One checked-out instance's slot, given back on drop.
#[derive(Debug)]
pub struct Checkout(Arc<Slots>);

impl Drop for Checkout {
    fn drop(&mut self) {
        self.0.release_checkout();
    }
}

/// One idle instance's slot, given back on drop.
#[derive(Debug)]
pub struct IdleSlot(Arc<Slots>);

impl Drop for IdleSlot {
    fn drop(&mut self) {
        self.0.idle.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many threads ask, no more than the maximum are checked
    /// out at once, and every thread gets its turn.
    #[test]
    fn checkouts_never_exceed_their_share_and_all_get_one() {
        for (max, threads, rounds) in [(1, 4, 200), (2, 8, 200), (3, 3, 100), (5, 16, 100)] {
            let slots = Arc::new(Slots::new(max, 0));
            let peak = Arc::new(AtomicUsize::new(0));
            let holding = Arc::new(AtomicUsize::new(0));
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    let (slots, peak, holding) = (slots.clone(), peak.clone(), holding.clone());
                    std::thread::spawn(move || {
                        for _ in 0..rounds {
                            let slot = slots.checkout();
                            let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::yield_now();
                            holding.fetch_sub(1, Ordering::SeqCst);
                            drop(slot);
                        }
                    })
                })
                .collect();
            for w in workers {
                assert!(w.join().is_ok());
            }
            let peak = peak.load(Ordering::SeqCst);
            assert!(peak <= max, "max {max}: {peak} checked out at once");
            assert_eq!(slots.in_use().checked_out, 0, "max {max}: all given back");
        }
    }

    #[test]
    fn idle_slots_run_out_and_come_back() {
        let slots = Arc::new(Slots::new(1, 3));
        let held: Vec<_> = (0..3).filter_map(|_| slots.idle_slot()).collect();
        assert_eq!(held.len(), 3);
        assert!(slots.idle_slot().is_none(), "the fourth is refused");
        drop(held);
        assert_eq!(slots.in_use().idle, 0);
        assert!(slots.idle_slot().is_some());
    }
}
