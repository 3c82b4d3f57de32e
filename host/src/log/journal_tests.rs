#![allow(clippy::unwrap_used, reason = "test code")]
#![allow(clippy::expect_used, reason = "test code")]
use super::*;
use crate::log::decision_log::{DecisionLog, LOG_FILE, LogMode, LogOptions, open_read_only};
use crate::log::entry::LogEvent;
use crate::log::writer::PendingRecord;
use crate::log::{keys, last_seq, record_format, verify};

fn event(n: usize) -> LogEvent {
    LogEvent::KillSwitch {
        engaged: n.is_multiple_of(2),
        actor: format!("operator-{n}"),
        reason: "drill".to_owned(),
        agent: Some(format!("agent-{n}")),
    }
}

fn pending(n: usize) -> PendingRecord {
    PendingRecord {
        time_ms: 1_700_000_000_000 + n as i64,
        generation: 1,
        payload: record_format::encode_event(&event(n)).unwrap(),
        agent_id: None,
        state: Vec::new(),
    }
}

fn durable() -> LogOptions {
    LogOptions {
        mode: LogMode::Durable,
        ..LogOptions::default()
    }
}

fn head_of(db: &Database) -> Head {
    let read = db.begin_read().unwrap();
    let meta = read.open_table(META).unwrap();
    let (seq, hash) = match meta.get("head").unwrap() {
        Some(v) => super::super::tables::decode_head(v.value()).unwrap(),
        None => (0, crate::log::GENESIS),
    };
    Head {
        seq,
        hash,
        checkpointed: 0,
    }
}

/// Where each frame of a [`crashed`] log's journal starts.
struct Crashed {
    frames: Vec<u64>,
}

/// A log that crashed: 3 records committed and closed, then `batches`
/// batches of 2 records in the journal only (as if redb lost its
/// non-durable commits), each synced before the next was written.
fn crashed(dir: &Path, batches: usize) -> Crashed {
    let log = DecisionLog::open(dir, durable()).unwrap();
    for n in 0..3 {
        log.append(&event(n), 1).unwrap();
    }
    log.close().unwrap();
    let path = dir.join(LOG_FILE);
    let db = Database::open(&path).unwrap();
    let (mut journal, mut head) = Journal::open(&path, &db, head_of(&db)).unwrap();
    let mut frames = Vec::new();
    for b in 0..batches {
        let batch = CommitBatch::chain(head, &mut [pending(10 + 2 * b), pending(11 + 2 * b)]);
        frames.push(journal.offset);
        journal.append(&batch.encode()).unwrap();
        journal.file.sync_data().unwrap();
        *journal.sync_state.synced.lock().unwrap() = (journal.epoch, journal.offset);
        head = batch.head;
    }
    Crashed { frames }
}

fn flip(path: &Path, at: u64) {
    let mut data = std::fs::read(path).unwrap();
    data[at as usize] ^= 0xff;
    std::fs::write(path, data).unwrap();
}

fn records_after_open(dir: &Path) -> Result<u64, LogError> {
    let log = DecisionLog::open(dir, durable())?;
    let seq = log.committed_seq();
    let trusted = keys::signing_key(dir).unwrap().verifying_key();
    let report = verify(log.database(), &trusted, &[]).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.records, seq);
    log.close().unwrap();
    Ok(seq)
}

