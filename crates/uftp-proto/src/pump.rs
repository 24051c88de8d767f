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
use std::os::fd::AsFd;
use std::time::Duration;

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

/// Gives a data connection its idle limit: a blocking read or write (these
/// threads, splice, sendfile) that moves nothing for `idle` fails with
/// `EAGAIN`, which [`data_error`] turns into a timeout; the async reads and
/// writes of kept connections ask [`idle_limit`] for the same limit. One
/// setting on the socket, so no path can forget it.
pub(crate) fn set_idle_limit(tcp: &impl AsFd, idle: Duration) -> std::io::Result<()> {
    use rustix::net::sockopt::{Timeout, set_socket_timeout};
    set_socket_timeout(tcp, Timeout::Recv, Some(idle))?;
    set_socket_timeout(tcp, Timeout::Send, Some(idle))?;
    Ok(())
}

/// The idle limit [`set_idle_limit`] gave `tcp`, if any.
pub(crate) fn idle_limit(tcp: &impl AsFd) -> Option<Duration> {
    rustix::net::sockopt::socket_timeout(tcp, rustix::net::sockopt::Timeout::Recv).ok().flatten()
}

/// TCP keepalive probes after `quiet` without traffic, four of them a
/// quarter of that apart: a wait on a server or network that is gone ends
/// even where no reply limit applies.
pub(crate) fn probe_when_quiet(tcp: &impl AsFd, quiet: Duration) -> std::io::Result<()> {
    use rustix::net::sockopt;
    let quiet = quiet.max(Duration::from_secs(1));
    sockopt::set_socket_keepalive(tcp, true)?;
    sockopt::set_tcp_keepidle(tcp, quiet)?;
    sockopt::set_tcp_keepintvl(tcp, (quiet / 4).max(Duration::from_secs(1)))?;
    sockopt::set_tcp_keepcnt(tcp, 4)?;
    Ok(())
}

/// An I/O error of data connection `tcp` while `doing`: its idle limit
/// passing (`EAGAIN` from a blocking socket) is [`hpc_core::Error::Timeout`],
/// anything else a lost connection.
pub(crate) fn data_error(
    host: &str,
    doing: &str,
    tcp: &impl AsFd,
    e: std::io::Error,
) -> hpc_core::Error {
    match idle_limit(tcp) {
        Some(after) if e.kind() == ErrorKind::WouldBlock => {
            hpc_core::Error::Timeout { what: format!("{doing} of {host} (no bytes moved)"), after }
        }
        _ => error::lost(host, doing, e),
    }
}

/// A data connection served by a thread: dropping it shuts the socket down,
/// so that a thread blocked on it ends when its transfer is given up.
pub(crate) struct Guard(std::net::TcpStream);

