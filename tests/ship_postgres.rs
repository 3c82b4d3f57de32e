//! Shipping the decision log to a real PostgreSQL (Debian's
//! postgresql-15): two nodes through a SIGKILL and an outage, exactly
//! once; `gavel ship --once` on a stopped node; `--max-lag` failing
//! closed; tamper detection by `gavel log verify --from postgres://`;
//! redaction; and the batch transaction's crash safety (a fenced cursor,
//! a replayed batch, a diverged log).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::postgres::Postgres;
use common::server::Server;
use gavel::log::{DecisionLog, GENESIS, LogEvent, LogOptions, read_for_ship};
use gavel::ship::{
    Batch, LiveLog, ShipError, ShipOptions, ShipStatus, Shipper, Sink, parse_target,
};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Generous: these are waits for something to happen, not timings.
const PATIENCE: Duration = Duration::from_secs(90);

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Alternately a small refund (approved unless a limit escalates it) and a
/// forbidden action (a deny).
fn action(i: usize) -> Value {
    if i.is_multiple_of(2) {
        json!({"agent_id": "customer-support", "action": "issue_refund", "amount": 10 + i, "currency": "USD"})
    } else {
        json!({"agent_id": "customer-support", "action": "delete_account", "params": {"n": i}})
    }
}

fn decide(server: &Server, i: usize) -> Value {
    server.evaluate(&action(i))
}

fn decide_batch(server: &Server, from: usize, n: usize) {
    let actions: Vec<Value> = (from..from + n).map(action).collect();
    let (status, body) = server.request(
        "POST",
        "/v1/evaluate/batch",
        Some(json!({ "actions": actions }).to_string().as_bytes()),
        None,
    );
    assert_eq!(status, 200, "{body}");
}

/// A metric's value, if rendered.
fn metric(server: &Server, name: &str) -> Option<u64> {
    let (status, body) = server.get("/metrics");
    assert_eq!(status, 200);
    let text = body.as_str().unwrap().to_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .map(|v| v.trim().parse().unwrap())
}

fn lag(server: &Server) -> u64 {
    metric(server, "gavel_ship_lag_records").expect("the lag metric")
}

