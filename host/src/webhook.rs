//! The outbound webhook for new escalations: a Slack-compatible JSON POST,
//! with a timeout and retries, that never blocks the caller.
//!
//! [`Webhook::send`] only queues the payload (a bounded queue; when it is
//! full the payload is dropped and reported as failed). One worker thread
//! delivers the queue in order: each POST is bounded by
//! [`WebhookConfig::timeout`] end to end, and connection errors, timeouts,
//! `429` and `5xx` are retried up to [`WebhookConfig::attempts`] times with
//! exponential backoff. Every payload is reported exactly once to the
//! `on_result` callback given to [`Webhook::start`].
//!
//! Webhook URLs often carry a secret in their path (Slack's do), so logs
//! and errors name only the URL's host.

use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many payloads may wait for delivery before [`Webhook::send`] drops.
pub const QUEUE_CAPACITY: usize = 1024;

/// The longest pause between two attempts, whatever the backoff doubles to.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where and how to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// End-to-end limit of one attempt (connect, send, response).
    pub timeout: Duration,
    /// Attempts per payload, the first included (0 counts as 1).
    pub attempts: u32,
    /// The pause before the first retry; it doubles for each further one.
    pub backoff: Duration,
}

impl WebhookConfig {
    /// `url` with a 5 s timeout, 4 attempts and a 250 ms backoff.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_secs(5),
            attempts: 4,
            backoff: Duration::from_millis(250),
        }
    }
}

/// Why a webhook could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL does not parse.
    #[error("webhook URL is not a valid URL: {0}")]
    InvalidUrl(String),
    /// The URL has no scheme.
    #[error("webhook URL must start with http:// or https://")]
    MissingScheme,
    /// The URL's scheme is not http or https.
    #[error("webhook URL must start with http:// or https://, not {0}://")]
    UnsupportedScheme(String),
    /// The URL has no host.
    #[error("webhook URL has no host")]
    MissingHost,
    /// The URL's port is not a number from 0 to 65535.
    #[error("webhook URL has an invalid port `{0}`")]
    InvalidPort(String),
    /// The worker thread could not be started.
    #[error("cannot start the webhook worker thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// The callback, shared by the worker and [`Webhook::send`].
type OnResult = Mutex<Box<dyn Fn(bool) + Send>>;

/// State shared with the worker.
struct Shared {
    /// Set when the webhook is dropped: stop retrying, fail what is queued.
    closing: AtomicBool,
    on_result: OnResult,
}

impl Shared {
    fn report(&self, ok: bool) {
        let on_result = self
            .on_result
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        on_result(ok);
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
}

/// A running webhook: a bounded queue and its delivery thread. Dropping it
/// stops the thread (waiting at most for the attempt in flight, itself
/// bounded by the timeout); payloads still queued are reported as failed.
pub struct Webhook {
    sender: Option<SyncSender<Value>>,
    worker: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    /// The URL's host, for logs (the full URL may hold a secret).
    host: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("host", &self.host)
            .field("running", &self.worker.is_some())
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Validates `config.url` and starts the delivery thread.
    /// `on_result` is told, once per payload given to [`Webhook::send`],
    /// whether it was delivered.
    pub fn start(
        config: WebhookConfig,
        on_result: impl Fn(bool) + Send + 'static,
    ) -> Result<Webhook, WebhookError> {
        let host = validate_url(&config.url)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            // A redirect is answered, not followed: a POST must not turn
            // into a GET somewhere else.
            .max_redirects(0)
            .user_agent(concat!("gavel/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let shared = Arc::new(Shared {
            closing: AtomicBool::new(false),
            on_result: Mutex::new(Box::new(on_result)),
        });
        let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
        let worker = Worker {
            agent,
            config,
            host: host.clone(),
            shared: Arc::clone(&shared),
        };
        let handle = std::thread::Builder::new()
            .name("gavel-webhook".to_owned())
            .spawn(move || worker.run(receiver))
            .map_err(WebhookError::Spawn)?;
        Ok(Webhook {
            sender: Some(sender),
            worker: Some(handle),
            shared,
            host,
        })
    }

    /// Queues `payload` for delivery; never blocks. When the queue is full
    /// the payload is dropped, logged and reported as failed.
    pub fn send(&self, payload: Value) {
        let Some(sender) = &self.sender else {
            self.shared.report(false);
            return;
        };
        match sender.try_send(payload) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!(
                    host = %self.host,
                    "webhook queue is full ({QUEUE_CAPACITY} payloads): dropping a payload"
                );
                self.shared.report(false);
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::warn!(
                    host = %self.host,
                    "webhook worker is gone: dropping a payload"
                );
                self.shared.report(false);
            }
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        // Closing the channel ends the worker's loop once it is drained.
        drop(self.sender.take());
        if let Some(worker) = self.worker.take() {
            // Cut short a backoff pause.
            worker.thread().unpark();
            if worker.join().is_err() {
                tracing::warn!(host = %self.host, "webhook worker panicked");
            }
        }
    }
}

