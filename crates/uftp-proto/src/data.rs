//! The data connections of one transfer: one plain TCP stream, or `n`
//! streams carrying framed pieces of each block; each optionally gzip'ed and
//! encrypted. An encoded stream's cipher and gzip work runs on a blocking
//! thread of its own per chunk, so the streams of a transfer encrypt and
//! decrypt in parallel (UFTP keeps one cipher per stream). Memory stays
//! bounded: per stream a read buffer, [`AHEAD`] decoded chunks, and at most
//! [`FLUSH_AT`] bytes queued when writing; one block for the framing.

use bytes::{Bytes, BytesMut};
use hpc_core::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::codec::{Decoder, Encoder};
use crate::crypto::EncryptionKey;
use crate::error;
use crate::frame::{self, ChunkHeader, HEADER_LEN};

/// Bytes read from a socket at a time.
const READ_SIZE: usize = 256 * 1024;
/// Bytes of a gzip'ed stream read at a time: inflating can multiply them.
const GZIP_READ_SIZE: usize = 64 * 1024;
/// Bytes queued per stream before they are encoded and written out.
const FLUSH_AT: usize = 256 * 1024;
/// Chunks a stream's coder may run ahead of the framing, each way.
const AHEAD: usize = 2;

/// How the data connections of a transfer are encoded.
#[derive(Debug, Clone, Default)]
pub struct Coding {
    /// Encryption, if any.
    pub key: Option<EncryptionKey>,
    /// gzip.
    pub compress: bool,
}

/// A task that ends when its owner drops it (a transfer given up must not
/// leave a reader or writer behind on its socket).
struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Task<T> {
    /// The task's result; a panic in it goes on in the caller.
    async fn join(mut self) -> Option<T> {
        match (&mut self.0).await {
            Ok(v) => Some(v),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => None,
        }
    }
}

/// Runs `f` on a blocking thread, so that codings of several streams run in
/// parallel whatever the runtime.
async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only a runtime shutting down cancels a blocking task.
        Err(e) => panic!("a data stream's coder was cancelled: {e}"),
    }
}

/// Where an incoming stream's plaintext comes from.
enum Source {
    /// Straight from the socket.
    Plain(TcpStream),
    /// From a task that reads the socket and decodes what it read.
    Decoded { rx: mpsc::Receiver<Result<Bytes>>, _task: Task<()> },
}

/// One incoming stream and its decoded bytes not consumed yet.
struct InStream {
    source: Source,
    plain: BytesMut,
    eof: bool,
}

impl InStream {
    fn new(tcp: TcpStream, coding: &Coding, host: &str) -> InStream {
        let source = match Decoder::new(coding.key.as_ref(), coding.compress) {
            None => Source::Plain(tcp),
            Some(dec) => {
                let read = if coding.compress { GZIP_READ_SIZE } else { READ_SIZE };
                let (tx, rx) = mpsc::channel(AHEAD);
                let task = tokio::spawn(decode(tcp, dec, read, tx, host.to_owned()));
                Source::Decoded { rx, _task: Task(task) }
            }
        };
        InStream { source, plain: BytesMut::new(), eof: false }
    }

    /// Reads until `want` plaintext bytes are buffered or the stream ends.
    async fn fill(&mut self, want: usize, host: &str) -> Result<()> {
        while self.plain.len() < want && !self.eof {
            self.read_more(host).await?;
        }
        Ok(())
    }

    async fn read_more(&mut self, host: &str) -> Result<()> {
        match &mut self.source {
            Source::Plain(tcp) => {
                self.plain.reserve(READ_SIZE);
                let n = tcp
                    .read_buf(&mut self.plain)
                    .await
                    .map_err(|e| error::lost(host, "reading a data connection", e))?;
                if n == 0 {
                    self.eof = true;
                }
            }
            Source::Decoded { rx, .. } => match rx.recv().await {
                Some(chunk) => self.plain.extend_from_slice(&chunk?),
                None => self.eof = true,
            },
        }
        Ok(())
    }
}

