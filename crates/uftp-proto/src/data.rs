//! The data connections of one transfer: one plain TCP stream, or `n`
//! streams carrying framed pieces of each block; each optionally gzip'ed and
//! encrypted. Each connection is served by a thread of its own
//! ([`crate::pump`]), which also encrypts or decrypts, so the streams of a
//! transfer run in parallel. Memory stays bounded: per stream
//! [`AHEAD`](crate::pump::AHEAD) pieces of at most
//! [`IO_SIZE`](crate::pump::IO_SIZE) in flight plus the one being read, and
//! when writing at most [`FLUSH_AT`] bytes queued, shared by the streams
//! (so memory does not grow with their number).
//!
//! Keep-alive connections (plain only; a byte count ends each transfer) are
//! read and written on the runtime instead, so that they can be handed back
//! for the next transfer.

use bytes::{Buf, Bytes, BytesMut};
use hpc_core::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::codec::{Decoder, Encoder};
use crate::crypto::{AesStreams, EncryptionKey, aes_padding};
use crate::error;
use crate::frame::{self, ChunkHeader, HEADER_LEN};
use crate::pump::{self, Guard, Piece};

/// Bytes read from a kept connection at a time.
const KEPT_READ: usize = 256 * 1024;
/// Plaintext bytes queued, over all streams, before they are handed to the
/// streams' threads: each stream's share is its piece size.
const FLUSH_AT: usize = 1 << 20;
/// The smallest piece a stream's thread is handed (many streams).
const MIN_FLUSH: usize = 64 * 1024;
/// Plaintext bytes a multi-stream reader gathers into one piece for its consumer.
const GATHER: usize = 1 << 20;

/// How the data connections of a transfer are encoded.
#[derive(Debug, Clone, Default)]
pub struct Coding {
    /// Encryption, if any.
    pub key: Option<EncryptionKey>,
    /// gzip.
    pub compress: bool,
}

