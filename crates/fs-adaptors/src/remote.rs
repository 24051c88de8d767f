//! Helpers shared by the network adaptors (ftp, webdav, s3): their time
//! limits ([`NetTimeouts`], from hpc-core, which uftp reads too), timestamps as servers write them (without a date
//! library), range slicing, and a streamed directory walk over one-directory
//! listings.

use std::time::{Duration, SystemTime};

use std::collections::VecDeque;

use futures::StreamExt;
use futures::stream::BoxStream;
use hpc_core::time::utc;
use hpc_core::{ByteRange, ByteStream, Path, PathAttributes, Result};

pub use hpc_core::NetTimeouts;

/// The entries below `root`, breadth first, one `list_one(dir)` stream per
/// directory and only when the consumer gets that far (the listing is
/// streamed, never collected). Without `recursive`, only `root`'s entries.
#[cfg_attr(not(any(feature = "ftp", feature = "webdav")), allow(dead_code))]
pub(crate) fn walk<'a, F>(
    root: Path,
    recursive: bool,
    list_one: F,
) -> BoxStream<'a, Result<PathAttributes>>
where
    F: Fn(Path) -> BoxStream<'a, Result<PathAttributes>> + Send + 'a,
{
    struct State<'a, F> {
        dirs: VecDeque<Path>,
        current: Option<BoxStream<'a, Result<PathAttributes>>>,
        list_one: F,
    }
    let start = State { dirs: VecDeque::from([root]), current: None, list_one };
    futures::stream::unfold(start, move |mut st| async move {
        loop {
            if let Some(current) = st.current.as_mut() {
                match current.next().await {
                    Some(item) => {
                        if recursive
                            && let Ok(a) = &item
                            && a.is_directory()
                        {
                            st.dirs.push_back(a.path.clone());
                        }
                        return Some((item, st));
                    }
                    // Done with this directory: its connection goes back first.
                    None => st.current = None,
                }
            }
            let dir = st.dirs.pop_front()?;
            st.current = Some((st.list_one)(dir));
        }
    })
    .boxed()
}

/// A one-directory listing that arrives whole (one answer), as a stream.
#[cfg(feature = "webdav")]
pub(crate) fn listed<'a>(
    listing: impl std::future::Future<Output = Result<Vec<Result<PathAttributes>>>> + Send + 'a,
) -> BoxStream<'a, Result<PathAttributes>> {
    futures::stream::once(listing)
        .flat_map(|r| futures::stream::iter(r.unwrap_or_else(|e| vec![Err(e)])))
        .boxed()
}

/// The part `range` of a stream that starts at byte 0 (for servers that
/// ignore a range request and send the whole file).
#[cfg_attr(not(any(feature = "webdav", feature = "s3")), allow(dead_code))]
pub(crate) fn slice(data: ByteStream, range: ByteRange) -> ByteStream {
    let state = (data, range.offset, range.len.unwrap_or(u64::MAX));
    futures::stream::unfold(state, |(mut data, mut skip, mut left)| async move {
        loop {
            if left == 0 {
                return None;
            }
            let mut chunk = match data.next().await? {
                Ok(c) => c,
                Err(e) => return Some((Err(e), (data, skip, 0))),
            };
            let n = chunk.len() as u64;
            if skip >= n {
                skip -= n;
                continue;
            }
            let rest = chunk.split_off(skip as usize);
            skip = 0;
            let take = (rest.len() as u64).min(left) as usize;
            left -= take as u64;
            return Some((Ok(rest.slice(..take)), (data, skip, left)));
        }
    })
    .boxed()
}

/// Month number of an English three-letter abbreviation.
pub(crate) fn month(name: &str) -> Option<u32> {
    const NAMES: [&str; 12] =
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let lower = name.to_ascii_lowercase();
    NAMES.iter().position(|n| *n == lower).map(|i| i as u32 + 1)
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 1123, the only form servers send today).
#[cfg_attr(not(any(feature = "webdav", feature = "s3")), allow(dead_code))]
pub(crate) fn parse_http_date(text: &str) -> Option<SystemTime> {
    let mut it = text.split_whitespace();
    let _weekday = it.next()?;
    let d = it.next()?.parse().ok()?;
    let mo = month(it.next()?)?;
    let y = it.next()?.parse().ok()?;
    let (h, mi, s) = hms(it.next()?)?;
    utc(y, mo, d, h, mi, s)
}

/// `2026-11-27T13:21:05Z`, `2026-11-27T13:21:05.123Z` or with `+hh:mm`.
#[cfg_attr(not(any(feature = "webdav", feature = "s3")), allow(dead_code))]
pub(crate) fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut dp = date.splitn(3, '-');
    let y = dp.next()?.parse().ok()?;
    let mo = dp.next()?.parse().ok()?;
    let d = dp.next()?.parse().ok()?;
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':').unwrap_or((&off[1..], "0"));
        (c, sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60))
    } else {
        (time, 0)
    };
    let clock = clock.split('.').next()?;
    let (h, mi, s) = hms(clock)?;
    let t = utc(y, mo, d, h, mi, s)?;
    if offset >= 0 {
        t.checked_sub(Duration::from_secs(offset as u64))
    } else {
        t.checked_add(Duration::from_secs((-offset) as u64))
    }
}

#[cfg_attr(not(any(feature = "webdav", feature = "s3")), allow(dead_code))]
fn hms(text: &str) -> Option<(u32, u32, u32)> {
    let mut p = text.splitn(3, ':');
    Some((p.next()?.parse().ok()?, p.next()?.parse().ok()?, p.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn secs(t: SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn formats() {
        assert_eq!(secs(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap()), 784_111_777);
        assert_eq!(secs(parse_iso8601("1994-11-06T08:49:37Z").unwrap()), 784_111_777);
        assert_eq!(secs(parse_iso8601("1994-11-06T08:49:37.250Z").unwrap()), 784_111_777);
        assert_eq!(secs(parse_iso8601("1994-11-06T09:49:37+01:00").unwrap()), 784_111_777);
        assert!(parse_http_date("yesterday").is_none());
        assert!(parse_iso8601("1994-13-06T08:49:37Z").is_none());
    }

    #[tokio::test]
    async fn slicing_a_whole_file_stream() {
        let whole = || {
            futures::stream::iter(["abc", "defg", "hij"].map(|s| Ok(bytes::Bytes::from(s)))).boxed()
        };
        let collect = |s: ByteStream| async move {
            let v: Vec<bytes::Bytes> = s.map(|c| c.unwrap()).collect().await;
            v.concat()
        };
        assert_eq!(collect(slice(whole(), ByteRange { offset: 2, len: Some(5) })).await, b"cdefg");
        assert_eq!(collect(slice(whole(), ByteRange::from(7))).await, b"hij");
        assert_eq!(collect(slice(whole(), ByteRange::from(20))).await, b"");
    }
}
