//! One reservation as the shared counters store it:
//! `units:status:settle_at_ms[:attempt]`.

use crate::ledger::counter::{Entry, EntryStatus};

/// `units:status:settle_at_ms`.
pub(super) fn encode(e: &Entry) -> String {
    let status = match e.status {
        EntryStatus::Held => 'h',
        EntryStatus::Open => 'o',
        EntryStatus::Final => 'f',
    };
    format!("{}:{status}:{}", e.units, e.settle_at_ms)
}

pub(super) fn decode(value: &str, time_ms: i64) -> Option<Entry> {
    let mut parts = value.split(':');
    let units = parts.next()?.parse().ok()?;
    let status = match parts.next()? {
        "h" => EntryStatus::Held,
        "o" => EntryStatus::Open,
        "f" => EntryStatus::Final,
        _ => return None,
    };
    let settle_at_ms = parts.next()?.parse().ok()?;
    // The attempt that made it, if any: letters and digits.
    if let Some(attempt) = parts.next()
        && (attempt.is_empty() || !attempt.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return None;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Entry {
        time_ms,
        units,
        status,
        settle_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn entries_round_trip(units in any::<i64>(), settle in any::<i64>(), time in any::<i64>(), s in 0u8..3) {
            let status = [EntryStatus::Held, EntryStatus::Open, EntryStatus::Final][usize::from(s)];
            let e = Entry { time_ms: time, units, status, settle_at_ms: settle };
            prop_assert_eq!(decode(&encode(&e), time), Some(e));
        }

        #[test]
        fn stored_entries_never_panic(text in ".{0,40}") {
            let _ = decode(&text, 0);
        }
    }
}
