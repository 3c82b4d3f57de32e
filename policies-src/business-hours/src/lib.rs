//! `business-hours`: listed actions only inside a weekly window of local
//! business hours, and never on a holiday.
//!
//! For an action matching `actions` (a trailing `*` is a prefix wildcard),
//! and, when `min_risk_tier` is set, an agent whose risk tier is at least
//! that (an unregistered agent, or a registered one without a tier, counts
//! as tier 4):
//!
//! - the request's timestamp, converted to local time in `timezone` with
//!   that zone's daylight-saving rules, falls on a date in `holidays` →
//!   deny `outside-business-hours`, saying it is a holiday;
//! - the local weekday is not in `days`, or the local time of day is before
//!   `start` or at/after `end` (start inclusive, end exclusive) → deny
//!   `outside-business-hours`, stating the window, e.g.
//!   `Mon–Fri 09:00–17:00 America/New_York`;
//! - else approve.
//!
//! Every other action is approved. The window is judged on the local wall
//! clock, so on the day a zone changes its offset the window is as long as
//! the wall clock says it is.
//!
//! ```toml
//! [policy.config]
//! actions = ["execute_transaction", "deploy_*"]
//! timezone = "America/New_York"
//! days = ["mon", "tue", "wed", "thu", "fri"]
//! start = "09:00"
//! end = "17:00"
//! holidays = ["2026-12-25"]
//! min_risk_tier = 3
//! ```

mod zone;

use std::collections::BTreeSet;

use gavel_sdk::{ActionPattern, ConfigError, Metadata, Policy, Request, Verdict};
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use serde::Deserialize;
use zone::Zone;

/// The config, from `[policy.config]`.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// The actions this policy judges.
    pub actions: Vec<String>,
    /// An IANA time zone name such as `America/New_York`, or `UTC`.
    pub timezone: String,
    /// The weekdays of the window: `mon` .. `sun`, any case.
    pub days: Vec<String>,
    /// `HH:MM`, local, inclusive.
    pub start: String,
    /// `HH:MM`, local, exclusive; `24:00` is the end of the day.
    pub end: String,
    /// Local dates (`YYYY-MM-DD`) on which the listed actions are refused.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Judge only agents whose risk tier is at least this (1..4).
    pub min_risk_tier: Option<i64>,
}

/// The tier an agent without one in the registry counts as.
const UNKNOWN_TIER: u8 = 4;

const DAY_NAMES: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

const DAY_LABELS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn day_index(day: Weekday) -> usize {
    day.to_monday_zero_offset() as usize
}

/// Where an instant falls relative to the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Inside the window.
    Inside,
    /// On a configured holiday (local date).
    Holiday(Date),
    /// Outside the window; the local weekday and wall-clock time, e.g.
    /// `Sat 2026-03-07 10:15`.
    Outside(String),
}

/// The policy.
#[derive(Debug)]
pub struct BusinessHours {
    actions: Vec<ActionPattern>,
    zone: Zone,
    /// Indexed Monday = 0.
    days: [bool; 7],
    /// Seconds since local midnight: start inclusive, end exclusive.
    start_s: i32,
    end_s: i32,
    holidays: BTreeSet<Date>,
    min_risk_tier: Option<u8>,
    /// E.g. `Mon–Fri 09:00–17:00 America/New_York`.
    window: String,
}

/// Minutes since midnight from `HH:MM`. `24:00` only when `allow_24`.
fn parse_hhmm(key: &str, text: &str, allow_24: bool) -> Result<i32, ConfigError> {
    let bad = || {
        ConfigError::key(
            key,
            format!("`{text}` is not a time of day written HH:MM (00:00 to 23:59)"),
        )
    };
    let b = text.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()) {
        return Err(bad());
    }
    let hour = i32::from(b[0] - b'0') * 10 + i32::from(b[1] - b'0');
    let minute = i32::from(b[3] - b'0') * 10 + i32::from(b[4] - b'0');
    if allow_24 && hour == 24 && minute == 0 {
        return Ok(24 * 60);
    }
    if hour > 23 || minute > 59 {
        return Err(bad());
    }
    Ok(hour * 60 + minute)
}

