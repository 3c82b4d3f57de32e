#![allow(clippy::unwrap_used, reason = "test code")]
#![allow(clippy::expect_used, reason = "test code")]
use super::*;
use std::sync::mpsc::sync_channel;

fn syncer(dir: &tempfile::TempDir) -> (Syncer, Arc<Watermarks>) {
    let file = File::create(dir.path().join("journal")).unwrap();
    let marks = Arc::new(Watermarks::new(0));
    let syncer = Syncer::start(
        file,
        SyncState::new(1, 0),
        marks.clone(),
        Arc::new(Mutex::new(None)),
    )
    .unwrap();
    (syncer, marks)
}

/// A request of one record, `seq`, at `offset`; its answer arrives on the
/// receiver.
fn request(
    syncer: &mut Syncer,
    epoch: u64,
    offset: u64,
    seq: u64,
) -> std::sync::mpsc::Receiver<Result<u64, LogError>> {
    let (tx, rx) = sync_channel(1);
    let acks = Acks {
        first_seq: seq,
        appends: vec![Some(Ack::Thread(tx))],
        ..Acks::default()
    };
    syncer.request(epoch, offset, seq, acks);
    rx
}

#[test]
fn every_request_is_acknowledged_once_and_the_watermarks_end_at_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let (mut syncer, marks) = syncer(&dir);
    let mut answers = Vec::new();
    for seq in 1..=500u64 {
        answers.push((seq, request(&mut syncer, 1, seq * 10, seq)));
        if seq % 50 == 0 {
            syncer.wait_taken(std::time::Duration::from_secs(5));
        }
    }
    for (seq, rx) in answers {
        assert_eq!(rx.recv().unwrap().unwrap(), seq);
        assert!(rx.try_recv().is_err(), "one answer each");
    }
    assert_eq!(marks.durable_seq(), 500);
    assert_eq!(syncer.state().synced_in(1), Some(5000));
    syncer.stop();
    let late = request(&mut syncer, 1, 5010, 501);
    assert!(
        late.recv()
            .unwrap()
            .unwrap_err()
            .to_string()
            .contains("stopped"),
        "a request after stop is refused"
    );
    assert_eq!(marks.durable_seq(), 500);
}

#[test]
fn stop_serves_every_request_made_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut syncer, marks) = syncer(&dir);
    let answers: Vec<_> = (1..=64u64)
        .map(|seq| request(&mut syncer, 1, seq, seq))
        .collect();
    syncer.stop();
    for (seq, rx) in (1..).zip(answers) {
        assert_eq!(rx.recv().unwrap().unwrap(), seq);
    }
    assert_eq!(marks.durable_seq(), 64);
}

#[test]
fn a_failed_sync_fails_its_callers_and_every_later_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut syncer, marks) = syncer(&dir);
    let first = request(&mut syncer, 1, 10, 1);
    assert_eq!(first.recv().unwrap().unwrap(), 1);
    let _ = syncer.state().failed.set(LogError::Storage(
        "syncing the journal: the disk is gone".to_owned(),
    ));
    for seq in 2..=5 {
        let rx = request(&mut syncer, 1, seq * 10, seq);
        let err = rx.recv().unwrap().unwrap_err().to_string();
        assert!(err.contains("the disk is gone"), "{err}");
    }
    assert_eq!(marks.durable_seq(), 1, "no failed record counts as durable");
}

#[test]
fn the_synced_position_never_moves_back() {
    let state = SyncState::new(1, 100);
    state.advance(1, 50);
    assert_eq!(state.synced_in(1), Some(100));
    state.advance(2, 32);
    assert_eq!(state.synced_in(2), Some(32));
    // A sync of the old epoch that ends after the new one started.
    state.advance(1, 9000);
    assert_eq!(state.synced_in(1), None);
    assert_eq!(state.synced_in(2), Some(32));
}