/// Checks that `url` is `http://` or `https://` with a host, as ureq will
/// parse it; returns the host.
fn validate_url(url: &str) -> Result<String, WebhookError> {
    if !url.contains("://") {
        return Err(WebhookError::MissingScheme);
    }
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e: ureq::http::uri::InvalidUri| WebhookError::InvalidUrl(e.to_string()))?;
    let scheme = uri.scheme_str().ok_or(WebhookError::MissingScheme)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(WebhookError::UnsupportedScheme(scheme.to_owned()));
    }
    let host = match uri.host() {
        Some(host) if !host.is_empty() => host.to_owned(),
        _ => return Err(WebhookError::MissingHost),
    };
    // `Uri` accepts any port text; a port, if given, must be a number.
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let after_host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').map_or("", |(_, rest)| rest),
        None => host_port
            .find(':')
            .map_or("", |at| host_port.get(at..).unwrap_or("")),
    };
    if let Some(port) = after_host.strip_prefix(':')
        && port.parse::<u16>().is_err()
    {
        return Err(WebhookError::InvalidPort(port.to_owned()));
    }
    Ok(host)
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Worth another attempt (connection error, timeout, 429, 5xx).
    Transient(String),
    /// Not worth another attempt (other statuses, bad request, no TLS).
    Permanent(String),
}

/// The delivery thread.
struct Worker {
    agent: ureq::Agent,
    config: WebhookConfig,
    host: String,
    shared: Arc<Shared>,
}

impl Worker {
    fn run(self, receiver: Receiver<Value>) {
        let mut abandoned = 0u64;
        for payload in receiver {
            if self.shared.closing() {
                abandoned += 1;
                self.shared.report(false);
                continue;
            }
            let ok = self.deliver(&payload);
            self.shared.report(ok);
        }
        if abandoned > 0 {
            tracing::warn!(
                host = %self.host,
                "webhook stopped with {abandoned} payload(s) undelivered"
            );
        }
    }

    /// Delivers one payload, retrying; true when delivered.
    fn deliver(&self, payload: &Value) -> bool {
        let body = match serde_json::to_vec(payload) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(host = %self.host, "webhook payload does not serialize: {e}");
                return false;
            }
        };
        let attempts = self.config.attempts.max(1);
        let mut backoff = self.config.backoff;
        for attempt in 1..=attempts {
            let why = match self.attempt(&body) {
                Attempt::Delivered => return true,
                Attempt::Permanent(why) => {
                    tracing::warn!(
                        host = %self.host,
                        attempt,
                        "webhook delivery failed, not retrying: {why}"
                    );
                    return false;
                }
                Attempt::Transient(why) => why,
            };
            if attempt == attempts || self.shared.closing() {
                tracing::warn!(
                    host = %self.host,
                    attempts = attempt,
                    "webhook delivery failed, giving up: {why}"
                );
                return false;
            }
            tracing::debug!(
                host = %self.host,
                attempt,
                "webhook delivery failed, retrying in {backoff:?}: {why}"
            );
            self.pause(backoff);
            if self.shared.closing() {
                tracing::warn!(
                    host = %self.host,
                    attempts = attempt,
                    "webhook stopped before delivering: {why}"
                );
                return false;
            }
            backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
        }
        false
    }

    fn attempt(&self, body: &[u8]) -> Attempt {
        let sent = self
            .agent
            .post(&self.config.url)
            .header("content-type", "application/json")
            .send(body);
        match sent {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    Attempt::Delivered
                } else if status.is_server_error()
                    || status == ureq::http::StatusCode::TOO_MANY_REQUESTS
                {
                    Attempt::Transient(format!("status {status}"))
                } else {
                    Attempt::Permanent(format!("status {status}"))
                }
            }
            Err(e) => {
                let transient = matches!(
                    e,
                    ureq::Error::Timeout(_)
                        | ureq::Error::Io(_)
                        | ureq::Error::ConnectionFailed
                        | ureq::Error::HostNotFound
                        | ureq::Error::Protocol(_)
                        | ureq::Error::ConnectProxyFailed(_)
                );
                let why = match e {
                    ureq::Error::TlsRequired => {
                        "https needs TLS, which this build of gavel lacks".to_owned()
                    }
                    e => e.to_string(),
                };
                if transient {
                    Attempt::Transient(why)
                } else {
                    Attempt::Permanent(why)
                }
            }
        }
    }

    /// Sleeps `pause`, or less if the webhook is dropped meanwhile.
    fn pause(&self, pause: Duration) {
        let until = Instant::now() + pause;
        while !self.shared.closing() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::park_timeout(left);
        }
    }
}

/// A Slack-compatible message: `{"text": text}` with the members of
/// `fields` (an object) merged in. `text` wins over a `text` member of
/// `fields`; a `fields` that is not an object adds nothing.
pub fn slack_payload(text: &str, fields: Value) -> Value {
    let mut message = match fields {
        Value::Object(fields) => fields,
        _ => serde_json::Map::new(),
    };
    message.insert("text".to_owned(), Value::String(text.to_owned()));
    Value::Object(message)
}

#[cfg(test)]
mod tests;
