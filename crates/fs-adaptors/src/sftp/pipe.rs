//! Pipelined reads and writes on one open handle.
//!
//! russh-sftp's `RawSftpSession` takes `&self` for every request and matches
//! replies by id, so many requests can be outstanding at once; these helpers
//! keep up to `in_flight` of them going.

use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, FuturesOrdered, FuturesUnordered, StreamExt};
use hpc_core::{ByteRange, ByteStream, Path, Result};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;

use super::error::{SftpErrorExt, status_code};

/// One open handle and how to drive it.
pub(super) struct Pipe {
    pub(super) session: Arc<RawSftpSession>,
    pub(super) host: String,
    pub(super) path: Path,
    pub(super) handle: String,
    pub(super) chunk: u32,
    pub(super) in_flight: usize,
}

impl Pipe {
    /// Close the handle and report the server's verdict (a failed close can
    /// mean lost data, for example on a full disk).
    pub(super) async fn close(mut self) -> Result<()> {
        let handle = std::mem::take(&mut self.handle);
        self.session
            .close(handle)
            .await
            .map(drop)
            .map_err(|e| e.at(&self.host, "close", &self.path))
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        if self.handle.is_empty() {
            return;
        }
        // Dropped mid-transfer: close the handle in the background.
        let (session, handle) = (self.session.clone(), std::mem::take(&mut self.handle));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = session.close(handle).await;
            });
        }
    }
}

/// Deletes a remote temporary file when dropped while armed (a write future
/// that was dropped half-way).
pub(super) struct RemoveOnDrop {
    session: Arc<RawSftpSession>,
    path: Option<String>,
}

impl RemoveOnDrop {
    pub(super) fn new(session: Arc<RawSftpSession>, path: String) -> Self {
        RemoveOnDrop { session, path: Some(path) }
    }

    pub(super) fn disarm(&mut self) {
        self.path = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else { return };
        let session = self.session.clone();
        // Counted, so that a program ending on a signal waits for it.
        hpc_core::cleanup::spawn(async move {
            let _ = session.remove(path).await;
        });
    }
}

type ReadReply = (u64, u32, Result<Vec<u8>, SftpError>);

struct Reader {
    pipe: Option<Pipe>,
    next: u64,
    end: Option<u64>,
    pending: FuturesOrdered<BoxFuture<'static, ReadReply>>,
    done: bool,
}

impl Reader {
    fn fill(&mut self) {
        let Some(pipe) = &self.pipe else { return };
        while self.pending.len() < pipe.in_flight && self.end.is_none_or(|e| self.next < e) {
            let len = match self.end {
                Some(e) => (e - self.next).min(pipe.chunk as u64) as u32,
                None => pipe.chunk,
            };
            let (session, handle, offset) = (pipe.session.clone(), pipe.handle.clone(), self.next);
            self.pending.push_back(Box::pin(async move {
                let r = session.read(handle, offset, len).await.map(|d| d.data);
                (offset, len, r)
            }));
            self.next += len as u64;
        }
    }

    async fn finish(&mut self) -> Option<Result<Bytes>> {
        self.done = true;
        self.pending = FuturesOrdered::new();
        let pipe = self.pipe.take()?;
        pipe.close().await.err().map(Err)
    }

    async fn next_chunk(&mut self) -> Option<Result<Bytes>> {
        if self.done {
            return None;
        }
        self.fill();
        let Some((offset, len, reply)) = self.pending.next().await else {
            return self.finish().await;
        };
        match reply {
            Ok(data) if data.is_empty() => self.finish().await,
            Ok(data) => {
                if (data.len() as u64) < len as u64 {
                    // A short read: what was asked after it starts at the wrong
                    // offset. Drop those requests and continue from the gap.
                    self.pending = FuturesOrdered::new();
                    self.next = offset + data.len() as u64;
                }
                Some(Ok(Bytes::from(data)))
            }
            Err(e) if status_code(&e) == Some(StatusCode::Eof) => self.finish().await,
            Err(e) => {
                let (host, path) = match &self.pipe {
                    Some(p) => (p.host.clone(), p.path.clone()),
                    None => (String::new(), Path::root()),
                };
                self.done = true;
                self.pending = FuturesOrdered::new();
                Some(Err(e.at(&host, "read", &path)))
            }
        }
    }
}

/// Stream `range` of the open file, keeping `in_flight` reads outstanding.
pub(super) fn read_stream(pipe: Pipe, range: ByteRange) -> ByteStream {
    let end = range.len.map(|l| range.offset.saturating_add(l));
    let reader = Reader {
        pipe: Some(pipe),
        next: range.offset,
        end,
        pending: FuturesOrdered::new(),
        done: false,
    };
    stream::unfold(reader, |mut r| async move { r.next_chunk().await.map(|c| (c, r)) }).boxed()
}

/// Write `data` at `offset` onwards, with up to `in_flight` writes
/// outstanding; returns the byte count once every write is acknowledged.
pub(super) async fn write_stream(
    pipe: &Pipe,
    mut offset: u64,
    mut data: ByteStream,
) -> Result<u64> {
    let chunk = pipe.chunk as usize;
    let mut pending: FuturesUnordered<BoxFuture<'static, Result<(), SftpError>>> =
        FuturesUnordered::new();
    let mut buf: Vec<u8> = Vec::with_capacity(chunk);
    let mut total = 0u64;
    let check = |r: Result<(), SftpError>| r.map_err(|e| e.at(&pipe.host, "write", &pipe.path));

    let send = |pending: &mut FuturesUnordered<_>, at: u64, block: Vec<u8>| {
        let (session, handle) = (pipe.session.clone(), pipe.handle.clone());
        pending.push(Box::pin(async move { session.write(handle, at, block).await.map(drop) })
            as BoxFuture<'static, Result<(), SftpError>>);
    };

    loop {
        let item = data.next().await;
        let Some(item) = item else { break };
        let mut bytes = item?;
        total += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = (chunk - buf.len()).min(bytes.len());
            buf.extend_from_slice(&bytes.split_to(take));
            if buf.len() == chunk {
                while pending.len() >= pipe.in_flight {
                    if let Some(r) = pending.next().await {
                        check(r)?;
                    }
                }
                let block = std::mem::replace(&mut buf, Vec::with_capacity(chunk));
                let at = offset;
                offset += block.len() as u64;
                send(&mut pending, at, block);
                // Poll once so the new request goes out now, and collect any acks.
                while let Poll::Ready(Some(r)) = futures::poll!(pending.next()) {
                    check(r)?;
                }
            }
        }
    }
    if !buf.is_empty() {
        send(&mut pending, offset, buf);
    }
    while let Some(r) = pending.next().await {
        check(r)?;
    }
    Ok(total)
}
