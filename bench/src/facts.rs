//! What a harness computes for peers that cannot compute it themselves.
//!
//! Some peers (general policy engines without time zone rules or a PII
//! scanner) cannot judge the `business-hours` and `pii-egress` policies
//! from the raw request. The harness hands them these facts, computed the
//! way the shipped policies compute them:
//!
//! - the local wall-clock time and weekday in `America/New_York`, with its
//!   daylight-saving rules (the `jiff` crate with the same compiled-in time
//!   zone database as the `business-hours` policy);
//! - the PII kinds in `params`, found by the `pii-egress` policy's own
//!   scanner with the shipped `allow_email_domains`.
//!
//! A peer that takes facts is then judged on its rule evaluation alone;
//! the time spent here is the harness's, and should be reported apart.

use crate::pii::{Kind, KindSet, Scanner};
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// The shipped business-hours zone.
pub const SHIPPED_TIMEZONE: &str = "America/New_York";

/// The shipped pii-egress `allow_email_domains`.
pub const SHIPPED_ALLOW_EMAIL_DOMAINS: [&str; 1] = ["example-corp.com"];

/// The facts about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Minutes since local midnight in America/New_York (0..1440).
    pub local_minutes: u32,
    /// The local weekday: `mon` .. `sun`.
    pub weekday: &'static str,
    /// The kinds (`email`, `phone`, `ssn`, `credit_card`, `iban`,
    /// `ip_address`, `secret`) the pii-egress scanner finds in the string
    /// values of `params` (at any depth; object keys are not scanned, as
    /// the policy does not scan them), emails outside the allowed domains
    /// only. In the order the policy lists kinds; empty when clean.
    pub pii_kinds: Vec<String>,
}

/// A local wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// The local date.
    pub date: Date,
    /// Seconds since local midnight (0..86400).
    pub seconds: u32,
    /// The local weekday.
    pub weekday: Weekday,
}

/// Where the UTC instant `timestamp_ms` falls on the wall clock of `tz`;
/// `None` beyond the calendar's range (never for a validated request,
/// whose year is 0000..9999).
pub fn local_time(timestamp_ms: i64, tz: &TimeZone) -> Option<LocalTime> {
    let ts = Timestamp::from_millisecond(timestamp_ms).ok()?;
    let offset = tz.to_offset(ts);
    let dt = offset.to_datetime(ts);
    let seconds = u32::try_from(
        i32::from(dt.hour()) * 3600 + i32::from(dt.minute()) * 60 + i32::from(dt.second()),
    )
    .ok()?;
    Some(LocalTime {
        date: dt.date(),
        seconds,
        weekday: dt.weekday(),
    })
}

/// `mon` .. `sun`.
pub fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "mon",
        Weekday::Tuesday => "tue",
        Weekday::Wednesday => "wed",
        Weekday::Thursday => "thu",
        Weekday::Friday => "fri",
        Weekday::Saturday => "sat",
        Weekday::Sunday => "sun",
    }
}

/// Every string value anywhere in `params` (nested objects and arrays
/// included), in document order: what the pii-egress policy scans.
pub fn param_strings(params: &Map<String, Value>) -> ParamStrings<'_> {
    ParamStrings {
        stack: params.values().rev().collect(),
    }
}

/// The iterator of [`param_strings`]. An explicit stack rather than
/// recursion, as in the SDK.
#[derive(Debug)]
pub struct ParamStrings<'a> {
    stack: Vec<&'a Value>,
}

impl<'a> Iterator for ParamStrings<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        while let Some(value) = self.stack.pop() {
            match value {
                Value::String(s) => return Some(s),
                Value::Array(items) => self.stack.extend(items.iter().rev()),
                Value::Object(map) => self.stack.extend(map.values().rev()),
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        None
    }
}

/// Computes [`Facts`] for one zone and one scanner configuration.
#[derive(Debug, Clone)]
pub struct FactFinder {
    tz: TimeZone,
    scanner: Scanner,
}

impl FactFinder {
    /// For the zone named `timezone` (IANA), scanning every kind, with
    /// emails at `allow_email_domains` (and their subdomains) not counted.
    pub fn new(timezone: &str, allow_email_domains: &[&str]) -> Result<Self, crate::Error> {
        let tz = TimeZone::get(timezone)
            .map_err(|e| format!("time zone `{timezone}` is unknown: {e}"))?;
        let scanner = Scanner::new(
            KindSet::ALL,
            allow_email_domains
                .iter()
                .map(|d| (*d).to_owned())
                .collect(),
        );
        Ok(FactFinder { tz, scanner })
    }

    /// The shipped configuration: America/New_York, `example-corp.com`.
    pub fn shipped() -> Result<Self, crate::Error> {
        Self::new(SHIPPED_TIMEZONE, &SHIPPED_ALLOW_EMAIL_DOMAINS)
    }

    /// The facts about `request`.
    pub fn facts(&self, request: &gavel::Request) -> Facts {
        let (local_minutes, weekday) = match local_time(request.timestamp_ms, &self.tz) {
            Some(t) => (t.seconds / 60, weekday_name(t.weekday)),
            // Unreachable for a validated request; see `local_time`.
            None => (0, "mon"),
        };
        Facts {
            local_minutes,
            weekday,
            pii_kinds: self
                .pii_kinds(&request.params)
                .iter()
                .map(|k| k.name().to_owned())
                .collect(),
        }
    }

    /// The kinds found in the string values of `params`.
    pub fn pii_kinds(&self, params: &Map<String, Value>) -> KindSet {
        let mut all = KindSet::EMPTY;
        for text in param_strings(params) {
            for kind in self.scanner.scan(text).iter() {
                all.insert(kind);
            }
            if all.contains_all(KindSet::ALL) {
                break;
            }
        }
        all
    }
}

/// The facts about `request`, for the shipped configuration.
pub fn facts(request: &gavel::Request) -> Facts {
    static SHIPPED: OnceLock<FactFinder> = OnceLock::new();
    SHIPPED
        .get_or_init(|| {
            #[expect(
                clippy::expect_used,
                reason = "the time zone database is compiled in and has America/New_York"
            )]
            FactFinder::shipped().expect("the bundled tz database has America/New_York")
        })
        .facts(request)
}

/// Every kind's name, in the order the policy lists kinds.
pub fn kind_names() -> [&'static str; 7] {
    Kind::ALL.map(Kind::name)
}
