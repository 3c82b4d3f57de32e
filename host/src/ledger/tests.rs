use super::*;
use std::sync::Arc;

const DAY_MS: i64 = 86_400_000;

fn budget(limit: f64, amount: f64, above: Option<f64>) -> PolicyCharge {
    PolicyCharge {
        policy: "budget".to_owned(),
        charge: Charge {
            counter: "budget".to_owned(),
            kind: ChargeKind::Budget,
            scope: Scope::Agent,
            window: Window::Calendar {
                period: Period::Day,
                timezone: "UTC".to_owned(),
            },
            amount,
            limit,
            escalate_above: above,
        },
    }
}

fn rate(limit: f64, ms: u64) -> PolicyCharge {
    PolicyCharge {
        policy: "rate-limit".to_owned(),
        charge: Charge {
            counter: "rate".to_owned(),
            kind: ChargeKind::Rate,
            scope: Scope::Agent,
            window: Window::Rolling { ms },
            amount: 1.0,
            limit,
            escalate_above: None,
        },
    }
}

const WHO: Who<'static> = Who {
    agent: "Agent-1",
    session: Some("s1"),
    user: None,
};

fn code(r: &Reservation) -> Option<&'static str> {
    match &r.judgement {
        Judgement::Fits(near) if near.is_empty() => None,
        Judgement::Fits(_) => Some(BUDGET_NEAR_LIMIT),
        Judgement::Stops(s) => Some(s.code),
    }
}

