#![allow(clippy::unwrap_used, reason = "test code")]
#![allow(clippy::expect_used, reason = "test code")]
use super::*;
use crate::log::GENESIS;
use crate::log::entry::LogEvent;
use crate::log::index_walk::{Order, agent_seqs, time_seqs};
use crate::log::query::TimeRange;
use redb::{Database, ReadableDatabase, ReadableTable};
use std::ops::ControlFlow;

fn pending(n: usize) -> PendingRecord {
    let event = LogEvent::KillSwitch {
        engaged: n.is_multiple_of(2),
        actor: format!("operator-{n}"),
        reason: "drill".to_owned(),
        agent: None,
    };
    let state = match n % 3 {
        0 => vec![StateWrite {
            table: StateTable::Charges,
            key: format!("charge-{}", n % 4),
            value: Some(vec![n as u8; 3]),
        }],
        1 => vec![StateWrite {
            table: StateTable::Charges,
            key: format!("charge-{}", (n + 1) % 4),
            value: None,
        }],
        _ => vec![StateWrite {
            table: StateTable::KillSwitch,
            key: "fleet".to_owned(),
            value: Some(vec![n as u8]),
        }],
    };
    PendingRecord {
        // Clock steps back now and then.
        time_ms: 1_700_000_000_000 + (n as i64 * 7) % 11,
        generation: 1 + n as u64 / 5,
        payload: record_format::encode_event(&event).unwrap(),
        agent_id: Some(["a", "b", "c"][n % 3].to_owned()).filter(|_| n % 4 != 3),
        state,
    }
}

/// Five consecutive batches of three records; the third carries a
/// checkpoint, the fifth has no records (a checkpoint-only commit).
fn batches() -> Vec<CommitBatch> {
    let mut head = Head {
        seq: 0,
        hash: GENESIS,
        checkpointed: 0,
    };
    let mut out = Vec::new();
    for b in 0..5 {
        let mut records: Vec<_> = if b == 4 {
            Vec::new()
        } else {
            (3 * b..3 * b + 3).map(pending).collect()
        };
        let mut batch = CommitBatch::chain(head, &mut records);
        if b == 2 || b == 4 {
            batch = batch.with_checkpoint(format!("{{\"checkpoint\":{b}}}").into_bytes());
        }
        head = batch.head;
        out.push(batch);
    }
    out
}

type Rows = Vec<(String, Vec<u8>)>;

/// Every row, table by table.
fn dump(db: &Database) -> Vec<Rows> {
    let read = db.begin_read().unwrap();
    let mut out = Vec::new();
    let records = read.open_table(RECORDS).unwrap();
    out.push(
        records
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.value().to_string(), v.value().to_vec())
            })
            .collect(),
    );
    let meta = read.open_table(META).unwrap();
    out.push(
        meta.iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.value().to_owned(), v.value().to_vec())
            })
            .collect(),
    );
    let times = read.open_table(batch_index::BATCH_TIMES).unwrap();
    out.push(
        times
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.value().to_string(), v.value().to_vec())
            })
            .collect(),
    );
    let agents = read.open_table(batch_index::AGENT_BATCHES).unwrap();
    out.push(
        agents
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                let (agent, first) = k.value();
                (format!("{agent}/{first}"), v.value().to_vec())
            })
            .collect(),
    );
    let checkpoints = read.open_table(CHECKPOINTS).unwrap();
    out.push(
        checkpoints
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.value().to_string(), v.value().to_vec())
            })
            .collect(),
    );
    for which in StateTable::ALL {
        let rows = match read.open_table(which.definition()) {
            Ok(table) => table
                .iter()
                .unwrap()
                .map(|r| {
                    let (k, v) = r.unwrap();
                    (k.value().to_owned(), v.value().to_vec())
                })
                .collect(),
            Err(redb::TableError::TableDoesNotExist(_)) => Vec::new(),
            Err(e) => panic!("{e}"),
        };
        out.push(rows);
    }
    out
}

/// What the indexes find: every agent's seqs, and every seq by time.
fn found(db: &Database) -> Vec<Vec<u64>> {
    let read = db.begin_read().unwrap();
    let mut out = Vec::new();
    for agent in ["a", "b", "c", "nobody"] {
        let mut seqs = Vec::new();
        let flow = agent_seqs(&read, agent, Order::OldestFirst, &mut |s| {
            seqs.push(s);
            Ok(ControlFlow::Continue(()))
        });
        assert!(flow.unwrap().is_continue());
        out.push(seqs);
    }
    let mut seqs = Vec::new();
    let flow = time_seqs(&read, TimeRange::ALL, Order::OldestFirst, &mut |s| {
        seqs.push(s);
        Ok(ControlFlow::Continue(()))
    });
    assert!(flow.unwrap().is_continue());
    seqs.sort_unstable();
    out.push(seqs);
    out
}

fn database(dir: &tempfile::TempDir, name: &str) -> Database {
    Database::create(dir.path().join(name)).unwrap()
}

#[test]
fn batches_applied_together_write_what_they_write_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    let apart = database(&dir, "apart.redb");
    for batch in &batches {
        let txn = apart.begin_write().unwrap();
        batch.apply(&txn).unwrap();
        txn.commit().unwrap();
    }
    let together = database(&dir, "together.redb");
    let txn = together.begin_write().unwrap();
    apply_all(&batches, &txn).unwrap();
    txn.commit().unwrap();

    let rows = dump(&together);
    assert_eq!(rows, dump(&apart));
    assert_eq!(rows[0].len(), 12, "every record, once");
    assert_eq!(rows[2].len(), 4, "an index entry per batch with records");
    assert_eq!(rows[4].len(), 2, "both checkpoints");
    assert!(!rows[5 + 1].is_empty() && !rows[5 + 2].is_empty());
    let found = found(&together);
    assert_eq!(found, self::found(&apart), "the indexes find the same seqs");
    assert_eq!(found[4], (1..=12).collect::<Vec<_>>());
    assert_eq!(found[0], vec![1, 7, 10]);
    assert_eq!(found[3], Vec::<u64>::new());
}

#[test]
fn batches_that_do_not_follow_each_other_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut batches = batches();
    batches.remove(1);
    let db = database(&dir, "gap.redb");
    let txn = db.begin_write().unwrap();
    let err = apply_all(&batches, &txn).unwrap_err().to_string();
    assert!(
        err.contains("after record 6 does not follow record 3"),
        "{err}"
    );
    txn.abort().unwrap();
    let read = db.begin_read().unwrap();
    assert!(read.open_table(RECORDS).is_err(), "nothing written");
}

#[test]
fn no_batches_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir, "empty.redb");
    let txn = db.begin_write().unwrap();
    apply_all(&[], &txn).unwrap();
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    assert!(read.open_table(META).is_err());
}

#[test]
fn a_batch_encodes_into_a_frame_as_it_encodes_alone() {
    for batch in batches() {
        let mut out = vec![7u8; 5];
        batch.encode_into(&mut out);
        assert_eq!(out.get(..5), Some(&[7u8; 5][..]));
        assert_eq!(out.get(5..), Some(batch.encode().as_slice()));
        let decoded = CommitBatch::decode(&batch.encode(), batch.before).unwrap();
        assert_eq!(decoded, batch);
    }
}
