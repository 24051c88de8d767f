//! The part machinery driven by fake fetches: order, parallelism, resumes,
//! short and long parts, and what a dropped stream stops.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::TryStreamExt;

use super::*;

#[test]
fn ranges_cover_everything_once_in_order() {
    let parts: Vec<_> = split(3..25, 8).collect();
    assert_eq!(parts, [3..11, 11..19, 19..25]);
    assert_eq!(split(0..16, 8).collect::<Vec<_>>(), [0..8, 8..16]);
    assert_eq!(split(5..5, 8).count(), 0);
    assert_eq!(split(0..3, 0).count(), 3, "a zero part size must not loop forever");
    let top = u64::MAX - 2;
    let last: Vec<_> = split(top..u64::MAX, 8).collect();
    assert_eq!((last.len(), &last[0]), (1, &(top..u64::MAX)));
}

#[test]
fn content_ranges() {
    assert_eq!(content_range("bytes 0-4/23"), Some((0..5, 23)));
    assert_eq!(content_range(" bytes 8-15/16 "), Some((8..16, 16)));
    for bad in ["bytes 0-4/*", "bytes */23", "bytes 5-4/23", "bytes 0-23/23", "0-4/23", ""] {
        assert_eq!(content_range(bad), None, "{bad}");
    }
}

/// The object the fakes serve: byte i is i mod 251.
fn byte(i: u64) -> u8 {
    (i % 251) as u8
}

fn stream_of(range: Range<u64>, chunk: u64) -> ByteStream {
    let chunks: Vec<Result<Bytes>> =
        split(range, chunk).map(|r| Ok(Bytes::from(r.map(byte).collect::<Vec<u8>>()))).collect();
    futures::stream::iter(chunks).boxed()
}

/// A fake fetch: later parts answer sooner (so they finish out of
/// order), counting parts in flight and their peak.
#[derive(Default)]
struct Fake {
    active: AtomicUsize,
    peak: AtomicUsize,
    started: AtomicUsize,
    finished: AtomicUsize,
    calls: Mutex<Vec<Range<u64>>>,
}

struct Active(Arc<Fake>);
impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn fetcher(fake: &Arc<Fake>, size: u64, delay: fn(&Range<u64>) -> u64) -> FetchPart {
    let fake = fake.clone();
    Arc::new(move |range: Range<u64>| {
        let fake = fake.clone();
        Box::pin(async move {
            fake.calls.lock().unwrap().push(range.clone());
            let now = fake.active.fetch_add(1, Ordering::SeqCst) + 1;
            fake.peak.fetch_max(now, Ordering::SeqCst);
            fake.started.fetch_add(1, Ordering::SeqCst);
            let guard = Active(fake.clone());
            tokio::time::sleep(Duration::from_millis(delay(&range))).await;
            let end = range.end.min(size);
            let done = fake.clone();
            // The guard lives as long as the body is being sent.
            let body = stream_of(range.start..end, 3).map(move |c| {
                let _ = &guard;
                c
            });
            // Counted as finished once the last chunk has been taken; the
            // counting step itself yields nothing.
            let finish = futures::stream::once(async move {
                done.finished.fetch_add(1, Ordering::SeqCst);
            })
            .filter_map(|()| futures::future::ready(None));
            Ok(body.chain(finish).boxed())
        })
    })
}

/// A fetch whose first answer for each part breaks off halfway with a
/// dropped connection; every range asked for is recorded in `calls`.
fn breaking_once(calls: &Arc<Mutex<Vec<Range<u64>>>>) -> FetchPart {
    let seen = calls.clone();
    Arc::new(move |range: Range<u64>| {
        let first_try = !seen.lock().unwrap().iter().any(|r: &Range<u64>| r.end == range.end);
        seen.lock().unwrap().push(range.clone());
        Box::pin(async move {
            if first_try {
                let half = range.start + (range.end - range.start) / 2;
                let cut = Error::ConnectionLost {
                    host: "s3".into(),
                    reason: "reset".into(),
                    source: None,
                };
                return Ok(stream_of(range.start..half, 4)
                    .chain(futures::stream::iter([Err(cut)]))
                    .boxed());
            }
            Ok(stream_of(range, 4))
        })
    })
}

