//! Hostile fixture: traps (a Rust panic becomes a wasm `unreachable`).

use gavel_sdk::{ConfigError, Metadata, Policy, Request, Verdict, export_policy};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {}

struct Trap;

impl Policy for Trap {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new("hostile-trap", "0.1.0", "Panics on every request.")
    }

    fn new(_: Config) -> Result<Self, ConfigError> {
        Ok(Trap)
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        if request.action != "never-matches-this-action" {
            panic!("policy bug on action {}", request.action);
        }
        Verdict::approve()
    }
}

export_policy!(Trap);