impl AsFd for Guard {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// Bytes the splicing reader of a data connection waits for before it is
/// woken (`SO_RCVLOWAT`), while at least that many are still to come. By
/// default every arriving segment wakes it, and on a VM each wake-up is an
/// interrupt to the other CPU: on loopback a 1 GiB single-stream download
/// took 0.47 s that way and 0.33 s with this mark (64 KiB: 0.40 s,
/// 256 KiB: 0.37 s), local `cp` 0.28 s.
const WAKE_AT: u64 = 128 * 1024;

/// `SO_RCVLOWAT`, which neither rustix nor socket2 offers, declared with
/// nix's own macro for socket options, so that the system call stays in
/// nix's code.
mod low_water {
    use nix::libc;
    use nix::{setsockopt_impl, sockopt_impl};
    sockopt_impl!(
        /// The receive low-water mark of a socket.
        RcvLowat,
        SetOnly,
        libc::SOL_SOCKET,
        libc::SO_RCVLOWAT,
        usize
    );
}

/// The low-water mark for a reader that expects `left` more bytes: never
/// more than will come, so the last bytes of a stream that stays open
/// still wake it (the kernel also wakes it at the stream's end), and at
/// least 1, so one byte too many is seen at once.
fn wake_mark(left: u64) -> usize {
    usize::try_from(left.clamp(1, WAKE_AT)).unwrap_or(1)
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
                let _ =
                    tx.blocking_send(Err(data_error(host, "reading a data connection", &tcp, e)));
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
    unthrottled_on_this_host(&tcp);
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

/// The most a pipe of [`splice_to_file`] holds (the kernel may give less).
const PIPE_SIZE: usize = 1 << 20;

/// Moves a plain stream's bytes from `tcp` into `file` (from where it
/// stands) with splice(2) through a pipe: the socket's pages go to the pipe
/// without a copy and are copied once into the file's page cache, where a
/// buffer here would cost two copies and a thread hand-over per piece.
/// Takes at most `limit` bytes; more is an error (about `what`), as on the
/// pumped path.
/// A file system that cannot take a splice gets the pipe's bytes written
/// the usual way. `progress` sees the count after each piece. Must be
/// called inside a Tokio runtime; dropping the future shuts the socket
/// down, which ends the thread.
pub(crate) async fn splice_to_file(
    tcp: tokio::net::TcpStream,
    file: std::fs::File,
    limit: u64,
    host: &str,
    what: &str,
    progress: impl Fn(u64),
) -> Result<u64> {
    let lost = |e: std::io::Error| error::lost(host, "reading a data connection", e);
    let (tcp, guard) = blocking(tcp).map_err(lost)?;
    let result = counting(move |count| splice_loop(&tcp, &file, limit, count), &progress).await;
    let lost = |e| data_error(host, "reading a data connection", &guard, e);
    match result {
        Ok(Ok(Moved::All(n))) => {
            progress(n);
            Ok(n)
        }
        Ok(Ok(Moved::TooMuch)) => {
            Err(error::bad_data(host, format!("{what}: more than the {limit} bytes announced")))
        }
        Ok(Err(Failed::Socket(e))) => Err(lost(e)),
        Ok(Err(Failed::File(e))) => Err(hpc_core::Error::io(format!("writing {what}"), e)),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(error::ended(host, "reading a data connection", "its thread was cancelled")),
    }
}

/// How far a blocking loop has come, told to the async side at most once
/// per [`Tally::EVERY`]: each telling wakes a runtime thread, which on a VM
/// costs an interrupt to the other CPU and can push aside the thread that
/// feeds this one. Told per piece (a few hundred KiB), a 1 GiB download woke
/// it thousands of times; even once per 8 MiB cost it 8% of its wall time.
struct Tally {
    tx: tokio::sync::watch::Sender<u64>,
    told: std::time::Instant,
}

impl Tally {
    /// The least time between two tellings (progress bars redraw at most
    /// about this often).
    const EVERY: Duration = Duration::from_millis(100);

    /// `total` bytes have moved so far.
    fn moved(&mut self, total: u64) {
        let now = std::time::Instant::now();
        if now.duration_since(self.told) >= Self::EVERY {
            self.told = now;
            self.tx.send_replace(total);
        }
    }
}

/// Runs `work` on a blocking thread and hands each count it publishes to
/// `progress` here, until it returns.
async fn counting<T: Send + 'static>(
    work: impl FnOnce(&mut Tally) -> T + Send + 'static,
    progress: &impl Fn(u64),
) -> std::result::Result<T, tokio::task::JoinError> {
    let (tx, mut count_rx) = tokio::sync::watch::channel(0u64);
    let started = std::time::Instant::now();
    let done = tokio::task::spawn_blocking(move || work(&mut Tally { tx, told: started }));
    tokio::pin!(done);
    loop {
        tokio::select! {
            r = &mut done => return r,
            Ok(()) = count_rx.changed() => progress(*count_rx.borrow_and_update()),
        }
    }
}

/// How [`splice_loop`] ended.
enum Moved {
    /// The stream ended after this many bytes (at most the limit).
    All(u64),
    /// The stream went on past the limit.
    TooMuch,
}

/// Which side of [`splice_loop`] failed.
enum Failed {
    Socket(std::io::Error),
    File(std::io::Error),
}

fn splice_loop(
    tcp: &std::net::TcpStream,
    file: &std::fs::File,
    limit: u64,
    count: &mut Tally,
) -> std::result::Result<Moved, Failed> {
    use rustix::pipe::{PipeFlags, SpliceFlags, fcntl_setpipe_size, pipe_with, splice};
    let (pipe_out, pipe_in) =
        pipe_with(PipeFlags::CLOEXEC).map_err(|e| Failed::Socket(e.into()))?;
    // A bigger pipe means fewer calls; the default (64 KiB) works too.
    let room = fcntl_setpipe_size(&pipe_in, PIPE_SIZE).unwrap_or(64 * 1024);
    let mut mark = 0;
    let mut got = 0u64;
    // Set when the file system refuses splice: the pipe is read here instead.
    let mut by_hand: Option<Vec<u8>> = None;
    loop {
        // One byte past the limit tells a longer stream from one that ends there.
        let want = usize::try_from(limit - got).unwrap_or(usize::MAX).saturating_add(1).min(room);
        let wanted_mark = wake_mark(limit - got);
        if wanted_mark != mark {
            mark = wanted_mark;
            // A kernel that refuses the mark only costs speed.
            let _ = nix::sys::socket::setsockopt(tcp, low_water::RcvLowat, &mark);
        }
        let n = loop {
            match splice(tcp, None, &pipe_in, None, want, SpliceFlags::MOVE) {
                Ok(n) => break n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Failed::Socket(e.into())),
            }
        };
        if n == 0 {
            return Ok(Moved::All(got));
        }
        if got + n as u64 > limit {
            return Ok(Moved::TooMuch);
        }
        let mut left = n;
        while left > 0 {
            let m = match &mut by_hand {
                None => match splice(&pipe_out, None, file, None, left, SpliceFlags::MOVE) {
                    Ok(0) => return Err(Failed::File(ErrorKind::WriteZero.into())),
                    Ok(m) => m,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(rustix::io::Errno::INVAL) if left == n && got == 0 => {
                        by_hand = Some(vec![0; room]);
                        continue;
                    }
                    Err(e) => return Err(Failed::File(e.into())),
                },
                Some(buf) => {
                    let k = left.min(buf.len());
                    let m = rustix::io::read(&pipe_out, &mut buf[..k])
                        .map_err(|e| Failed::File(e.into()))?;
                    (&*file).write_all(&buf[..m]).map_err(Failed::File)?;
                    m
                }
            };
            left -= m;
        }
        got += n as u64;
        count.moved(got);
    }
}

