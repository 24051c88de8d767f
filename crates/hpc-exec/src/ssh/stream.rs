//! [`SshStream`]: a channel as a byte stream, and the session-slot bookkeeping.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use russh::ChannelStream;
use russh::client::Msg;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit};

/// Session channels open on one connection, and a wake-up for those waiting
/// for the server to accept another.
#[derive(Debug, Default)]
pub(crate) struct SessionCount {
    open: AtomicUsize,
    closed: Notify,
}

impl SessionCount {
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Resolves when any session of this connection closes.
    pub(crate) fn closed(&self) -> tokio::sync::futures::Notified<'_> {
        self.closed.notified()
    }
}

/// One open session channel: holds its semaphore permit and counts as open
/// until dropped.
#[derive(Debug)]
pub(crate) struct SessionSlot {
    _permit: OwnedSemaphorePermit,
    count: Arc<SessionCount>,
}

impl SessionSlot {
    pub(crate) fn new(permit: OwnedSemaphorePermit, count: Arc<SessionCount>) -> Self {
        count.open.fetch_add(1, Ordering::SeqCst);
        SessionSlot { _permit: permit, count }
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.count.open.fetch_sub(1, Ordering::SeqCst);
        self.count.closed.notify_waiters();
    }
}

/// A channel (subsystem such as `sftp`, or a `direct-tcpip` tunnel) as one
/// bidirectional byte stream. Shutting down the write half sends EOF;
/// dropping it closes the channel.
pub struct SshStream {
    inner: ChannelStream<Msg>,
    _slot: Option<SessionSlot>,
}

impl SshStream {
    pub(crate) fn new(inner: ChannelStream<Msg>, slot: Option<SessionSlot>) -> Self {
        SshStream { inner, _slot: slot }
    }
}

impl std::fmt::Debug for SshStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshStream").finish_non_exhaustive()
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Reads a bounded queue of chunks as a byte stream (stdout, stderr).
pub(crate) struct ChunkReader {
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    current: bytes::Bytes,
}

impl ChunkReader {
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Self {
        ChunkReader { rx, current: bytes::Bytes::new() }
    }
}

impl AsyncRead for ChunkReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.current.is_empty() {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => self.current = chunk,
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = buf.remaining().min(self.current.len());
        let chunk = self.current.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}