/// An async read or write of a kept connection, within the idle limit its
/// socket carries (see [`pump::set_idle_limit`]).
async fn within<T>(
    limit: Option<std::time::Duration>,
    host: &str,
    doing: &str,
    io: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T> {
    let done = match limit {
        Some(after) => tokio::time::timeout(after, io).await.map_err(|_| {
            hpc_core::Error::Timeout { what: format!("{doing} of {host} (no bytes moved)"), after }
        })?,
        None => io.await,
    };
    done.map_err(|e| error::lost(host, doing, e))
}

/// Where an incoming stream's plaintext comes from.
enum Source {
    /// Not read yet: the thread starts at the first read, so that a plain
    /// download can go to its file by splice instead
    /// ([`Inbound::splice_into`]).
    Idle { tcp: TcpStream, dec: Option<Decoder>, read: usize },
    /// A thread that reads the socket and decodes what it read.
    Pumped { rx: mpsc::Receiver<Result<Bytes>>, _guard: Option<Guard> },
    /// A keep-alive connection, read here.
    Kept { tcp: TcpStream, buf: BytesMut },
}

/// One incoming stream and its decoded bytes not consumed yet.
struct InStream {
    source: Source,
    cur: Bytes,
    eof: bool,
}

impl InStream {
    fn new(tcp: TcpStream, coding: &Coding, streams: usize) -> InStream {
        let dec = Decoder::new(coding.key.as_ref(), coding.compress);
        let read = (pump::IO_SIZE / streams.max(1)).max(KEPT_READ);
        InStream { source: Source::Idle { tcp, dec, read }, cur: Bytes::new(), eof: false }
    }

    fn kept(tcp: TcpStream) -> InStream {
        InStream {
            source: Source::Kept { tcp, buf: BytesMut::new() },
            cur: Bytes::new(),
            eof: false,
        }
    }

    /// Makes `cur` non-empty unless the stream has ended; `false` at its end.
    async fn refill(&mut self, host: &str) -> Result<bool> {
        while self.cur.is_empty() && !self.eof {
            match &mut self.source {
                Source::Idle { .. } => self.start(host),
                Source::Pumped { rx, .. } => match rx.recv().await {
                    Some(piece) => self.cur = piece?,
                    None => self.eof = true,
                },
                Source::Kept { tcp, buf } => {
                    buf.reserve(KEPT_READ);
                    let limit = pump::idle_limit(tcp);
                    let n =
                        within(limit, host, "reading a data connection", tcp.read_buf(buf)).await?;
                    if n == 0 {
                        self.eof = true;
                    }
                    self.cur = buf.split().freeze();
                }
            }
        }
        Ok(!self.cur.is_empty())
    }

    /// Starts the thread of an idle stream.
    fn start(&mut self, host: &str) {
        let empty = Source::Pumped { rx: mpsc::channel(1).1, _guard: None };
        if let Source::Idle { tcp, dec, read } = std::mem::replace(&mut self.source, empty) {
            let (rx, guard) = pump::reader(tcp, dec, read, host);
            self.source = Source::Pumped { rx, _guard: guard };
        }
    }

    /// Appends the next `len` bytes to `out`; fewer only at the end.
    async fn read_append(&mut self, out: &mut BytesMut, len: usize, host: &str) -> Result<usize> {
        let mut done = 0;
        while done < len && self.refill(host).await? {
            let k = self.cur.len().min(len - done);
            out.extend_from_slice(&self.cur[..k]);
            self.cur.advance(k);
            done += k;
        }
        Ok(done)
    }

    /// Copies the next bytes into `dst`; fewer than `dst.len()` only at the end.
    async fn read_into(&mut self, dst: &mut [u8], host: &str) -> Result<usize> {
        let mut done = 0;
        while done < dst.len() && self.refill(host).await? {
            let k = self.cur.len().min(dst.len() - done);
            dst[done..done + k].copy_from_slice(&self.cur[..k]);
            self.cur.advance(k);
            done += k;
        }
        Ok(done)
    }
}

/// The receiving side of a transfer.
pub struct Inbound {
    streams: Vec<InStream>,
    seq: u32,
    max_block: usize,
    host: String,
    done: bool,
    /// On kept (keep-alive) connections: plaintext bytes still to come.
    left: Option<u64>,
    /// Gather buffers of multi-stream chunks handed on, kept to be filled
    /// again once the consumer has dropped their chunk (see [`Inbound::gather_buffer`]).
    spares: Vec<BytesMut>,
}

/// Gather buffers kept: the chunks a consumer holds at once (a file writer's
/// queue and the one it writes) come from at most this many.
const SPARES: usize = 8;

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("streams", &self.streams.len())
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Inbound {
    /// The receiving side over `conns` (framed when more than one); `host`
    /// names the peer in errors. Must be called inside a Tokio runtime.
    pub fn new(conns: Vec<TcpStream>, coding: &Coding, host: String) -> Inbound {
        Self::with_max_block(conns, coding, host, frame::MAX_BLOCK)
    }

    /// As [`Inbound::new`] with a different largest accepted block.
    pub fn with_max_block(
        conns: Vec<TcpStream>,
        coding: &Coding,
        host: String,
        max_block: usize,
    ) -> Inbound {
        let n = conns.len();
        let streams = conns.into_iter().map(|tcp| InStream::new(tcp, coding, n)).collect();
        Inbound { streams, seq: 0, max_block, host, done: false, left: None, spares: Vec::new() }
    }

    /// The receiving side of exactly `len` plain bytes over keep-alive
    /// connections, which stay open: no end of stream marks the end of the
    /// data. [`Inbound::into_connections`] gives them back.
    pub fn kept(conns: Vec<TcpStream>, host: String, len: u64) -> Inbound {
        let streams = conns.into_iter().map(InStream::kept).collect();
        Inbound {
            streams,
            seq: 0,
            max_block: frame::MAX_BLOCK,
            host,
            done: false,
            left: Some(len),
            spares: Vec::new(),
        }
    }

    /// The keep-alive connections of [`Inbound::kept`] once all its bytes
    /// were read; an error if the transfer is not complete or more came.
    pub fn into_connections(self) -> Result<Vec<TcpStream>> {
        if self.left != Some(0) {
            return Err(error::bad_data(
                &self.host,
                "keep-alive data connections are given back only after the announced bytes",
            ));
        }
        let mut conns = Vec::with_capacity(self.streams.len());
        for (i, s) in self.streams.into_iter().enumerate() {
            match s.source {
                Source::Kept { tcp, buf } if s.cur.is_empty() && buf.is_empty() && !s.eof => {
                    conns.push(tcp)
                }
                _ if s.eof => {
                    return Err(error::ended(
                        &self.host,
                        "keeping the data connections",
                        &format!("stream {i} was closed"),
                    ));
                }
                _ => {
                    return Err(error::bad_data(
                        &self.host,
                        format!("stream {i} has data after the announced bytes"),
                    ));
                }
            }
        }
        Ok(conns)
    }

    /// The next plaintext bytes, `None` at the end of the data.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if self.done || self.left == Some(0) {
            self.done = true;
            return Ok(None);
        }
        let chunk = if self.streams.len() == 1 {
            let s = &mut self.streams[0];
            if !s.refill(&self.host).await? {
                self.done = true;
                return Ok(None);
            }
            let mut take = s.cur.len();
            if let Some(left) = self.left {
                // Bytes past the announced end stay for into_connections to refuse.
                take = take.min(usize::try_from(left).unwrap_or(usize::MAX));
            }
            s.cur.split_to(take)
        } else {
            // Several blocks per chunk, so that a consumer is not called per
            // 16 KiB; room for them at once, so that gathering never copies
            // what it has gathered into a bigger buffer.
            let mut out = self.gather_buffer();
            while out.len() < GATHER && self.left.is_none_or(|l| l > out.len() as u64) {
                if !self.read_block(&mut out).await? {
                    self.done = true;
                    break;
                }
            }
            let chunk = out.split().freeze();
            if self.spares.len() < SPARES {
                self.spares.push(out);
            }
            if chunk.is_empty() {
                return Ok(None);
            }
            chunk
        };
        if let Some(left) = &mut self.left {
            *left = left.checked_sub(chunk.len() as u64).ok_or_else(|| {
                error::bad_data(&self.host, "a block past the announced end of the data")
            })?;
        }
        Ok(Some(chunk))
    }

    /// An empty buffer with room for a whole chunk: a kept one whose chunk
    /// the consumer has dropped, else a new one. New memory is a page fault
    /// per page (on our VMs a host fault): taking it for every megabyte cost
    /// a multi-stream download half its system time.
    fn gather_buffer(&mut self) -> BytesMut {
        const ROOM: usize = GATHER + frame::SEND_BLOCK;
        match self.spares.iter_mut().position(|b| b.try_reclaim(ROOM)) {
            Some(i) => self.spares.swap_remove(i),
            None => BytesMut::with_capacity(ROOM),
        }
    }

    /// Reads one framed block and appends it; `false` at the end of the data.
    async fn read_block(&mut self, out: &mut BytesMut) -> Result<bool> {
        let n = self.streams.len();
        let start = out.len();
        let mut total = None;
        for i in 0..n {
            let host = &self.host;
            let s = &mut self.streams[i];
            let mut bytes = [0u8; HEADER_LEN];
            let got = s.read_into(&mut bytes, host).await?;
            if got < HEADER_LEN {
                if i == 0 && got == 0 {
                    return self.check_all_ended().map(|()| false);
                }
                return Err(error::ended(
                    host,
                    &format!("reading block {} of stream {i}", self.seq),
                    "the data connection ended in the middle of a block",
                ));
            }
            let h = ChunkHeader::decode(&bytes, i, n, self.seq, self.max_block)
                .map_err(|e| error::bad_data(host, e))?;
            let t = h.total as usize;
            match total {
                None => {
                    total = Some(t);
                    out.reserve(t);
                }
                Some(prev) if prev != t => {
                    return Err(error::bad_data(
                        host,
                        format!(
                            "stream {i}: block {} is {t} bytes, stream 0 said {prev}",
                            self.seq
                        ),
                    ));
                }
                Some(_) => {}
            }
            // The pieces of a block lie in stream order, one after the other
            // (their lengths were checked against the block's size).
            let len = h.len as usize;
            debug_assert_eq!(frame::piece(t, i, n).0, out.len() - start);
            let got = s.read_append(out, len, host).await?;
            if got < len {
                return Err(error::ended(
                    host,
                    &format!("reading block {} of stream {i}", self.seq),
                    "the data connection ended in the middle of a piece",
                ));
            }
        }
        self.seq = self.seq.wrapping_add(1);
        Ok(true)
    }

    /// At the end of stream 0 every other stream must end too.
    fn check_all_ended(&mut self) -> Result<()> {
        // The other streams are read up to their end lazily: a stream with
        // bytes left over after stream 0 ended is a broken sender.
        for (i, s) in self.streams.iter().enumerate().skip(1) {
            if !s.cur.is_empty() {
                return Err(error::bad_data(
                    &self.host,
                    format!("stream {i} has data after stream 0 ended"),
                ));
            }
        }
        Ok(())
    }

    /// Moves a single plain stream, not read yet, into `file` with splice(2)
    /// (see `pump::splice_to_file`): at most `limit` bytes, more is an
    /// error naming `what`. `None` (and nothing done) for any other kind of
    /// transfer, to be read with [`Inbound::next_chunk`]. `progress` sees
    /// the bytes so far.
    pub async fn splice_into(
        &mut self,
        file: &std::fs::File,
        limit: u64,
        what: &str,
        progress: impl Fn(u64),
    ) -> Option<Result<u64>> {
        let [stream] = &mut self.streams[..] else { return None };
        let plain_idle =
            matches!(&stream.source, Source::Idle { dec: None, .. }) && self.left.is_none();
        if !plain_idle {
            return None;
        }
        let file = match file.try_clone() {
            Ok(f) => f,
            Err(e) => return Some(Err(hpc_core::Error::io(format!("writing {what}"), e))),
        };
        let empty = Source::Pumped { rx: mpsc::channel(1).1, _guard: None };
        let Source::Idle { tcp, .. } = std::mem::replace(&mut stream.source, empty) else {
            return None;
        };
        stream.eof = true;
        self.done = true;
        Some(pump::splice_to_file(tcp, file, limit, &self.host, what, progress).await)
    }

    /// Reads every stream to its end (checks trailers and padding) and drops them.
    pub async fn drain(mut self) -> Result<()> {
        let host = self.host.clone();
        for (i, s) in self.streams.iter_mut().enumerate() {
            if s.refill(&host).await? {
                return Err(error::bad_data(
                    &host,
                    format!("stream {i} has data after the end of the transfer"),
                ));
            }
        }
        Ok(())
    }
}