/// Gives a bulk sender the largest send buffer the system lets a socket set,
/// where that is at least what the kernel's autotuning could grow it to
/// (`tcp_wmem`'s ceiling; the kernel doubles a size that is set): autotuning
/// starts small and grows per round trip, and a transfer that blocks on a
/// full buffer meanwhile leaves its reader waiting. Measured on loopback, a
/// 1 GiB single-stream download: 0.36 s with autotuning, 0.33-0.34 s with
/// 4 MiB set. Where the system allows less (a stock `wmem_max` of 208 KiB),
/// or autotuning may grow further (tuned WAN hosts), autotuning stays.
fn roomy_send_buffer(tcp: &impl AsFd) {
    static SIZE: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let size = SIZE.get_or_init(|| {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let allowed: usize = read("/proc/sys/net/core/wmem_max")?.trim().parse().ok()?;
        let auto_max: usize =
            read("/proc/sys/net/ipv4/tcp_wmem")?.split_whitespace().nth(2)?.parse().ok()?;
        send_buffer_to_set(allowed, auto_max)
    });
    if let Some(size) = *size {
        // A socket that refuses keeps autotuning: only speed is at stake.
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(tcp, size);
    }
}

/// Moves a sender whose peer is this very host (loopback, the local end of
/// an SSH tunnel) from BBR to CUBIC. BBR holds a sender to about twice the
/// bandwidth-delay product, and on loopback the round trip is microseconds:
/// its window stayed at 12-22 segments (about 1 MiB in flight), so sender
/// and receiver took turns instead of running side by side. CUBIC's window
/// grew to 85-122 segments. Measured on a 2-CPU VM whose default is BBR,
/// `cargo xtask bench uftp`, 1 GiB single-stream downloads, 5 rounds each,
/// alternating: 0.38-0.39 s without the switch, 0.33-0.34 s with it (local
/// `cp`: 0.29 s). The switched socket keeps the kernel's pacing that BBR
/// turned on, and with it some reordering across the CPUs (a few hundred
/// needless retransmits per GiB, as before); that costs little. Across a
/// network, or under any other congestion control, the socket is left as
/// it is; a system that refuses the change only keeps its speed.
fn unthrottled_on_this_host(tcp: &std::net::TcpStream) {
    use rustix::net::sockopt::{set_tcp_congestion, tcp_congestion};
    let (Ok(peer), Ok(local)) = (tcp.peer_addr(), tcp.local_addr()) else { return };
    if let Some(better) = congestion_for(tcp_congestion(tcp).ok().as_deref(), peer.ip(), local.ip())
    {
        let _ = set_tcp_congestion(tcp, better);
    }
}

