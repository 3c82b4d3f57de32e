//! The shipping lag gate: while more than a limit of committed records are
//! not yet shipped to the central log, decisions are refused, as they are
//! when the log cannot be written (fail closed).
//!
//! The shipper publishes the last sequence number the central log holds
//! in an [`AtomicU64`]; the gate compares it with the writer's committed
//! head on every decision, without a lock.

use super::LogError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Refuses decisions while `committed - shipped > max_lag`.
#[derive(Debug, Clone)]
pub struct LagGate {
    shipped: Arc<AtomicU64>,
    max_lag: u64,
}

impl LagGate {
    /// A gate on `shipped` (the last shipped sequence number, kept up to
    /// date by the shipper) with at most `max_lag` unshipped records.
    pub fn new(shipped: Arc<AtomicU64>, max_lag: u64) -> Self {
        LagGate { shipped, max_lag }
    }

    /// Unshipped records when `committed` records are in the local log.
    pub fn lag(&self, committed: u64) -> u64 {
        committed.saturating_sub(self.shipped.load(Ordering::Acquire))
    }

    /// `Ok` while the lag is within the limit; otherwise the refusal.
    pub fn check(&self, committed: u64) -> Result<(), LogError> {
        let lag = self.lag(committed);
        if lag > self.max_lag {
            return Err(LogError::ShipLag {
                lag,
                limit: self.max_lag,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_only_past_the_limit() {
        let shipped = Arc::new(AtomicU64::new(0));
        let gate = LagGate::new(shipped.clone(), 3);
        // (committed, shipped, refused)
        for (committed, at, refused) in [
            (0, 0, false),
            (3, 0, false),
            (4, 0, true),
            (4, 1, false),
            (10, 6, true),
            (10, 7, false),
            // A cursor ahead of the local head (never shipped from here).
            (2, 5, false),
        ] {
            shipped.store(at, Ordering::Release);
            let result = gate.check(committed);
            assert_eq!(result.is_err(), refused, "{committed} {at}: {result:?}");
            if let Err(e) = result {
                let text = e.to_string();
                assert!(
                    text.contains(&format!("{} records", committed - at)),
                    "{text}"
                );
                assert!(text.contains("limit of 3"), "{text}");
            }
        }
    }
}