fn fmt_hhmm(minutes: i32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A local date written exactly `YYYY-MM-DD`.
fn parse_date(key: &str, text: &str) -> Result<Date, ConfigError> {
    let bad = |why: String| ConfigError::key(key, why);
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(bad(format!("`{text}` is not a date written YYYY-MM-DD")));
    }
    let num = |r: std::ops::Range<usize>| -> i16 {
        b[r].iter()
            .fold(0i16, |acc, c| acc * 10 + i16::from(c - b'0'))
    };
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    Date::new(year, month as i8, day as i8)
        .map_err(|_| bad(format!("`{text}` is not a calendar date")))
}

/// `Mon–Fri`, `Mon, Wed, Fri`, `Mon–Wed, Sat–Sun`: runs of two or more
/// consecutive days as a range, single days by name.
pub fn describe_days(days: &[bool; 7]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < 7 {
        if !days[i] {
            i += 1;
            continue;
        }
        let first = i;
        while i + 1 < 7 && days[i + 1] {
            i += 1;
        }
        parts.push(if i > first {
            format!("{}–{}", DAY_LABELS[first], DAY_LABELS[i])
        } else {
            DAY_LABELS[first].to_owned()
        });
        i += 1;
    }
    parts.join(", ")
}

impl BusinessHours {
    /// Where the instant `timestamp_ms` (UTC ms) falls, or `None` when it
    /// is beyond the calendar's range (or the zone's data did not parse).
    pub fn place(&self, timestamp_ms: i64) -> Option<Placement> {
        let ts = Timestamp::from_millisecond(timestamp_ms).ok()?;
        let local = ts.to_zoned(self.zone.time_zone()?.clone());
        let date = local.date();
        if self.holidays.contains(&date) {
            return Some(Placement::Holiday(date));
        }
        let seconds = i32::from(local.hour()) * 3600
            + i32::from(local.minute()) * 60
            + i32::from(local.second());
        let weekday = local.weekday();
        if self.days[day_index(weekday)] && self.start_s <= seconds && seconds < self.end_s {
            return Some(Placement::Inside);
        }
        Some(Placement::Outside(format!(
            "{} {} {:02}:{:02}",
            DAY_LABELS[day_index(weekday)],
            date,
            local.hour(),
            local.minute()
        )))
    }

    /// The window as the deny messages state it.
    pub fn window(&self) -> &str {
        &self.window
    }

    fn applies_to(&self, request: &Request) -> bool {
        if !ActionPattern::any_matches(&self.actions, &request.action) {
            return false;
        }
        match self.min_risk_tier {
            None => true,
            Some(min) => {
                let tier = if request.agent.registered {
                    request.agent.risk_tier.unwrap_or(UNKNOWN_TIER)
                } else {
                    UNKNOWN_TIER
                };
                tier >= min
            }
        }
    }
}

