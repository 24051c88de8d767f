//! Request bodies: empty, in memory (replayable, so retryable) or streamed.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::StreamExt;
use hpc_core::{ByteStream, Error};
use http_body::{Frame, SizeHint};
use tokio::sync::oneshot;

/// The body of a request.
#[non_exhaustive]
pub enum Body {
    /// No body.
    Empty,
    /// Bytes in memory; the request can be repeated.
    Bytes(Bytes),
    /// A stream, sent as it arrives; the request cannot be repeated.
    Stream {
        /// The data.
        stream: ByteStream,
        /// Exact length, if known (sent as `Content-Length`, else chunked).
        len: Option<u64>,
    },
}

impl Body {
    /// A body held in memory.
    pub fn bytes(data: impl Into<Bytes>) -> Self {
        Body::Bytes(data.into())
    }

    /// A streamed body of known (`Some`) or unknown length.
    pub fn stream(stream: ByteStream, len: Option<u64>) -> Self {
        Body::Stream { stream, len }
    }

    /// The exact length, where known.
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Stream { len, .. } => *len,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// A copy for a repeated attempt; `None` for a stream.
    pub(crate) fn try_clone(&self) -> Option<Body> {
        match self {
            Body::Empty => Some(Body::Empty),
            Body::Bytes(b) => Some(Body::Bytes(b.clone())),
            Body::Stream { .. } => None,
        }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Body::Stream { len, .. } => write!(f, "Body::Stream(len: {len:?})"),
        }
    }
}

/// Where the body hands back the error its stream produced, so the caller
/// sees that error rather than hyper's generic "body write aborted".
pub(crate) type ErrorSlot = Arc<Mutex<Option<Error>>>;

/// The body type hyper sends.
pub(crate) struct HyperBody {
    state: State,
    /// Fired once everything is handed to hyper: the response timer starts then.
    sent: Option<oneshot::Sender<()>>,
    error: ErrorSlot,
}

enum State {
    Done,
    Full(Bytes),
    Stream { stream: ByteStream, remaining: Option<u64> },
}

impl HyperBody {
    pub(crate) fn new(body: Body, sent: oneshot::Sender<()>, error: ErrorSlot) -> Self {
        let state = match body {
            Body::Empty => State::Done,
            Body::Bytes(b) if b.is_empty() => State::Done,
            Body::Bytes(b) => State::Full(b),
            Body::Stream { stream, len } => State::Stream { stream, remaining: len },
        };
        let mut body = HyperBody { state, sent: Some(sent), error };
        if matches!(body.state, State::Done) {
            body.finished();
        }
        body
    }

    fn finished(&mut self) {
        self.state = State::Done;
        if let Some(tx) = self.sent.take() {
            let _ = tx.send(());
        }
    }

    fn fail(&mut self, e: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let text = e.to_string();
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        self.state = State::Done;
        Poll::Ready(Some(Err(Error::InvalidInput(text))))
    }
}

impl http_body::Body for HyperBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match &mut this.state {
            State::Done => Poll::Ready(None),
            State::Full(_) => {
                let State::Full(b) = std::mem::replace(&mut this.state, State::Done) else {
                    unreachable!("matched above")
                };
                this.finished();
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            State::Stream { stream, remaining } => match stream.poll_next_unpin(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => {
                    if let Some(left) = remaining.filter(|l| *l > 0) {
                        return this.fail(Error::InvalidInput(format!(
                            "request body ended {left} bytes before its announced length"
                        )));
                    }
                    this.finished();
                    Poll::Ready(None)
                }
                Poll::Ready(Some(Err(e))) => this.fail(e),
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(left) = remaining {
                        let n = chunk.len() as u64;
                        if n > *left {
                            let extra = n - *left;
                            return this.fail(Error::InvalidInput(format!(
                                "request body is longer than its announced length ({extra} bytes too many)"
                            )));
                        }
                        *left -= n;
                    }
                    Poll::Ready(Some(Ok(Frame::data(chunk))))
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Done => SizeHint::with_exact(0),
            State::Full(b) => SizeHint::with_exact(b.len() as u64),
            State::Stream { remaining: Some(n), .. } => SizeHint::with_exact(*n),
            State::Stream { remaining: None, .. } => SizeHint::default(),
        }
    }
}
