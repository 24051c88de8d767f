//! Durations read from input (URL parameters, command-line flags, files):
//! every one goes through here, so none can overflow a conversion or a
//! deadline further on.
//!
//! A duration from input is positive and at most [`MAX`]; adding one to
//! `Instant::now()` never overflows. Deadlines built from a caller's
//! `Duration` (which may be anything) use `checked_add`, where `None` means
//! "no deadline".

use std::time::Duration;

/// The longest duration accepted from input: 100 years (366-day years).
pub const MAX: Duration = Duration::from_secs(100 * 366 * 86_400);

const GRAMMAR: &str = "90, 90s, 15m, 2h, 1d, [D-]HH:MM:SS";

/// A whole number of seconds, `None` above [`MAX`].
pub fn from_secs(secs: u64) -> Option<Duration> {
    let d = Duration::from_secs(secs);
    (d <= MAX).then_some(d)
}

/// (Fractional) seconds as a duration: `None` for NaN, infinities,
/// negatives and anything above [`MAX`].
pub fn from_secs_f64(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs).ok().filter(|d| *d <= MAX)
}

/// A positive number of (fractional) seconds as a URL parameter gives it
/// (`30`, `0.5`, `1e3`), at most [`MAX`].
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.trim().parse::<f64>().ok().and_then(from_secs_f64).filter(|d| !d.is_zero()).ok_or_else(
        || format!("{:?} is not a number of seconds (positive, at most {})", cap(text), MAX_TEXT),
    )
}

const MAX_TEXT: &str = "100 years";

/// A positive duration as people write one on a command line: seconds
/// (`90`), a number with a unit (`90s`, `15m`, `2h`, `1d`), or
/// `[D-]HH:MM:SS` / `MM:SS` / `D-HH`; at most [`MAX`].
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("{:?} is not a duration ({GRAMMAR})", cap(text));
    let too_long = || format!("{:?} is longer than {MAX_TEXT}", cap(text));
    // Digits only: `u64::from_str` would also take a leading `+`.
    let num = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<u64>().map_err(|_| too_long())
    };
    let scaled = |n: &str, unit: u64| num(n)?.checked_mul(unit).ok_or_else(too_long);
    let t = text.trim();
    let secs = if let Some(n) = t.strip_suffix('s') {
        num(n)?
    } else if let Some(n) = t.strip_suffix('m') {
        scaled(n, 60)?
    } else if let Some(n) = t.strip_suffix('h') {
        scaled(n, 3600)?
    } else if let Some(n) = t.strip_suffix('d') {
        scaled(n, 86_400)?
    } else if t.contains(':') || t.contains('-') {
        let (days, clock) = match t.split_once('-') {
            Some((d, c)) => (num(d)?, c),
            None => (0, t),
        };
        let parts: Vec<u64> = clock.split(':').map(num).collect::<Result<_, _>>()?;
        let sum = |terms: &[(u64, u64)]| {
            terms.iter().try_fold(0u64, |acc, &(n, unit)| acc.checked_add(n.checked_mul(unit)?))
        };
        let clock = match parts[..] {
            [h, m, s] => sum(&[(h, 3600), (m, 60), (s, 1)]),
            [m, s] => sum(&[(m, 60), (s, 1)]),
            [h] if days > 0 => sum(&[(h, 3600)]),
            _ => return Err(bad()),
        };
        clock.and_then(|c| days.checked_mul(86_400)?.checked_add(c)).ok_or_else(too_long)?
    } else {
        num(t)?
    };
    if secs == 0 {
        return Err(format!("{:?}: the duration must be positive", cap(text)));
    }
    from_secs(secs).ok_or_else(too_long)
}

/// What a message quotes of the input: enough to recognise it.
fn cap(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn command_line_durations() {
        for (text, secs) in [
            ("90", 90),
            ("90s", 90),
            ("15m", 900),
            ("2h", 7200),
            ("1d", 86400),
            ("1:30", 90),
            ("01:00:00", 3600),
            ("1-02:00:00", 93600),
            ("2-3", 2 * 86400 + 3 * 3600),
            ("36600d", MAX.as_secs()),
        ] {
            assert_eq!(parse(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        for bad in ["", "x", "0", "1:2:3:4", "-5", "5w", "+5", "1e3", "1.5h"] {
            assert!(parse(bad).unwrap_err().contains("not a duration") || bad == "0", "{bad}");
        }
        for huge in [
            "213503982334601d",
            "18446744073709551615",
            "18446744073709551616",
            "307445734561825861m",
            "36601d",
            "5124095576030431h",
            "99999999999999-00:00:00",
            "1-99999999999999999:00:00",
        ] {
            assert!(parse(huge).unwrap_err().contains("longer than 100 years"), "{huge}");
        }
    }

    #[test]
    fn seconds_from_urls() {
        assert_eq!(parse_seconds("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("1e3"), Ok(Duration::from_secs(1000)));
        for bad in ["inf", "NaN", "-1", "0", "1e308", "1e20", "18446744073709551616", "x", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Any text: an error or a duration within bounds that a deadline
        /// can be built from.
        #[test]
        fn any_text_is_bounded(s in "\\PC{0,30}|[0-9:.e+-]{0,30}[smhd]?") {
            for d in [parse(&s).ok(), parse_seconds(&s).ok()].into_iter().flatten() {
                proptest::prop_assert!(!d.is_zero() && d <= MAX);
                proptest::prop_assert!(Instant::now().checked_add(d).is_some());
            }
        }

        #[test]
        fn any_number_is_bounded(n in proptest::num::u64::ANY, unit in "[smhd]?", f in proptest::num::f64::ANY) {
            let _ = parse(&format!("{n}{unit}"));
            let _ = parse(&format!("{n}-{n}:{n}:{n}"));
            let _ = parse_seconds(&f.to_string());
            proptest::prop_assert!(from_secs_f64(f).is_none_or(|d| d <= MAX));
        }
    }
}
