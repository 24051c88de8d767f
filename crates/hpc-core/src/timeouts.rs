//! The time limits of network adaptors: one type and one set of location
//! options (`connect_timeout`, `idle_timeout`, `timeout`) for every
//! protocol that talks to a server over its own connections.

use std::time::Duration;

/// Time limits of a network adaptor: one type, read from the same location
/// options, for ftp, webdav, s3 and uftp.
///
/// * `connect_timeout=<s>`: opening a TCP connection (FTP: control and data
///   connections), default 30.
/// * `idle_timeout=<s>`: the longest wait for any progress (a reply, the
///   next bytes of an answer or a transfer), default 60.
/// * `timeout=<s>`: the whole of one metadata request (a listing of one
///   directory, a stat, a mkdir, a delete, ...), retries included, default
///   300. Data transfers have no total limit, only the idle one, so a large
///   file can take as long as it needs while it moves.
///
/// A limit that passes is [`crate::Error::Timeout`] (exit code 124).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetTimeouts {
    /// Opening a connection.
    pub connect: Duration,
    /// Waiting for progress.
    pub idle: Duration,
    /// The whole of a metadata request.
    pub metadata: Duration,
}

impl Default for NetTimeouts {
    fn default() -> Self {
        NetTimeouts {
            connect: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            metadata: Duration::from_secs(300),
        }
    }
}

/// The longest time limit a location may ask for (a week).
const MAX_LIMIT_SECS: f64 = 7.0 * 86_400.0;

impl NetTimeouts {
    /// The location options these limits are read from.
    pub const OPTIONS: [&'static str; 3] = ["connect_timeout", "idle_timeout", "timeout"];

    /// Take the option `key=value` if it is one of [`Self::OPTIONS`]:
    /// `Ok(true)` when it was, `Ok(false)` when the key is another option,
    /// `Err(reason)` for a value that is not a number of seconds from 0.001
    /// to a week.
    pub fn set(&mut self, key: &str, value: &str) -> std::result::Result<bool, String> {
        let slot = match key {
            "connect_timeout" => &mut self.connect,
            "idle_timeout" => &mut self.idle,
            "timeout" => &mut self.metadata,
            _ => return Ok(false),
        };
        let secs: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && (0.001..=MAX_LIMIT_SECS).contains(s))
            .ok_or_else(|| format!("{key}={value} is not a number of seconds (0.001 to 604800)"))?;
        *slot = Duration::from_secs_f64(secs);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn time_limits_from_options() {
        let mut t = NetTimeouts::default();
        assert_eq!(t.set("idle_timeout", "1.5"), Ok(true));
        assert_eq!(t.idle, Duration::from_millis(1500));
        assert_eq!(t.set("pool", "3"), Ok(false));
        for bad in ["0", "0.0001", "-1", "inf", "NaN", "1e308", "18446744073709551616", "", "5s"] {
            assert!(t.set("timeout", bad).is_err(), "{bad}");
        }
        assert_eq!(t.metadata, NetTimeouts::default().metadata, "a refused value changes nothing");
    }

    proptest! {
        /// Whatever the text, a time option is refused or becomes a limit
        /// from a millisecond to a week: never a panic, never 0, never huge.
        #[test]
        fn any_time_option_text_is_a_bounded_limit_or_an_error(
            key in prop::sample::select(NetTimeouts::OPTIONS.to_vec()),
            value in prop_oneof![
                any::<f64>().prop_map(|f| f.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                "[0-9eE.+-]{0,24}",
                ".{0,12}",
            ],
        ) {
            let mut t = NetTimeouts::default();
            if t.set(key, &value).is_ok() {
                for d in [t.connect, t.idle, t.metadata] {
                    prop_assert!(d >= Duration::from_millis(1) && d <= Duration::from_secs(604_800), "{value}: {d:?}");
                }
            }
        }
    }
}
