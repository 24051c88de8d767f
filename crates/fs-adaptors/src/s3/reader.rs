//! Downloads: one ranged GET for small objects; for large ones parallel
//! ranged GETs pinned to the version first seen by `If-Match`, either
//! yielded in order with bounded memory ([`ordered`], for `read`) or tagged
//! with their offsets as they arrive ([`unordered`], for `read_parts`, whose
//! consumer writes at offsets and so needs no part held back).
//!
//! This machinery knows nothing about S3: it gets a function that fetches a
//! byte range, so the unit tests drive it with fakes.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::future::BoxFuture;
use hpc_core::{ByteStream, Error, PartStream, Path, Result};
use hpc_http::{HttpClient, Method, Request, StatusCode};
use rusty_s3::{Bucket, Credentials, S3Action};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::task::AbortOnDropHandle;

use super::error::s3_error;

/// Fetches one byte range (end exclusive) of the object.
pub(crate) type FetchPart =
    Arc<dyn Fn(Range<u64>) -> BoxFuture<'static, Result<ByteStream>> + Send + Sync>;

/// Size of the blocks parts are collected in.
const BLOCK: usize = 256 * 1024;

/// How often in a row a part whose body broke off is resumed where it
/// stopped without getting a byte further.
const PART_RETRIES: u32 = 3;

/// `range` cut into consecutive ranges of `part` bytes (the last may be shorter).
pub(crate) fn split(range: Range<u64>, part: u64) -> impl Iterator<Item = Range<u64>> + Send {
    let part = part.max(1);
    let mut next = range.start;
    std::iter::from_fn(move || {
        if next >= range.end {
            return None;
        }
        let start = next;
        next = range.end.min(start.saturating_add(part));
        Some(start..next)
    })
}

/// `bytes a-b/total` of a `Content-Range` header as (a..b+1, total).
pub(crate) fn content_range(value: &str) -> Option<(Range<u64>, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b, total): (u64, u64, u64) =
        (a.trim().parse().ok()?, b.trim().parse().ok()?, total.trim().parse().ok()?);
    (a <= b && b < total).then_some((a..b + 1, total))
}

fn length_error(what: &str, range: &Range<u64>, got: u64) -> Error {
    let want = range.end - range.start;
    let last = range.end.saturating_sub(1);
    Error::Remote {
        service: "s3".into(),
        status: None,
        message: if got > want {
            format!("{what}: bytes {}-{} came with more than {want} bytes", range.start, last)
        } else {
            format!("{what}: bytes {}-{} ended after {got} of {want} bytes", range.start, last)
        },
    }
}

/// `data`, which must hold exactly the bytes of `range`: an early end or
/// extra bytes become an error item instead of a silently wrong stream.
pub(crate) fn checked(data: ByteStream, range: Range<u64>, what: String) -> ByteStream {
    let want = range.end - range.start;
    futures::stream::unfold(Some((data, 0u64)), move |state| {
        let (range, what) = (range.clone(), what.clone());
        async move {
            let (mut data, seen) = state?;
            match data.next().await {
                Some(Ok(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    if seen > want {
                        return Some((Err(length_error(&what, &range, seen)), None));
                    }
                    Some((Ok(chunk), Some((data, seen))))
                }
                Some(Err(e)) => Some((Err(e), None)),
                None if seen < want => Some((Err(length_error(&what, &range, seen)), None)),
                None => None,
            }
        }
    })
    .boxed()
}

/// Where [`forward`] puts the bytes of a part as they come.
trait PartSink: Send + 'static {
    /// Take the bytes at offset `at`; false when nobody wants them any more.
    fn put(&mut self, at: u64, data: Bytes) -> impl Future<Output = bool> + Send;
    /// The error that ends the part.
    fn fail(&mut self, e: Error) -> impl Future<Output = ()> + Send;
}

/// A part's own in-memory queue, drained in order by [`ordered`].
///
/// The bytes are copied into blocks of [`BLOCK`] bytes and sent as slices of
/// them: hyper's chunks would each keep a larger read buffer alive while they
/// wait in the queue, and blocks of one size are reused by the allocator
/// instead of fragmenting it, so a waiting part costs about its size.
struct QueueSink {
    tx: mpsc::UnboundedSender<Result<Bytes>>,
    buf: BytesMut,
    end: u64,
}

