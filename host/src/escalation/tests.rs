use super::*;
use crate::log::{DecisionLog, LogEvent, LogMode, LogOptions};
use std::sync::Arc;

fn request(id: &str) -> LoggedRequest {
    LoggedRequest {
        request_id: id.to_owned(),
        agent_id: "agent".to_owned(),
        action: "issue_refund".to_owned(),
        params: serde_json::Map::new(),
        amount: Some(150.0),
        currency: Some("USD".to_owned()),
        timestamp_ms: 0,
        session_id: None,
        user_id: None,
    }
}

fn pending(id: &str, deadline_ms: i64) -> Escalation {
    Escalation {
        id: id.to_owned(),
        status: EscalationStatus::Pending,
        request: request(&format!("req-{id}")),
        reasons: Vec::new(),
        created_ms: 1,
        deadline_ms,
        resolution: None,
    }
}

fn resolution(who: &str) -> Resolution {
    Resolution {
        reviewer: Some(who.to_owned()),
        comment: String::new(),
        at_ms: 2,
    }
}

fn event() -> LogEvent {
    LogEvent::PolicySetRejected {
        dir: "d".to_owned(),
        error: "e".to_owned(),
    }
}

fn durable() -> LogOptions {
    LogOptions {
        mode: LogMode::Durable,
        ..LogOptions::default()
    }
}

#[test]
fn only_one_resolution_wins_a_race() {
    let book = Arc::new(Escalations {
        slots: Mutex::new(HashMap::new()),
    });
    book.insert(pending("e1", i64::MAX));
    let winners: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let book = book.clone();
                s.spawn(move || {
                    let status = if i % 2 == 0 {
                        EscalationStatus::Approved
                    } else {
                        EscalationStatus::Denied
                    };
                    book.resolve("e1", status, resolution(&format!("r{i}")), |_| Ok(()))
                        .is_ok() as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(winners, 1);
    let after = book.get("e1").unwrap();
    assert_ne!(after.status, EscalationStatus::Pending);
    assert!(matches!(
        book.resolve("e1", EscalationStatus::Denied, resolution("late"), |_| Ok(
            ()
        )),
        Err(EscalationError::NotPending { .. })
    ));
    assert!(matches!(
        book.resolve(
            "nope",
            EscalationStatus::Denied,
            resolution("x"),
            |_| Ok(())
        ),
        Err(EscalationError::NotFound(_))
    ));
}

#[test]
fn a_failed_record_changes_nothing() {
    let book = Escalations {
        slots: Mutex::new(HashMap::new()),
    };
    book.insert(pending("e1", i64::MAX));
    let failed = book.resolve("e1", EscalationStatus::Approved, resolution("a"), |_| {
        Err(LogError::Unavailable("disk full".to_owned()))
    });
    assert!(matches!(failed, Err(EscalationError::Log(_))));
    assert_eq!(book.get("e1").unwrap().status, EscalationStatus::Pending);
    assert_eq!(book.pending(), 1);
}

#[test]
fn due_lists_only_pending_escalations_past_their_deadline() {
    let book = Escalations {
        slots: Mutex::new(HashMap::new()),
    };
    book.insert(pending("early", 10));
    book.insert(pending("late", 1000));
    assert_eq!(book.due(9), Vec::<String>::new());
    assert_eq!(book.due(10), ["early"]);
    book.resolve("early", EscalationStatus::Expired, resolution("x"), |_| {
        Ok(())
    })
    .unwrap();
    assert!(book.due(10_000).contains(&"late".to_owned()));
    assert_eq!(book.due(10_000).len(), 1);
    assert_eq!(book.list(Some(EscalationStatus::Expired)).len(), 1);
    assert_eq!(book.list(None).len(), 2);
}

#[test]
fn stored_escalations_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionLog::open(dir.path(), durable()).unwrap();
    let mut e = pending("e1", 99);
    log.append_with_state(&event(), 1, vec![e.state_write().unwrap()])
        .unwrap();
    e.status = EscalationStatus::Denied;
    e.resolution = Some(resolution("bob"));
    let e2 = pending("e2", 100);
    log.append_with_state(
        &event(),
        1,
        vec![e.state_write().unwrap(), e2.state_write().unwrap()],
    )
    .unwrap();
    let book = Escalations::load(log.database()).unwrap();
    assert_eq!(book.get("e1"), Some(e));
    assert_eq!(book.get("e2"), Some(e2));
    assert_eq!(book.pending(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn wait_answers_on_change_or_after_the_wait() {
    let book = Arc::new(Escalations {
        slots: Mutex::new(HashMap::new()),
    });
    book.insert(pending("e1", i64::MAX));
    let started = std::time::Instant::now();
    let still = book.wait("e1", Duration::from_millis(50)).await.unwrap();
    assert_eq!(still.status, EscalationStatus::Pending);
    assert!(started.elapsed() >= Duration::from_millis(50));
    let resolver = book.clone();
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        resolver
            .resolve(
                "e1",
                EscalationStatus::Approved,
                resolution("a"),
                |_| Ok(()),
            )
            .unwrap();
    });
    let started = std::time::Instant::now();
    let done = book.wait("e1", Duration::from_secs(30)).await.unwrap();
    assert_eq!(done.status, EscalationStatus::Approved);
    assert!(started.elapsed() < Duration::from_secs(10));
    handle.join().unwrap();
    assert!(
        book.wait("missing", Duration::from_millis(1))
            .await
            .is_none()
    );
}