/// Each row: what happens to a crashed log's journal (4 batches of 2
/// records after 3 committed), and the records after opening it or the
/// refusal's words.
#[test]
fn a_crashed_journal_replays_or_is_refused() {
    type Act = fn(&Path, &Crashed);
    let rows: [(&str, Act, Result<u64, &str>); 9] = [
        ("untouched: every frame replays", |_, _| {}, Ok(11)),
        (
            "last frame torn: it was never synced, the rest replays",
            |j, c| flip(j, c.frames[3] + 40),
            Ok(9),
        ),
        (
            "last frame's header torn",
            |j, c| flip(j, c.frames[3]),
            Ok(9),
        ),
        (
            "a synced frame damaged with whole frames after it",
            |j, c| flip(j, c.frames[1] + 40),
            Err("acknowledged records are lost"),
        ),
        (
            "journal deleted",
            |j, _| std::fs::remove_file(j).unwrap(),
            Err("the journal is missing"),
        ),
        (
            "live header damaged",
            |j, _| {
                flip(j, 20);
                flip(j, 512 + 20);
            },
            Err("no whole header for its live epoch"),
        ),
        (
            "journal replaced by a directory",
            |j, _| {
                std::fs::remove_file(j).unwrap();
                std::fs::create_dir(j).unwrap();
            },
            Err("is not a regular file"),
        ),
        (
            "journal grown past its cap",
            |j, _| {
                let f = std::fs::OpenOptions::new().write(true).open(j).unwrap();
                f.set_len(JOURNAL_BYTES + 1).unwrap();
            },
            Err("larger"),
        ),
        (
            "frames truncated away",
            |j, c| {
                let f = std::fs::OpenOptions::new().write(true).open(j).unwrap();
                f.set_len(c.frames[0]).unwrap();
            },
            Ok(3),
        ),
    ];
    for (name, act, expected) in rows {
        let dir = tempfile::tempdir().unwrap();
        let crash = crashed(dir.path(), 4);
        act(&journal_path(&dir.path().join(LOG_FILE)), &crash);
        match (records_after_open(dir.path()), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{name}"),
            (Err(LogError::Damaged(why)), Err(want)) => {
                assert!(why.contains(want), "{name}: {why}");
            }
            (got, want) => panic!("{name}: {got:?}, expected {want:?}"),
        }
    }
}

#[test]
fn a_replayed_journal_is_then_empty_and_its_records_stay() {
    let dir = tempfile::tempdir().unwrap();
    crashed(dir.path(), 2);
    assert_eq!(records_after_open(dir.path()).unwrap(), 7);
    // Opened and closed cleanly: the journal no longer matters.
    std::fs::remove_file(journal_path(&dir.path().join(LOG_FILE))).unwrap();
    assert_eq!(records_after_open(dir.path()).unwrap(), 7);
}

#[test]
fn a_reader_replays_a_crashed_journal_first() {
    let dir = tempfile::tempdir().unwrap();
    crashed(dir.path(), 3);
    let db = open_read_only(&dir.path().join(LOG_FILE)).unwrap();
    assert_eq!(last_seq(&db).unwrap(), 9);
    let trusted = keys::signing_key(dir.path()).unwrap().verifying_key();
    assert!(verify(&db, &trusted, &[]).unwrap().problems.is_empty());
}

#[test]
fn frames_of_an_older_epoch_are_never_replayed() {
    let dir = tempfile::tempdir().unwrap();
    crashed(dir.path(), 2);
    let path = dir.path().join(LOG_FILE);
    // The next open replays them and starts a new epoch; crash again with
    // the old frames still in the file, and none of the new epoch.
    let db = Database::open(&path).unwrap();
    let head = head_of(&db);
    let (journal, after) = Journal::open(&path, &db, head).unwrap();
    assert_eq!(after.seq, 7);
    drop((journal, db));
    assert_eq!(records_after_open(dir.path()).unwrap(), 7);
}

