//! Hostile fixture: tries to sleep. A sleeping guest would block the host
//! thread where no epoch deadline can reach it, so the host makes every way
//! to sleep trap.

use gavel_sdk::{ConfigError, Metadata, Policy, Request, Verdict, export_policy};
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize)]
struct Config {}

struct Sleeper;

impl Policy for Sleeper {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new("hostile-sleeper", "0.1.0", "Sleeps for an hour.")
    }

    fn new(_: Config) -> Result<Self, ConfigError> {
        Ok(Sleeper)
    }

    fn evaluate(&self, _: &Request) -> Verdict {
        std::thread::sleep(Duration::from_secs(3600));
        Verdict::approve()
    }
}

export_policy!(Sleeper);
