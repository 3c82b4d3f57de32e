use super::*;
use crate::decision::{PolicyRun, Reason, RunVerdict, Verdict};
use crate::log::entry::{DecisionEntry, LogEntry, LoggedRequest};
use crate::log::{keys, verify};
use redb::backends::InMemoryBackend;
use std::sync::atomic::{AtomicBool, Ordering};

fn decision(agent: &str, n: usize) -> LogEvent {
    LogEvent::Decision(DecisionEntry {
        request: LoggedRequest {
            request_id: format!("r-{n}"),
            agent_id: agent.to_owned(),
            action: "pay".to_owned(),
            params: serde_json::json!({"to": "acct", "n": n, "x": 1.5})
                .as_object()
                .unwrap()
                .clone(),
            amount: Some(12.25),
            currency: Some("USD".to_owned()),
            timestamp_ms: 1_700_000_000_000,
            session_id: None,
            user_id: Some("u".to_owned()),
        },
        verdict: Verdict::Deny,
        reasons: vec![Reason {
            policy: "p".to_owned(),
            verdict: Verdict::Deny,
            code: "over-limit".to_owned(),
            message: "m".to_owned(),
        }],
        policies: vec![PolicyRun {
            policy: "p".to_owned(),
            digest: "sha256:00".to_owned(),
            verdict: RunVerdict::Deny,
            code: Some("over-limit".to_owned()),
            message: Some("m".to_owned()),
            fuel: 10,
            micros: 2,
            shadow: false,
            findings: Vec::new(),
            facts: Vec::new(),
            charges: Vec::new(),
        }],
        redactions: Vec::new(),
        escalation: None,
        charges: Vec::new(),
        retry_after_ms: None,
    })
}

#[test]
fn stored_records_are_the_compact_format_of_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
    let event = decision("a", 1);
    let Appended::Committed(seq) = log.append(&event, 2).unwrap() else {
        panic!("durable")
    };
    let read = log.database().begin_read().unwrap();
    let value = read
        .open_table(RECORDS)
        .unwrap()
        .get(seq)
        .unwrap()
        .unwrap()
        .value()
        .to_vec();
    let (_, body) = tables::split_record(&value).unwrap();
    let entry = LogEntry::from_bytes(body).unwrap();
    assert_eq!((entry.seq, entry.generation), (seq, 2));
    assert_eq!(entry.event, event);
    assert_eq!(body, entry.stored_bytes().unwrap().as_slice());
    assert_eq!(
        body.first(),
        Some(&0x02),
        "the compact format's version byte"
    );
}

#[test]
fn concurrent_durable_appends_are_gap_free_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        checkpoint_every: 50,
        ..LogOptions::default()
    };
    let log = DecisionLog::open(dir.path(), options).unwrap();
    let seqs = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..8 {
            let (log, seqs) = (&log, &seqs);
            s.spawn(move || {
                for n in 0..40 {
                    match log.append(&decision(&format!("agent-{t}"), n), 1).unwrap() {
                        Appended::Committed(seq) => seqs.lock().unwrap().push(seq),
                        Appended::Queued => panic!("durable mode queued"),
                    }
                }
            });
        }
    });
    let mut seqs = seqs.into_inner().unwrap();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=320).collect::<Vec<u64>>());
    log.close().unwrap();

    // Reopen: the sequence continues, and the whole log verifies.
    let log = DecisionLog::open(dir.path(), options).unwrap();
    assert_eq!(
        log.append(&decision("z", 0), 2).unwrap(),
        Appended::Committed(321)
    );
    assert_eq!(log.last_generation(), 1);
    let trusted = keys::read_public_key(&keys::public_key_path(dir.path())).unwrap();
    let report = verify(log.database(), &trusted, &[]).unwrap();
    assert_eq!(report.problems, vec![]);
    assert_eq!((report.records, report.verified), (321, 321));
    // Checkpoints every 50 records (at batch ends) and at shutdown.
    assert!(report.checkpoints >= 320 / 50, "{report:?}");
    let c = log.checkpoint().unwrap().unwrap();
    assert_eq!(c.size, 321);
    c.verify(&trusted).unwrap();
}

