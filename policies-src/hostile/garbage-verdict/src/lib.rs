//! Hostile fixture: answers with a verdict the host must refuse as garbage.
//! Config `kind` picks the garbage: `empty-code`, `bad-code`, `long-code`,
//! `huge-message`.

use gavel_sdk::{ConfigError, Metadata, Policy, Request, Verdict, export_policy};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    kind: String,
}

struct GarbageVerdict {
    kind: String,
}

impl Policy for GarbageVerdict {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "hostile-garbage-verdict",
            "0.1.0",
            "Returns malformed verdicts.",
        )
    }

    fn new(config: Config) -> Result<Self, ConfigError> {
        Ok(GarbageVerdict { kind: config.kind })
    }

    fn evaluate(&self, _: &Request) -> Verdict {
        match self.kind.as_str() {
            "empty-code" => Verdict::escalate("", "no code"),
            "bad-code" => Verdict::deny("Not A Code!", "bad characters"),
            "long-code" => Verdict::deny("x".repeat(65), "code too long"),
            "huge-message" => Verdict::escalate("huge", "m".repeat(1 << 20)),
            other => Verdict::deny("unknown-kind", format!("unknown kind {other}")),
        }
    }
}

export_policy!(GarbageVerdict);
