//! The HTTP server against slow, idle and oversized clients, spoken to
//! over raw TCP: an oversized `Content-Length` is refused before the body
//! is sent, slow headers and idle keep-alive connections are closed, a
//! body that does not arrive in time gets 408, slowloris connections do
//! not starve other clients, duplicate headers are refused, and `wait`
//! accepts every duration the API's grammar describes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::server::{ADMIN_TOKEN, Server, shipped_copy};
use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long any step may take before the test calls it stuck. Generous:
/// the server's own timeouts in these tests are one or two seconds.
const BOUND: Duration = Duration::from_secs(20);

/// Short timeouts, so that the tests are quick.
const SHORT: &[&str] = &[
    "--max-body",
    "4096",
    "--header-timeout",
    "1s",
    "--body-timeout",
    "2s",
];

fn start(args: &[&str]) -> (Server, tempfile::TempDir, tempfile::TempDir) {
    let policies = shipped_copy();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(policies.path(), data.path(), args, &[]);
    (server, policies, data)
}

fn connect(server: &Server) -> TcpStream {
    let addr = server.url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Read one response: its status and JSON body (`None` when the
/// connection closed first or nothing came within `BOUND`).
fn response(stream: &mut TcpStream) -> Option<(u16, Value)> {
    stream.set_read_timeout(Some(BOUND)).unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).to_string()));
    Some((status, value))
}

/// Whether the server closes the connection within `BOUND` (anything it
/// sends first, such as an error response, is read and ignored).
fn closed_within_bound(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + BOUND;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Send `prefix`, then `filler` two bytes at a time, `pause` apart,
/// forever; whether the server closed the connection within `BOUND`.
fn trickle_until_closed(
    stream: &mut TcpStream,
    prefix: &[u8],
    filler: u8,
    pause: Duration,
) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    if stream.write_all(prefix).is_err() {
        return true;
    }
    let deadline = Instant::now() + BOUND;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if stream.write_all(&[filler; 2]).is_err() {
            return true;
        }
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
        std::thread::sleep(pause);
    }
    false
}

#[test]
fn an_oversized_body_is_refused_before_it_is_sent() {
    let (server, _p, _d) = start(SHORT);
    // A chunk of 0x1001 = 4097 bytes, its end never sent.
    let mut chunked = b"1001\r\n".to_vec();
    chunked.resize(chunked.len() + 4097, b'x');
    // (head after the request line, body sent, expected status)
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        // Declared too large: 413 with nothing of the body sent.
        ("Content-Length: 4097\r\n", vec![], 413),
        ("Content-Length: 10000000000\r\n", vec![], 413),
        (
            "Content-Length: 10000000000\r\nExpect: 100-continue\r\n",
            vec![],
            413,
        ),
        // Chunked: 413 once the chunks pass the limit.
        ("Transfer-Encoding: chunked\r\n", chunked, 413),
        // At the limit: read and judged (not an action: 400).
        ("Content-Length: 4096\r\n", vec![b' '; 4096], 400),
    ];
    for (head, body, status) in &cases {
        let mut stream = connect(&server);
        stream
            .write_all(
                format!("POST /v1/evaluate HTTP/1.1\r\nHost: gavel\r\nContent-Type: application/json\r\n{head}\r\n")
                    .as_bytes(),
            )
            .unwrap();
        stream.write_all(body).unwrap();
        let got = response(&mut stream);
        let (got, value) = got.unwrap_or_else(|| panic!("{head:?}: no answer within {BOUND:?}"));
        assert_eq!(got, *status, "{head:?}: {value}");
        if *status == 413 {
            assert_eq!(value["error"]["code"], "body-too-large", "{value}");
            assert!(
                closed_within_bound(&mut stream),
                "{head:?}: the connection stays open after a 413"
            );
        }
    }
    server.stop();
}

