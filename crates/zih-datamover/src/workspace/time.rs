//! The times the workspace tools print: `ctime` text in the local time of the
//! host that printed it, without a zone.

use std::fmt;
use std::time::SystemTime;

use serde::{Serialize, Serializer};

/// A wall-clock time as the workspace tools print it (`Wed Aug 10 13:16:25
/// 2022`): local time of the login node, zone not stated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WsTime {
    /// Year.
    pub year: i64,
    /// Month, 1-12.
    pub month: u32,
    /// Day of the month, 1-31.
    pub day: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
    /// Second, 0-60.
    pub second: u32,
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

impl WsTime {
    /// Parses `ctime`/`%c` text of the C locale: `Thu Aug  1 13:16:25 2022`
    /// (the weekday is not checked).
    pub fn parse_ctime(text: &str) -> Option<WsTime> {
        let w: Vec<&str> = text.split_whitespace().collect();
        let [_, mon, day, hms, year] = w.as_slice() else { return None };
        let month = MONTHS.iter().position(|m| m == mon)? as u32 + 1;
        let mut t = hms.split(':');
        let t = WsTime {
            year: year.parse().ok()?,
            month,
            day: day.parse().ok()?,
            hour: t.next()?.parse().ok()?,
            minute: t.next()?.parse().ok()?,
            second: t.next()?.parse().ok()?,
        };
        t.as_utc().map(|_| t)
    }

    /// The instant, reading the wall-clock time as UTC (right where the login
    /// node runs in UTC; off by its offset elsewhere).
    pub fn as_utc(&self) -> Option<SystemTime> {
        hpc_core::time::utc(self.year, self.month, self.day, self.hour, self.minute, self.second)
    }
}

impl fmt::Display for WsTime {
    /// `2022-08-10 13:16:25`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl Serialize for WsTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_with_padded_day() {
        let t = WsTime::parse_ctime("Thu Aug  1 13:16:25 2022").unwrap();
        assert_eq!(t.to_string(), "2022-08-01 13:16:25");
        assert_eq!(serde_json_like(&t), "2022-08-01T13:16:25");
        assert!(WsTime::parse_ctime("Thu Foo  1 13:16:25 2022").is_none());
        assert!(WsTime::parse_ctime("Thu Aug 1 25:16:25 2022").is_none());
    }

    fn serde_json_like(t: &WsTime) -> String {
        serde_json::to_value(t).unwrap().as_str().unwrap().to_owned()
    }
}