#[test]
fn buffered_appends_are_all_committed_by_close() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        mode: LogMode::Buffered,
        ..LogOptions::default()
    };
    let log = DecisionLog::open(dir.path(), options).unwrap();
    for n in 0..1000 {
        assert_eq!(log.append(&decision("a", n), 1).unwrap(), Appended::Queued);
    }
    log.close().unwrap();
    let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(
        log.append(&decision("a", 0), 1).unwrap(),
        Appended::Committed(1001)
    );
}

/// A backend whose writes and syncs fail on demand: a full or broken disk.
#[derive(Debug)]
struct FlakyDisk {
    inner: InMemoryBackend,
    broken: std::sync::Arc<AtomicBool>,
}

impl StorageBackend for FlakyDisk {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.fail()?;
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.fail()?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.fail()?;
        self.inner.write(offset, data)
    }
}

impl FlakyDisk {
    fn fail(&self) -> Result<(), std::io::Error> {
        if self.broken.load(Ordering::SeqCst) {
            Err(std::io::Error::other("No space left on device"))
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_failing_disk_fails_every_durable_append() {
    let broken = std::sync::Arc::new(AtomicBool::new(false));
    let disk = FlakyDisk {
        inner: InMemoryBackend::new(),
        broken: broken.clone(),
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
    let log = DecisionLog::open_with_backend(disk, key, LogOptions::default()).unwrap();
    assert_eq!(
        log.append(&decision("a", 0), 1).unwrap(),
        Appended::Committed(1)
    );
    broken.store(true, Ordering::SeqCst);
    for n in 0..5 {
        let err = log.append(&decision("a", n), 1).unwrap_err();
        assert!(
            err.to_string().contains("No space left") || err.to_string().contains("storage"),
            "{err}"
        );
    }
}

#[test]
fn a_failing_disk_stops_buffered_mode_for_good() {
    let broken = std::sync::Arc::new(AtomicBool::new(false));
    let disk = FlakyDisk {
        inner: InMemoryBackend::new(),
        broken: broken.clone(),
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
    let options = LogOptions {
        mode: LogMode::Buffered,
        ..LogOptions::default()
    };
    let log = DecisionLog::open_with_backend(disk, key, options).unwrap();
    broken.store(true, Ordering::SeqCst);
    // The first appends are queued; once the writer has failed, every
    // later append is refused.
    let mut refused = false;
    for n in 0..10_000 {
        if log.append(&decision("a", n), 1).is_err() {
            refused = true;
            break;
        }
        std::thread::yield_now();
    }
    assert!(refused, "buffered appends kept succeeding on a broken disk");
    broken.store(false, Ordering::SeqCst);
    assert!(log.append(&decision("a", 0), 1).is_err(), "stays refused");
}

/// A head that is not the chain's last link is refused at open. Each row
/// alters a closed 3-record log through redb (so redb's own checksums
/// stay valid) and names the expected refusal.
#[test]
fn a_head_that_does_not_match_the_chain_is_refused_at_open() {
    use crate::log::tables::{self as t, HEAD_KEY, META, RECORDS};
    type Alter = fn(&redb::WriteTransaction);
    let rows: [(&str, Alter, Option<&str>); 6] = [
        ("intact", |_| {}, None),
        (
            "head names an earlier record",
            |txn| {
                let value = txn
                    .open_table(RECORDS)
                    .unwrap()
                    .get(2)
                    .unwrap()
                    .unwrap()
                    .value()
                    .to_vec();
                let (hash, _) = t::split_record(&value).unwrap();
                let mut meta = txn.open_table(META).unwrap();
                meta.insert(HEAD_KEY, t::encode_head(2, &hash).as_slice())
                    .unwrap();
            },
            Some("the head names record 2, but the last record is 3"),
        ),
        (
            "head hash altered",
            |txn| {
                let mut meta = txn.open_table(META).unwrap();
                meta.insert(HEAD_KEY, t::encode_head(3, &[7u8; 32]).as_slice())
                    .unwrap();
            },
            Some("the head's hash differs from record 3's chain hash"),
        ),
        (
            "last record's bytes altered",
            |txn| {
                let mut records = txn.open_table(RECORDS).unwrap();
                let mut value = records.get(3).unwrap().unwrap().value().to_vec();
                let last = value.len() - 2;
                value[last] ^= 1;
                records.insert(3, value.as_slice()).unwrap();
            },
            Some("record 3 (the head) does not match its chain hash"),
        ),
        (
            "head removed",
            |txn| {
                txn.open_table(META).unwrap().remove(HEAD_KEY).unwrap();
            },
            Some("the head record is missing, but the log holds records up to 3"),
        ),
        (
            "last record removed",
            |txn| {
                txn.open_table(RECORDS).unwrap().remove(3).unwrap();
            },
            Some("the head names record 3, but the last record is 2"),
        ),
    ];
    for (name, alter, expected) in rows {
        let dir = tempfile::tempdir().unwrap();
        let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
        for n in 0..3 {
            log.append(&decision("a", n), 1).unwrap();
        }
        log.close().unwrap();
        {
            let db = Database::open(dir.path().join(LOG_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            alter(&txn);
            txn.commit().unwrap();
        }
        match (
            DecisionLog::open(dir.path(), LogOptions::default()),
            expected,
        ) {
            (Ok(log), None) => log.close().unwrap(),
            (Err(LogError::Damaged(text)), Some(want)) => {
                assert!(text.contains(want), "{name}: {text}");
            }
            (Ok(_), Some(want)) => panic!("{name}: opened; expected {want:?}"),
            (Err(e), _) => panic!("{name}: {e}, expected {expected:?}"),
        }
    }
}

/// Damage recorded by an earlier open (the marker) refuses the log until
/// the marker is removed.
#[test]
fn recorded_damage_refuses_the_log_until_the_marker_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    DecisionLog::open(dir.path(), LogOptions::default())
        .unwrap()
        .close()
        .unwrap();
    let marker = dir.path().join(crate::log::DAMAGED_MARKER);
    std::fs::write(&marker, "found damaged at noon\n").unwrap();
    let err = DecisionLog::open(dir.path(), LogOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("damaged") && text.contains("found damaged at noon"),
        "{text}"
    );
    assert!(text.contains(&marker.display().to_string()), "{text}");
    std::fs::remove_file(&marker).unwrap();
    DecisionLog::open(dir.path(), LogOptions::default())
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn the_lag_gate_refuses_decisions_past_the_limit_and_reads_ship_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
    let shipped = Arc::new(AtomicU64::new(0));
    log.set_lag_gate(shipped.clone(), 2);
    let kill = LogEvent::KillSwitch {
        engaged: true,
        actor: "ops".to_owned(),
        reason: "r".to_owned(),
        agent: None,
    };
    // (event, shipped before it, accepted)
    let steps: Vec<(LogEvent, u64, bool)> = vec![
        (decision("a", 1), 0, true),
        (decision("a", 2), 0, true),
        (decision("a", 3), 0, true),
        // 3 committed, 0 shipped: over the limit of 2.
        (decision("a", 4), 0, false),
        // Not a decision: still recorded.
        (kill, 0, true),
        (decision("a", 5), 1, false),
        (decision("a", 6), 2, true),
    ];
    for (i, (event, at, accepted)) in steps.into_iter().enumerate() {
        shipped.store(at, Ordering::Release);
        let result = log.append(&event, 1);
        assert_eq!(result.is_ok(), accepted, "step {i}: {result:?}");
        if let Err(e) = result {
            assert!(matches!(e, LogError::ShipLag { limit: 2, .. }), "{e}");
            assert!(log.writable().unwrap_err().contains("--max-lag"));
        }
    }
    assert_eq!(log.committed_seq(), 5);
    // The raw read: the records' exact bytes continue the chain.
    let read = crate::log::read_for_ship(log.database(), 2, 2, 0).unwrap();
    assert_eq!(read.head, 5);
    let seqs: Vec<u64> = read.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![3, 4]);
    let mut previous = read.previous.unwrap();
    for r in &read.records {
        previous = crate::log::chain::next(&previous, r.seq, &r.body);
        assert_eq!(previous, r.chain_hash);
    }
    // Past the head: nothing, and no hash to continue from.
    let past = crate::log::read_for_ship(log.database(), 9, 10, 0).unwrap();
    assert_eq!((past.previous, past.records.len()), (None, 0));
    // The checkpoint of the head is read with the record it covers.
    let c = log.checkpoint().unwrap().unwrap();
    let all = crate::log::read_for_ship(log.database(), 0, 100, 0).unwrap();
    assert_eq!(all.checkpoints.len(), 1);
    assert_eq!(all.checkpoints[0].0, c.size);
    let none = crate::log::read_for_ship(log.database(), 0, 100, c.size).unwrap();
    assert!(none.checkpoints.is_empty());
}

/// Durable mode stages journaled batches for redb: a reader still sees
/// every acknowledged record at once (through `database()` or a
/// `Revealer`), and without readers the batches reach redb within the
/// stage interval.
#[test]
fn staged_records_are_seen_by_readers_at_once_and_reach_redb_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
    let revealer = log.revealer();
    for n in 1..=20u64 {
        let Appended::Committed(seq) = log.append(&decision("a", n as usize), 1).unwrap() else {
            panic!("durable")
        };
        assert_eq!(seq, n);
        assert!(log.committed_seq() >= seq, "acknowledged means durable");
        if n % 2 == 0 {
            assert!(
                crate::log::get_record(log.database(), seq)
                    .unwrap()
                    .is_some()
            );
        } else {
            revealer.reveal();
            let read =
                crate::log::read_for_ship(log.shared_database().as_ref(), seq - 1, 1, 0).unwrap();
            assert_eq!(read.records.len(), 1, "record {seq} after a reveal");
        }
    }
    // A checkpoint alone (no new record) is staged and seen too.
    let c = log.checkpoint().unwrap().unwrap();
    let read = log.database().begin_read().unwrap();
    let checkpoints = read.open_table(CHECKPOINTS).unwrap();
    assert!(checkpoints.get(c.size).unwrap().is_some());
    drop((checkpoints, read));
    // No reader: the writer commits the staged batch by itself.
    let Appended::Committed(seq) = log.append(&decision("a", 21), 1).unwrap() else {
        panic!("durable")
    };
    // (The shared handle reads redb as it is, without revealing.)
    let db = log.shared_database();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while crate::log::get_record(db.as_ref(), seq).unwrap().is_none() {
        assert!(std::time::Instant::now() < until, "never committed to redb");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(db);
    log.close().unwrap();
    // A revealer that outlives its log does not wait for it.
    revealer.reveal();
}

/// The async append acknowledges the same way as the blocking one.
#[test]
fn the_async_append_waits_for_the_durable_commit() {
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for n in 1..=5u64 {
        let appended = rt
            .block_on(log.append_with_state_async(&decision("a", n as usize), 1, Vec::new()))
            .unwrap();
        assert_eq!(appended, Appended::Committed(n));
        assert!(log.committed_seq() >= n);
        assert!(crate::log::get_record(log.database(), n).unwrap().is_some());
    }
    log.close().unwrap();
    let reopened = DecisionLog::open(dir.path(), LogOptions::default()).unwrap();
    assert!(
        crate::log::get_record(reopened.database(), 5)
            .unwrap()
            .is_some()
    );
    reopened.close().unwrap();
    let buffered_dir = tempfile::tempdir().unwrap();
    let buffered = DecisionLog::open(
        buffered_dir.path(),
        LogOptions {
            mode: LogMode::Buffered,
            ..LogOptions::default()
        },
    )
    .unwrap();
    let queued = rt
        .block_on(buffered.append_with_state_async(&decision("a", 1), 1, Vec::new()))
        .unwrap();
    assert_eq!(queued, Appended::Queued);
    buffered.close().unwrap();
}