/// Where an outgoing stream's bytes go.
enum Sink {
    /// Not written yet: the thread starts with the first bytes, so that a
    /// plain upload can send its file with sendfile instead
    /// ([`Outbound::send_file`]).
    Idle { tcp: TcpStream, enc: Option<Encoder> },
    /// A thread that encodes them and writes the socket; `None`s once closed.
    Pumped {
        tx: Option<mpsc::Sender<Piece>>,
        done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
        guard: Guard,
    },
    /// A keep-alive connection, written here.
    Kept(TcpStream),
    /// A connection whose thread could not start: the error, once.
    Broken(Option<hpc_core::Error>),
    /// Everything went with [`Outbound::send_file`], which also closed it.
    Sent,
}

/// One outgoing stream: plaintext queued for it (framed when there are
/// several streams) and where it goes.
struct OutStream {
    sink: Sink,
    queued: BytesMut,
}

impl OutStream {
    fn new(tcp: TcpStream, coding: &Coding) -> OutStream {
        let enc = Encoder::new(coding.key.as_ref(), coding.compress);
        OutStream { sink: Sink::Idle { tcp, enc }, queued: BytesMut::new() }
    }

    /// Starts the thread of an idle stream.
    fn start(&mut self, host: &str) {
        if !matches!(self.sink, Sink::Idle { .. }) {
            return;
        }
        if let Sink::Idle { tcp, enc } = std::mem::replace(&mut self.sink, Sink::Broken(None)) {
            self.sink = match pump::writer(tcp, enc) {
                Ok(w) => Sink::Pumped { tx: Some(w.tx), done: Some(w.done), guard: w.guard },
                Err(e) => Sink::Broken(Some(error::lost(host, "writing a data connection", e))),
            };
        }
    }

