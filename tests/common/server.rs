//! A `gavel serve` child process on a free loopback port, and an HTTP
//! client for it.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The admin token every test server uses.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// A running `gavel serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its data directory.
    pub data: PathBuf,
    agent: ureq::Agent,
}

/// Copy the shipped policy directory (manifest and the four components)
/// into a fresh temporary directory that a test may change.
pub fn shipped_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let from = super::root().join("policies-wasm");
    for name in [
        "policies.toml",
        "sensitive_actions.wasm",
        "transaction_limit.wasm",
        "business_hours.wasm",
        "pii_egress.wasm",
        "budget.wasm",
        "rate_limit.wasm",
        "prerequisites.wasm",
    ] {
        std::fs::copy(from.join(name), dir.path().join(name)).expect("copy shipped policy");
    }
    dir
}

impl Server {
    /// Start `gavel serve --policies <policies> --data-dir <data>` plus
    /// `args`, and wait until it listens.
    pub fn start(policies: &Path, data: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gavel"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--policies"])
            .arg(policies)
            .arg("--data-dir")
            .arg(data)
            .args(args)
            .env("GAVEL_ADMIN_TOKEN", ADMIN_TOKEN)
            .env_remove("GAVEL_EVAL_TOKEN")
            .env_remove("GAVEL_WEBHOOK")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn gavel serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut url = None;
        for line in lines.by_ref() {
            let line = line.expect("read stdout");
            if let Some(at) = line.find("on http://") {
                url = Some(line[at + 3..].trim().to_owned());
                break;
            }
        }
        let url = url.unwrap_or_else(|| panic!("gavel serve did not start: {:?}", child.wait()));
        // Keep draining stdout so the child never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        Server {
            child,
            url,
            data: data.to_path_buf(),
            agent,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GET with the admin token.
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.request("GET", path, None, Some(ADMIN_TOKEN))
    }

    /// POST JSON with the admin token.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request(
            "POST",
            path,
            Some(body.to_string().as_bytes()),
            Some(ADMIN_TOKEN),
        )
    }

    /// Any request; `token` as the bearer token.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = self
                    .agent
                    .post(&url)
                    .header("Content-Type", "application/json");
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send(body.unwrap_or(b""))
            }
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().expect("read body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Evaluate one action (no token).
    pub fn evaluate(&self, action: &Value) -> Value {
        let (status, value) = self.request(
            "POST",
            "/v1/evaluate",
            Some(action.to_string().as_bytes()),
            None,
        );
        assert_eq!(status, 200, "{value}");
        value
    }

    /// Stop with SIGTERM and wait; the exit must be clean.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait for gavel serve");
        assert!(status.success(), "gavel serve exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
