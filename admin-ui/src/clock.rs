//! Dates and times as people in Germany read them: German time (CET/CEST), `24.11.2026`,
//! `24.11.2026, 10:00 Uhr`.
//!
//! The node stores UTC milliseconds ([`Timestamp`]); the browser's `datetime-local` inputs
//! carry a wall-clock time without zone. Both directions go through one rule, the EU's
//! summer time (from the last Sunday of March to the last Sunday of October, switching at
//! 01:00 UTC), so a handover slot typed as 10:00 is shown as 10:00 at both agencies.
//! No time zone database is needed for that one zone.

use lotse_protocol::Timestamp;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

/// The last Sunday of `month` in `year`.
fn last_sunday(year: i32, month: Month) -> Date {
    let next_month_first = match month {
        Month::December => Date::from_calendar_date(year + 1, Month::January, 1),
        m => Date::from_calendar_date(year, m.next(), 1),
    }
    .unwrap_or(Date::MIN);
    let mut d = next_month_first - Duration::days(1);
    while d.weekday() != Weekday::Sunday {
        d -= Duration::days(1);
    }
    d
}

/// German time's offset at the instant `utc`.
fn offset_at(utc: OffsetDateTime) -> UtcOffset {
    let year = utc.year();
    let one = Time::from_hms(1, 0, 0).unwrap_or(Time::MIDNIGHT);
    let start = PrimitiveDateTime::new(last_sunday(year, Month::March), one).assume_utc();
    let end = PrimitiveDateTime::new(last_sunday(year, Month::October), one).assume_utc();
    let hours = if utc >= start && utc < end { 2 } else { 1 };
    UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC)
}

fn to_utc(ts: Timestamp) -> OffsetDateTime {
    let nanos = i128::from(ts.millis()) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `ts` in German time.
pub(crate) fn local(ts: Timestamp) -> OffsetDateTime {
    let utc = to_utc(ts);
    utc.to_offset(offset_at(utc))
}

/// Today's date in Germany.
pub(crate) fn today(now: Timestamp) -> Date {
    local(now).date()
}

/// `24.11.2026`.
pub(crate) fn date(d: Date) -> String {
    format!("{:02}.{:02}.{}", d.day(), u8::from(d.month()), d.year())
}

/// `24.11.2026, 10:00 Uhr`.
pub(crate) fn date_time(ts: Timestamp) -> String {
    let t = local(ts);
    format!("{}, {:02}:{:02} Uhr", date(t.date()), t.hour(), t.minute())
}

/// `Mo, 24.11.2026, 10:00–11:00 Uhr` for a slot of `minutes`.
pub(crate) fn slot(starts_at: Timestamp, minutes: u16) -> String {
    let start = local(starts_at);
    let end = local(starts_at.plus_millis(u64::from(minutes) * 60_000));
    let day = match start.weekday() {
        Weekday::Monday => "Mo",
        Weekday::Tuesday => "Di",
        Weekday::Wednesday => "Mi",
        Weekday::Thursday => "Do",
        Weekday::Friday => "Fr",
        Weekday::Saturday => "Sa",
        Weekday::Sunday => "So",
    };
    format!(
        "{day}, {}, {:02}:{:02}–{:02}:{:02} Uhr",
        date(start.date()),
        start.hour(),
        start.minute(),
        end.hour(),
        end.minute()
    )
}

/// The ISO date `2026-11-24` (for `<input type="date">`).
pub(crate) fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses `2026-11-24` (what a date input sends) or `24.11.2026` (typed by hand where the
/// browser shows a text field).
pub(crate) fn parse_date(text: &str) -> Option<Date> {
    let text = text.trim();
    let (y, m, d) = if let Some((a, rest)) = text.split_once('-') {
        let (b, c) = rest.split_once('-')?;
        (a, b, c)
    } else {
        let mut it = text.split('.');
        let (d, m, y) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        (y, m, d)
    };
    let month = Month::try_from(m.trim().parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.trim().parse().ok()?, month, d.trim().parse().ok()?).ok()
}

/// Parses what a `datetime-local` input sends (`2026-11-24T10:00`, seconds optional) as
/// German wall-clock time.
pub(crate) fn parse_local_datetime(text: &str) -> Option<Timestamp> {
    let (d, t) = text.trim().split_once('T')?;
    let date = parse_date(d)?;
    let mut parts = t.split(':');
    let hour: u8 = parts.next()?.parse().ok()?;
    let minute: u8 = parts.next()?.parse().ok()?;
    let time = Time::from_hms(hour, minute, 0).ok()?;
    let wall = PrimitiveDateTime::new(date, time);
    // Try winter time first; if that instant lies in summer time, the wall clock meant
    // summer time. (The hour skipped or repeated at a switch resolves to one of the two.)
    let winter = wall.assume_offset(UtcOffset::from_hms(1, 0, 0).ok()?);
    let utc = wall.assume_offset(offset_at(winter));
    let millis = utc.unix_timestamp().checked_mul(1000)?;
    u64::try_from(millis).ok().map(Timestamp)
}

/// `ts` as a `datetime-local` value (`2026-11-24T10:00`).
#[cfg(test)]
pub(crate) fn to_local_input(ts: Timestamp) -> String {
    let t = local(ts);
    format!("{}T{:02}:{:02}", iso_date(t.date()), t.hour(), t.minute())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::date;

    #[test]
    fn winter_and_summer_time_round_trip() {
        // 24 Nov 2026 10:00 in Germany is 09:00 UTC (winter time).
        let ts = parse_local_datetime("2026-11-24T10:00").unwrap();
        assert_eq!(to_utc(ts).hour(), 9);
        assert_eq!(to_local_input(ts), "2026-11-24T10:00");
        assert_eq!(date_time(ts), "24.11.2026, 10:00 Uhr");
        // 1 July 2026 10:00 is 08:00 UTC (summer time).
        let ts = parse_local_datetime("2026-07-01T10:00").unwrap();
        assert_eq!(to_utc(ts).hour(), 8);
        assert_eq!(to_local_input(ts), "2026-07-01T10:00");
        assert_eq!(slot(ts, 90), "Mi, 01.07.2026, 10:00–11:30 Uhr");
    }

    #[test]
    fn switch_days_are_found() {
        assert_eq!(last_sunday(2026, Month::March), date!(2026 - 03 - 29));
        assert_eq!(last_sunday(2026, Month::October), date!(2026 - 10 - 25));
    }

    #[test]
    fn dates_parse_in_both_notations() {
        assert_eq!(parse_date("2026-11-24"), Some(date!(2026 - 11 - 24)));
        assert_eq!(parse_date("24.11.2026"), Some(date!(2026 - 11 - 24)));
        assert_eq!(parse_date("31.02.2026"), None);
        assert_eq!(parse_date("morgen"), None);
        assert_eq!(parse_local_datetime("2026-11-24"), None);
        assert_eq!(date(date!(2026 - 03 - 05)), "05.03.2026");
    }
}
