use super::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;

/// How the test receiver answers one request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Read the request, never answer (keep the connection open).
    Hang,
}

/// One request the receiver saw.
#[derive(Debug)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut seen = Seen {
        head,
        body: buf[head_end..].to_vec(),
    };
    let length: usize = seen
        .header("content-length")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    while seen.body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        seen.body.extend_from_slice(&chunk[..n]);
    }
    Some(seen)
}

/// A minimal HTTP/1.1 receiver answering with `replies` in turn (one
/// per connection), then 200 forever. Returns the webhook URL and the
/// requests it sees.
fn serve(replies: Vec<Reply>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook/SECRET", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut replies = replies.into_iter();
        let mut hung = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(seen) = read_request(&mut stream) else {
                continue;
            };
            let _ = tx.send(seen);
            match replies.next().unwrap_or(Reply::Status(200)) {
                Reply::Status(status) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                }
                Reply::Hang => hung.push(stream),
            }
        }
    });
    (url, rx)
}

fn config(url: &str) -> WebhookConfig {
    WebhookConfig {
        url: url.to_owned(),
        timeout: Duration::from_secs(5),
        attempts: 4,
        backoff: Duration::from_millis(20),
    }
}

fn start(config: WebhookConfig) -> (Webhook, mpsc::Receiver<bool>) {
    let (tx, rx) = mpsc::channel();
    let hook = Webhook::start(config, move |ok| {
        let _ = tx.send(ok);
    })
    .unwrap();
    (hook, rx)
}

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(400);

#[test]
fn delivers_once_with_the_json_body() {
    let (url, seen) = serve(vec![Reply::Status(200)]);
    let (hook, results) = start(config(&url));
    let payload = slack_payload("escalation opened", json!({"escalation": {"id": "e-1"}}));
    hook.send(payload.clone());

    assert!(results.recv_timeout(WAIT).unwrap());
    let request = seen.recv_timeout(WAIT).unwrap();
    assert!(request.head.starts_with("POST /hook/SECRET HTTP/1.1\r\n"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, payload);
    assert_eq!(body["text"], "escalation opened");
    assert_eq!(body["escalation"]["id"], "e-1");

    assert!(seen.recv_timeout(QUIET).is_err(), "delivered twice");
    assert!(results.recv_timeout(QUIET).is_err(), "reported twice");
}

#[test]
fn retries_after_a_server_error_then_delivers() {
    let (url, seen) = serve(vec![Reply::Status(500), Reply::Status(200)]);
    let (hook, results) = start(config(&url));
    hook.send(json!({"text": "hi"}));

    assert!(results.recv_timeout(WAIT).unwrap());
    assert!(seen.recv_timeout(WAIT).is_ok());
    assert!(seen.recv_timeout(WAIT).is_ok());
    assert!(seen.recv_timeout(QUIET).is_err(), "more than 2 requests");
    assert!(results.recv_timeout(QUIET).is_err(), "reported twice");
    drop(hook);
}

#[test]
fn retries_after_too_many_requests() {
    let (url, seen) = serve(vec![Reply::Status(429), Reply::Status(503)]);
    let (hook, results) = start(config(&url));
    hook.send(json!({"text": "hi"}));
    assert!(results.recv_timeout(WAIT).unwrap());
    assert_eq!(seen.try_iter().count(), 3);
    drop(hook);
}

#[test]
fn client_errors_are_not_retried() {
    let (url, seen) = serve(vec![Reply::Status(400)]);
    let (hook, results) = start(config(&url));
    hook.send(json!({"text": "hi"}));

    assert!(!results.recv_timeout(WAIT).unwrap());
    assert!(seen.recv_timeout(WAIT).is_ok());
    assert!(seen.recv_timeout(QUIET).is_err(), "a 400 was retried");
    assert!(results.recv_timeout(QUIET).is_err());
    drop(hook);
}

#[test]
fn an_unanswering_receiver_times_out() {
    let (url, seen) = serve(vec![Reply::Hang, Reply::Hang]);
    let (hook, results) = start(WebhookConfig {
        timeout: Duration::from_millis(200),
        attempts: 2,
        backoff: Duration::from_millis(10),
        ..config(&url)
    });
    let started = Instant::now();
    hook.send(json!({"text": "hi"}));

    assert!(!results.recv_timeout(WAIT).unwrap());
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(seen.try_iter().count(), 2);
    drop(hook);
}

#[test]
fn a_refused_connection_is_a_failure() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (hook, results) = start(WebhookConfig {
        attempts: 2,
        ..config(&format!("http://127.0.0.1:{port}/hook"))
    });
    hook.send(json!({"text": "hi"}));
    assert!(!results.recv_timeout(WAIT).unwrap());
}