impl Policy for BusinessHours {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new(
            "business-hours",
            env!("CARGO_PKG_VERSION"),
            "Allows listed actions only inside a weekly window of local business hours, outside holidays.",
        )
    }

    fn new(config: Config) -> Result<Self, ConfigError> {
        if config.actions.is_empty() {
            return Err(ConfigError::key("actions", "must list at least one action"));
        }
        let actions = ActionPattern::parse_list("actions", &config.actions)?;

        let zone = Zone::lookup(&config.timezone).ok_or_else(|| {
            ConfigError::key(
                "timezone",
                format!(
                    "`{}` is not a known IANA time zone (e.g. America/New_York, Europe/London, UTC)",
                    config.timezone
                ),
            )
        })?;

        if config.days.is_empty() {
            return Err(ConfigError::key("days", "must list at least one day"));
        }
        let mut days = [false; 7];
        for (i, name) in config.days.iter().enumerate() {
            let key = format!("days[{i}]");
            let Some((_, weekday)) = DAY_NAMES
                .iter()
                .find(|(short, _)| short.eq_ignore_ascii_case(name))
            else {
                return Err(ConfigError::key(
                    &key,
                    format!("`{name}` is not a day; use mon, tue, wed, thu, fri, sat or sun"),
                ));
            };
            let slot = &mut days[day_index(*weekday)];
            if *slot {
                return Err(ConfigError::key(&key, format!("`{name}` is listed twice")));
            }
            *slot = true;
        }

        let start = parse_hhmm("start", &config.start, false)?;
        let end = parse_hhmm("end", &config.end, true)?;
        if start >= end {
            return Err(ConfigError::key(
                "end",
                format!(
                    "must be later than start ({}), got {}",
                    config.start, config.end
                ),
            ));
        }

        let holidays = config
            .holidays
            .iter()
            .enumerate()
            .map(|(i, h)| parse_date(&format!("holidays[{i}]"), h))
            .collect::<Result<BTreeSet<_>, _>>()?;

        let min_risk_tier = match config.min_risk_tier {
            None => None,
            Some(t @ 1..=4) => Some(t as u8),
            Some(t) => {
                return Err(ConfigError::key(
                    "min_risk_tier",
                    format!("must be 1..4, got {t}"),
                ));
            }
        };

        let window = format!(
            "{} {}–{} {}",
            describe_days(&days),
            fmt_hhmm(start),
            fmt_hhmm(end),
            zone.name()
        );
        Ok(BusinessHours {
            actions,
            zone,
            days,
            start_s: start * 60,
            end_s: end * 60,
            holidays,
            min_risk_tier,
            window,
        })
    }

    /// The listed actions: the host approves the others without a call.
    fn interest(&self) -> Option<Vec<String>> {
        ActionPattern::interest(&self.actions)
    }

    fn evaluate(&self, request: &Request) -> Verdict {
        if !self.applies_to(request) {
            return Verdict::approve();
        }
        let action = request.action.as_str();
        let window = &self.window;
        if self.zone.time_zone().is_none() {
            // No bundled zone fails to parse (a test checks them all);
            // should one, fail closed.
            return Verdict::deny(
                "timezone-unavailable",
                format!(
                    "action `{action}`: the time zone {} could not be read",
                    self.zone.name()
                ),
            );
        }
        match self.place(request.timestamp_ms) {
            Some(Placement::Inside) => Verdict::approve(),
            Some(Placement::Holiday(date)) => Verdict::deny(
                "outside-business-hours",
                format!(
                    "action `{action}` is not allowed on {date}, a holiday; business hours are {window}"
                ),
            ),
            Some(Placement::Outside(local)) => Verdict::deny(
                "outside-business-hours",
                format!("action `{action}` is allowed only {window}; local time is {local}"),
            ),
            // The host never sends such a timestamp; fail closed.
            None => Verdict::deny(
                "invalid-timestamp",
                format!("action `{action}` has a timestamp outside the calendar's range"),
            ),
        }
    }
}

