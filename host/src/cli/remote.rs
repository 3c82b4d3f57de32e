//! Talking to a running `gavel serve`: the reviewer's and operator's
//! commands (`gavel escalations`, `gavel killswitch`) call its HTTP API,
//! because the service holds the decision log.

use super::DataDirArg;
use super::serve::ADMIN_TOKEN_FILE;
use anyhow::Context;
use serde_json::Value;
use std::time::Duration;

/// Where the service is and how to authenticate.
#[derive(clap::Args, Debug, Clone)]
pub struct ServiceArgs {
    /// The service's base URL.
    #[arg(long, env = "GAVEL_URL", default_value = "http://127.0.0.1:7700")]
    url: String,
    /// File holding the admin token. Otherwise $GAVEL_ADMIN_TOKEN,
    /// otherwise <data-dir>/admin.token.
    #[arg(long)]
    token_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    data: DataDirArg,
}

impl ServiceArgs {
    fn token(&self) -> anyhow::Result<String> {
        let file = match &self.token_file {
            Some(f) => f.clone(),
            None => {
                if let Ok(t) = std::env::var("GAVEL_ADMIN_TOKEN") {
                    return Ok(t.trim().to_owned());
                }
                self.data.data_dir.join(ADMIN_TOKEN_FILE)
            }
        };
        Ok(std::fs::read_to_string(&file)
            .with_context(|| {
                format!(
                    "no admin token: set GAVEL_ADMIN_TOKEN, pass --token-file, or run where {} exists",
                    file.display()
                )
            })?
            .trim()
            .to_owned())
    }

    /// Call the API; a non-2xx answer is an error carrying the service's
    /// message.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let auth = format!("Bearer {}", self.token()?);
        let response = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
            (_, Some(body)) => agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(&body),
            (_, None) => agent.post(&url).header("Authorization", &auth).send_empty(),
        }
        .with_context(|| format!("cannot reach the service at {}", self.url))?;
        let status = response.status().as_u16();
        let text = response
            .into_body()
            .read_to_string()
            .with_context(|| format!("reading the answer to {method} {path}"))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let message = value
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        anyhow::bail!("{method} {path}: {status}: {message}")
    }
}

/// The caller's name, for `--actor` and `--reviewer` defaults.
pub fn whoami() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "cli".to_owned())
}

/// Print JSON, pretty.
pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}
