//! The store state a policy runs in: a WASI context that grants nothing,
//! deterministic clocks and randomness, and resource limits.
//!
//! - no preopened directories, no environment, no arguments, no stdin;
//!   stdout and stderr are discarded;
//! - every socket address is refused, and name lookup is off;
//! - the wall clock reads the request's timestamp and the monotonic clock
//!   stands still, so a policy sees no host time; sleeping traps (see
//!   [`crate::engine`]);
//! - randomness is a fixed, seeded stream;
//! - linear memory is capped per memory, and tables and instance counts
//!   are bounded.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

/// The seed of every policy's random stream.
const RANDOM_SEED: u64 = 0x6761_7665_6c5f_7264;

/// Most table elements one table may hold.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The error a policy's memory growth fails with when it passes its cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {cap_bytes} bytes exceeded (asked for {desired_bytes})")]
pub struct MemoryCapExceeded {
    /// The cap.
    pub cap_bytes: usize,
    /// What the policy asked for.
    pub desired_bytes: usize,
}

/// Caps memory, tables and instances for one store.
#[derive(Debug)]
pub struct SandboxLimiter {
    memory_cap: usize,
}

impl ResourceLimiter for SandboxLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            // An error, not `Ok(false)`: the guest traps at once instead of
            // seeing a failed `memory.grow` it might mishandle.
            return Err(MemoryCapExceeded {
                cap_bytes: self.memory_cap,
                desired_bytes: desired,
            }
            .into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    // A store holds one policy instance: the same caps as the pooling
    // allocator's per component (see `crate::engine::POOL_SLOTS`).
    fn instances(&self) -> usize {
        // A component holds a handful of core instances (the program, the
        // WASI adapter, shims); Python components hold more.
        per_component(crate::engine::MAX_CORE_INSTANCES_PER_COMPONENT)
    }

    fn tables(&self) -> usize {
        per_component(crate::engine::MAX_TABLES_PER_COMPONENT)
    }

    fn memories(&self) -> usize {
        per_component(crate::engine::MAX_MEMORIES_PER_COMPONENT)
    }
}

fn per_component(cap: u32) -> usize {
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// The wall clock a policy sees: the timestamp of the request it is judging.
#[derive(Debug, Clone, Default)]
pub struct RequestClock(Arc<AtomicI64>);

impl RequestClock {
    /// Point the clock at a request's timestamp.
    pub fn set(&self, timestamp_ms: i64) {
        self.0.store(timestamp_ms, Ordering::Relaxed);
    }
}

impl HostWallClock for RequestClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.load(Ordering::Relaxed)).unwrap_or(0))
    }
}

/// A monotonic clock that never moves.
#[derive(Debug, Clone, Copy)]
struct StillClock;

impl HostMonotonicClock for StillClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        0
    }
}

/// The state of one policy store.
pub struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The limits the store enforces.
    pub limiter: SandboxLimiter,
    /// The clock the policy reads.
    pub clock: RequestClock,
    /// The history the policy may read during an evaluation.
    pub facts: crate::history::FactSession,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("limiter", &self.limiter)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// A sandbox whose linear memories may each grow to `memory_cap` bytes.
    pub fn new(memory_cap: usize) -> Self {
        let clock = RequestClock::default();
        let wasi = WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(clock.clone())
            .monotonic_clock(StillClock)
            .secure_random(StdRng::seed_from_u64(RANDOM_SEED))
            .insecure_random(StdRng::seed_from_u64(RANDOM_SEED.rotate_left(17)))
            .insecure_random_seed(u128::from(RANDOM_SEED))
            .build();
        Sandbox {
            wasi,
            table: ResourceTable::new(),
            limiter: SandboxLimiter { memory_cap },
            clock,
            facts: crate::history::FactSession::default(),
        }
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