impl PartSink for QueueSink {
    async fn put(&mut self, at: u64, data: Bytes) -> bool {
        let mut rest = &data[..];
        while !rest.is_empty() {
            if self.buf.capacity() == 0 {
                let left = self.end - (at + (data.len() - rest.len()) as u64);
                self.buf = BytesMut::with_capacity(BLOCK.min(left as usize));
            }
            // Within the block's capacity: never reallocates.
            let n = rest.len().min(self.buf.capacity());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.tx.send(Ok(self.buf.split().freeze())).is_err() {
                return false;
            }
        }
        true
    }

    async fn fail(&mut self, e: Error) {
        let _ = self.tx.send(Err(e));
    }
}

/// A part's way into the channel all parts of an [`unordered`] download
/// share; the channel's bound is what keeps memory flat however many parts
/// run. Small chunks are gathered into blocks of [`BLOCK`] bytes first, so
/// the consumer makes few large writes.
struct TaggedSink {
    tx: mpsc::Sender<Result<(u64, Bytes)>>,
    buf: BytesMut,
    /// Offset of the first byte in `buf`.
    at: u64,
    /// End of the part: what is gathered goes out when it is reached.
    end: u64,
}

impl TaggedSink {
    fn new(tx: &mpsc::Sender<Result<(u64, Bytes)>>, end: u64) -> Self {
        TaggedSink { tx: tx.clone(), buf: BytesMut::new(), at: 0, end }
    }

    async fn send(&mut self, at: u64, data: Bytes) -> bool {
        self.tx.send(Ok((at, data))).await.is_ok()
    }
}

impl PartSink for TaggedSink {
    async fn put(&mut self, mut at: u64, data: Bytes) -> bool {
        let mut rest = data;
        while !rest.is_empty() {
            let whole = rest.len() >= BLOCK || at + rest.len() as u64 == self.end;
            if self.buf.is_empty() && whole {
                return self.send(at, rest).await;
            }
            if self.buf.is_empty() {
                self.at = at;
            }
            if self.buf.capacity() == 0 {
                self.buf = BytesMut::with_capacity(BLOCK);
            }
            let n = rest.len().min(BLOCK - self.buf.len());
            self.buf.extend_from_slice(&rest.split_to(n));
            at += n as u64;
            if self.buf.len() == BLOCK || at == self.end {
                let block = self.buf.split().freeze();
                if !self.send(self.at, block).await {
                    return false;
                }
            }
        }
        true
    }

    async fn fail(&mut self, e: Error) {
        let _ = self.tx.send(Err(e)).await;
    }
}

/// One part being downloaded by its own task into an in-memory queue.
/// Dropping it stops the task (and so the request).
struct PartTask {
    range: Range<u64>,
    rx: mpsc::UnboundedReceiver<Result<Bytes>>,
    received: u64,
    _task: AbortOnDropHandle<()>,
}

impl PartTask {
    fn spawn(
        range: Range<u64>,
        started: Option<ByteStream>,
        fetch: FetchPart,
        what: Arc<str>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let sink = QueueSink { tx, buf: BytesMut::new(), end: range.end };
        let task = tokio::spawn(forward(range.clone(), started, fetch, sink, what));
        PartTask { range, rx, received: 0, _task: AbortOnDropHandle::new(task) }
    }
}

/// Move the bytes of `range` into `sink`; a body that breaks off is resumed
/// from where it stopped (the fetch pins the version, so that is safe).
async fn forward(
    range: Range<u64>,
    mut started: Option<ByteStream>,
    fetch: FetchPart,
    mut sink: impl PartSink,
    what: Arc<str>,
) {
    let mut pos = range.start;
    let mut retries = 0;
    loop {
        let mut data = match started.take() {
            Some(s) => s,
            None => match fetch(pos..range.end).await {
                Ok(s) => s,
                Err(e) => return sink.fail(e).await,
            },
        };
        loop {
            match data.next().await {
                Some(Ok(chunk)) => {
                    // Progress: a slow but moving transfer is never given up.
                    retries = 0;
                    let at = pos;
                    pos += chunk.len() as u64;
                    if pos > range.end {
                        return sink.fail(length_error(&what, &range, pos - range.start)).await;
                    }
                    if !sink.put(at, chunk).await {
                        return;
                    }
                }
                // Every byte is here (and counted): a late error changes nothing.
                Some(Err(_)) if pos == range.end => return,
                Some(Err(e)) if e.is_retryable() && retries < PART_RETRIES => {
                    tracing::debug!(error = %e, pos, end = range.end, "resuming a part");
                    retries += 1;
                    break;
                }
                Some(Err(e)) => return sink.fail(e).await,
                None => {
                    if pos < range.end {
                        sink.fail(length_error(&what, &range, pos - range.start)).await;
                    }
                    return;
                }
            }
        }
    }
}

