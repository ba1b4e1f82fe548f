//! Local time in an IANA zone, resolved one way for the whole workspace.
//!
//! A local time that does not exist (skipped by a DST change) moves forward to the first
//! instant that exists after it; a local time that exists twice (repeated by a DST change)
//! is the earlier instant. Rate-book versions, the ledger's days and cycles and the API's
//! statements all resolve through [`resolve_local`], so they never disagree on which instant
//! a local day starts.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Minutes stepped through a DST gap before giving up: a gap lasts at most a few hours, and
/// no zone has skipped more than a day.
const MAX_GAP_MINUTES: u32 = 24 * 60 + 60;

/// The instant `local` denotes in `zone`: the earlier one when it is ambiguous, the first
/// instant that exists after it when it falls in a gap. `None` only out of chrono's range.
pub fn resolve_local(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(instant) = zone.from_local_datetime(&local).earliest() {
        return Some(instant.with_timezone(&Utc));
    }
    // In a gap: gaps begin and end on whole minutes, so the first whole minute that exists
    // is the first instant that exists.
    let mut probe = local.with_second(0)?.with_nanosecond(0)?;
    for _ in 0..MAX_GAP_MINUTES {
        probe = probe.checked_add_signed(TimeDelta::minutes(1))?;
        if let Some(instant) = zone.from_local_datetime(&probe).earliest() {
            return Some(instant.with_timezone(&Utc));
        }
    }
    None
}

/// The first instant of `date` in `zone`: local midnight, or when midnight does not exist
/// (DST starting at midnight, as in `America/Santiago`), the first instant of the day that
/// does; when midnight exists twice, the earlier.
pub fn local_start_of_day(date: NaiveDate, zone: Tz) -> Option<DateTime<Utc>> {
    resolve_local(zone, date.and_time(NaiveTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap_or_default()
    }

    fn instant(text: &str) -> Option<DateTime<Utc>> {
        text.parse().ok()
    }

    #[test]
    fn a_day_without_midnight_starts_when_the_clock_resumes() {
        // Chile: 2026-09-06 00:00 (UTC-4) jumps to 01:00 (UTC-3).
        let zone: Tz = "America/Santiago".parse().unwrap_or(Tz::UTC);
        assert_eq!(
            local_start_of_day(date("2026-09-06"), zone),
            instant("2026-09-06T04:00:00Z")
        );
        // The day before is ordinary.
        assert_eq!(
            local_start_of_day(date("2026-09-05"), zone),
            instant("2026-09-05T04:00:00Z")
        );
    }

    #[test]
    fn a_day_whose_midnight_repeats_starts_at_the_earlier() {
        // Cuba: 2026-11-01 01:00 (UTC-4) falls back to 00:00 (UTC-5), so midnight
        // happens twice: at 04:00Z and at 05:00Z.
        let havana: Tz = "America/Havana".parse().unwrap_or(Tz::UTC);
        assert_eq!(
            local_start_of_day(date("2026-11-01"), havana),
            instant("2026-11-01T04:00:00Z")
        );
    }

    #[test]
    fn a_gap_in_the_day_moves_forward_to_the_first_valid_minute() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap_or(Tz::UTC);
        let local = date("2026-03-29").and_hms_opt(2, 30, 0).unwrap_or_default();
        assert_eq!(
            resolve_local(berlin, local),
            instant("2026-03-29T01:00:00Z")
        );
        let ordinary = date("2026-03-30").and_hms_opt(2, 30, 0).unwrap_or_default();
        assert_eq!(
            resolve_local(berlin, ordinary),
            instant("2026-03-30T00:30:00Z")
        );
    }
}