#[test]
fn sixty_four_threads_get_exactly_the_budget() {
    let ledger = Arc::new(Ledger::new(DEFAULT_SETTLE_AFTER));
    let approved = std::thread::scope(|s| {
        let handles: Vec<_> = (0..64)
            .map(|t| {
                let ledger = Arc::clone(&ledger);
                s.spawn(move || {
                    (0..10)
                        .filter(|i| {
                            let id = format!("r-{t}-{i}");
                            let r = ledger.reserve(
                                &id,
                                WHO,
                                &[budget(1000.0, 10.0, None)],
                                1_000,
                                false,
                            );
                            code(&r).is_none()
                        })
                        .count()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum::<usize>()
    });
    assert_eq!(approved, 100);
    let usage = ledger.usage(1_000);
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (usage[0].used + usage[0].reserved, usage[0].left),
        (1000.0, 0.0)
    );
}

#[test]
fn all_or_nothing_across_counters() {
    let ledger = Ledger::new(DEFAULT_SETTLE_AFTER);
    // The rate fits, the budget does not: nothing is reserved.
    let r = ledger.reserve(
        "r1",
        WHO,
        &[rate(5.0, 60_000), budget(5.0, 10.0, None)],
        0,
        false,
    );
    assert_eq!(code(&r), Some(BUDGET_EXCEEDED));
    assert!(!r.reserved);
    assert!(r.writes.is_empty());
    assert!(ledger.usage(0).is_empty());
}

#[test]
fn a_request_id_is_charged_once() {
    let ledger = Ledger::new(DEFAULT_SETTLE_AFTER);
    for _ in 0..3 {
        let r = ledger.reserve("same", WHO, &[budget(15.0, 10.0, None)], 0, false);
        assert_eq!(code(&r), None);
    }
    assert_eq!(ledger.usage(0)[0].reserved, 10.0);
    let r = ledger.reserve("other", WHO, &[budget(15.0, 10.0, None)], 0, false);
    assert_eq!(code(&r), Some(BUDGET_EXCEEDED));
}

#[test]
fn a_rolling_window_admits_the_limit_and_frees_at_its_exact_edge() {
    let ledger = Ledger::new(DEFAULT_SETTLE_AFTER);
    for i in 0..30 {
        let r = ledger.reserve(
            &format!("r{i}"),
            WHO,
            &[rate(30.0, 3_600_000)],
            1_000 + i,
            false,
        );
        assert_eq!(code(&r), None, "{i}");
    }
    let r = ledger.reserve("late", WHO, &[rate(30.0, 3_600_000)], 1_030, false);
    assert_eq!(code(&r), Some(RATE_LIMITED));
    let Judgement::Stops(stop) = &r.judgement else {
        panic!()
    };
    // The first reservation (t = 1000) leaves (now - 1h, now] at 1000 + 1h.
    assert_eq!(stop.retry_after_ms, Some(3_600_000 - 30));
    let edge = 1_000 + 3_600_000;
    let r = ledger.reserve("edge-1ms", WHO, &[rate(30.0, 3_600_000)], edge - 1, false);
    assert_eq!(code(&r), Some(RATE_LIMITED));
    let r = ledger.reserve("edge", WHO, &[rate(30.0, 3_600_000)], edge, false);
    assert_eq!(code(&r), None);
    // No span of one hour ever held more than 30.
    let r = ledger.reserve("edge+", WHO, &[rate(30.0, 3_600_000)], edge, false);
    assert_eq!(code(&r), Some(RATE_LIMITED));
}

#[test]
fn a_calendar_day_resets_at_midnight_in_its_zone() {
    let ledger = Ledger::new(DEFAULT_SETTLE_AFTER);
    let midnight = 20_000 * DAY_MS;
    let r = ledger.reserve("a", WHO, &[budget(10.0, 10.0, None)], midnight - 1, false);
    assert_eq!(code(&r), None);
    let r = ledger.reserve("b", WHO, &[budget(10.0, 10.0, None)], midnight - 1, false);
    assert_eq!(code(&r), Some(BUDGET_EXCEEDED));
    let r = ledger.reserve("c", WHO, &[budget(10.0, 10.0, None)], midnight, false);
    assert_eq!(code(&r), None);
}

#[test]
fn escalate_above_holds_and_release_frees() {
    let ledger = Ledger::new(DEFAULT_SETTLE_AFTER);
    let r = ledger.reserve("a", WHO, &[budget(100.0, 85.0, Some(0.9))], 0, false);
    assert_eq!(code(&r), None);
    let r = ledger.reserve("b", WHO, &[budget(100.0, 10.0, Some(0.9))], 0, false);
    assert_eq!(code(&r), Some(BUDGET_NEAR_LIMIT));
    assert_eq!(ledger.reservation_counts(0), (1, 1, 0));
    // Held while pending: another 10 does not fit.
    let r = ledger.reserve("c", WHO, &[budget(100.0, 10.0, None)], 0, false);
    assert_eq!(code(&r), Some(BUDGET_EXCEEDED));
    let plan = ledger.plan_release("b");
    assert_eq!(plan.writes.len(), 1);
    assert_eq!(plan.writes[0].value, None);
    ledger.apply(plan);
    let r = ledger.reserve("c", WHO, &[budget(100.0, 10.0, None)], 0, false);
    assert_eq!(code(&r), None);
}

#[test]
fn outcomes_free_replace_or_settle() {
    let ledger = Ledger::new(Duration::from_millis(1_000));
    ledger.reserve("a", WHO, &[budget(100.0, 50.0, None)], 0, false);
    ledger.reserve("b", WHO, &[budget(100.0, 30.0, None)], 0, false);
    ledger.reserve("c", WHO, &[budget(100.0, 20.0, None)], 0, false);
    ledger.apply(ledger.plan_outcome("a", true, None, 10).unwrap());
    ledger.apply(ledger.plan_outcome("b", false, Some(12.5), 10).unwrap());
    let row = &ledger.usage(10)[0];
    assert_eq!((row.used, row.reserved), (12.5, 20.0));
    // `c` settles as charged at 1000: it can no longer be freed.
    assert_eq!(
        ledger.plan_outcome("c", true, None, 1_000),
        Err(SettleError::Settled { at_ms: 1_000 })
    );
    assert!(ledger.plan_outcome("c", false, None, 1_000).is_ok());
    let row = &ledger.usage(1_000)[0];
    assert_eq!((row.used, row.reserved), (32.5, 0.0));
}

#[test]
fn undo_takes_back_only_this_reservation() {
    let ledger = Ledger::new(DEFAULT_SETTLE_AFTER);
    ledger.reserve("a", WHO, &[budget(100.0, 10.0, None)], 0, false);
    let r = ledger.reserve("b", WHO, &[budget(100.0, 10.0, None)], 0, false);
    ledger.undo("b", &r);
    assert_eq!(ledger.usage(0)[0].reserved, 10.0);
    // A duplicate reserves nothing, so its undo frees nothing.
    let dup = ledger.reserve("a", WHO, &[budget(100.0, 10.0, None)], 0, false);
    ledger.undo("a", &dup);
    assert_eq!(ledger.usage(0)[0].reserved, 10.0);
}

#[test]
fn scopes_the_request_lacks_and_unknown_zones_stop_the_decision() {
    let ledger = Ledger::new(DEFAULT_SETTLE_AFTER);
    let mut user = budget(100.0, 1.0, None);
    user.charge.scope = Scope::User;
    assert_eq!(
        code(&ledger.reserve("a", WHO, &[user], 0, false)),
        Some(SCOPE_MISSING)
    );
    let mut mars = budget(100.0, 1.0, None);
    mars.charge.window = Window::Calendar {
        period: Period::Day,
        timezone: "Mars/Base".to_owned(),
    };
    assert_eq!(
        code(&ledger.reserve("a", WHO, &[mars], 0, false)),
        Some(COUNTER_INVALID)
    );
}

#[test]
fn a_day_in_new_york_ends_at_its_midnight_not_utcs() {
    let ledger = Ledger::new(DEFAULT_SETTLE_AFTER);
    let mut ny = budget(10.0, 10.0, None);
    ny.charge.window = Window::Calendar {
        period: Period::Day,
        timezone: "America/New_York".to_owned(),
    };
    // 2026-11-30T05:00:00Z is midnight in New York (UTC-5).
    let midnight: i64 = 1_796_014_800_000;
    let ms = |t: i64| t;
    // (request, time, expected code)
    let steps = [
        ("a", ms(midnight - 5 * 3_600_000), None), // 19:00 the day before in New York (UTC midnight)
        ("b", ms(midnight - 1), Some(BUDGET_EXCEEDED)),
        ("c", ms(midnight), None),
        ("d", ms(midnight + 1), Some(BUDGET_EXCEEDED)),
    ];
    for (id, t, expected) in steps {
        assert_eq!(
            code(&ledger.reserve(id, WHO, std::slice::from_ref(&ny), t, false)),
            expected,
            "{id}"
        );
    }
}

#[test]
fn usage_counts_only_what_is_still_in_its_window() {
    let ledger = Ledger::new(DEFAULT_SETTLE_AFTER);
    ledger.reserve("a", WHO, &[rate(5.0, 1_000)], 0, false);
    ledger.reserve("b", WHO, &[rate(5.0, 1_000)], 500, false);
    // (time, reservations, used + reserved)
    for (t, n, taken) in [(999, 2, 2.0), (1_000, 1, 1.0), (1_500, 0, 0.0)] {
        let rows = ledger.usage(t);
        let got = rows
            .first()
            .map_or((0, 0.0), |r| (r.reservations, r.used + r.reserved));
        assert_eq!(got, (n, taken), "at {t}");
        assert_eq!(ledger.reservation_counts(t).1, u64::try_from(n).unwrap());
    }
}