#[test]
fn slow_headers_are_cut_off() {
    let (server, _p, _d) = start(SHORT);
    let mut stream = connect(&server);
    // One header whose value never ends, two bytes every 100 ms.
    let head = b"POST /v1/evaluate HTTP/1.1\r\nHost: gavel\r\nX-Slow: ";
    assert!(
        trickle_until_closed(&mut stream, head, b'a', Duration::from_millis(100)),
        "a client sending its headers a byte at a time kept its connection"
    );
    // A silent connection that never sends a byte is closed too.
    let mut silent = connect(&server);
    assert!(
        closed_within_bound(&mut silent),
        "a silent connection stayed open"
    );
    server.stop();
}

#[test]
fn a_body_that_does_not_arrive_in_time_gets_408() {
    let (server, _p, _d) = start(SHORT);
    // Part of the body at once, then nothing.
    let mut stream = connect(&server);
    stream
        .write_all(b"POST /v1/evaluate HTTP/1.1\r\nHost: gavel\r\nContent-Length: 100\r\n\r\n{\"agent_id\":")
        .unwrap();
    let (status, value) = response(&mut stream)
        .unwrap_or_else(|| panic!("a partial body got no answer within {BOUND:?}"));
    assert_eq!(status, 408, "{value}");
    assert_eq!(value["error"]["code"], "body-timeout", "{value}");
    assert!(
        closed_within_bound(&mut stream),
        "the connection stays open after a 408"
    );
    // Trickled, two bytes every 100 ms: each read is quick, but 4000
    // bytes would take 20 s, past the 2 s deadline for the whole body.
    let mut stream = connect(&server);
    assert!(
        trickle_until_closed(
            &mut stream,
            b"POST /v1/evaluate HTTP/1.1\r\nHost: gavel\r\nContent-Length: 4000\r\n\r\n",
            b' ',
            Duration::from_millis(100)
        ),
        "a trickled body held its connection"
    );
    server.stop();
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let (server, _p, _d) = start(SHORT);
    let mut stream = connect(&server);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gavel\r\n\r\n")
        .unwrap();
    let (status, _) = response(&mut stream).expect("an answer");
    assert_eq!(status, 200);
    // Kept alive for a second request...
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gavel\r\n\r\n")
        .unwrap();
    let (status, _) = response(&mut stream).expect("a second answer on the same connection");
    assert_eq!(status, 200);
    // ...then closed once it idles.
    assert!(
        closed_within_bound(&mut stream),
        "an idle keep-alive connection stayed open"
    );
    server.stop();
}

#[test]
fn slowloris_connections_do_not_starve_other_clients() {
    let (server, _p, _d) = start(SHORT);
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(b"POST /v1/evaluate HTTP/1.1\r\nHost: gavel\r\nX-Slow: a")
                .unwrap();
            s
        })
        .collect();
    // Served while the twenty hold their connections.
    let d = server.evaluate(&json!({"agent_id": "research-assistant", "action": "search_web"}));
    assert_eq!(d["verdict"], "approve", "{d}");
    for (n, s) in slow.iter_mut().enumerate() {
        assert!(
            closed_within_bound(s),
            "slowloris connection {n} stayed open"
        );
    }
    let (status, _) = server.request("GET", "/healthz", None, None);
    assert_eq!(status, 200);
    server.stop();
}