/// Reads `tcp` to its end and sends the decoded bytes; the first error ends it.
async fn decode(
    mut tcp: TcpStream,
    mut dec: Decoder,
    read_size: usize,
    tx: mpsc::Sender<Result<Bytes>>,
    host: String,
) {
    let mut raw = vec![0u8; read_size];
    loop {
        let n = match tcp.read(&mut raw).await {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.send(Err(error::lost(&host, "reading a data connection", e))).await;
                return;
            }
        };
        let (d, r, decoded) = off_thread(move || {
            let mut out = Vec::new();
            let done = if n == 0 { dec.finish(&mut out) } else { dec.update(&raw[..n], &mut out) };
            (dec, raw, done.map(|()| out))
        })
        .await;
        (dec, raw) = (d, r);
        match decoded {
            Ok(out) if out.is_empty() => {}
            Ok(out) => {
                if tx.send(Ok(Bytes::from(out))).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(error::bad_data(&host, e))).await;
                return;
            }
        }
        if n == 0 {
            return;
        }
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
}

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
        let streams = conns.into_iter().map(|tcp| InStream::new(tcp, coding, &host)).collect();
        Inbound { streams, seq: 0, max_block, host, done: false, left: None }
    }

    /// The receiving side of exactly `len` plain bytes over keep-alive
    /// connections, which stay open: no end of stream marks the end of the
    /// data. [`Inbound::into_connections`] gives them back.
    pub fn kept(conns: Vec<TcpStream>, host: String, len: u64) -> Inbound {
        let mut inbound = Self::new(conns, &Coding::default(), host);
        inbound.left = Some(len);
        inbound
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
                Source::Plain(tcp) if s.plain.is_empty() && !s.eof => conns.push(tcp),
                Source::Plain(_) if s.eof => {
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
            while s.plain.is_empty() && !s.eof {
                s.read_more(&self.host).await?;
            }
            if s.plain.is_empty() {
                self.done = true;
                return Ok(None);
            }
            let mut take = s.plain.len();
            if let Some(left) = self.left {
                // Bytes past the announced end stay for into_connections to refuse.
                take = take.min(usize::try_from(left).unwrap_or(usize::MAX));
            }
            s.plain.split_to(take).freeze()
        } else {
            // Several blocks per chunk, so that a consumer is not called per 16 KiB.
            let mut out = BytesMut::new();
            while out.len() < READ_SIZE && self.left.is_none_or(|l| l > out.len() as u64) {
                if !self.read_block(&mut out).await? {
                    self.done = true;
                    break;
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            out.freeze()
        };
        if let Some(left) = &mut self.left {
            *left = left.checked_sub(chunk.len() as u64).ok_or_else(|| {
                error::bad_data(&self.host, "a block past the announced end of the data")
            })?;
        }
        Ok(Some(chunk))
    }

    /// Reads one framed block and appends it; `false` at the end of the data.
    async fn read_block(&mut self, out: &mut BytesMut) -> Result<bool> {
        let n = self.streams.len();
        let start = out.len();
        let mut total = None;
        for i in 0..n {
            let host = self.host.clone();
            let s = &mut self.streams[i];
            s.fill(HEADER_LEN, &host).await?;
            if s.plain.len() < HEADER_LEN {
                if i == 0 && s.plain.is_empty() {
                    return self.check_all_ended().map(|()| false);
                }
                return Err(error::ended(
                    &host,
                    &format!("reading block {} of stream {i}", self.seq),
                    "the data connection ended in the middle of a block",
                ));
            }
            let bytes: [u8; HEADER_LEN] = s.plain[..HEADER_LEN].try_into().expect("16 bytes");
            let h = ChunkHeader::decode(&bytes, i, n, self.seq, self.max_block)
                .map_err(|e| error::bad_data(&host, e))?;
            let t = h.total as usize;
            match total {
                None => {
                    total = Some(t);
                    out.resize(start + t, 0);
                }
                Some(prev) if prev != t => {
                    return Err(error::bad_data(
                        &host,
                        format!(
                            "stream {i}: block {} is {t} bytes, stream 0 said {prev}",
                            self.seq
                        ),
                    ));
                }
                Some(_) => {}
            }
            let len = h.len as usize;
            s.fill(HEADER_LEN + len, &host).await?;
            if s.plain.len() < HEADER_LEN + len {
                return Err(error::ended(
                    &host,
                    &format!("reading block {} of stream {i}", self.seq),
                    "the data connection ended in the middle of a piece",
                ));
            }
            let (off, _) = frame::piece(t, i, n);
            let _ = s.plain.split_to(HEADER_LEN);
            let piece = s.plain.split_to(len);
            out[start + off..start + off + len].copy_from_slice(&piece);
        }
        self.seq = self.seq.wrapping_add(1);
        Ok(true)
    }

    /// At the end of stream 0 every other stream must end too.
    fn check_all_ended(&mut self) -> Result<()> {
        // The other streams are read up to their end lazily: a stream with
        // bytes left over after stream 0 ended is a broken sender.
        for (i, s) in self.streams.iter().enumerate().skip(1) {
            if !s.plain.is_empty() {
                return Err(error::bad_data(
                    &self.host,
                    format!("stream {i} has data after stream 0 ended"),
                ));
            }
        }
        Ok(())
    }

    /// Reads every stream to its end (checks trailers and padding) and drops them.
    pub async fn drain(mut self) -> Result<()> {
        let host = self.host.clone();
        for (i, s) in self.streams.iter_mut().enumerate() {
            while !s.eof && s.plain.is_empty() {
                s.read_more(&host).await?;
            }
            if !s.plain.is_empty() {
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
    /// Straight into the socket.
    Plain(TcpStream),
    /// To a task that encodes them and writes the socket; `None`s once closed.
    Encoded { tx: Option<mpsc::Sender<Vec<u8>>>, task: Option<Task<Result<()>>> },
}

/// One outgoing stream: plaintext queued for it (framed when there are
/// several streams) and where it goes.
struct OutStream {
    sink: Sink,
    queued: Vec<u8>,
}

impl OutStream {
    fn new(tcp: TcpStream, coding: &Coding, host: &str) -> OutStream {
        let sink = match Encoder::new(coding.key.as_ref(), coding.compress) {
            None => Sink::Plain(tcp),
            Some(enc) => {
                let (tx, rx) = mpsc::channel(AHEAD);
                let task = tokio::spawn(encode(tcp, enc, rx, host.to_owned()));
                Sink::Encoded { tx: Some(tx), task: Some(Task(task)) }
            }
        };
        OutStream { sink, queued: Vec::new() }
    }

    /// Hands the queued bytes on (written, or passed to the encoder).
    async fn flush(&mut self, host: &str) -> Result<()> {
        if self.queued.is_empty() {
            return Ok(());
        }
        match &mut self.sink {
            Sink::Plain(tcp) => {
                tcp.write_all(&self.queued)
                    .await
                    .map_err(|e| error::lost(host, "writing a data connection", e))?;
                self.queued.clear();
            }
            Sink::Encoded { tx, .. } => {
                let data = std::mem::replace(&mut self.queued, Vec::with_capacity(FLUSH_AT));
                let sent = match tx {
                    Some(tx) => tx.send(data).await.is_ok(),
                    None => false,
                };
                if !sent {
                    // The encoder stopped: its error says why.
                    return self.close(host).await;
                }
            }
        }
        Ok(())
    }

    /// Ends the stream (gzip trailer, cipher padding) and closes the connection.
    async fn close(&mut self, host: &str) -> Result<()> {
        match &mut self.sink {
            Sink::Plain(tcp) => {
                tcp.shutdown().await.map_err(|e| error::lost(host, "closing a data connection", e))
            }
            Sink::Encoded { tx, task } => {
                tx.take();
                match task.take() {
                    Some(task) => task.join().await.unwrap_or_else(|| {
                        Err(error::ended(host, "writing a data connection", "the encoder stopped"))
                    }),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Encodes what arrives on `rx` and writes it to `tcp`; at the end of `rx`
/// ends the encoding and shuts the connection down.
async fn encode(
    mut tcp: TcpStream,
    mut enc: Encoder,
    mut rx: mpsc::Receiver<Vec<u8>>,
    host: String,
) -> Result<()> {
    let mut wire = Vec::with_capacity(FLUSH_AT + 64);
    loop {
        let next = rx.recv().await;
        let last = next.is_none();
        let (e, w) = off_thread(move || {
            wire.clear();
            match next {
                Some(data) => enc.update(&data, &mut wire),
                None => enc.finish(&mut wire),
            }
            (enc, wire)
        })
        .await;
        (enc, wire) = (e, w);
        tcp.write_all(&wire)
            .await
            .map_err(|e| error::lost(&host, "writing a data connection", e))?;
        if last {
            return tcp
                .shutdown()
                .await
                .map_err(|e| error::lost(&host, "closing a data connection", e));
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
        let streams = conns.into_iter().map(|tcp| OutStream::new(tcp, coding, &host)).collect();
        Outbound { streams, seq: 0, block: BytesMut::new(), host, sent: 0 }
    }

    /// Plaintext bytes accepted so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Sends `data` (or queues it until a block or a flush threshold is full).
    pub async fn write(&mut self, mut data: &[u8]) -> Result<()> {
        self.sent += data.len() as u64;
        if self.streams.len() == 1 {
            let s = &mut self.streams[0];
            if let Sink::Plain(tcp) = &mut s.sink {
                return tcp
                    .write_all(data)
                    .await
                    .map_err(|e| error::lost(&self.host, "writing a data connection", e));
            }
            s.queued.extend_from_slice(data);
            if s.queued.len() >= FLUSH_AT {
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
                if self.streams[0].queued.len() >= FLUSH_AT {
                    self.flush_queued().await?;
                }
            }
        }
        Ok(())
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
            s.queued.extend_from_slice(&header);
            s.queued.extend_from_slice(&self.block[off..off + len]);
        }
        self.block.clear();
        self.seq = self.seq.wrapping_add(1);
    }

    /// Hands every stream's queue on, all streams at once.
    async fn flush_queued(&mut self) -> Result<()> {
        let host = &self.host;
        futures::future::try_join_all(self.streams.iter_mut().map(|s| s.flush(host))).await?;
        Ok(())
    }

    /// Sends what is pending, ends each stream's encoding (gzip trailer,
    /// cipher padding) and closes the connections.
    pub async fn finish(mut self) -> Result<u64> {
        if self.streams.len() > 1 && !self.block.is_empty() {
            self.frame_block();
        }
        self.flush_queued().await?;
        let host = &self.host;
        futures::future::try_join_all(self.streams.iter_mut().map(|s| s.close(host))).await?;
        Ok(self.sent)
    }

    /// Sends what is pending and gives the connections back open, for the
    /// next transfer of a keep-alive session (plain data only: a cipher or
    /// gzip stream ends only where its connection does).
    pub async fn finish_kept(mut self) -> Result<(u64, Vec<TcpStream>)> {
        if self.streams.len() > 1 && !self.block.is_empty() {
            self.frame_block();
        }
        self.flush_queued().await?;
        let mut conns = Vec::with_capacity(self.streams.len());
        for s in self.streams {
            match s.sink {
                Sink::Plain(tcp) => conns.push(tcp),
                Sink::Encoded { .. } => {
                    return Err(hpc_core::Error::unsupported(
                        error::SERVICE,
                        "keeping encrypted or compressed data connections open",
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
                    let mut out = Outbound::new(a, &Coding::default(), "t".into());
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
}