/// The congestion control a sender from `local` to `peer` running `current`
/// should switch to, if any (see [`unthrottled_on_this_host`]).
fn congestion_for(
    current: Option<&str>,
    peer: std::net::IpAddr,
    local: std::net::IpAddr,
) -> Option<&'static str> {
    let here = peer.to_canonical().is_loopback() || peer.to_canonical() == local.to_canonical();
    (here && current == Some("bbr")).then_some("cubic")
}

/// The send buffer to set given the most a socket may set (`wmem_max`) and
/// autotuning's ceiling, if setting one can only help (see
/// [`roomy_send_buffer`]); at most 16 MiB.
fn send_buffer_to_set(allowed: usize, auto_max: usize) -> Option<usize> {
    let size = allowed.min(16 << 20);
    (size.saturating_mul(2) >= auto_max && size > 0).then_some(size)
}

/// Sends `len` bytes of `file` from `offset` on `tcp` with sendfile(2),
/// then ends the sending side: the file's pages go to the socket without
/// passing through a buffer here. A file that cannot be sent that way is
/// read and sent the usual way. The file ending early is an error naming
/// `what`. `progress` sees the count after each piece. Must be called
/// inside a Tokio runtime; dropping the future shuts the socket down.
pub(crate) async fn sendfile_from(
    tcp: tokio::net::TcpStream,
    file: std::fs::File,
    offset: u64,
    len: u64,
    host: &str,
    what: &str,
    progress: impl Fn(u64),
) -> Result<u64> {
    let lost = |e: std::io::Error| error::lost(host, "writing a data connection", e);
    let (tcp, guard) = blocking(tcp).map_err(lost)?;
    let result =
        counting(move |count| sendfile_loop(&tcp, &file, offset, len, count), &progress).await;
    let lost = |e| data_error(host, "writing a data connection", &guard, e);
    match result {
        Ok(Ok(n)) if n == len => {
            progress(n);
            Ok(n)
        }
        Ok(Ok(n)) => Err(hpc_core::Error::InvalidInput(format!(
            "{what} ended after {n} of its {len} bytes while it was sent"
        ))),
        Ok(Err(Failed::Socket(e))) => Err(lost(e)),
        Ok(Err(Failed::File(e))) => Err(hpc_core::Error::io(format!("reading {what}"), e)),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(error::ended(host, "writing a data connection", "its thread was cancelled")),
    }
}