    /// Hands `data` on (written, or passed to the stream's thread).
    async fn send(&mut self, data: Bytes, host: &str) -> Result<()> {
        self.start(host);
        match &mut self.sink {
            Sink::Idle { .. } => unreachable!("started above"),
            Sink::Sent => Err(error::ended(
                host,
                "writing a data connection",
                "the file was sent whole already",
            )),
            Sink::Kept(tcp) => {
                let limit = pump::idle_limit(tcp);
                within(limit, host, "writing a data connection", tcp.write_all(&data)).await
            }
            Sink::Pumped { tx, .. } => {
                let sent = match tx {
                    Some(tx) => tx.send(Piece::Data(data)).await.is_ok(),
                    None => false,
                };
                if sent {
                    Ok(())
                } else {
                    // The thread stopped: its error says why.
                    self.close(host).await
                }
            }
            Sink::Broken(e) => Err(e.take().unwrap_or_else(|| {
                error::ended(host, "writing a data connection", "it could not be set up")
            })),
        }
    }

    /// Hands the queued bytes on.
    async fn flush(&mut self, host: &str) -> Result<()> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let data = self.queued.split().freeze();
        self.send(data, host).await
    }

    /// Ends the stream (gzip trailer, cipher padding) and closes the connection.
    async fn close(&mut self, host: &str) -> Result<()> {
        // Even an empty stream has its encoding's end (padding, trailer).
        self.start(host);
        match &mut self.sink {
            Sink::Idle { .. } => unreachable!("started above"),
            Sink::Sent => Ok(()),
            Sink::Kept(tcp) => {
                tcp.shutdown().await.map_err(|e| error::lost(host, "closing a data connection", e))
            }
            Sink::Pumped { tx, done, guard } => {
                if let Some(tx) = tx.take() {
                    // A thread that stopped already reports its error below.
                    let _ = tx.send(Piece::End).await;
                }
                match done.take() {
                    Some(d) => match d.await {
                        Ok(r) => r.map_err(|e| {
                            pump::data_error(host, "writing a data connection", guard, e)
                        }),
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        Err(_) => Err(error::ended(
                            host,
                            "writing a data connection",
                            "its thread was cancelled",
                        )),
                    },
                    None => Ok(()),
                }
            }
            Sink::Broken(e) => e.take().map_or(Ok(()), Err),
        }
    }
}

