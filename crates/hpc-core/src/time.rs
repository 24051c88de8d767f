//! UTC calendar arithmetic without a date library: what the adaptors need to
//! read the timestamps servers and schedulers print, and what the CLI needs
//! to show one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// A UTC date and time as a `SystemTime`; `None` when a field is out of
/// range or the moment is before 1970.
pub fn utc(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<SystemTime> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Four-digit years only: the day count of a year from a hostile server's
    // digits would overflow.
    if !(0..=9999).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    // A day the month lacks (February 31) would slide into the next month.
    if civil_from_days(days) != (y, mo, d) {
        return None;
    }
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + s);
    u64::try_from(secs).ok().map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// `YYYY-MM-DD HH:MM` in UTC, for tables people read (`-` before 1970).
pub fn format_utc_minutes(t: SystemTime) -> String {
    let Ok(since) = t.duration_since(UNIX_EPOCH) else { return "-".into() };
    let secs = since.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rest = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rest / 3600, rest % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 59, 60, 10_000, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn utc_and_its_format() {
        let t = utc(1994, 11, 6, 8, 49, 37).unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 784_111_777);
        assert_eq!(format_utc_minutes(t), "1994-11-06 08:49");
        assert_eq!(format_utc_minutes(utc(2024, 2, 29, 23, 59, 59).unwrap()), "2024-02-29 23:59");
        assert!(utc(1969, 12, 31, 0, 0, 0).is_none());
        assert!(utc(2026, 13, 1, 0, 0, 0).is_none());
        assert_eq!(format_utc_minutes(UNIX_EPOCH - Duration::from_secs(1)), "-");
    }

    /// Found by the fuzz targets (an FTP listing's year column, UFTP's MDTM):
    /// a huge year overflowed the day count; February 31 became March 3.
    #[test]
    fn utc_refuses_what_no_calendar_has() {
        assert!(utc(99_999_999_999_999, 1, 1, 0, 0, 0).is_none());
        assert!(utc(i64::MAX, 12, 31, 23, 59, 59).is_none());
        assert!(utc(10_000, 1, 1, 0, 0, 0).is_none());
        assert!(utc(2024, 2, 31, 0, 0, 0).is_none());
        assert!(utc(2023, 2, 29, 0, 0, 0).is_none());
        assert!(utc(2024, 4, 31, 0, 0, 0).is_none());
        assert!(utc(2024, 2, 29, 0, 0, 0).is_some());
        assert!(utc(9999, 12, 31, 23, 59, 60).is_some());
    }
}