/// The bytes of `first_range` (already being received as `first`) followed by
/// those of `rest`, in order, with up to `concurrency` parts (the one being
/// yielded included) downloading at the same time. Memory: at most
/// `concurrency` parts. The first error ends the stream; dropping the
/// stream aborts every part still running.
pub(crate) fn ordered(
    first: ByteStream,
    first_range: Range<u64>,
    rest: impl Iterator<Item = Range<u64>> + Send + 'static,
    concurrency: usize,
    fetch: FetchPart,
    what: String,
) -> ByteStream {
    struct State {
        queue: VecDeque<PartTask>,
        pending: Box<dyn Iterator<Item = Range<u64>> + Send>,
        concurrency: usize,
        fetch: FetchPart,
        what: Arc<str>,
    }
    impl State {
        fn fill(&mut self) {
            while self.queue.len() < self.concurrency {
                let Some(range) = self.pending.next() else { break };
                let task = PartTask::spawn(range, None, self.fetch.clone(), self.what.clone());
                self.queue.push_back(task);
            }
        }
    }
    let what: Arc<str> = what.into();
    let mut state = State {
        queue: VecDeque::new(),
        pending: Box::new(rest),
        concurrency: concurrency.max(1),
        fetch: fetch.clone(),
        what: what.clone(),
    };
    state.queue.push_back(PartTask::spawn(first_range, Some(first), fetch, what));
    state.fill();
    futures::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        loop {
            let head = st.queue.front_mut()?;
            match head.rx.recv().await {
                Some(Ok(chunk)) => {
                    head.received += chunk.len() as u64;
                    return Some((Ok(chunk), Some(st)));
                }
                // Dropping the state aborts the other parts.
                Some(Err(e)) => return Some((Err(e), None)),
                None => {
                    // A task that ended without an error item (aborted,
                    // panicked) must not leave a hole.
                    if head.received != head.range.end - head.range.start {
                        let e = length_error(&st.what, &head.range, head.received);
                        return Some((Err(e), None));
                    }
                    st.queue.pop_front();
                    st.fill();
                }
            }
        }
    })
    .boxed()
}

/// Chunks of the parts queued for the consumer of an [`unordered`] download.
/// A chunk is at most about 400 KiB (hyper's largest read), so a consumer
/// stalled by a slow disk holds at most a few MiB here, however many parts run.
const TAGGED_QUEUE: usize = 16;

/// Like [`ordered`], but the chunks come tagged with their offsets as soon
/// as any part receives them, so every part streams at full speed and no part
/// is held in memory: at most [`TAGGED_QUEUE`] chunks wait, whatever
/// `concurrency` is. Each part delivers exactly its bytes or an error; the
/// first error ends the stream; dropping the stream aborts every part.
pub(crate) fn unordered(
    first: ByteStream,
    first_range: Range<u64>,
    rest: impl Iterator<Item = Range<u64>> + Send + 'static,
    concurrency: usize,
    fetch: FetchPart,
    what: String,
) -> PartStream {
    let (tx, rx) = mpsc::channel(TAGGED_QUEUE);
    let what: Arc<str> = what.into();
    let driver = tokio::spawn(async move {
        // Dropping the set (when the driver is aborted) aborts the parts.
        let mut parts = JoinSet::new();
        let sink = TaggedSink::new(&tx, first_range.end);
        parts.spawn(forward(first_range, Some(first), fetch.clone(), sink, what.clone()));
        let mut rest = rest;
        loop {
            while parts.len() < concurrency.max(1) {
                let Some(range) = rest.next() else { break };
                let sink = TaggedSink::new(&tx, range.end);
                parts.spawn(forward(range, None, fetch.clone(), sink, what.clone()));
            }
            match parts.join_next().await {
                Some(Ok(())) => {}
                // A part that panicked cannot have delivered all its bytes.
                Some(Err(e)) => {
                    let message = format!("{what}: a part stopped: {e}");
                    let _ = tx
                        .send(Err(Error::Remote { service: "s3".into(), status: None, message }))
                        .await;
                    return;
                }
                None => return,
            }
        }
    });
    let guard = AbortOnDropHandle::new(driver);
    futures::stream::unfold(Some((rx, guard)), |state| async move {
        let (mut rx, guard) = state?;
        let item = rx.recv().await?;
        // Nothing after an error: dropping the guard aborts the parts.
        let next = item.is_ok().then_some((rx, guard));
        Some((item, next))
    })
    .boxed()
}

