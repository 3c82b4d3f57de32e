//! Voiding reserve attempts whose answers were lost: the script may have
//! run (the server died or stalled after running it), so once the server
//! answers again the attempt is marked void (a late run then reserves
//! nothing) and whatever it reserved is taken back, unless a retry of the
//! same request took the entries over (see `void.lua`).

use super::{SharedCounters, instance_key, request_key, void_key};
use redis::Script;
use std::sync::{LazyLock, PoisonError};

static VOID: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("void.lua")));

/// How long the mark of a voided attempt lives: longer than any reply
/// could be late, once the server answers again.
const VOID_MARK_MS: u64 = 600_000;

/// Most attempts waiting to be voided (the oldest are dropped past it,
/// and their reservations count until their windows end).
const MAX_PENDING_VOIDS: usize = 10_000;

/// A reserve attempt whose answer never came: it may have run.
#[derive(Debug, Clone)]
pub(super) struct Void {
    pub(super) request_id: String,
    pub(super) attempt: String,
    pub(super) instances: Vec<String>,
}

impl SharedCounters {
    pub(super) fn pend(&self, void: Void) {
        let mut voids = self.voids.lock().unwrap_or_else(PoisonError::into_inner);
        if voids.len() >= MAX_PENDING_VOIDS {
            voids.remove(0);
            tracing::warn!(
                "too many reserve attempts wait to be voided; the oldest one's reservations count until their windows end"
            );
        }
        voids.push(void);
    }

    /// Void the attempts whose answers were lost, now that the server may
    /// answer again; those that still fail wait for the next time.
    pub(super) fn void_pending(&self) {
        let pending =
            std::mem::take(&mut *self.voids.lock().unwrap_or_else(PoisonError::into_inner));
        let mut left = Vec::new();
        let mut failed = false;
        for void in pending {
            if failed {
                left.push(void);
                continue;
            }
            let mut inv = VOID.prepare_invoke();
            inv.key(void_key(&void.attempt))
                .key(request_key(&void.request_id))
                .arg(&void.request_id)
                .arg(&void.attempt)
                .arg(VOID_MARK_MS);
            for i in &void.instances {
                inv.key(instance_key("z:", i))
                    .key(instance_key("e:", i))
                    .key(instance_key("m:", i))
                    .arg(i);
            }
            match self.link.with(|con| inv.invoke::<i64>(con)) {
                Ok(dropped) => {
                    if dropped > 0 {
                        tracing::warn!(
                            request_id = %void.request_id,
                            dropped,
                            "a reservation whose answer was lost ran after all; it was taken back"
                        );
                    }
                }
                Err(_) => {
                    failed = true;
                    left.push(void);
                }
            }
        }
        if !left.is_empty() {
            let mut voids = self.voids.lock().unwrap_or_else(PoisonError::into_inner);
            left.append(&mut voids);
            *voids = left;
        }
    }
}