// The export's symbol names are fit for a component only; native builds
// (unit tests) leave it out.
#[cfg(target_arch = "wasm32")]
gavel_sdk::export_policy!(BusinessHours);

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_sdk::{Agent, VerdictKind, parse_config, serde_json::Value, serde_json::json};

    fn policy(config: Value) -> Result<BusinessHours, ConfigError> {
        BusinessHours::new(parse_config(&config.to_string())?)
    }

    fn config(tz: &str, days: &[&str], start: &str, end: &str) -> Value {
        json!({"actions": ["pay", "deploy_*"], "timezone": tz, "days": days, "start": start, "end": end})
    }

    const WEEKDAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];

    fn ny() -> BusinessHours {
        policy(config("America/New_York", &WEEKDAYS, "09:00", "17:00")).unwrap()
    }

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn inside(p: &BusinessHours, at: &str) -> bool {
        p.place(ms(at)) == Some(Placement::Inside)
    }

    fn request(action: &str, at: &str, registered: bool, tier: Option<u8>) -> Request {
        Request {
            request_id: "r".into(),
            agent: Agent {
                id: "a".into(),
                registered,
                risk_tier: tier,
                owner: None,
            },
            action: action.into(),
            params: json!({}).into(),
            amount: None,
            currency: None,
            timestamp_ms: ms(at),
            session_id: None,
            user_id: None,
            ..Default::default()
        }
    }

    #[test]
    fn window_edges() {
        let p = ny();
        // 2026-11-23 is a Monday; New York is on EST (UTC-5).
        assert!(!inside(&p, "2026-11-23T13:59:59.999Z"));
        assert!(inside(&p, "2026-11-23T14:00:00Z"));
        assert!(inside(&p, "2026-11-23T21:59:59.999Z"));
        assert!(!inside(&p, "2026-11-23T22:00:00Z"));
        // Saturday noon.
        assert!(!inside(&p, "2026-11-28T17:00:00Z"));
    }

    #[test]
    fn spring_forward_moves_the_utc_window() {
        let p = ny();
        // 13:30 UTC: Fri 2026-03-06 is 08:30 EST (closed), Mon 2026-03-09 is 09:30 EDT (open).
        assert!(!inside(&p, "2026-03-06T13:30:00Z"));
        assert!(inside(&p, "2026-03-09T13:30:00Z"));
        // 21:30 UTC: Friday 16:30 EST open, Monday 17:30 EDT closed.
        assert!(inside(&p, "2026-03-06T21:30:00Z"));
        assert!(!inside(&p, "2026-03-09T21:30:00Z"));
    }

    #[test]
    fn fall_back_moves_the_utc_window() {
        let p = ny();
        // 13:30 UTC: Fri 2026-10-30 is 09:30 EDT (open), Mon 2026-11-02 is 08:30 EST (closed).
        assert!(inside(&p, "2026-10-30T13:30:00Z"));
        assert!(!inside(&p, "2026-11-02T13:30:00Z"));
    }

    #[test]
    fn window_across_the_transition_hour() {
        // Sunday 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        let p = policy(config("America/New_York", &["sun"], "02:30", "04:00")).unwrap();
        assert!(!inside(&p, "2026-03-08T06:59:59Z")); // 01:59:59 EST
        assert!(inside(&p, "2026-03-08T07:00:00Z")); // 03:00 EDT
        assert!(inside(&p, "2026-03-08T07:59:59Z")); // 03:59:59 EDT
        assert!(!inside(&p, "2026-03-08T08:00:00Z")); // 04:00 EDT
        // Sunday 2026-11-01: 01:00-02:00 happens twice.
        let p = policy(config("America/New_York", &["sun"], "01:30", "02:00")).unwrap();
        assert!(!inside(&p, "2026-11-01T05:29:00Z")); // 01:29 EDT
        assert!(inside(&p, "2026-11-01T05:30:00Z")); // 01:30 EDT
        assert!(!inside(&p, "2026-11-01T06:00:00Z")); // 01:00 EST
        assert!(inside(&p, "2026-11-01T06:30:00Z")); // 01:30 EST
        assert!(!inside(&p, "2026-11-01T07:00:00Z")); // 02:00 EST
    }

    #[test]
    fn other_zones() {
        // London: BST (UTC+1) from 2026-03-29.
        let p = policy(config("Europe/London", &WEEKDAYS, "09:00", "17:00")).unwrap();
        assert!(!inside(&p, "2026-03-30T07:30:00Z")); // 08:30 BST
        assert!(inside(&p, "2026-03-27T09:00:00Z")); // Fri 09:00 GMT
        // Tokyo: UTC+9, Monday 09:00 JST is Monday 00:00 UTC.
        let p = policy(config("Asia/Tokyo", &WEEKDAYS, "09:00", "17:00")).unwrap();
        assert!(inside(&p, "2026-11-23T00:00:00Z"));
        assert!(!inside(&p, "2026-11-22T23:59:59Z"));
        let p = policy(config("UTC", &WEEKDAYS, "09:00", "17:00")).unwrap();
        assert!(inside(&p, "2026-11-23T09:00:00Z"));
        assert_eq!(p.window(), "Mon–Fri 09:00–17:00 UTC");
    }

    #[test]
    fn end_of_day() {
        let p = policy(config("UTC", &["sat", "sun"], "00:00", "24:00")).unwrap();
        assert!(inside(&p, "2026-11-28T00:00:00Z"));
        assert!(inside(&p, "2026-11-29T23:59:59.999Z"));
        assert!(!inside(&p, "2026-11-30T00:00:00Z"));
        assert_eq!(p.window(), "Sat–Sun 00:00–24:00 UTC");
    }

    #[test]
    fn holidays_are_local_dates() {
        let mut c = config("America/New_York", &WEEKDAYS, "09:00", "17:00");
        c["holidays"] = json!(["2026-12-25"]);
        let p = policy(c).unwrap();
        let day = Date::new(2026, 12, 25).unwrap();
        assert_eq!(
            p.place(ms("2026-12-25T15:00:00Z")),
            Some(Placement::Holiday(day))
        );
        // 2026-12-26 02:00 UTC is still the 25th in New York.
        assert_eq!(
            p.place(ms("2026-12-26T02:00:00Z")),
            Some(Placement::Holiday(day))
        );
        assert!(inside(&p, "2026-12-24T15:00:00Z"));
    }

    #[test]
    fn describes_days() {
        let set = |on: &[usize]| {
            let mut d = [false; 7];
            for &i in on {
                d[i] = true;
            }
            describe_days(&d)
        };
        assert_eq!(set(&[0, 1, 2, 3, 4]), "Mon–Fri");
        assert_eq!(set(&[0, 2, 4]), "Mon, Wed, Fri");
        assert_eq!(set(&[0, 1, 2, 5, 6]), "Mon–Wed, Sat–Sun");
        assert_eq!(set(&[6]), "Sun");
        assert_eq!(set(&[0, 1, 2, 3, 4, 5, 6]), "Mon–Sun");
    }

    #[test]
    fn interest_is_the_actions() {
        assert_eq!(
            ny().interest(),
            Some(vec!["pay".to_owned(), "deploy_*".to_owned()])
        );
    }

    #[test]
    fn verdicts_and_messages() {
        let p = ny();
        let v = p.evaluate(&request("pay", "2026-11-28T17:00:00Z", true, Some(1)));
        let VerdictKind::Deny(r) = v.kind else {
            panic!("{v:?}")
        };
        assert_eq!(r.code, "outside-business-hours");
        assert!(
            r.message.contains("Mon–Fri 09:00–17:00 America/New_York"),
            "{}",
            r.message
        );
        assert!(r.message.contains("Sat 2026-11-28 12:00"), "{}", r.message);
        assert!(
            p.evaluate(&request(
                "send_email",
                "2026-11-28T17:00:00Z",
                true,
                Some(1)
            ))
            .is_approve()
        );
        assert!(
            !p.evaluate(&request(
                "deploy_api",
                "2026-11-28T17:00:00Z",
                true,
                Some(1)
            ))
            .is_approve()
        );
        assert!(
            p.evaluate(&request(
                "deploy_api",
                "2026-11-23T14:00:00Z",
                true,
                Some(1)
            ))
            .is_approve()
        );
    }

    #[test]
    fn min_risk_tier() {
        let mut c = config("America/New_York", &WEEKDAYS, "09:00", "17:00");
        c["min_risk_tier"] = json!(3);
        let p = policy(c).unwrap();
        let saturday = "2026-11-28T17:00:00Z";
        assert!(
            p.evaluate(&request("pay", saturday, true, Some(2)))
                .is_approve()
        );
        assert!(
            !p.evaluate(&request("pay", saturday, true, Some(3)))
                .is_approve()
        );
        assert!(
            !p.evaluate(&request("pay", saturday, true, Some(4)))
                .is_approve()
        );
        assert!(
            !p.evaluate(&request("pay", saturday, false, None))
                .is_approve()
        );
        assert!(
            !p.evaluate(&request("pay", saturday, true, None))
                .is_approve()
        );
    }

    #[test]
    fn day_names_any_case() {
        let p = policy(config("UTC", &["MON", "Tue", "wEd"], "09:00", "17:00")).unwrap();
        assert_eq!(p.window(), "Mon–Wed 09:00–17:00 UTC");
    }

    #[test]
    fn bad_configs_name_the_key() {
        let base = || config("America/New_York", &WEEKDAYS, "09:00", "17:00");
        let with = |key: &str, value: Value| {
            let mut c = base();
            c[key] = value;
            c
        };
        let cases = [
            (with("timezone", json!("Mars/Olympus")), "`timezone`"),
            (with("timezone", json!("")), "`timezone`"),
            (with("days", json!([])), "`days`"),
            (with("days", json!(["mon", "funday"])), "`days[1]`"),
            (with("days", json!(["monday"])), "`days[0]`"),
            (with("days", json!(["mon", "MON"])), "`days[1]`"),
            (with("start", json!("9:00")), "`start`"),
            (with("start", json!("24:00")), "`start`"),
            (with("start", json!("09:60")), "`start`"),
            (with("end", json!("25:00")), "`end`"),
            (with("end", json!("17:00:00")), "`end`"),
            (with("end", json!("09:00")), "`end`"),
            (with("end", json!("08:00")), "`end`"),
            (with("holidays", json!(["2026-02-30"])), "`holidays[0]`"),
            (
                with("holidays", json!(["2026-12-25", "12/25/2026"])),
                "`holidays[1]`",
            ),
            (with("holidays", json!(["2026-1-05"])), "`holidays[0]`"),
            (with("min_risk_tier", json!(0)), "`min_risk_tier`"),
            (with("min_risk_tier", json!(5)), "`min_risk_tier`"),
            (with("min_risk_tier", json!("high")), "`min_risk_tier`"),
            (with("actions", json!([])), "`actions`"),
            (with("actions", json!(["*x"])), "`actions[0]`"),
            (with("timezon", json!("UTC")), "`timezon`"),
        ];
        for (config, key) in cases {
            let e = policy(config.clone()).unwrap_err();
            assert!(e.0.contains(key), "{config}: {e}");
        }
    }
}