/// Drop a download after its first item once `running` parts are being
/// fetched: every part stops and no further part starts.
async fn dropping_stops_every_part<T: Send + 'static>(
    start: impl FnOnce(FetchPart) -> futures::stream::BoxStream<'static, Result<T>>,
    running: usize,
) {
    let fake = Arc::new(Fake::default());
    // Slow parts: they would take a minute if nobody stopped them.
    let fetch = fetcher(&fake, 1 << 20, |r| if r.start == 0 { 0 } else { 60_000 });
    let mut s = start(fetch);
    assert!(s.next().await.unwrap().is_ok());
    let active = || fake.active.load(Ordering::SeqCst);
    for _ in 0..200 {
        if active() == running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(active(), running);
    drop(s);
    for _ in 0..200 {
        if active() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(active(), 0, "parts still running after the drop");
    assert_eq!(fake.started.load(Ordering::SeqCst), running, "a part started after the drop");
    assert_eq!(fake.finished.load(Ordering::SeqCst), 0);
}

/// A fake whose later parts of a 1000-byte object answer sooner, and the
/// first part (bytes 100..140) already being received.
fn later_parts_first() -> (Arc<Fake>, FetchPart, ByteStream) {
    let fake = Arc::new(Fake::default());
    let fetch = fetcher(&fake, 1000, |r| 30u64.saturating_sub(r.start / 40));
    (fake, fetch, stream_of(100..140, 7))
}

fn expected(range: Range<u64>) -> Vec<u8> {
    range.map(byte).collect()
}

#[tokio::test]
async fn parts_arrive_out_of_order_and_come_out_in_order() {
    for concurrency in [1, 2, 3, 8] {
        let (fake, fetch, first) = later_parts_first();
        let out: Vec<Bytes> =
            ordered(first, 100..140, split(140..777, 40), concurrency, fetch, "GET /x".into())
                .try_collect()
                .await
                .unwrap();
        assert_eq!(out.concat(), expected(100..777), "concurrency {concurrency}");
        // The first part is not fetched again; the others once each.
        let calls = fake.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), split(140..777, 40).count());
        assert!(fake.peak.load(Ordering::SeqCst) <= concurrency);
        if concurrency > 2 {
            assert!(fake.peak.load(Ordering::SeqCst) >= 2, "no parallelism");
        }
    }
}

#[tokio::test]
async fn a_failing_part_ends_the_stream_with_its_error() {
    let fetch: FetchPart = Arc::new(|range: Range<u64>| {
        Box::pin(async move {
            if range.start == 20 {
                return Err(Error::Changed { path: "/x".into(), detail: "etag".into() });
            }
            Ok(stream_of(range, 4))
        })
    });
    let items: Vec<Result<Bytes>> =
        ordered(stream_of(0..10, 4), 0..10, split(10..40, 10), 2, fetch, "GET /x".into())
            .collect()
            .await;
    let (ok, err): (Vec<_>, Vec<_>) = items.into_iter().partition(|r| r.is_ok());
    let ok: Vec<u8> = ok.into_iter().map(Result::unwrap).collect::<Vec<_>>().concat();
    assert_eq!(ok, expected(0..20), "everything before the failed part, nothing after");
    assert_eq!(err.len(), 1);
    assert!(matches!(err[0], Err(Error::Changed { .. })));
}

#[tokio::test]
async fn short_and_long_parts_are_errors() {
    // The server sends one byte less, or one more, than asked.
    for delta in [-1i64, 1] {
        let fetch: FetchPart = Arc::new(move |range: Range<u64>| {
            Box::pin(async move {
                let end = (range.end as i64 + delta) as u64;
                Ok(stream_of(range.start..end, 4))
            })
        });
        let r: Result<Vec<Bytes>> =
            ordered(stream_of(0..10, 4), 0..10, split(10..30, 10), 2, fetch, "GET /x".into())
                .try_collect()
                .await;
        let e = r.unwrap_err().to_string();
        assert!(e.contains("GET /x: bytes 10-19"), "{delta}: {e}");
    }
    // And a first part that ends early.
    let fetch: FetchPart = Arc::new(|range| Box::pin(async move { Ok(stream_of(range, 4)) }));
    let r: Result<Vec<Bytes>> =
        ordered(stream_of(0..9, 4), 0..10, split(10..30, 10), 2, fetch, "GET /x".into())
            .try_collect()
            .await;
    assert!(r.unwrap_err().to_string().contains("ended after 9 of 10 bytes"));
    // `checked` on a single response: short, long, exact.
    let check = |n: u64| checked(stream_of(0..n, 3), 0..10, "GET /y".into());
    assert!(check(9).try_collect::<Vec<_>>().await.is_err());
    assert!(check(11).try_collect::<Vec<_>>().await.is_err());
    assert_eq!(check(10).try_collect::<Vec<_>>().await.unwrap().concat(), expected(0..10));
}

#[tokio::test]
async fn a_broken_body_is_resumed_where_it_stopped() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let fetch = breaking_once(&calls);
    let out: Vec<Bytes> =
        ordered(stream_of(0..10, 4), 0..10, split(10..30, 10), 2, fetch, "GET /x".into())
            .try_collect()
            .await
            .unwrap();
    assert_eq!(out.concat(), expected(0..30));
    let mut calls = calls.lock().unwrap().clone();
    calls.sort_by_key(|r| r.start);
    assert_eq!(calls, [10..20, 15..20, 20..30, 25..30]);

    // A byte per attempt is progress: more breaks than PART_RETRIES
    // still complete the part; no progress at all gives up.
    for (bytes_per_try, complete) in [(1, true), (0, false)] {
        let tries = Arc::new(AtomicUsize::new(0));
        let counted = tries.clone();
        let fetch: FetchPart = Arc::new(move |range: Range<u64>| {
            counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                let cut = Error::ConnectionLost {
                    host: "s3".into(),
                    reason: "reset".into(),
                    source: None,
                };
                Ok(stream_of(range.start..range.start + bytes_per_try, 4)
                    .chain(futures::stream::iter([Err(cut)]))
                    .boxed())
            })
        });
        let r: Result<Vec<Bytes>> =
            ordered(stream_of(0..10, 4), 0..10, split(10..20, 10), 2, fetch, "GET /x".into())
                .try_collect()
                .await;
        let n = tries.load(Ordering::SeqCst);
        if complete {
            assert_eq!(n, 10);
            assert_eq!(r.unwrap().concat(), expected(0..20));
        } else {
            assert_eq!(n, 1 + PART_RETRIES as usize);
            assert!(r.unwrap_err().to_string().contains("reset"));
        }
    }
}

