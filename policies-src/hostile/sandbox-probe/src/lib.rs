//! Hostile fixture: tries to reach the host's filesystem, environment,
//! network and clock. It denies with `sandbox-held` when every attempt
//! failed, and with `sandbox-escaped` (listing what worked) otherwise.

use gavel_sdk::{ConfigError, Metadata, Policy, Request, Verdict, export_policy};
use serde::Deserialize;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Deserialize)]
struct Config {}

struct SandboxProbe;

impl Policy for SandboxProbe {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "hostile-sandbox-probe",
            "0.1.0",
            "Tries to escape the sandbox.",
        )
    }

    fn new(_: Config) -> Result<Self, ConfigError> {
        Ok(SandboxProbe)
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        let mut escaped = Vec::new();
        let mut held = Vec::new();
        let path = request.param_str("path").unwrap_or("/etc/passwd");
        match std::fs::read(path) {
            Ok(bytes) => escaped.push(format!("read {path} ({} bytes)", bytes.len())),
            Err(e) => held.push(format!("read {path}: {e}")),
        }
        match std::fs::read_dir("/") {
            Ok(_) => escaped.push("listed /".to_owned()),
            Err(e) => held.push(format!("list /: {e}")),
        }
        let var = request.param_str("env").unwrap_or("PATH");
        match std::env::var(var) {
            Ok(_) => escaped.push(format!("read env {var}")),
            Err(e) => held.push(format!("env {var}: {e}")),
        }
        let vars = std::env::vars_os().count();
        if vars > 0 {
            escaped.push(format!("saw {vars} environment variables"));
        }
        let args = std::env::args_os().count();
        if args > 0 {
            escaped.push(format!("saw {args} arguments"));
        }
        match std::net::TcpStream::connect("127.0.0.1:80") {
            Ok(_) => escaped.push("connected to 127.0.0.1:80".to_owned()),
            Err(e) => held.push(format!("connect: {e}")),
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(-1);
        if now_ms != request.timestamp_ms {
            escaped.push(format!(
                "wall clock reads {now_ms}, not the request's {}",
                request.timestamp_ms
            ));
        }
        if escaped.is_empty() {
            Verdict::deny("sandbox-held", held.join("; "))
        } else {
            Verdict::deny("sandbox-escaped", escaped.join("; "))
        }
    }
}

export_policy!(SandboxProbe);
