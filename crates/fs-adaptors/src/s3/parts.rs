//! Parallel downloads of byte ranges: yielded in order with bounded memory
//! ([`ordered`], for `read`) or tagged with their offsets as they arrive
//! ([`unordered`], for `read_parts`, whose consumer writes at offsets and so
//! needs no part held back). A part whose body breaks off is resumed where it
//! stopped; a part that is short or long is an error item.
//!
//! This machinery knows nothing about S3: it gets a function that fetches a
//! byte range, so the unit tests (in `parts/tests.rs`) drive it with fakes.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::future::BoxFuture;
use hpc_core::{ByteStream, Error, PartStream, Result};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::task::AbortOnDropHandle;

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
    Error::remote(
        "s3",
        None,
        if got > want {
            format!("{what}: bytes {}-{} came with more than {want} bytes", range.start, last)
        } else {
            format!("{what}: bytes {}-{} ended after {got} of {want} bytes", range.start, last)
        },
    )
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
                    let _ = tx.send(Err(Error::remote("s3", None, message).with_source(e))).await;
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

#[cfg(test)]
mod tests;