#[test]
fn bad_urls_are_typed_errors() {
    let bad = |url: &str| Webhook::start(WebhookConfig::new(url), |_| {}).unwrap_err();
    assert!(
        matches!(bad("ftp://example.com/hook"), WebhookError::UnsupportedScheme(s) if s == "ftp")
    );
    assert!(matches!(
        bad("example.com/hook"),
        WebhookError::MissingScheme
    ));
    assert!(matches!(bad("/hook"), WebhookError::MissingScheme));
    assert!(matches!(bad("not a url"), WebhookError::MissingScheme));
    assert!(matches!(bad(""), WebhookError::MissingScheme));
    assert!(matches!(
        bad("http://exa mple.com/"),
        WebhookError::InvalidUrl(_)
    ));
    assert!(matches!(
        bad("http://"),
        WebhookError::InvalidUrl(_) | WebhookError::MissingHost
    ));
    assert!(matches!(
        bad("http:///hook"),
        WebhookError::InvalidUrl(_) | WebhookError::MissingHost
    ));
    assert!(matches!(
        bad("https://host:port/"),
        WebhookError::InvalidPort(p) if p == "port"
    ));
    assert!(matches!(bad("http://host:/"), WebhookError::InvalidPort(p) if p.is_empty()));
    assert!(matches!(
        bad("http://host:99999/"),
        WebhookError::InvalidPort(_)
    ));
    let message = bad("ftp://example.com/T0/SECRET").to_string();
    assert!(
        message.contains("http://") && !message.contains("SECRET"),
        "{message}"
    );

    for good in [
        "http://127.0.0.1:9/hook",
        "https://hooks.slack.com/services/T0/B0/SECRET",
        "HTTP://example.com",
        "http://user:pw@example.com:8080/x",
        "http://[::1]:8080/x",
        "http://[::1]/x",
    ] {
        let hook = Webhook::start(WebhookConfig::new(good), |_| {}).unwrap();
        assert!(!format!("{hook:?}").contains("SECRET"));
    }
}

#[test]
fn a_full_queue_does_not_block_and_drop_is_bounded() {
    // Every request hangs: the worker is stuck in its first attempt.
    let (url, seen) = serve(vec![Reply::Hang; 2 * QUEUE_CAPACITY]);
    let (hook, results) = start(WebhookConfig {
        timeout: Duration::from_secs(1),
        attempts: 1,
        ..config(&url)
    });
    hook.send(json!({"n": 0}));
    // Wait until the worker has taken the first payload off the queue.
    seen.recv_timeout(WAIT).unwrap();

    let extra = 50;
    let started = Instant::now();
    for n in 0..QUEUE_CAPACITY + extra {
        hook.send(json!({ "n": n + 1 }));
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "send blocked: {took:?}");
    // The overflow is reported as failed right away.
    for _ in 0..extra {
        assert!(!results.recv_timeout(Duration::from_millis(500)).unwrap());
    }

    // Dropping waits at most for the attempt in flight; everything
    // queued is reported as failed.
    let started = Instant::now();
    drop(hook);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "drop took {took:?}");
    let rest: Vec<bool> = results.iter().collect();
    assert_eq!(rest.len(), 1 + QUEUE_CAPACITY);
    assert!(rest.iter().all(|ok| !ok));
}

#[test]
fn drop_interrupts_a_backoff_pause() {
    let (url, _seen) = serve(vec![Reply::Status(503); 2]);
    let (hook, results) = start(WebhookConfig {
        backoff: Duration::from_secs(30),
        ..config(&url)
    });
    hook.send(json!({"text": "hi"}));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    drop(hook);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(results.iter().collect::<Vec<_>>(), vec![false]);
}

#[test]
fn slack_payload_merges_fields() {
    assert_eq!(
        slack_payload("hello", json!({"channel": "#ops", "n": 2})),
        json!({"text": "hello", "channel": "#ops", "n": 2})
    );
    assert_eq!(
        slack_payload("hello", Value::Null),
        json!({"text": "hello"})
    );
    assert_eq!(
        slack_payload("hello", json!({"text": "other"})),
        json!({"text": "hello"})
    );
}

#[test]
fn defaults() {
    let config = WebhookConfig::new("http://example.com/");
    assert_eq!(config.timeout, Duration::from_secs(5));
    assert_eq!(config.attempts, 4);
    assert_eq!(config.backoff, Duration::from_millis(250));
}
