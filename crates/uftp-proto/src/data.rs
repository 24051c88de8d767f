//! The data connections of one transfer: one plain TCP stream, or `n`
//! streams carrying framed pieces of each block; each optionally gzip'ed and
//! encrypted. Memory stays bounded: a read buffer per stream, one block, and
//! at most [`FLUSH_AT`] bytes queued per stream when writing.

use bytes::{Bytes, BytesMut};
use hpc_core::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::codec::{Decoder, Encoder};
use crate::crypto::EncryptionKey;
use crate::error;
use crate::frame::{self, ChunkHeader, HEADER_LEN};

/// Bytes read from a socket at a time.
const READ_SIZE: usize = 256 * 1024;
/// Encoded bytes queued per stream before they are written out.
const FLUSH_AT: usize = 256 * 1024;

/// How the data connections of a transfer are encoded.
#[derive(Debug, Clone, Default)]
pub struct Coding {
    /// Encryption, if any.
    pub key: Option<EncryptionKey>,
    /// gzip.
    pub compress: bool,
}

/// One incoming stream: socket, decoder and decoded bytes not consumed yet.
struct InStream {
    tcp: TcpStream,
    decoder: Option<Decoder>,
    plain: BytesMut,
    scratch: Vec<u8>,
    eof: bool,
}

impl InStream {
    /// Reads until `want` plaintext bytes are buffered or the stream ends.
    async fn fill(&mut self, want: usize, host: &str) -> Result<()> {
        while self.plain.len() < want && !self.eof {
            self.read_more(host).await?;
        }
        Ok(())
    }

    async fn read_more(&mut self, host: &str) -> Result<()> {
        match &mut self.decoder {
            None => {
                self.plain.reserve(READ_SIZE);
                let n = self
                    .tcp
                    .read_buf(&mut self.plain)
                    .await
                    .map_err(|e| error::lost(host, "reading a data connection", e))?;
                if n == 0 {
                    self.eof = true;
                }
            }
            Some(dec) => {
                self.scratch.resize(64 * 1024, 0);
                let n = self
                    .tcp
                    .read(&mut self.scratch)
                    .await
                    .map_err(|e| error::lost(host, "reading a data connection", e))?;
                let mut out = Vec::new();
                if n == 0 {
                    self.eof = true;
                    dec.finish(&mut out).map_err(|e| error::bad_data(host, e))?;
                } else {
                    dec.update(&self.scratch[..n], &mut out)
                        .map_err(|e| error::bad_data(host, e))?;
                }
                self.plain.extend_from_slice(&out);
            }
        }
        Ok(())
    }
}

/// The receiving side of a transfer.
pub struct Inbound {
    streams: Vec<InStream>,
    seq: u32,
    max_block: usize,
    host: String,
    done: bool,
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
    /// names the peer in errors.
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
        let streams = conns
            .into_iter()
            .map(|tcp| InStream {
                tcp,
                decoder: Decoder::new(coding.key.as_ref(), coding.compress),
                plain: BytesMut::new(),
                scratch: Vec::new(),
                eof: false,
            })
            .collect();
        Inbound { streams, seq: 0, max_block, host, done: false }
    }

    /// The next plaintext bytes, `None` at the end of the data.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        if self.streams.len() == 1 {
            let s = &mut self.streams[0];
            while s.plain.is_empty() && !s.eof {
                s.read_more(&self.host).await?;
            }
            if s.plain.is_empty() {
                self.done = true;
                return Ok(None);
            }
            return Ok(Some(s.plain.split().freeze()));
        }
        // Several blocks per chunk, so that a consumer is not called per 16 KiB.
        let mut out = BytesMut::new();
        while out.len() < READ_SIZE {
            if !self.read_block(&mut out).await? {
                self.done = true;
                break;
            }
        }
        Ok(if out.is_empty() { None } else { Some(out.freeze()) })
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

/// One outgoing stream.
struct OutStream {
    tcp: TcpStream,
    encoder: Option<Encoder>,
    queued: Vec<u8>,
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
    /// The sending side over `conns` (framed when more than one).
    pub fn new(conns: Vec<TcpStream>, coding: &Coding, host: String) -> Outbound {
        let streams = conns
            .into_iter()
            .map(|tcp| OutStream {
                tcp,
                encoder: Encoder::new(coding.key.as_ref(), coding.compress),
                queued: Vec::new(),
            })
            .collect();
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
            let host = self.host.clone();
            let s = &mut self.streams[0];
            match &mut s.encoder {
                None => {
                    return s
                        .tcp
                        .write_all(data)
                        .await
                        .map_err(|e| error::lost(&host, "writing a data connection", e));
                }
                Some(enc) => {
                    enc.update(data, &mut s.queued);
                    if s.queued.len() >= FLUSH_AT {
                        self.flush_queued().await?;
                    }
                    return Ok(());
                }
            }
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
            let piece = &self.block[off..off + len];
            match &mut s.encoder {
                None => {
                    s.queued.extend_from_slice(&header);
                    s.queued.extend_from_slice(piece);
                }
                Some(enc) => {
                    enc.update(&header, &mut s.queued);
                    enc.update(piece, &mut s.queued);
                }
            }
        }
        self.block.clear();
        self.seq = self.seq.wrapping_add(1);
    }

    /// Writes every stream's queue, all streams at once.
    async fn flush_queued(&mut self) -> Result<()> {
        let host = &self.host;
        let writes = self.streams.iter_mut().map(|s| async move {
            if !s.queued.is_empty() {
                s.tcp.write_all(&s.queued).await?;
                s.queued.clear();
            }
            Ok::<_, std::io::Error>(())
        });
        futures::future::try_join_all(writes)
            .await
            .map_err(|e| error::lost(host, "writing a data connection", e))?;
        Ok(())
    }

    /// Sends what is pending, ends each stream's encoding (gzip trailer,
    /// cipher padding) and closes the connections.
    pub async fn finish(mut self) -> Result<u64> {
        if self.streams.len() > 1 && !self.block.is_empty() {
            self.frame_block();
        }
        for s in &mut self.streams {
            if let Some(enc) = &mut s.encoder {
                enc.finish(&mut s.queued);
            }
        }
        self.flush_queued().await?;
        let host = self.host.clone();
        for s in &mut self.streams {
            s.tcp
                .shutdown()
                .await
                .map_err(|e| error::lost(&host, "closing a data connection", e))?;
        }
        Ok(self.sent)
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
}
