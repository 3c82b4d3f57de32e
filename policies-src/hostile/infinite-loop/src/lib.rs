//! Hostile fixture: never returns. The host must stop it (fuel or deadline)
//! and fail closed.

use gavel_sdk::{ConfigError, Metadata, Policy, Request, Verdict, export_policy};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {}

struct InfiniteLoop;

impl Policy for InfiniteLoop {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new("hostile-infinite-loop", "0.1.0", "Loops forever.")
    }

    fn new(_: Config) -> Result<Self, ConfigError> {
        Ok(InfiniteLoop)
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        let mut n: u64 = request.action.len() as u64;
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
            if n == 0 {
                // Unreachable in practice; keeps the loop from being provably infinite.
                return Verdict::approve();
            }
        }
    }
}

export_policy!(InfiniteLoop);