/// The bytes sent (fewer than `len` only when the file ended first).
fn sendfile_loop(
    tcp: &std::net::TcpStream,
    file: &std::fs::File,
    mut offset: u64,
    len: u64,
    count: &mut Tally,
) -> std::result::Result<u64, Failed> {
    use rustix::io::Errno;
    roomy_send_buffer(tcp);
    unthrottled_on_this_host(tcp);
    let mut sent = 0u64;
    let mut by_hand: Option<Vec<u8>> = None;
    while sent < len {
        let want = usize::try_from(len - sent).unwrap_or(usize::MAX).min(IO_SIZE);
        let n = match &mut by_hand {
            None => match rustix::fs::sendfile(tcp, file, Some(&mut offset), want) {
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                // The socket's idle limit passed with nothing sent.
                Err(Errno::AGAIN) => return Err(Failed::Socket(Errno::AGAIN.into())),
                // Not a file sendfile can read (a pipe, some FUSE files): by hand.
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) if sent == 0 => {
                    by_hand = Some(vec![0; IO_SIZE]);
                    continue;
                }
                // sendfile does not say which side failed; the socket's own
                // error tells, and without one it was the file.
                Err(e) => {
                    return Err(match tcp.take_error() {
                        Ok(Some(se)) => Failed::Socket(se),
                        _ if e == Errno::PIPE || e == Errno::CONNRESET => Failed::Socket(e.into()),
                        _ => Failed::File(e.into()),
                    });
                }
            },
            Some(buf) => {
                let n = loop {
                    match std::os::unix::fs::FileExt::read_at(file, &mut buf[..want], offset) {
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        r => break r.map_err(Failed::File)?,
                    }
                };
                (&*tcp).write_all(&buf[..n]).map_err(Failed::Socket)?;
                offset += n as u64;
                n
            }
        };
        if n == 0 {
            break;
        }
        sent += n as u64;
        count.moved(sent);
    }
    tcp.shutdown(Shutdown::Write).map_err(Failed::Socket)?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A connected pair; `data` is written into one end, which then closes.
    async fn sending(data: Vec<u8>) -> tokio::net::TcpStream {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut c = tokio::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        tokio::spawn(async move {
            c.write_all(&data).await.unwrap();
            c.shutdown().await.unwrap();
        });
        s
    }

    #[test]
    fn only_a_bbr_sender_to_this_host_is_moved_to_cubic() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let lo = ip("127.0.0.1");
        assert_eq!(congestion_for(Some("bbr"), lo, lo), Some("cubic"));
        assert_eq!(congestion_for(Some("bbr"), ip("::1"), ip("::1")), Some("cubic"));
        assert_eq!(congestion_for(Some("bbr"), ip("::ffff:127.0.0.2"), lo), Some("cubic"));
        // This host's own address on another interface still goes over loopback.
        assert_eq!(congestion_for(Some("bbr"), ip("10.1.2.3"), ip("10.1.2.3")), Some("cubic"));
        assert_eq!(congestion_for(Some("bbr"), ip("10.1.2.4"), ip("10.1.2.3")), None);
        assert_eq!(congestion_for(Some("cubic"), lo, lo), None);
        assert_eq!(congestion_for(Some("dctcp"), lo, lo), None);
        assert_eq!(congestion_for(None, lo, lo), None);
    }

    #[test]
    fn a_loopback_sender_leaves_bbr_where_the_kernel_has_both() {
        use rustix::net::sockopt::{set_tcp_congestion, tcp_congestion};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let _peer = l.accept().unwrap();
        let available =
            std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
                .unwrap_or_default();
        let has = |name: &str| available.split_whitespace().any(|a| a == name);
        if has("bbr") && has("cubic") {
            set_tcp_congestion(&tcp, "bbr").unwrap();
            unthrottled_on_this_host(&tcp);
            assert_eq!(tcp_congestion(&tcp).unwrap(), "cubic");
        } else {
            // Nothing to move away from: the socket keeps what it has.
            let before = tcp_congestion(&tcp).unwrap();
            unthrottled_on_this_host(&tcp);
            assert_eq!(tcp_congestion(&tcp).unwrap(), before);
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spliced_stream_lands_whole_in_the_file_with_progress() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let want = data(3 * PIPE_SIZE + 12_345);
        let tcp = sending(want.clone()).await;
        let seen = std::sync::Mutex::new(Vec::new());
        let file = std::fs::File::create(&path).unwrap();
        let n = splice_to_file(tcp, file, want.len() as u64, "h", "f", |n| {
            seen.lock().unwrap().push(n)
        })
        .await
        .unwrap();
        assert_eq!(n, want.len() as u64);
        assert!(std::fs::read(&path).unwrap() == want);
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.last(), Some(&n));
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_longer_stream_is_an_error_and_a_shorter_one_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let tcp = sending(data(100_005)).await;
        let file = std::fs::File::create(&path).unwrap();
        let e = splice_to_file(tcp, file, 100_000, "h", "big.bin", |_| {}).await.unwrap_err();
        assert!(e.to_string().contains("big.bin: more than the 100000 bytes announced"), "{e}");
        assert!(std::fs::metadata(&path).unwrap().len() <= 100_000);

        let tcp = sending(data(99)).await;
        let file = std::fs::File::create(&path).unwrap();
        assert_eq!(splice_to_file(tcp, file, 100, "h", "f", |_| {}).await.unwrap(), 99);
    }

    #[test]
    fn a_send_buffer_is_set_only_where_autotuning_could_not_do_better() {
        // This machine's kind: wmem_max 4 MiB, autotuning up to 4 MiB.
        assert_eq!(send_buffer_to_set(4 << 20, 4 << 20), Some(4 << 20));
        // Stock Linux: a socket may set 208 KiB, autotuning reaches 4 MiB.
        assert_eq!(send_buffer_to_set(212_992, 4 << 20), None);
        // A WAN-tuned host: autotuning may reach 64 MiB, more than 2 x 16 MiB.
        assert_eq!(send_buffer_to_set(256 << 20, 64 << 20), None);
        assert_eq!(send_buffer_to_set(256 << 20, 32 << 20), Some(16 << 20));
    }

    #[test]
    fn the_wake_mark_never_waits_for_more_than_will_come() {
        assert_eq!(wake_mark(0), 1, "one byte too many must wake the reader");
        assert_eq!(wake_mark(1000), 1000);
        assert_eq!(wake_mark(WAKE_AT), WAKE_AT as usize);
        assert_eq!(wake_mark(u64::MAX), WAKE_AT as usize);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_trickle_below_the_wake_mark_is_not_a_stall() {
        // 4 KiB every 20 ms: the mark (128 KiB) is reached only after 640 ms,
        // far past the idle limit, yet bytes keep moving.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let want = data(64 * 4096);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut c = tokio::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        set_idle_limit(&s, Duration::from_millis(200)).unwrap();
        let sent = want.clone();
        tokio::spawn(async move {
            for piece in sent.chunks(4096) {
                c.write_all(piece).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            c.shutdown().await.unwrap();
        });
        let file = std::fs::File::create(&path).unwrap();
        let n = splice_to_file(s, file, want.len() as u64, "h", "f", |_| {}).await.unwrap();
        assert_eq!(n, want.len() as u64);
        assert!(std::fs::read(&path).unwrap() == want);
    }

    /// A connected pair: the sending end, and the bytes the other end read to its end.
    async fn receiving() -> (tokio::net::TcpStream, tokio::task::JoinHandle<Vec<u8>>) {
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = tokio::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        let got = tokio::spawn(async move {
            let mut all = Vec::new();
            s.read_to_end(&mut all).await.unwrap();
            all
        });
        (c, got)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_sent_whole_arrives_and_the_stream_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let all = data(3 * IO_SIZE + 999);
        std::fs::write(&path, &all).unwrap();
        let (tcp, got) = receiving().await;
        let seen = std::sync::Mutex::new(Vec::new());
        let file = std::fs::File::open(&path).unwrap();
        let len = (all.len() - 1000) as u64;
        let n = sendfile_from(tcp, file, 1000, len, "h", "f", |n| seen.lock().unwrap().push(n))
            .await
            .unwrap();
        assert_eq!(n, len);
        assert!(got.await.unwrap() == all[1000..]);
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.last(), Some(&len));
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_shorter_than_announced_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, data(5000)).unwrap();
        let (tcp, got) = receiving().await;
        let file = std::fs::File::open(&path).unwrap();
        let e = sendfile_from(tcp, file, 0, 6000, "h", "f.bin", |_| {}).await.unwrap_err();
        assert!(e.to_string().contains("f.bin ended after 5000 of its 6000 bytes"), "{e}");
        assert_eq!(got.await.unwrap().len(), 5000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_sendfile_cannot_read_is_sent_the_usual_way() {
        // sendfile(2) refuses many /proc files (EINVAL); pread reads them.
        let want = std::fs::read("/proc/self/limits").unwrap();
        let (tcp, got) = receiving().await;
        let file = std::fs::File::open("/proc/self/limits").unwrap();
        let n =
            sendfile_from(tcp, file, 0, want.len() as u64, "h", "limits", |_| {}).await.unwrap();
        assert_eq!(n, want.len() as u64);
        assert_eq!(got.await.unwrap(), want);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_that_refuses_splice_is_written_the_usual_way() {
        // splice(2) refuses files opened for appending (EINVAL).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"head:").unwrap();
        let want = data(2 * PIPE_SIZE + 7);
        let tcp = sending(want.clone()).await;
        let file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        let n = splice_to_file(tcp, file, want.len() as u64, "h", "f", |_| {}).await.unwrap();
        assert_eq!(n, want.len() as u64);
        let got = std::fs::read(&path).unwrap();
        assert!(got[..5] == *b"head:" && got[5..] == want[..]);
    }

    /// A connection whose peer sends `data` and then neither sends, reads
    /// nor closes (the peer is kept alive by the returned handle), with
    /// an idle limit of 200 ms on this side.
    async fn stalling(data: Vec<u8>) -> (tokio::net::TcpStream, tokio::net::TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = tokio::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        peer.write_all(&data).await.unwrap();
        set_idle_limit(&s, STALL).unwrap();
        (s, peer)
    }

    const STALL: Duration = Duration::from_millis(200);

    fn assert_stalled(e: hpc_core::Error) {
        assert_eq!(e.kind(), hpc_core::ErrorKind::Timeout, "{e}");
        assert!(e.to_string().contains("no bytes moved"), "{e}");
        assert!(e.to_string().ends_with("timed out after 0.200s"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_download_that_stalls_ends_at_the_idle_limit_on_every_path() {
        // Spliced into a file.
        let dir = tempfile::tempdir().unwrap();
        let (tcp, _peer) = stalling(data(1000)).await;
        assert_eq!(idle_limit(&tcp), Some(STALL));
        let file = std::fs::File::create(dir.path().join("f")).unwrap();
        let e = splice_to_file(tcp, file, 5000, "h", "f", |_| {}).await.unwrap_err();
        assert_stalled(e);
        assert_eq!(std::fs::metadata(dir.path().join("f")).unwrap().len(), 1000);
        // Read by a thread.
        let (tcp, _peer) = stalling(data(1000)).await;
        let (mut rx, _guard) = reader(tcp, None, IO_SIZE, "h");
        let mut got = 0;
        let e = loop {
            match rx.recv().await.expect("an error, not the end") {
                Ok(piece) => got += piece.len(),
                Err(e) => break e,
            }
        };
        assert_eq!(got, 1000);
        assert_stalled(e);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upload_the_server_stops_reading_ends_at_the_idle_limit() {
        // More than the socket buffers on both sides hold.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, data(64 << 20)).unwrap();
        let (tcp, _peer) = stalling(Vec::new()).await;
        let file = std::fs::File::open(&path).unwrap();
        let e = sendfile_from(tcp, file, 0, 64 << 20, "h", "f", |_| {}).await.unwrap_err();
        assert_stalled(e);
        let (tcp, _peer) = stalling(Vec::new()).await;
        let w = writer(tcp, None).unwrap();
        let piece = Bytes::from(data(IO_SIZE));
        for _ in 0..64 {
            if w.tx.send(Piece::Data(piece.clone())).await.is_err() {
                break;
            }
        }
        let e = w.done.await.unwrap().unwrap_err();
        assert_stalled(data_error("h", "writing a data connection", &w.guard, e));
    }
}