#[test]
fn duplicate_headers_are_refused() {
    let (server, _p, _d) = start(SHORT);
    let good = format!("Authorization: Bearer {ADMIN_TOKEN}\r\n");
    let bad = "Authorization: Bearer not-the-admin-token-at-all\r\n".to_owned();
    // (method and path, extra headers, body, expected status, field)
    type Case = (
        &'static str,
        String,
        &'static str,
        u16,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        ("GET /v1/decisions", good.clone(), "", 200, None),
        ("GET /v1/decisions", bad.clone(), "", 401, None),
        (
            "GET /v1/decisions",
            format!("{good}{bad}"),
            "",
            400,
            Some("authorization"),
        ),
        (
            "GET /v1/decisions",
            format!("{bad}{good}"),
            "",
            400,
            Some("authorization"),
        ),
        (
            "GET /v1/decisions",
            format!("{good}{good}"),
            "",
            400,
            Some("authorization"),
        ),
        // Evaluation is open on this server, but two tokens are still
        // refused.
        (
            "POST /v1/evaluate",
            format!("{bad}{good}Content-Length: 51\r\n"),
            r#"{"agent_id":"research-assistant","action":"search"}"#,
            400,
            Some("authorization"),
        ),
        // Two different lengths: refused by the HTTP layer (no JSON
        // body); the same length twice counts as one (RFC 9110 §8.6).
        (
            "POST /v1/evaluate",
            "Content-Length: 51\r\nContent-Length: 52\r\n".to_owned(),
            r#"{"agent_id":"research-assistant","action":"search"}"#,
            400,
            None,
        ),
        (
            "POST /v1/evaluate",
            "Content-Length: 51\r\nContent-Length: 51\r\n".to_owned(),
            r#"{"agent_id":"research-assistant","action":"search"}"#,
            200,
            None,
        ),
        (
            "POST /v1/evaluate",
            "Content-Type: application/json\r\nContent-Type: text/plain\r\nContent-Length: 51\r\n"
                .to_owned(),
            r#"{"agent_id":"research-assistant","action":"search"}"#,
            400,
            Some("content-type"),
        ),
        (
            "GET /v1/decisions",
            format!("{good}Host: elsewhere\r\n"),
            "",
            400,
            Some("host"),
        ),
        (
            "POST /v1/evaluate",
            "Content-Type: application/json\r\nContent-Length: 51\r\n".to_owned(),
            r#"{"agent_id":"research-assistant","action":"search"}"#,
            200,
            None,
        ),
    ];
    for (request, headers, body, status, field) in cases {
        let mut stream = connect(&server);
        stream
            .write_all(
                format!(
                    "{request} HTTP/1.1\r\nHost: gavel\r\nConnection: close\r\n{headers}\r\n{body}"
                )
                .as_bytes(),
            )
            .unwrap();
        let (got, value) =
            response(&mut stream).unwrap_or_else(|| panic!("{request} {headers:?}: no answer"));
        assert_eq!(got, status, "{request} {headers:?}: {value}");
        if let Some(field) = field {
            assert_eq!(
                value["error"]["field"].as_str(),
                Some(field),
                "{request} {headers:?}: {value}"
            );
            assert!(
                !value["error"]["message"].as_str().unwrap().is_empty(),
                "{value}"
            );
        }
    }
    server.stop();
}

#[test]
fn wait_accepts_every_duration_the_api_describes() {
    let (server, _p, _d) = start(&[]);
    // A resolved escalation answers at once, whatever the wait.
    let d = server.evaluate(
        &json!({"agent_id": "customer-support", "action": "issue_refund",
        "amount": 150, "currency": "USD", "params": {"order": "884213"}}),
    );
    let id = d["escalation"]["id"].as_str().unwrap().to_owned();
    let (status, e) = server.post(
        &format!("/v1/escalations/{id}/approve"),
        &json!({"reviewer": "alice"}),
    );
    assert_eq!(status, 200, "{e}");
    // (wait, accepted)
    let cases = [
        ("0", true),
        ("30", true),
        ("1.5", true),
        ("1ns", true),
        ("1.5ns", true),
        ("250us", true),
        ("250%C2%B5s", true),
        ("100ms", true),
        ("30s", true),
        ("2m", true),
        ("1.5h", true),
        ("1h1m", true),
        ("1h30m15s", true),
        ("1m0.5s", true),
        ("1h1m0s", true),
        ("2h45m30s500ms", true),
        ("99999999999999999999999h", true),
        ("", false),
        ("s", false),
        ("5x", false),
        ("-1s", false),
        ("1h30", false),
        ("1m1h", false),
        ("1s1s", false),
        ("1.s", false),
        (".5s", false),
        ("1e3s", false),
        ("5%20m", false),
        ("five", false),
    ];
    for (wait, accepted) in cases {
        let (status, value) = server.request(
            "GET",
            &format!("/v1/escalations/{id}?wait={wait}"),
            None,
            None,
        );
        match accepted {
            true => {
                assert_eq!(status, 200, "wait={wait}: {value}");
                assert_eq!(value["status"], "approved", "wait={wait}: {value}");
            }
            false => {
                assert_eq!(status, 400, "wait={wait}: {value}");
                assert_eq!(value["error"]["field"], "wait", "wait={wait}: {value}");
            }
        }
    }
    server.stop();
}

