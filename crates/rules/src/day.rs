//! A branch's local day (SPEC §3: the branch's IANA `timezone` decides what "a day" is
//! in reports): the UTC instants a calendar date of a time zone spans.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::Rejection;

/// Longest time zone name accepted, in bytes (the longest IANA name is 32).
pub const TIMEZONE_MAX_BYTES: usize = 64;

/// The time zone named `value` (an IANA name such as `Asia/Phnom_Penh`), or a
/// `VALIDATION_FAILED` naming `field`.
pub fn timezone(field: &str, value: &str) -> Result<Tz, Rejection> {
    if value.len() > TIMEZONE_MAX_BYTES {
        return Err(Rejection::validation(field, "is not a time zone name (too long)"));
    }
    value.parse::<Tz>().map_err(|_| {
        Rejection::validation(field, format!("{value:?} is not an IANA time zone name (e.g. Asia/Phnom_Penh)"))
    })
}

/// A calendar date written `YYYY-MM-DD`, or a `VALIDATION_FAILED` naming `field`.
pub fn date(field: &str, value: &str) -> Result<NaiveDate, Rejection> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|_| value.len() == 10)
        .ok_or_else(|| Rejection::validation(field, "must be a date written YYYY-MM-DD"))
}

/// The half-open span `[start, end)` of UTC instants that fall on `date` in `tz`.
///
/// A day is usually 24 hours; across a daylight-saving change it is 23 or 25. Where
/// local midnight does not exist (a zone that springs forward at midnight), the day
/// starts at the first local instant after the gap.
pub fn bounds(tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = start_of(tz, date);
    let end = match date.succ_opt() {
        Some(next) => start_of(tz, next),
        None => DateTime::<Utc>::MAX_UTC,
    };
    debug_assert!(start < end, "a local day spans a positive time");
    (start, end)
}

/// The local date of `at` in `tz`.
pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// The first instant of `date` in `tz`.
fn start_of(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    // A gap is at most a few hours; look minute by minute past midnight, bounded.
    const GAP_MINUTES_MAX: i64 = 24 * 60;
    let midnight = date.and_time(NaiveTime::MIN);
    for minute in 0..GAP_MINUTES_MAX {
        let local = midnight + Duration::minutes(minute);
        if let Some(at) = tz.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
    }
    // Unreachable for real zones: no gap lasts a day. Fall back to midnight UTC.
    Utc.from_utc_datetime(&midnight)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn phnom_penh_day_is_utc_plus_seven() {
        let tz = timezone("timezone", "Asia/Phnom_Penh").unwrap();
        let (start, end) = bounds(tz, date("date", "2026-12-06").unwrap());
        assert_eq!(start, utc("2026-12-05T17:00:00Z"));
        assert_eq!(end, utc("2026-12-06T17:00:00Z"));
        // 23:30 in Phnom Penh is on that day, though it is 16:30 UTC.
        let late = utc("2026-12-06T16:30:00Z");
        assert_eq!(local_date(tz, late), date("d", "2026-12-06").unwrap());
        assert!(start <= late && late < end);
    }

    #[test]
    fn daylight_saving_days_are_23_and_25_hours() {
        let tz = timezone("timezone", "Europe/Berlin").unwrap();
        let (s, e) = bounds(tz, date("d", "2026-03-29").unwrap());
        assert_eq!(e - s, Duration::hours(23));
        let (s, e) = bounds(tz, date("d", "2026-10-25").unwrap());
        assert_eq!(e - s, Duration::hours(25));
    }

    #[test]
    fn a_day_without_midnight_starts_after_the_gap() {
        // America/Santiago springs forward at 24:00 on the first Saturday of September.
        let tz = timezone("timezone", "America/Santiago").unwrap();
        let (s, e) = bounds(tz, date("d", "2026-09-06").unwrap());
        assert_eq!(s.with_timezone(&tz).date_naive(), date("d", "2026-09-06").unwrap());
        assert!(e > s);
    }

    #[test]
    fn bad_names_and_dates_are_refused_naming_the_field() {
        assert_eq!(timezone("timezone", "Mars/Olympus").unwrap_err().field.as_deref(), Some("timezone"));
        assert!(timezone("timezone", &"A".repeat(500)).is_err());
        for bad in ["2026-13-01", "2026-02-30", "06-12-2026", "2026-1-5", "", "2026-12-06T00:00:00Z"] {
            assert_eq!(date("date", bad).unwrap_err().field.as_deref(), Some("date"), "{bad}");
        }
    }
}
