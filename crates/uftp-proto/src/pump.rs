//! The threads that move a transfer's bytes: each data connection (and each
//! local file end, [`crate::local`]) is served by a blocking thread of its
//! own that reads or writes in pieces of up to [`IO_SIZE`] and does the
//! cipher and gzip work right there. So the streams of one transfer run in
//! parallel whatever the runtime, with one channel hand-over per piece and
//! no thread hop per system call. Pieces travel as [`Bytes`] cut from the
//! buffer they were read into: a plain or cipher-only stream's bytes are
//! never copied between the socket and the consumer.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;

use bytes::{Buf, Bytes, BytesMut};
use hpc_core::Result;
use tokio::sync::mpsc;

use crate::codec::{Decoded, Decoder, Encoder};
use crate::error;

/// The largest piece read or written at a time.
pub(crate) const IO_SIZE: usize = 1 << 20;
/// A buffer with less room than this left is replaced by a fresh one.
const MIN_READ: usize = 64 * 1024;
/// Bytes of a gzip'ed stream read at a time: inflating can multiply them.
const GZIP_READ_SIZE: usize = 64 * 1024;
/// Pieces a thread may run ahead of its consumer (or its producer of it):
/// enough that neither side waits for the other at every piece.
pub(crate) const AHEAD: usize = 4;

/// A read buffer: `buf[..filled]` holds bytes read and not handed on yet,
/// `buf[filled..]` is zeroed room (std's `Read` needs initialised bytes;
/// each buffer is zeroed once, not per read). Handed-on pieces share the
/// buffer's allocation until the consumer drops them.
#[derive(Default)]
pub(crate) struct ReadBuf {
    buf: BytesMut,
    filled: usize,
}

impl ReadBuf {
    /// Reads at most `max` bytes from `r` after the bytes held; 0 at the end.
    pub(crate) fn read_from(&mut self, r: &mut impl Read, max: usize) -> std::io::Result<usize> {
        self.read_with(max, |room| r.read(room))
    }