/// (seq, chain hash) of every record, from `gavel log export`.
fn exported(data: &Path) -> Vec<(u64, String)> {
    let out = common::gavel(&["log", "export"], data, None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    common::stdout(&out)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["seq"].as_u64().unwrap(),
                v["chain_hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// (seq, chain hash) of a node's rows.
fn shipped(pg: &Postgres, node: &str) -> Vec<(u64, String)> {
    pg.sql(&format!(
        "SELECT seq || ' ' || encode(chain_hash, 'hex') FROM gavel_records WHERE node = '{node}' ORDER BY seq"
    ))
    .lines()
    .filter(|l| !l.is_empty())
    .map(|l| {
        let (seq, hash) = l.split_once(' ').unwrap();
        (seq.parse().unwrap(), hash.to_owned())
    })
    .collect()
}

/// `gavel log verify --from`: (exit code, stdout).
fn verify_from(pg: &Postgres, node: &str, data: &Path) -> (i32, String) {
    let out = common::gavel(
        &["log", "verify", "--from", &pg.url(), "--node", node],
        data,
        None,
    );
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", common::stdout(&out), common::stderr(&out)),
    )
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn sigkill(server: &Server) {
    let killed = Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

#[test]
fn two_nodes_ship_every_record_exactly_once_through_a_kill_and_an_outage() {
    let Some(pg) = Postgres::start("two_nodes_ship_every_record_exactly_once") else {
        return;
    };
    let policies = common::server::shipped_copy();
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = pg.url();
    let flags = |node: &'static str| -> Vec<String> {
        vec![
            "--no-watch".into(),
            "--ship-to".into(),
            url.clone(),
            "--ship-node".into(),
            node.into(),
        ]
    };
    let (flags_a, flags_b) = (flags("node-a"), flags("node-b"));
    let a = Server::start(policies.path(), data_a.path(), &strs(&flags_a), &[]);
    let b = Server::start(policies.path(), data_b.path(), &strs(&flags_b), &[]);
    for i in 0..20 {
        decide(&a, i);
        decide(&b, i);
    }
    // A burst on A, killed while shipping it.
    decide_batch(&a, 100, 100);
    decide_batch(&a, 200, 100);
    sigkill(&a);
    drop(a);
    let a = Server::start(policies.path(), data_a.path(), &strs(&flags_a), &[]);
    decide(&a, 300);
    wait_until("both nodes caught up", || lag(&a) == 0 && lag(&b) == 0);

    // PostgreSQL down: decisions go on, the lag grows in the local logs.
    pg.stop();
    for i in 0..20 {
        for server in [&a, &b] {
            // Decided and recorded (a seq), not refused for the log.
            let d = decide(server, i);
            assert!(d["seq"].as_u64().is_some(), "{d}");
            assert!(!d.to_string().contains("log-unavailable"), "{d}");
        }
    }
    assert!(lag(&a) >= 20, "lag {}", lag(&a));
    assert!(lag(&b) >= 20, "lag {}", lag(&b));
    pg.start_again();
    wait_until("both nodes caught up after the outage", || {
        lag(&a) == 0 && lag(&b) == 0
    });
    a.stop();
    b.stop();

    for (node, data) in [("node-a", data_a.path()), ("node-b", data_b.path())] {
        let local = exported(data);
        let remote = shipped(&pg, node);
        assert!(local.len() > 40, "{node}: {} records", local.len());
        assert_eq!(remote, local, "{node}: the rows differ from the local log");
        let count: u64 = pg
            .sql(&format!(
                "SELECT count(*) FROM gavel_records WHERE node = '{node}'"
            ))
            .parse()
            .unwrap();
        assert_eq!(count, local.len() as u64);
        let (code, out) = verify_from(&pg, node, data);
        assert_eq!(code, 0, "{node}: {out}");
        assert!(out.starts_with("ok: "), "{out}");
        assert!(!out.contains(" 0 checkpoint(s)"), "{out}");
    }
}

#[test]
fn ship_once_ships_a_stopped_node_and_refuses_a_log_a_server_holds() {
    let Some(pg) = Postgres::start("ship_once_ships_a_stopped_node") else {
        return;
    };
    let policies = common::server::shipped_copy();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(policies.path(), data.path(), &["--no-watch"], &[]);
    for i in 0..15 {
        decide(&server, i);
    }
    // The server holds the log: the standalone shipper says so.
    let url = pg.url();
    let ship = |extra: &[&str]| {
        let mut args = vec!["ship", "--to", url.as_str(), "--once"];
        args.extend_from_slice(extra);
        common::gavel(&args, data.path(), None)
    };
    let held = ship(&[]);
    assert_eq!(held.status.code(), Some(1));
    let text = common::stderr(&held);
    assert!(
        text.contains("is open in another process") && text.contains("--ship-to"),
        "{text}"
    );
    server.stop();

    let first = ship(&["--batch", "4"]);
    assert!(first.status.success(), "{}", common::stderr(&first));
    let node = std::fs::read_to_string(data.path().join("node-id")).unwrap();
    let node = node.trim();
    let local = exported(data.path());
    assert!(common::stdout(&first).contains(&format!("records 1 to {}", local.len())));
    assert_eq!(shipped(&pg, node), local);
    // Again: nothing new, nothing twice.
    let again = ship(&[]);
    assert!(again.status.success(), "{}", common::stderr(&again));
    assert!(
        common::stdout(&again).starts_with("shipped 0 records"),
        "{}",
        common::stdout(&again)
    );
    assert_eq!(shipped(&pg, node), local);
    let (code, out) = verify_from(&pg, node, data.path());
    assert_eq!(code, 0, "{out}");

    // URLs that cannot be used are refused, naming what is wrong.
    for (url, fragment) in [
        (
            "postgres://postgres@127.0.0.1/gavel?sslmode=require",
            "sslmode=require needs TLS",
        ),
        (
            "postgres://postgres@127.0.0.1/gavel?sslmode=verify-full",
            "sslmode=verify-full needs TLS",
        ),
        ("http://127.0.0.1/gavel", "expected postgres://"),
        ("postgres://127.0.0.1:5432/gavel", "no user"),
    ] {
        let out = common::gavel(&["ship", "--to", url, "--once"], data.path(), None);
        assert_eq!(out.status.code(), Some(1), "{url}");
        assert!(
            common::stderr(&out).contains(fragment),
            "{url}: {}",
            common::stderr(&out)
        );
    }
}

#[test]
fn max_lag_refuses_decisions_while_postgres_is_down_and_recovers() {
    let Some(pg) = Postgres::start("max_lag_refuses_decisions") else {
        return;
    };
    let policies = common::server::shipped_copy();
    let data = tempfile::tempdir().unwrap();
    let url = pg.url();
    let server = Server::start(
        policies.path(),
        data.path(),
        &[
            "--no-watch",
            "--ship-to",
            &url,
            "--ship-node",
            "lagging",
            "--max-lag",
            "5",
        ],
        &[],
    );
    decide(&server, 0);
    wait_until("caught up", || lag(&server) == 0);
    assert_eq!(metric(&server, "gavel_ship_up"), Some(1));
    pg.stop();
    // Noticed while idle, before any record needs shipping.
    wait_until("the outage shows in gavel_ship_up", || {
        metric(&server, "gavel_ship_up") == Some(0)
    });
    // Up to the limit decisions are made; past it, refused (fail closed).
    let mut refused = None;
    for i in 0..12 {
        let d = decide(&server, 2 * i);
        if d["verdict"] == "deny" {
            refused = Some((i, d));
            break;
        }
        assert_eq!(d["verdict"], "approve", "{d}");
    }
    let (at, d) = refused.expect("decisions past --max-lag were refused");
    assert_eq!(at, 6, "refused after {at} decisions: {d}");
    let text = d.to_string();
    assert!(text.contains("log-unavailable"), "{text}");
    assert!(
        text.contains("not yet shipped") && text.contains("limit of 5"),
        "{text}"
    );
    let (status, ready) = server.get("/readyz");
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["reason"].as_str().unwrap().contains("--max-lag"),
        "{ready}"
    );

    pg.start_again();
    wait_until("decisions accepted again", || {
        decide(&server, 0)["verdict"] == "approve"
    });
    assert_eq!(server.get("/readyz").0, 200);
    server.stop();
    let (code, out) = verify_from(&pg, "lagging", data.path());
    assert_eq!(code, 0, "{out}");
    assert_eq!(shipped(&pg, "lagging"), exported(data.path()));
}

#[test]
fn verify_from_postgres_names_the_record_of_each_tampering() {
    let Some(pg) = Postgres::start("verify_from_postgres_names_the_record") else {
        return;
    };
    let policies = common::server::shipped_copy();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(policies.path(), data.path(), &["--no-watch"], &[]);
    for i in 0..12 {
        decide(&server, i);
    }
    server.stop();
    let records = exported(data.path()).len() as u64;
    let url = pg.url();
    // (node, tampering, first bad seq, what the report says)
    let cases: Vec<(&str, String, u64, &str)> = vec![
        ("clean", String::new(), 0, ""),
        (
            "jsonb-verdict",
            "UPDATE gavel_records SET record = jsonb_set(record, '{verdict}', '\"approve\"') WHERE node = '{node}' AND seq = 5".into(),
            5,
            "record 5: the record (jsonb) column disagrees",
        ),
        (
            "verdict-column",
            "UPDATE gavel_records SET verdict = 'approve' WHERE node = '{node}' AND seq = 5".into(),
            5,
            "record 5: the verdict column disagrees",
        ),
        (
            "deleted-row",
            "DELETE FROM gavel_records WHERE node = '{node}' AND seq = 4".into(),
            4,
            "record 4 is missing",
        ),
        (
            "body-byte",
            "UPDATE gavel_records SET body = overlay(body placing '\\x58'::bytea from 30 for 1) WHERE node = '{node}' AND seq = 7".into(),
            7,
            "record 7: chain hash mismatch",
        ),
        (
            "swapped-hashes",
            "UPDATE gavel_records r SET chain_hash = o.chain_hash FROM gavel_records o WHERE r.node = '{node}' AND o.node = r.node AND ((r.seq = 3 AND o.seq = 4) OR (r.seq = 4 AND o.seq = 3))".into(),
            3,
            "record 3: chain hash mismatch",
        ),
        (
            "removed-tail",
            format!("DELETE FROM gavel_records WHERE node = '{{node}}' AND seq = {records}"),
            records,
            "records were removed from the tail",
        ),
    ];
    for (node, tamper, bad, says) in cases {
        let out = common::gavel(
            &["ship", "--to", &url, "--once", "--node", node],
            data.path(),
            None,
        );
        assert!(out.status.success(), "{node}: {}", common::stderr(&out));
        if !tamper.is_empty() {
            pg.sql(&tamper.replace("{node}", node));
        }
        let (code, report) = verify_from(&pg, node, data.path());
        if bad == 0 {
            assert_eq!(code, 0, "{node}: {report}");
            assert!(report.starts_with("ok: "), "{report}");
        } else {
            assert_eq!(code, 1, "{node}: {report}");
            assert!(
                report.contains(&format!("TAMPERED: first bad sequence number {bad}")),
                "{node}: {report}"
            );
            assert!(report.contains(says), "{node}: {report}");
        }
    }
    // A node that was never shipped is an error, not a pass.
    let (code, report) = verify_from(&pg, "nobody", data.path());
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("no records"), "{report}");
}

#[test]
fn redacted_values_never_reach_postgres() {
    let Some(pg) = Postgres::start("redacted_values_never_reach_postgres") else {
        return;
    };
    const SECRET: &str = "correct-horse-battery-staple";
    let policies = common::server::shipped_copy();
    let manifest = policies.path().join("policies.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("redact = [\"params.password\"]\n{text}")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let url = pg.url();
    let server = Server::start(
        policies.path(),
        data.path(),
        &["--no-watch", "--ship-to", &url, "--ship-node", "redacting"],
        &[],
    );
    for i in 0..3 {
        server.evaluate(&json!({
            "agent_id": "customer-support", "action": "reset_password",
            "params": {"user": format!("u{i}"), "password": SECRET}
        }));
    }
    wait_until("caught up", || lag(&server) == 0);
    server.stop();
    let leaks = pg.sql(&format!(
        "SELECT count(*) FROM gavel_records WHERE position(convert_to('{SECRET}', 'UTF8') in body) > 0 OR position('{SECRET}' in record::text) > 0"
    ));
    assert_eq!(leaks, "0");
    let redacted = pg.sql(
        "SELECT count(*) FROM gavel_records WHERE record #>> '{request,params,password}' LIKE 'redacted:hmac-sha256:%' AND position(convert_to('redacted:hmac-sha256:', 'UTF8') in body) > 0",
    );
    assert_eq!(redacted, "3");
}

/// A log of `n` records in a temporary directory.
fn log_of(n: usize, tag: &str) -> (tempfile::TempDir, DecisionLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
    for i in 0..n {
        let event = LogEvent::PolicySetRejected {
            dir: format!("/{tag}"),
            error: format!("{tag} {i}"),
        };
        log.append(&event, 1).unwrap();
    }
    (dir, log)
}

#[test]
fn a_batch_is_fenced_replayed_without_duplicates_and_never_shipped_over_another_chain() {
    let Some(pg) = Postgres::start("a_batch_is_fenced_replayed") else {
        return;
    };
    let target = parse_target(&pg.url()).unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_dir, log) = log_of(8, "one");
    let (_other_dir, other) = log_of(8, "two");
    let count = || -> u64 {
        pg.sql("SELECT count(*) FROM gavel_records WHERE node = 'crash'")
            .parse()
            .unwrap()
    };
    tokio.block_on(async {
        let mut sink = Sink::connect(&target, "crash").await.unwrap();
        let start = sink.cursor().await.unwrap();
        assert_eq!((start.seq, start.hash), (0, GENESIS));
        let batch = Batch::build(read_for_ship(log.database(), 0, 5, 0).unwrap(), GENESIS).unwrap();
        let shipped = sink.ship(start, &batch).await.unwrap();
        assert_eq!((shipped.cursor.seq, shipped.inserted), (5, 5));

        // Another shipper still at the old cursor: fenced, nothing written.
        let mut second = Sink::connect(&target, "crash").await.unwrap();
        let fenced = second.ship(start, &batch).await.unwrap_err();
        assert!(
            matches!(fenced, ShipError::Fenced { expected: 0, .. }),
            "{fenced}"
        );
        assert_eq!(count(), 5);

        // The cursor advance lost (as if a crash undid it): the replayed
        // batch hits ON CONFLICT, no row twice, and the cursor moves again.
        pg.sql(&format!(
            "UPDATE gavel_cursors SET seq = 0, chain_hash = '\\x{}' WHERE node = 'crash'",
            hex::encode(GENESIS)
        ));
        let replayed = sink.ship(start, &batch).await.unwrap();
        assert_eq!((replayed.cursor.seq, replayed.inserted), (5, 0));
        assert_eq!(count(), 5);
        assert_eq!(sink.cursor().await.unwrap(), shipped.cursor);

        // A different log replayed over the same rows: refused by hash.
        pg.sql(&format!(
            "UPDATE gavel_cursors SET seq = 0, chain_hash = '\\x{}' WHERE node = 'crash'",
            hex::encode(GENESIS)
        ));
        let theirs =
            Batch::build(read_for_ship(other.database(), 0, 5, 0).unwrap(), GENESIS).unwrap();
        let conflict = sink.ship(start, &theirs).await.unwrap_err();
        assert!(
            matches!(conflict, ShipError::Conflict { seq: 1, .. }),
            "{conflict}"
        );
        assert_eq!(count(), 5);
        pg.sql(&format!(
            "UPDATE gavel_cursors SET seq = 5, chain_hash = '\\x{}' WHERE node = 'crash'",
            hex::encode(shipped.cursor.hash)
        ));

        // A shipper of another log under the same name: diverged, refused.
        let options = |node: &str| ShipOptions {
            target: target.clone(),
            node: node.to_owned(),
            batch: 3,
            poll: Duration::from_millis(50),
        };
        let status = |log: &DecisionLog| Arc::new(ShipStatus::new(log.committed_handle()));
        let mut stranger = Shipper::new(
            Arc::new(LiveLog::new(&other)),
            options("crash"),
            status(&other),
        );
        let diverged = stranger.step().await.unwrap_err();
        assert!(matches!(diverged, ShipError::Diverged { .. }), "{diverged}");
        assert!(diverged.to_string().contains("record 5"), "{diverged}");
        // A shorter (reset) log under the same name: refused too.
        let (_short_dir, short) = log_of(2, "one");
        let mut reset = Shipper::new(
            Arc::new(LiveLog::new(&short)),
            options("crash"),
            status(&short),
        );
        let e = reset.step().await.unwrap_err();
        assert!(e.to_string().contains("ends at record 2"), "{e}");
        assert_eq!(count(), 5);

        // The real log's own shipper finishes the job from the cursor.
        let own_status = status(&log);
        let mut own = Shipper::new(
            Arc::new(LiveLog::new(&log)),
            options("crash"),
            own_status.clone(),
        );
        assert_eq!(own.once().await.unwrap().seq, 8);
        assert_eq!(own_status.lag(), 0);
    });
    assert_eq!(count(), 8);
}
