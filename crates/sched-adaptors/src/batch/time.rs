//! Time formats printed by batch systems.
//!
//! Adaptors run scheduler commands with `TZ=UTC`, so timestamps without a zone
//! are read as UTC.

use std::time::{Duration, SystemTime};

/// `YYYY-MM-DDTHH:MM:SS` (also with a space instead of `T`) as UTC.
/// `None` for anything else (`N/A`, `Unknown`, `None`, garbage).
pub fn parse_utc(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) { t.parse().ok() } else { None }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let field = |v: i64| u32::try_from(v).ok();
    hpc_core::time::utc(y, field(mo)?, field(d)?, field(h)?, field(mi)?, field(se)?)
}

/// `[D-]HH:MM:SS`, `MM:SS`, `MM:SS.mmm`, `[D-]HH:MM:SS.mmm`; `None` for
/// `UNLIMITED`, `INVALID`, `N/A`, `Partition_Limit`, garbage and anything
/// beyond [`hpc_core::duration::MAX`] (checked, never wrapped).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().ok()?, r),
        None => (0, s),
    };
    let (whole, frac) = match rest.split_once('.') {
        Some((w, f)) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) => {
            (w, f.parse::<u64>().ok()? * 10u64.pow(9 - f.len() as u32))
        }
        Some(_) => return None,
        None => (rest, 0),
    };
    let parts: Vec<&str> = whole.split(':').collect();
    if parts.iter().any(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) || p.len() > 9) {
        return None;
    }
    let n: Vec<u64> = parts.iter().map(|p| p.parse().unwrap_or(0)).collect();
    // Each part has at most 9 digits, so only the days can overflow.
    let secs = match n.as_slice() {
        [h, m, s] => h * 3600 + m * 60 + s,
        [m, s] if days == 0 => m * 60 + s,
        // `D-HH` and `D-HH:MM` appear in Slurm time limits.
        [h] if days > 0 => h * 3600,
        [h, m] => h * 3600 + m * 60,
        [m] => m * 60,
        _ => return None,
    };
    let whole = hpc_core::duration::from_secs(days.checked_mul(86_400)?.checked_add(secs)?)?;
    whole.checked_add(Duration::from_nanos(frac)).filter(|d| *d <= hpc_core::duration::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn timestamps() {
        let t = parse_utc("2026-11-27T13:22:18").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1_795_785_738);
        assert_eq!(parse_utc("1970-01-01 00:00:00"), Some(UNIX_EPOCH));
        for bad in [
            "N/A",
            "Unknown",
            "None",
            "",
            "2026-13-01T00:00:00",
            "2026-11-27T13:22",
            "２０２6-11-27T13:22:18",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        let d = |s| parse_duration(s).map(|d| d.as_secs_f64());
        assert_eq!(d("0:00"), Some(0.0));
        assert_eq!(d("1:02"), Some(62.0));
        assert_eq!(d("01:02:03"), Some(3723.0));
        assert_eq!(d("365-00:00:00"), Some(365.0 * 86400.0));
        assert_eq!(d("2-03"), Some(2.0 * 86400.0 + 3.0 * 3600.0));
        assert_eq!(d("00:00.012"), Some(0.012));
        assert_eq!(d("36600-00:00:00"), Some(36600.0 * 86400.0));
        for bad in [
            "UNLIMITED",
            "INVALID",
            "N/A",
            "",
            ":",
            "1:-2",
            "a-1:00",
            "36601-00:00:00",
            "213503982334601-00:00:00",
            "18446744073709551615-23:59:59",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panic(s in ".{0,40}") {
            let _ = parse_utc(&s);
            let _ = parse_duration(&s);
        }

        #[test]
        fn durations_stay_bounded(d in proptest::num::u64::ANY, h in 0u64..1_000_000_000, f in "[0-9]{0,9}") {
            for s in [format!("{d}-{h}:59:59"), format!("{d}-{h}"), format!("{d}-{h}:00:00.{f}")] {
                if let Some(t) = parse_duration(&s) {
                    proptest::prop_assert!(t <= hpc_core::duration::MAX, "{s}");
                }
            }
        }
    }
}