/// The sending side of a transfer.
pub struct Outbound {
    streams: Vec<OutStream>,
    seq: u32,
    block: BytesMut,
    host: String,
    sent: u64,
    /// Bytes announced for this transfer (keep-alive uploads): no more may
    /// be sent, and no fewer, since the count, not the connection, ends it.
    limit: Option<u64>,
    /// AES over several streams: their chains, encrypted together here
    /// (see [`AesStreams`]) while the stream threads only write.
    /// `Some(None)`: lost to a flush that was given up.
    together: Option<Option<AesStreams>>,
    /// Bytes queued per stream before a flush ([`FLUSH_AT`] shared).
    flush_at: usize,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("streams", &self.streams.len())
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// The sending side over `conns` (framed when more than one). Must be
    /// called inside a Tokio runtime.
    pub fn new(conns: Vec<TcpStream>, coding: &Coding, host: String) -> Outbound {
        // One AES chain per stream, each waiting on its last block: chains
        // encrypted side by side in one thread are several times faster
        // than each on its own thread (gzip'ed streams keep their threads).
        let together = match &coding.key {
            Some(key) if conns.len() > 1 && !coding.compress => AesStreams::new(key, conns.len()),
            _ => None,
        };
        let plain = Coding::default();
        let coding = if together.is_some() { &plain } else { coding };
        let streams = conns.into_iter().map(|tcp| OutStream::new(tcp, coding)).collect();
        Outbound::over(streams, host, together)
    }

    /// The sending side over keep-alive connections (plain data: a cipher
    /// or gzip stream ends only where its connection does), to be ended
    /// with [`Outbound::finish_kept`].
    pub fn kept(conns: Vec<TcpStream>, host: String) -> Outbound {
        let streams = conns
            .into_iter()
            .map(|tcp| OutStream { sink: Sink::Kept(tcp), queued: BytesMut::new() })
            .collect();
        Outbound::over(streams, host, None)
    }

    /// A fresh transfer over `streams`, which share [`FLUSH_AT`].
    fn over(streams: Vec<OutStream>, host: String, together: Option<AesStreams>) -> Outbound {
        let flush_at = (FLUSH_AT / streams.len().max(1)).max(MIN_FLUSH);
        Outbound {
            streams,
            seq: 0,
            block: BytesMut::new(),
            host,
            sent: 0,
            limit: None,
            together: together.map(Some),
            flush_at,
        }
    }

    /// Holds this transfer to exactly `len` plaintext bytes: a write past
    /// them fails before anything of it is sent, and
    /// [`Outbound::finish_kept`] fails (closing the connections, which ends
    /// the transfer for the server) when fewer were written. For keep-alive
    /// uploads, where surplus bytes would open the next transfer and a
    /// shortfall would leave the server waiting.
    pub fn exactly(mut self, len: u64) -> Outbound {
        self.limit = Some(len);
        self
    }