    /// Reads at most `max` bytes with `read` (into the room it is given)
    /// after the bytes held.
    fn read_with(
        &mut self,
        max: usize,
        mut read: impl FnMut(&mut [u8]) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        if self.buf.len() - self.filled < MIN_READ.min(max) {
            let mut fresh = BytesMut::zeroed((self.filled + max).max(MIN_READ));
            fresh[..self.filled].copy_from_slice(&self.buf[..self.filled]);
            self.buf = fresh;
        }
        let end = self.buf.len().min(self.filled + max);
        loop {
            match read(&mut self.buf[self.filled..end]) {
                Ok(n) => {
                    self.filled += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for bytes from `tcp`, then takes whatever else has already
    /// arrived, up to `max` in all; 0 only at the end. A socket read hands
    /// out what is there, often a few KiB: taking all that is there saves
    /// a thread wake-up on both sides of a channel per read, and never
    /// waits for bytes that have not come.
    pub(crate) fn fill_from(
        &mut self,
        tcp: &mut std::net::TcpStream,
        max: usize,
    ) -> std::io::Result<usize> {
        let mut got = self.read_from(tcp, max)?;
        while got > 0 && got < max {
            let more = self.read_with(max - got, |room| {
                rustix::net::recv(&*tcp, room, rustix::net::RecvFlags::DONTWAIT)
                    .map(|(n, _)| n)
                    .map_err(std::io::Error::from)
            });
            match more {
                Ok(0) => break, // the end: the next read says so
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    /// The bytes held.
    pub(crate) fn data(&mut self) -> &mut [u8] {
        &mut self.buf[..self.filled]
    }

    /// The first `n` bytes held, handed on without a copy.
    pub(crate) fn take(&mut self, n: usize) -> Bytes {
        self.filled -= n;
        self.buf.split_to(n).freeze()
    }

    /// Drops the first `n` bytes held.
    fn skip(&mut self, n: usize) {
        self.filled -= n;
        self.buf.advance(n);
    }
}

/// A data connection served by a thread: dropping it shuts the socket down,
/// so that a thread blocked on it ends when its transfer is given up.
pub(crate) struct Guard(std::net::TcpStream);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// The socket of `tcp` in blocking mode, and a second handle for its [`Guard`].
fn blocking(tcp: tokio::net::TcpStream) -> std::io::Result<(std::net::TcpStream, Guard)> {
    let tcp = tcp.into_std()?;
    tcp.set_nonblocking(false)?;
    let guard = Guard(tcp.try_clone()?);
    Ok((tcp, guard))
}

/// Starts a thread that reads `tcp` to its end and sends its decoded bytes
/// (an error ends the stream). Must be called inside a Tokio runtime.
/// `read_size` is the most read at a time (the streams of one transfer
/// share [`IO_SIZE`], so that memory does not grow with their number).
pub(crate) fn reader(
    tcp: tokio::net::TcpStream,
    dec: Option<Decoder>,
    read_size: usize,
    host: &str,
) -> (mpsc::Receiver<Result<Bytes>>, Option<Guard>) {
    let (tx, rx) = mpsc::channel(AHEAD);
    match blocking(tcp) {
        Ok((tcp, guard)) => {
            let host = host.to_owned();
            tokio::task::spawn_blocking(move || read_loop(tcp, dec, read_size, &tx, &host));
            (rx, Some(guard))
        }
        Err(e) => {
            let _ = tx.try_send(Err(error::lost(host, "reading a data connection", e)));
            (rx, None)
        }
    }
}

fn read_loop(
    mut tcp: std::net::TcpStream,
    mut dec: Option<Decoder>,
    read_size: usize,
    tx: &mpsc::Sender<Result<Bytes>>,
    host: &str,
) {
    let max = match &dec {
        Some(d) if d.inflates() => GZIP_READ_SIZE.min(read_size),
        _ => read_size,
    };
    let mut buf = ReadBuf::default();
    let mut out = Vec::new();
    loop {
        let n = match buf.fill_from(&mut tcp, max) {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.blocking_send(Err(error::lost(host, "reading a data connection", e)));
                return;
            }
        };
        let piece = match (&mut dec, n) {
            (None, _) => Ok(buf.take(buf.filled)),
            (Some(d), 0) => {
                d.finish(buf.data(), &mut out).map(|()| Bytes::from(std::mem::take(&mut out)))
            }
            (Some(d), _) => match d.update(buf.data(), &mut out) {
                Ok(Decoded::InPlace(k)) => Ok(buf.take(k)),
                Ok(Decoded::Consumed(k)) => {
                    buf.skip(k);
                    Ok(Bytes::from(std::mem::take(&mut out)))
                }
                Err(e) => Err(e),
            },
        };
        match piece {
            Ok(p) if p.is_empty() => {}
            Ok(p) => {
                if tx.blocking_send(Ok(p)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(error::bad_data(host, e)));
                return;
            }
        }
        if n == 0 {
            return;
        }
    }
}

/// What a writing thread is handed.
pub(crate) enum Piece {
    /// Plaintext to encode and send.
    Data(Bytes),
    /// The end: finish the encoding (padding, gzip trailer) and close the
    /// sending side. A thread whose channel closes without it stops
    /// without finishing, so a transfer given up never looks complete.
    End,
}

/// A writing thread's channel and the handle that says how it ended.
pub(crate) struct Writer {
    pub(crate) tx: mpsc::Sender<Piece>,
    pub(crate) done: tokio::task::JoinHandle<std::io::Result<()>>,
    pub(crate) guard: Guard,
}

/// Starts a thread that encodes what it is handed and writes it to `tcp`.
/// Must be called inside a Tokio runtime.
pub(crate) fn writer(tcp: tokio::net::TcpStream, enc: Option<Encoder>) -> std::io::Result<Writer> {
    let (tcp, guard) = blocking(tcp)?;
    let (tx, rx) = mpsc::channel(AHEAD);
    let done = tokio::task::spawn_blocking(move || write_loop(tcp, enc, rx));
    Ok(Writer { tx, done, guard })
}

fn write_loop(
    mut tcp: std::net::TcpStream,
    mut enc: Option<Encoder>,
    mut rx: mpsc::Receiver<Piece>,
) -> std::io::Result<()> {
    let mut wire = Vec::new();
    loop {
        match (rx.blocking_recv(), &mut enc) {
            (Some(Piece::Data(data)), None) => tcp.write_all(&data)?,
            (Some(Piece::Data(data)), Some(e)) => {
                wire.clear();
                e.update(&data, &mut wire);
                tcp.write_all(&wire)?;
            }
            (Some(Piece::End), enc) => {
                if let Some(e) = enc {
                    wire.clear();
                    e.finish(&mut wire);
                    tcp.write_all(&wire)?;
                }
                return tcp.shutdown(Shutdown::Write);
            }
            (None, _) => {
                return Err(std::io::Error::new(
                    ErrorKind::BrokenPipe,
                    "the transfer was given up",
                ));
            }
        }
    }
}