/// Ranged GETs of one version of one object (`If-Match` its ETag).
pub(crate) struct PinnedObject {
    pub(crate) client: HttpClient,
    pub(crate) bucket: Bucket,
    pub(crate) creds: Option<Credentials>,
    pub(crate) access_key: String,
    pub(crate) key: String,
    pub(crate) path: Path,
    pub(crate) etag: String,
}

impl PinnedObject {
    /// A [`FetchPart`] over this object.
    pub(crate) fn fetcher(self: Arc<Self>) -> FetchPart {
        Arc::new(move |range| {
            let this = self.clone();
            Box::pin(async move { this.get(range).await })
        })
    }

    async fn get(&self, range: Range<u64>) -> Result<ByteStream> {
        let url = self
            .bucket
            .get_object(self.creds.as_ref(), &self.key)
            .sign(super::backend::SIGN_FOR)
            .to_string();
        let req = Request::new(Method::GET, &url)
            .header("range", &format!("bytes={}-{}", range.start, range.end - 1))
            .header("if-match", &self.etag);
        let resp = self.client.send(req).await?;
        let what = || format!("GET {}", self.path);
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let got = resp.header("content-range").and_then(content_range);
                if got.as_ref().map(|(r, _)| r) != Some(&range) {
                    return Err(Error::Parse {
                        command: what(),
                        reason: format!(
                            "asked for bytes {}-{}, got Content-Range {:?}",
                            range.start,
                            range.end - 1,
                            resp.header("content-range").unwrap_or("")
                        ),
                        line: String::new(),
                    });
                }
                Ok(resp.into_stream())
            }
            StatusCode::PRECONDITION_FAILED => Err(Error::Changed {
                path: self.path.to_string(),
                detail: format!("its ETag is no longer {}", self.etag),
            }),
            // Inside the size first seen: only a shorter new version says so.
            StatusCode::RANGE_NOT_SATISFIABLE => Err(Error::Changed {
                path: self.path.to_string(),
                detail: format!("it is now shorter than byte {}", range.end),
            }),
            s if s.is_success() => Err(Error::Remote {
                service: "s3".into(),
                status: Some(u32::from(s.as_u16())),
                message: format!("{}: answered a ranged GET with the whole object", what()),
            }),
            _ => Err(s3_error(resp, &self.path, self.bucket.name(), &self.access_key).await),
        }
    }
}

#[cfg(test)]
mod tests {
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
        let chunks: Vec<Result<Bytes>> = split(range, chunk)
            .map(|r| Ok(Bytes::from(r.map(byte).collect::<Vec<u8>>())))
            .collect();
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
                Ok(body
                    .chain(futures::stream::once(async move {
                        done.finished.fetch_add(1, Ordering::SeqCst);
                        Err(Error::Cancelled("end marker".into()))
                    }))
                    .take_while(|r| futures::future::ready(r.is_ok()))
                    .boxed())
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
                    let cut = Error::ConnectionLost { host: "s3".into(), reason: "reset".into() };
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

    fn expected(range: Range<u64>) -> Vec<u8> {
        range.map(byte).collect()
    }

    #[tokio::test]
    async fn parts_arrive_out_of_order_and_come_out_in_order() {
        for concurrency in [1, 2, 3, 8] {
            let fake = Arc::new(Fake::default());
            let fetch = fetcher(&fake, 1000, |r| 30u64.saturating_sub(r.start / 40));
            let first = stream_of(100..140, 7);
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
                    let cut = Error::ConnectionLost { host: "s3".into(), reason: "reset".into() };
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
        let start =
            |f| ordered(stream_of(0..64, 8), 0..64, split(64..1 << 20, 64), 4, f, "x".into());
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
            let fake = Arc::new(Fake::default());
            let fetch = fetcher(&fake, 1000, |r| 30u64.saturating_sub(r.start / 40));
            let first = stream_of(100..140, 7);
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
        let fetch: FetchPart =
            Arc::new(|range| Box::pin(async move { Ok(stream_of(range, 1000)) }));
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
        let start =
            |f| unordered(stream_of(0..64, 8), 0..64, split(64..1 << 20, 64), 4, f, "x".into());
        dropping_stops_every_part(start, 4).await;
    }
}