#[tokio::test]
async fn dropping_the_stream_stops_every_part() {
    // The first part waits to be yielded: three more slots.
    let start = |f| ordered(stream_of(0..64, 8), 0..64, split(64..1 << 20, 64), 4, f, "x".into());
    dropping_stops_every_part(start, 3).await;
}

/// The bytes of an unordered download put in place from `base` on; an
/// overlap or a gap is a test failure.
async fn assemble(mut s: PartStream, base: u64) -> Result<Vec<u8>> {
    let mut chunks = Vec::new();
    while let Some(item) = s.next().await {
        chunks.push(item?);
    }
    chunks.sort_by_key(|(at, _)| *at);
    let mut out = Vec::new();
    for (at, chunk) in chunks {
        assert_eq!(at, base + out.len() as u64, "overlap or gap at {at}");
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[tokio::test]
async fn unordered_parts_cover_every_byte_once() {
    for concurrency in [1, 2, 3, 8] {
        let (fake, fetch, first) = later_parts_first();
        let rest = split(140..777, 40);
        let s = unordered(first, 100..140, rest, concurrency, fetch, "GET /x".into());
        assert_eq!(assemble(s, 100).await.unwrap(), expected(100..777), "{concurrency}");
        assert_eq!(fake.calls.lock().unwrap().len(), split(140..777, 40).count());
        assert!(fake.peak.load(Ordering::SeqCst) <= concurrency);
        if concurrency > 2 {
            assert!(fake.peak.load(Ordering::SeqCst) >= 2, "no parallelism");
        }
    }
}

#[tokio::test]
async fn unordered_small_chunks_go_out_in_blocks() {
    let size = 3 * BLOCK as u64 + 1000;
    let fetch: FetchPart = Arc::new(|range| Box::pin(async move { Ok(stream_of(range, 1000)) }));
    let first = stream_of(0..10, 4);
    let rest = split(10..size, BLOCK as u64 + 500);
    let mut s = unordered(first, 0..10, rest, 2, fetch, "GET /x".into());
    let mut ends = vec![10, size];
    ends.extend(split(10..size, BLOCK as u64 + 500).map(|r| r.end));
    let mut total = 0;
    while let Some((at, chunk)) = s.next().await.transpose().unwrap() {
        total += chunk.len() as u64;
        let end = at + chunk.len() as u64;
        assert!(chunk.len() == BLOCK || ends.contains(&end), "{} bytes at {at}", chunk.len());
    }
    assert_eq!(total, size);
}

#[tokio::test]
async fn unordered_errors_end_the_stream() {
    // A part that fails, one that is short, one that is long.
    for fault in 0..3 {
        let fetch: FetchPart = Arc::new(move |range: Range<u64>| {
            Box::pin(async move {
                if range.start != 20 {
                    return Ok(stream_of(range, 4));
                }
                match fault {
                    0 => Err(Error::Changed { path: "/x".into(), detail: "etag".into() }),
                    1 => Ok(stream_of(range.start..range.end - 1, 4)),
                    _ => Ok(stream_of(range.start..range.end + 1, 4)),
                }
            })
        });
        let first = stream_of(0..10, 4);
        let s = unordered(first, 0..10, split(10..40, 10), 2, fetch, "GET /x".into());
        let items: Vec<_> = s.collect().await;
        let errors: Vec<_> = items.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(errors.len(), 1, "fault {fault}");
        assert!(items.last().is_some_and(Result::is_err), "nothing after the error");
        let e = errors[0].to_string();
        match fault {
            0 => assert!(matches!(errors[0], Error::Changed { .. })),
            _ => assert!(e.contains("GET /x: bytes 20-29"), "{fault}: {e}"),
        }
    }
}

#[tokio::test]
async fn unordered_broken_bodies_are_resumed() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let fetch = breaking_once(&calls);
    let s = unordered(stream_of(0..10, 4), 0..10, split(10..30, 10), 2, fetch, "x".into());
    assert_eq!(assemble(s, 0).await.unwrap(), expected(0..30));
    let mut calls = calls.lock().unwrap().clone();
    calls.sort_by_key(|r| r.start);
    assert_eq!(calls, [10..20, 15..20, 20..30, 25..30]);
}

#[tokio::test]
async fn dropping_the_unordered_stream_stops_every_part() {
    // The first part is done at once: its slot goes to a fourth.
    let start = |f| unordered(stream_of(0..64, 8), 0..64, split(64..1 << 20, 64), 4, f, "x".into());
    dropping_stops_every_part(start, 4).await;
}
