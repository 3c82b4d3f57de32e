//! Hostile fixture: grows its memory without bound. The host's memory cap
//! must stop it and the decision must fail closed.

use gavel_sdk::{ConfigError, Metadata, Policy, Request, Verdict, export_policy};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {}

struct MemoryHog;

impl Policy for MemoryHog {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "hostile-memory-hog",
            "0.1.0",
            "Allocates until something stops it.",
        )
    }

    fn new(_: Config) -> Result<Self, ConfigError> {
        Ok(MemoryHog)
    }

    fn evaluate(&self, _: &Request) -> Verdict {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // 1 MiB at a time, touched so that it is really committed.
            let chunk = vec![0xA5u8; 1 << 20];
            hoard.push(std::hint::black_box(chunk));
            if hoard.len() == usize::MAX {
                return Verdict::approve();
            }
        }
    }
}

export_policy!(MemoryHog);