#[test]
fn a_stop_lets_requests_in_flight_finish_and_closes_idle_connections() {
    let (server, _p, _d) = start(&[]);
    let d = server.evaluate(
        &json!({"agent_id": "customer-support", "action": "issue_refund",
        "amount": 150, "currency": "USD", "params": {"order": "884213"}}),
    );
    let id = d["escalation"]["id"].as_str().unwrap().to_owned();
    // An idle keep-alive connection...
    let mut idle = connect(&server);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: gavel\r\n\r\n")
        .unwrap();
    assert_eq!(response(&mut idle).expect("an answer").0, 200);
    // ...and a long-poll in flight when the stop comes.
    let mut polling = connect(&server);
    polling
        .write_all(
            format!("GET /v1/escalations/{id}?wait=2s HTTP/1.1\r\nHost: gavel\r\n\r\n").as_bytes(),
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (status, value) = response(&mut polling).expect("the long-poll's answer");
    assert_eq!(
        (status, value["status"].as_str()),
        (200, Some("pending")),
        "{value}"
    );
    assert!(
        closed_within_bound(&mut idle),
        "an idle connection outlived the stop"
    );
    server.stop();
}

#[test]
fn connections_over_the_cap_wait_for_a_free_slot() {
    let (server, _p, _d) = start(&["--max-connections", "2", "--header-timeout", "1m"]);
    // Two kept-alive connections hold both slots.
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect(&server)).collect();
    for stream in &mut held {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: gavel\r\n\r\n")
            .unwrap();
        assert_eq!(response(stream).expect("an answer").0, 200);
    }
    // A third waits to be accepted...
    let mut third = connect(&server);
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gavel\r\nConnection: close\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = third.read(&mut byte);
    assert!(
        early
            .as_ref()
            .is_err_and(|e| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "a connection over the cap was served: {early:?}"
    );
    // ...and is served once one of the two closes.
    drop(held.remove(0));
    let (status, _) = response(&mut third).expect("served once a slot is free");
    assert_eq!(status, 200);
    server.stop();
}

#[test]
fn the_limit_flags_are_checked() {
    let policies = shipped_copy();
    // (flags, accepted)
    let cases: &[(&[&str], bool)] = &[
        (
            &["--header-timeout", "1m30s", "--body-timeout", "1500ms"],
            true,
        ),
        (&["--max-connections", "1"], true),
        (&["--header-timeout", "0s"], false),
        (&["--body-timeout", "0"], false),
        (&["--header-timeout", "soon"], false),
        (&["--max-connections", "0"], false),
    ];
    for (flags, accepted) in cases {
        let data = tempfile::tempdir().unwrap();
        match accepted {
            true => Server::start(policies.path(), data.path(), flags, &[]).stop(),
            false => {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
                    .args(["serve", "--listen", "127.0.0.1:0", "--policies"])
                    .arg(policies.path())
                    .arg("--data-dir")
                    .arg(data.path())
                    .args(*flags)
                    .env("GAVEL_ADMIN_TOKEN", ADMIN_TOKEN)
                    .output()
                    .unwrap();
                assert!(!out.status.success(), "{flags:?} was accepted");
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(stderr.contains(flags[0]), "{flags:?}: {stderr}");
            }
        }
    }
}