#[test]
fn a_frame_that_breaks_the_chain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    crashed(dir.path(), 1);
    let path = dir.path().join(LOG_FILE);
    // Append a frame chained from a made-up head.
    let db = Database::open(&path).unwrap();
    let state = JournalState::read(&db).unwrap().unwrap();
    drop(db);
    let mut data = std::fs::read(journal_path(&path)).unwrap();
    let forged = CommitBatch::chain(
        Head {
            seq: 5,
            hash: [7; 32],
            checkpointed: 0,
        },
        &mut [pending(99)],
    );
    let (_, _, end) = read_frame(&data, FRAMES_START as usize, state.epoch).unwrap();
    let payload = forged.encode();
    let mut frame = Vec::new();
    frame.extend_from_slice(FRAME_MAGIC);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&state.epoch.to_be_bytes());
    frame.extend_from_slice(&(end as u64).to_be_bytes());
    let sum = checksum(&[&frame, &payload]);
    frame.extend_from_slice(&sum);
    frame.extend_from_slice(&payload);
    data[end..end + frame.len()].copy_from_slice(&frame);
    std::fs::write(journal_path(&path), data).unwrap();
    match records_after_open(dir.path()) {
        Err(LogError::Damaged(why)) => {
            assert!(why.contains("does not continue the chain"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_full_journal_starts_a_new_epoch_with_a_durable_commit() {
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionLog::open(dir.path(), durable()).unwrap();
    log.close().unwrap();
    let path = dir.path().join(LOG_FILE);
    let db = Database::open(&path).unwrap();
    let (mut journal, mut head) = Journal::open(&path, &db, head_of(&db)).unwrap();
    let epoch = journal.epoch;
    let mut n = 0;
    // Fill it with ~1 MiB batches until the next does not fit.
    loop {
        let mut records: Vec<_> = (0..4000).map(|i| pending(n + i)).collect();
        n += 4000;
        let batch = CommitBatch::chain(head, &mut records);
        let frame = batch.encode();
        if !journal.fits(frame.len()) {
            journal
                .commit_durably(&db, std::slice::from_ref(&batch), batch.head)
                .unwrap();
            head = batch.head;
            break;
        }
        let mut txn = db.begin_write().unwrap();
        txn.set_durability(Durability::None).unwrap();
        batch.apply(&txn).unwrap();
        txn.commit().unwrap();
        journal.append(&frame).unwrap();
        head = batch.head;
    }
    assert_eq!(journal.epoch, epoch + 1);
    assert_eq!(journal.offset, FRAMES_START);
    assert_eq!(head_of(&db).seq, head.seq);
    assert_eq!(JournalState::read(&db).unwrap().unwrap().epoch, epoch + 1);
    drop((journal, db));
    assert_eq!(records_after_open(dir.path()).unwrap(), head.seq);
}

#[test]
fn journal_state_and_slots_decode_only_what_they_encode() {
    let state = JournalState {
        epoch: 9,
        clean: false,
    };
    assert_eq!(JournalState::decode(&state.encode()), Some(state));
    assert_eq!(JournalState::decode(&[0; 8]), None);
    assert_eq!(JournalState::decode(&[0; 10]), None);
    let head = Head {
        seq: 4,
        hash: [3; 32],
        checkpointed: 0,
    };
    let mut data = vec![0u8; 4096];
    data[512..512 + SLOT_BYTES].copy_from_slice(&encode_slot(3, &head));
    assert_eq!(read_slot(&data, 3), Some((4, [3; 32])));
    assert_eq!(
        read_slot(&data, 1),
        None,
        "another epoch of the same parity"
    );
    assert_eq!(read_slot(&data, 2), None, "the other slot is empty");
    data[530] ^= 1;
    assert_eq!(read_slot(&data, 3), None, "a torn slot");
}

proptest::proptest! {
    /// Any bytes: decoding a frame or a batch never panics.
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let _ = CommitBatch::decode(&bytes, Head { seq: 0, hash: [0; 32], checkpointed: 0 });
        let _ = read_frame(&bytes, 0, 1);
        let _ = live_frames(&bytes, 1);
        let _ = read_slot(&bytes, 0);
    }

    /// Any batch of records round-trips through the journal's encoding.
    #[test]
    fn batches_round_trip(count in 0usize..6, start in 0u64..50, with_state in proptest::bool::ANY) {
        let before = Head { seq: start, hash: [start as u8; 32], checkpointed: 0 };
        let mut records: Vec<_> = (0..count).map(pending).collect();
        if with_state && let Some(first) = records.first_mut() {
            first.state.push(crate::log::StateWrite {
                table: crate::log::StateTable::KillSwitch,
                key: "a".to_owned(),
                value: Some(b"{}".to_vec()),
            });
            first.state.push(crate::log::StateWrite {
                table: crate::log::StateTable::Charges,
                key: "b".to_owned(),
                value: None,
            });
        }
        let batch = CommitBatch::chain(before, &mut records).with_checkpoint(b"{\"size\":1}".to_vec());
        let decoded = CommitBatch::decode(&batch.encode(), before).unwrap();
        proptest::prop_assert_eq!(decoded, batch);
    }
}