    /// Sends `len` bytes of `file` from `offset` as the whole transfer,
    /// with sendfile(2) (see `pump::sendfile_from`), and closes the
    /// connection: for a single plain stream that nothing was written to
    /// yet. `None` (and nothing done) for any other kind, to be sent with
    /// [`Outbound::write_bytes`]. `what` names the file in errors;
    /// `progress` sees the bytes so far. [`Outbound::finish`] then only
    /// reports the count.
    pub async fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
        what: &str,
        progress: impl Fn(u64),
    ) -> Option<Result<u64>> {
        let [stream] = &mut self.streams[..] else { return None };
        let untouched = matches!(stream.sink, Sink::Idle { enc: None, .. })
            && stream.queued.is_empty()
            && self.sent == 0
            && self.limit.is_none_or(|l| l == len);
        if !untouched {
            return None;
        }
        let file = match file.try_clone() {
            Ok(f) => f,
            Err(e) => return Some(Err(hpc_core::Error::io(format!("reading {what}"), e))),
        };
        let Sink::Idle { tcp, .. } = std::mem::replace(&mut stream.sink, Sink::Sent) else {
            return None;
        };
        let sent = pump::sendfile_from(tcp, file, offset, len, &self.host, what, progress).await;
        if let Ok(n) = &sent {
            self.sent = *n;
        }
        Some(sent)
    }

    /// Refuses `more` bytes past the limit of [`Outbound::exactly`].
    fn check_limit(&self, more: usize) -> Result<()> {
        match self.limit {
            Some(limit) if self.sent.saturating_add(more as u64) > limit => {
                Err(hpc_core::Error::InvalidInput(format!(
                    "upload to {}: more than the {limit} bytes announced",
                    self.host
                )))
            }
            _ => Ok(()),
        }
    }

    /// Plaintext bytes accepted so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Sends `data` (or queues it until a block or a flush threshold is full).
    pub async fn write(&mut self, mut data: &[u8]) -> Result<()> {
        self.check_limit(data.len())?;
        self.sent += data.len() as u64;
        if self.streams.len() == 1 {
            let s = &mut self.streams[0];
            s.queued.extend_from_slice(data);
            if s.queued.len() >= self.flush_at {
                s.flush(&self.host).await?;
            }
            return Ok(());
        }
        while !data.is_empty() {
            let room = frame::SEND_BLOCK - self.block.len();
            let take = room.min(data.len());
            self.block.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.block.len() == frame::SEND_BLOCK {
                self.frame_block();
                if self.streams[0].queued.len() >= self.flush_at {
                    self.flush_queued().await?;
                }
            }
        }
        Ok(())
    }

    /// As [`Outbound::write`]; a single stream sends `data` without copying it.
    pub async fn write_bytes(&mut self, data: Bytes) -> Result<()> {
        if self.streams.len() > 1 || data.len() < FLUSH_AT / 4 {
            return self.write(&data).await;
        }
        self.check_limit(data.len())?;
        self.sent += data.len() as u64;
        let s = &mut self.streams[0];
        s.flush(&self.host).await?;
        s.send(data, &self.host).await
    }

    /// Splits the pending block into one framed piece per stream.
    fn frame_block(&mut self) {
        let n = self.streams.len();
        let total = self.block.len();
        for (i, s) in self.streams.iter_mut().enumerate() {
            let (off, len) = frame::piece(total, i, n);
            let header = ChunkHeader {
                stream: i as u16,
                seq: self.seq,
                total: total as u32,
                len: len as u32,
            }
            .encode();
            if s.queued.capacity() - s.queued.len() < HEADER_LEN + len {
                // Room for a whole flush at once: growing by doubling
                // would copy each queue about twice.
                s.queued.reserve(self.flush_at + frame::SEND_BLOCK + 2 * HEADER_LEN);
            }
            s.queued.extend_from_slice(&header);
            s.queued.extend_from_slice(&self.block[off..off + len]);
        }
        self.block.clear();
        self.seq = self.seq.wrapping_add(1);
    }

    /// Hands every stream's queue on, all streams at once.
    async fn flush_queued(&mut self) -> Result<()> {
        if self.together.is_some() {
            return self.encrypt_and_send(false).await;
        }
        let host = &self.host;
        futures::future::try_join_all(self.streams.iter_mut().map(|s| s.flush(host))).await?;
        Ok(())
    }

    /// Encrypts every stream's queue together, in place, on a blocking
    /// thread (a flush is megabytes of AES), and hands the ciphertext on.
    /// Bytes short of a whole block wait in the queue for the next flush;
    /// `last` pads each stream's end instead.
    async fn encrypt_and_send(&mut self, last: bool) -> Result<()> {
        let lost = |host: &str| {
            error::ended(host, "encrypting the data connections", "a write was given up halfway")
        };
        let mut aes =
            self.together.as_mut().and_then(Option::take).ok_or_else(|| lost(&self.host))?;
        let parts: Vec<BytesMut> = self
            .streams
            .iter_mut()
            .map(|s| {
                let len = if last { s.queued.len() } else { s.queued.len() / 16 * 16 };
                s.queued.split_to(len)
            })
            .collect();
        let (aes, parts) = tokio::task::spawn_blocking(move || {
            let mut parts = parts;
            if last {
                for p in &mut parts {
                    p.extend(aes_padding(p.len()));
                }
            }
            let mut bufs: Vec<&mut [u8]> = parts.iter_mut().map(|p| &mut p[..]).collect();
            aes.encrypt(&mut bufs);
            (aes, parts)
        })
        .await
        .map_err(|e| {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic())
            }
            lost(&self.host)
        })?;
        self.together = Some(Some(aes));
        let host = &self.host;
        futures::future::try_join_all(
            self.streams
                .iter_mut()
                .zip(parts)
                .filter(|(_, p)| !p.is_empty())
                .map(|(s, p)| s.send(p.freeze(), host)),
        )
        .await?;
        Ok(())
    }

    /// Sends what is pending, ends each stream's encoding (gzip trailer,
    /// cipher padding) and closes the connections.
    pub async fn finish(mut self) -> Result<u64> {
        if self.streams.len() > 1 && !self.block.is_empty() {
            self.frame_block();
        }
        if self.together.is_some() {
            self.encrypt_and_send(true).await?;
        } else {
            self.flush_queued().await?;
        }
        let host = &self.host;
        futures::future::try_join_all(self.streams.iter_mut().map(|s| s.close(host))).await?;
        Ok(self.sent)
    }

    /// Sends what is pending and gives the connections of
    /// [`Outbound::kept`] back open, for the next transfer of a keep-alive
    /// session.
    pub async fn finish_kept(mut self) -> Result<(u64, Vec<TcpStream>)> {
        if let Some(limit) = self.limit.filter(|l| *l != self.sent) {
            return Err(hpc_core::Error::InvalidInput(format!(
                "upload to {}: the data ended after {} of the {limit} bytes announced",
                self.host, self.sent
            )));
        }
        if self.streams.len() > 1 && !self.block.is_empty() {
            self.frame_block();
        }
        self.flush_queued().await?;
        let mut conns = Vec::with_capacity(self.streams.len());
        for s in self.streams {
            match s.sink {
                Sink::Kept(tcp) => conns.push(tcp),
                Sink::Idle { .. } | Sink::Pumped { .. } | Sink::Broken(_) | Sink::Sent => {
                    return Err(hpc_core::Error::unsupported(
                        error::SERVICE,
                        "keeping data connections open that were not opened as kept ones",
                    ));
                }
            }
        }
        Ok((self.sent, conns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Algorithm;
    use tokio::net::TcpListener;

    async fn pairs(n: usize) -> (Vec<TcpStream>, Vec<TcpStream>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let mut a = Vec::new();
        let mut b = Vec::new();
        for _ in 0..n {
            let c = TcpStream::connect(addr).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            a.push(c);
            b.push(s);
        }
        (a, b)
    }

    async fn roundtrip(n: usize, coding: Coding, len: usize) {
        let (a, b) = pairs(n).await;
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 253) as u8).collect();
        let sent = data.clone();
        let c2 = coding.clone();
        let writer = tokio::spawn(async move {
            let mut out = Outbound::new(a, &c2, "t".into());
            for c in sent.chunks(10_007) {
                out.write(c).await.unwrap();
            }
            out.finish().await.unwrap()
        });
        let mut inb = Inbound::new(b, &coding, "t".into());
        let mut got = Vec::new();
        while let Some(c) = inb.next_chunk().await.unwrap() {
            got.extend_from_slice(&c);
        }
        inb.drain().await.unwrap();
        assert_eq!(writer.await.unwrap(), len as u64);
        assert_eq!(got.len(), data.len());
        assert!(got == data);
    }

    #[tokio::test]
    async fn streams_codings_and_sizes() {
        let aes = EncryptionKey::generate(Algorithm::Aes).unwrap();
        let bf = EncryptionKey::generate(Algorithm::Blowfish).unwrap();
        for n in [1, 2, 4] {
            for coding in [
                Coding::default(),
                Coding { key: None, compress: true },
                Coding { key: Some(aes.clone()), compress: false },
                Coding { key: Some(bf.clone()), compress: true },
            ] {
                for len in [0, 1, 16384, 16385, 300_000] {
                    roundtrip(n, coding.clone(), len).await;
                }
            }
        }
    }

    #[tokio::test]
    async fn wrong_magic_is_a_parse_error() {
        let (mut a, b) = pairs(2).await;
        let mut h = ChunkHeader { stream: 0, seq: 0, total: 4, len: 2 }.encode();
        h[1] = 0;
        a[0].write_all(&h).await.unwrap();
        a[0].write_all(b"ab").await.unwrap();
        let mut inb = Inbound::new(b, &Coding::default(), "t".into());
        let e = inb.next_chunk().await.unwrap_err();
        assert_eq!(e.kind(), hpc_core::ErrorKind::Parse, "{e}");
        assert!(e.to_string().contains("magic"), "{e}");
    }

    #[tokio::test]
    async fn oversized_block_is_refused_without_allocating() {
        let (mut a, b) = pairs(2).await;
        let h = ChunkHeader { stream: 0, seq: 0, total: u32::MAX, len: u32::MAX / 2 }.encode();
        a[0].write_all(&h).await.unwrap();
        let mut inb = Inbound::new(b, &Coding::default(), "t".into());
        let e = inb.next_chunk().await.unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
    }

    #[tokio::test]
    async fn stream_ending_mid_piece_is_connection_lost() {
        let (mut a, b) = pairs(2).await;
        let h = ChunkHeader { stream: 0, seq: 0, total: 8, len: 4 }.encode();
        a[0].write_all(&h).await.unwrap();
        a[0].write_all(b"ab").await.unwrap();
        drop(a);
        let mut inb = Inbound::new(b, &Coding::default(), "t".into());
        let e = inb.next_chunk().await.unwrap_err();
        assert_eq!(e.kind(), hpc_core::ErrorKind::Connection, "{e}");
    }

    #[tokio::test]
    async fn a_stream_cut_inside_its_cipher_is_a_parse_error_from_its_decoder() {
        let key = EncryptionKey::generate(Algorithm::Aes).unwrap();
        let coding = Coding { key: Some(key.clone()), compress: false };
        let (mut a, b) = pairs(1).await;
        // 40 bytes: not a whole number of cipher blocks, so no valid padding.
        let mut enc = crate::codec::Encoder::new(Some(&key), false).unwrap();
        let mut wire = Vec::new();
        enc.update(&[7u8; 100], &mut wire);
        a[0].write_all(&wire[..40]).await.unwrap();
        drop(a);
        let mut inb = Inbound::new(b, &coding, "t".into());
        let mut e = None;
        for _ in 0..4 {
            match inb.next_chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    e = Some(err);
                    break;
                }
            }
        }
        let e = e.expect("a cut cipher stream must fail");
        assert_eq!(e.kind(), hpc_core::ErrorKind::Parse, "{e}");
    }

    #[tokio::test]
    async fn an_encoded_upload_to_a_closed_peer_is_connection_lost() {
        let key = EncryptionKey::generate(Algorithm::Blowfish).unwrap();
        let coding = Coding { key: Some(key), compress: false };
        let (a, b) = pairs(2).await;
        drop(b);
        let mut out = Outbound::new(a, &coding, "t".into());
        let block = vec![1u8; 1 << 20];
        let mut failed = None;
        for _ in 0..64 {
            if let Err(e) = out.write(&block).await {
                failed = Some(e);
                break;
            }
        }
        let e = match failed {
            Some(e) => e,
            None => out.finish().await.unwrap_err(),
        };
        assert_eq!(e.kind(), hpc_core::ErrorKind::Connection, "{e}");
    }

    #[tokio::test]
    async fn kept_connections_carry_transfers_by_byte_count() {
        for n in [1, 3] {
            let (a, b) = pairs(n).await;
            let (mut a, mut b) = (a, b);
            for (i, len) in [50_000usize, 0, 17].into_iter().enumerate() {
                let data: Vec<u8> = (0..len).map(|j| (j + i) as u8).collect();
                let sent = data.clone();
                let writer = tokio::spawn(async move {
                    let mut out = Outbound::kept(a, "t".into());
                    out.write(&sent).await?;
                    out.finish_kept().await
                });
                let mut inb = Inbound::kept(b, "t".into(), len as u64);
                let mut got = Vec::new();
                while let Some(c) = inb.next_chunk().await.unwrap() {
                    got.extend_from_slice(&c);
                }
                assert!(got == data, "transfer {i} over {n} stream(s)");
                b = inb.into_connections().unwrap();
                let (sent, conns) = writer.await.unwrap().unwrap();
                assert_eq!(sent, len as u64);
                a = conns;
            }
        }
    }

    #[tokio::test]
    async fn a_kept_upload_sends_exactly_the_announced_bytes() {
        // More than announced: refused before any of it goes out.
        let (a, b) = pairs(1).await;
        let mut out = Outbound::kept(a, "t".into()).exactly(10);
        out.write(b"0123456").await.unwrap();
        let e = out.write(b"789ab").await.unwrap_err();
        assert_eq!(e.kind(), hpc_core::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("more than the 10 bytes announced"), "{e}");
        assert_eq!(out.sent(), 7);
        // Fewer: finishing fails and closes the connection, so the reader
        // sees the end instead of waiting for the rest.
        let e = out.finish_kept().await.unwrap_err();
        assert!(e.to_string().contains("after 7 of the 10 bytes"), "{e}");
        let mut inb = Inbound::kept(b, "t".into(), 10);
        let mut got = Vec::new();
        while let Ok(Some(c)) = inb.next_chunk().await {
            got.extend_from_slice(&c);
        }
        assert!(b"0123456".starts_with(&got), "{got:?}");
        assert!(inb.into_connections().is_err(), "a short kept transfer must not look complete");
        // Exactly as announced: the connection is kept.
        let (a, _b) = pairs(1).await;
        let mut out = Outbound::kept(a, "t".into()).exactly(3);
        out.write_bytes(Bytes::from_static(b"abc")).await.unwrap();
        let (sent, conns) = out.finish_kept().await.unwrap();
        assert_eq!((sent, conns.len()), (3, 1));
    }
}
