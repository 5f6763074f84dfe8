//! `open_now`: OSM `opening_hours` evaluated at the business's local time.
//!
//! The time zone comes from the business's coordinates (tzf-rs polygons through the
//! opening-hours crate), so "Mo-Fr 09:00-17:00" in Helsinki means Helsinki time.

use chrono::{DateTime, Utc};
use opening_hours::localization::{Coordinates, TzLocation};
use opening_hours::{Context, OpeningHours};

/// A parsed schedule bound to a place.
#[derive(Clone)]
pub struct Schedule {
    hours: OpeningHours<TzLocation<chrono_tz::Tz>>,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schedule")
    }
}

/// Checks the syntax; the error message is for a 400 detail.
pub fn validate(text: &str) -> Result<(), String> {
    text.parse::<OpeningHours>()
        .map(|_| ())
        .map_err(|err| format!("opening_hours is not valid OSM syntax: {err}"))
}

impl Schedule {
    /// `None` when the text does not parse (imported data may hold free text).
    pub fn parse(text: &str, lat: f64, lon: f64) -> Option<Schedule> {
        let coords = Coordinates::new(lat, lon)?;
        let hours = text.parse::<OpeningHours>().ok()?;
        let context = Context::default().with_locale(TzLocation::from_coords(coords));
        Some(Schedule {
            hours: hours.with_context(context),
        })
    }

    /// Open at `now`. Unknown states (comments, unparsed) count as not open.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.hours.is_open(now.with_timezone(&chrono_tz::UTC))
    }
}

/// One-off evaluation for a business that is not in memory (the geohash path).
pub fn is_open_now(text: Option<&str>, lat: f64, lon: f64, now: DateTime<Utc>) -> bool {
    text.and_then(|t| Schedule::parse(t, lat, lon))
        .is_some_and(|s| s.is_open(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn evaluates_in_local_time() {
        // Helsinki is UTC+2 in winter: 07:30 UTC is 09:30 local.
        let schedule = Schedule::parse("Mo-Fr 09:00-17:00", 60.17, 24.94).unwrap();
        let monday_0730_utc = Utc.with_ymd_and_hms(2026, 11, 30, 7, 30, 0).unwrap();
        let monday_0630_utc = Utc.with_ymd_and_hms(2026, 11, 30, 6, 30, 0).unwrap();
        let sunday = Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap();
        assert!(schedule.is_open(monday_0730_utc));
        assert!(!schedule.is_open(monday_0630_utc));
        assert!(!schedule.is_open(sunday));
        assert!(Schedule::parse("24/7", 0.0, 0.0).unwrap().is_open(sunday));
        assert!(validate("Mo-Fr 09:00-17:00; Sa 10:00-14:00").is_ok());
        assert!(validate("whenever we feel like it").is_err());
    }
}
