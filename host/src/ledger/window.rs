//! Where a counter's window begins and ends at a given time.
//!
//! Calendar windows follow the clock in their time zone (an hour, a day or
//! a month as it reads there, through daylight-saving changes); rolling
//! windows are the last N milliseconds, exactly (`(now - N, now]`).

use super::charge::Period;
use jiff::tz::TimeZone;
use jiff::{RoundMode, Timestamp, ToSpan, Unit, Zoned, ZonedRound};

/// The calendar period containing `now_ms` in `tz`: `[start, end)` in UTC
/// milliseconds.
pub fn calendar_bounds(period: Period, tz: &TimeZone, now_ms: i64) -> Result<(i64, i64), String> {
    let now = Timestamp::from_millisecond(now_ms)
        .map_err(|e| format!("time {now_ms} ms is out of range: {e}"))?
        .to_zoned(tz.clone());
    let bounds = match period {
        Period::Hour => hour(&now),
        Period::Day => day(&now),
        Period::Month => month(&now),
    };
    let (start, end) =
        bounds.map_err(|e| format!("cannot compute the {} window: {e}", period.as_str()))?;
    Ok((
        start.timestamp().as_millisecond(),
        end.timestamp().as_millisecond(),
    ))
}

fn hour(now: &Zoned) -> Result<(Zoned, Zoned), jiff::Error> {
    let start = now.round(
        ZonedRound::new()
            .smallest(Unit::Hour)
            .mode(RoundMode::Trunc),
    )?;
    let end = start.checked_add(1.hour())?;
    Ok((start, end))
}

fn day(now: &Zoned) -> Result<(Zoned, Zoned), jiff::Error> {
    let start = now.start_of_day()?;
    let end = now.tomorrow()?.start_of_day()?;
    Ok((start, end))
}

fn month(now: &Zoned) -> Result<(Zoned, Zoned), jiff::Error> {
    let start = now.first_of_month()?.start_of_day()?;
    let end = now.last_of_month()?.tomorrow()?.start_of_day()?;
    Ok((start, end))
}

/// The time zone named `name` from the bundled database.
pub fn time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("unknown time zone {name:?} (an IANA name such as `UTC` or `Europe/Paris`)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn calendar_windows_to_the_millisecond() {
        // (period, zone, now, start, end)
        let cases = [
            (
                Period::Day,
                "UTC",
                "2026-11-29T23:59:59.999Z",
                "2026-11-29T00:00:00Z",
                "2026-11-30T00:00:00Z",
            ),
            (
                Period::Day,
                "UTC",
                "2026-11-30T00:00:00Z",
                "2026-11-30T00:00:00Z",
                "2026-12-01T00:00:00Z",
            ),
            // New York is UTC-5 in November: its day ends at 05:00 UTC.
            (
                Period::Day,
                "America/New_York",
                "2026-11-30T04:59:59.999Z",
                "2026-11-29T05:00:00Z",
                "2026-11-30T05:00:00Z",
            ),
            (
                Period::Day,
                "America/New_York",
                "2026-11-30T05:00:00Z",
                "2026-11-30T05:00:00Z",
                "2026-12-01T05:00:00Z",
            ),
            // The day clocks spring forward is 23 hours long, and the day they fall back 25.
            (
                Period::Day,
                "America/New_York",
                "2026-03-08T12:00:00Z",
                "2026-03-08T05:00:00Z",
                "2026-03-09T04:00:00Z",
            ),
            (
                Period::Day,
                "America/New_York",
                "2026-11-01T12:00:00Z",
                "2026-11-01T04:00:00Z",
                "2026-11-02T05:00:00Z",
            ),
            // Tokyo (UTC+9) and a half-hour zone.
            (
                Period::Day,
                "Asia/Tokyo",
                "2026-11-29T14:59:59.999Z",
                "2026-11-28T15:00:00Z",
                "2026-11-29T15:00:00Z",
            ),
            (
                Period::Hour,
                "Asia/Kolkata",
                "2026-11-29T10:29:59.999Z",
                "2026-11-29T09:30:00Z",
                "2026-11-29T10:30:00Z",
            ),
            (
                Period::Hour,
                "UTC",
                "2026-11-29T10:00:00Z",
                "2026-11-29T10:00:00Z",
                "2026-11-29T11:00:00Z",
            ),
            (
                Period::Month,
                "UTC",
                "2026-02-28T23:59:59.999Z",
                "2026-02-01T00:00:00Z",
                "2026-03-01T00:00:00Z",
            ),
            (
                Period::Month,
                "Europe/Paris",
                "2026-11-30T23:00:00Z",
                "2026-11-30T23:00:00Z",
                "2026-12-31T23:00:00Z",
            ),
            (
                Period::Month,
                "Europe/Paris",
                "2026-11-30T22:59:59.999Z",
                "2026-10-31T23:00:00Z",
                "2026-11-30T23:00:00Z",
            ),
        ];
        for (period, zone, now, start, end) in cases {
            let tz = time_zone(zone).unwrap();
            assert_eq!(
                calendar_bounds(period, &tz, ms(now)),
                Ok((ms(start), ms(end))),
                "{period:?} {zone} {now}"
            );
        }
    }

    #[test]
    fn unknown_zones_are_named() {
        let e = time_zone("Mars/Olympus_Mons").unwrap_err();
        assert!(e.contains("Mars/Olympus_Mons"), "{e}");
    }
}
