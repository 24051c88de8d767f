//! Remote processes: one session channel each, pumped by a task.
//!
//! A task per process reads the channel's messages and sorts them: stdout and
//! stderr go into bounded queues (a reader that falls behind slows the
//! sender down instead of growing a buffer), the pid marker is cut out of
//! stderr, and the exit status (or its absence) ends up in a watch cell.
//!
//! russh refills a channel's window as data arrives, not as it is read, and
//! stops reading the connection while any channel's queue is full; so a
//! stream nobody reads stalls the whole connection once its queue (up to
//! [`QUEUE_CHUNKS`] packets) is full. [`crate::Process::collect`] reads both.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use hpc_core::{Error, Result};
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, oneshot, watch};

use super::connection::Conn;
use super::signals;
use super::stream::{ChunkReader, SessionSlot};
use crate::executor::{ExitStatus, Process, ProcessControl};

/// Packets (up to 32 KiB each) queued per output stream before the pump waits.
const QUEUE_CHUNKS: usize = 64;
/// Stderr held back while looking for the pid marker, at most.
const MARKER_SEARCH_LIMIT: usize = 64 * 1024;
const MARKER: &[u8] = b"hpckit-pid:";

/// The remote command line: report the shell's pid (the session's process
/// group) on stderr, then run the command.
pub(crate) fn remote_line(shell_line: &[u8]) -> Vec<u8> {
    let mut line = b"printf 'hpckit-pid:%d\\n' \"$$\" >&2; ".to_vec();
    line.extend_from_slice(shell_line);
    line
}

/// Cuts the first `hpckit-pid:<n>\n` line at a line start out of stderr.
#[derive(Debug, Default)]
pub(crate) struct MarkerFilter {
    held: Vec<u8>,
    done: bool,
}

impl MarkerFilter {
    /// Feed stderr bytes; returns the pid once found and the bytes to pass on.
    pub(crate) fn feed(&mut self, data: Bytes) -> (Option<u32>, Bytes) {
        if self.done {
            return (None, data);
        }
        self.held.extend_from_slice(&data);
        let mut start = 0;
        while let Some(rel) = find(&self.held[start..], MARKER) {
            let at = start + rel;
            if at == 0 || self.held[at - 1] == b'\n' {
                let digits_from = at + MARKER.len();
                let Some(nl) = self.held[digits_from..].iter().position(|&b| b == b'\n') else {
                    // The line is not complete yet.
                    return (None, Bytes::new());
                };
                let digits = &self.held[digits_from..digits_from + nl];
                let pid = std::str::from_utf8(digits).ok().and_then(|d| d.parse::<u32>().ok());
                if let Some(pid) = pid {
                    self.done = true;
                    let mut out = self.held[..at].to_vec();
                    out.extend_from_slice(&self.held[digits_from + nl + 1..]);
                    self.held = Vec::new();
                    return (Some(pid), Bytes::from(out));
                }
            }
            start = at + 1;
        }
        if self.held.len() > MARKER_SEARCH_LIMIT {
            return (None, self.finish());
        }
        (None, Bytes::new())
    }

    /// No marker will come: release what was held.
    pub(crate) fn finish(&mut self) -> Bytes {
        self.done = true;
        Bytes::from(std::mem::take(&mut self.held))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// How a channel ended.
#[derive(Debug, Clone)]
enum Ended {
    Exited(ExitStatus),
    Lost(String),
}

/// How long `spawn` waits for the pid marker after the server accepted the
/// command (a POSIX login shell prints it at once).
const PID_WAIT: Duration = Duration::from_secs(10);

async fn forward(queue: &mut Option<mpsc::Sender<Bytes>>, data: Bytes) {
    if data.is_empty() {
        return;
    }
    if let Some(tx) = queue
        && tx.send(data).await.is_err()
    {
        // The reader is gone: drop its output but keep draining the channel.
        *queue = None;
    }
}

struct Pump {
    read: ChannelReadHalf,
    stdout: Option<mpsc::Sender<Bytes>>,
    stderr: Option<mpsc::Sender<Bytes>>,
    marker: Option<MarkerFilter>,
    /// The server's answer to `exec`.
    exec_reply: Option<oneshot::Sender<std::result::Result<(), String>>>,
    pid: watch::Sender<Option<u32>>,
    ended: watch::Sender<Option<Ended>>,
    slot: SessionSlot,
}

impl Pump {
    fn reply(&mut self, result: std::result::Result<(), String>) {
        if let Some(tx) = self.exec_reply.take() {
            let _ = tx.send(result);
        }
    }

    async fn run(mut self) {
        let (mut code, mut signal, mut exit_seen) = (None, None, false);
        let mut exec_refused = false;
        while let Some(msg) = self.read.wait().await {
            match msg {
                ChannelMsg::Success => self.reply(Ok(())),
                ChannelMsg::Failure => {
                    exec_refused = true;
                    self.reply(Err("the server refused to run the command".into()));
                }
                ChannelMsg::Data { data } => forward(&mut self.stdout, data).await,
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    let data = match &mut self.marker {
                        Some(m) => {
                            let (pid, pass) = m.feed(data);
                            if pid.is_some() {
                                let _ = self.pid.send(pid);
                            }
                            pass
                        }
                        None => data,
                    };
                    forward(&mut self.stderr, data).await;
                }
                ChannelMsg::Eof => self.close_outputs().await,
                ChannelMsg::ExitStatus { exit_status } => {
                    exit_seen = true;
                    code = Some(exit_status as i32);
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    exit_seen = true;
                    signal = signals::from_sig(&signal_name);
                }
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        self.close_outputs().await;
        let ended = if exit_seen {
            Ended::Exited(ExitStatus { code, signal })
        } else if exec_refused {
            Ended::Lost("the server refused to run the command".into())
        } else {
            Ended::Lost("the channel closed without an exit status".into())
        };
        self.reply(Ok(()));
        drop(self.slot);
        let _ = self.ended.send(Some(ended));
    }

    async fn close_outputs(&mut self) {
        if let Some(m) = &mut self.marker {
            let rest = m.finish();
            forward(&mut self.stderr, rest).await;
        }
        self.stdout = None;
        self.stderr = None;
    }
}

/// Stdin: channel data; shutdown or drop sends EOF.
struct Stdin {
    tx: Pin<Box<dyn AsyncWrite + Send>>,
    write: Arc<ChannelWriteHalf<Msg>>,
    eof_sent: bool,
    /// Resolves when the channel has closed. A writer waiting for window
    /// space would otherwise wait forever once the process is gone.
    ended: Pin<Box<dyn Future<Output = ()> + Send>>,
    is_ended: bool,
}

impl Stdin {
    fn new(write: Arc<ChannelWriteHalf<Msg>>, mut ended: watch::Receiver<Option<Ended>>) -> Self {
        Stdin {
            tx: Box::pin(write.make_writer()),
            write,
            eof_sent: false,
            ended: Box::pin(async move {
                let _ = ended.wait_for(Option::is_some).await;
            }),
            is_ended: false,
        }
    }

    fn closed(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.is_ended && self.ended.as_mut().poll(cx).is_ready() {
            self.is_ended = true;
        }
        self.is_ended
    }
}

fn broken_pipe() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the remote process has ended")
}

impl AsyncWrite for Stdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.is_ended {
            return Poll::Ready(Err(broken_pipe()));
        }
        match self.tx.as_mut().poll_write(cx, buf) {
            Poll::Pending if self.closed(cx) => Poll::Ready(Err(broken_pipe())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.tx.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.eof_sent || self.is_ended {
            return Poll::Ready(Ok(()));
        }
        let r = self.tx.as_mut().poll_shutdown(cx);
        if r.is_pending() && self.closed(cx) {
            return Poll::Ready(Ok(()));
        }
        if r.is_ready() {
            self.eof_sent = true;
        }
        // A process that already exited has no stdin to close.
        r.map(|_| Ok(()))
    }
}

impl Drop for Stdin {
    fn drop(&mut self) {
        if !self.eof_sent
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let write = self.write.clone();
            rt.spawn(async move {
                let _ = write.eof().await;
            });
        }
    }
}

struct Control {
    conn: Arc<Conn>,
    pid: watch::Receiver<Option<u32>>,
    ended: watch::Receiver<Option<Ended>>,
    write: Arc<ChannelWriteHalf<Msg>>,
    status: Option<ExitStatus>,
}

impl Control {
    fn finished(&self) -> bool {
        self.status.is_some() || self.ended.borrow().is_some()
    }
}

#[async_trait]
impl ProcessControl for Control {
    async fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        let ended = match self.ended.wait_for(Option::is_some).await {
            Ok(v) => v.clone(),
            Err(_) => None,
        };
        match ended {
            Some(Ended::Exited(s)) => {
                self.status = Some(s);
                Ok(s)
            }
            Some(Ended::Lost(reason)) => {
                Err(Error::ConnectionLost { host: self.conn.host.clone(), reason, source: None })
            }
            None => Err(Error::ConnectionLost {
                host: self.conn.host.clone(),
                reason: "the channel's reader stopped".into(),
                source: None,
            }),
        }
    }

    async fn signal(&mut self, signal: i32) -> Result<()> {
        if self.finished() {
            return Ok(());
        }
        let pid = match *self.pid.borrow() {
            Some(pid) => pid,
            None => {
                return Err(Error::InvalidInput(
                    "the remote process never reported its pid, so it cannot be signalled".into(),
                ));
            }
        };
        signal_group(&self.conn, signal, pid).await
    }

    fn id(&self) -> Option<u32> {
        *self.pid.borrow()
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        if self.finished() {
            return;
        }
        // A handle dropped before its process ended must not leave the
        // remote process group running.
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let (conn, pid, write) = (self.conn.clone(), *self.pid.borrow(), self.write.clone());
        rt.spawn(async move {
            if let Some(pid) = pid
                && let Err(e) = signal_group(&conn, 9, pid).await
            {
                tracing::warn!(host = %conn.host, pid, error = %e, "could not kill a dropped remote process");
            }
            let _ = write.close().await;
        });
    }
}

/// `kill -s SIG -- -PGID` on a fresh channel. A group that is already gone
/// is not an error.
async fn signal_group(conn: &Arc<Conn>, signal: i32, pgid: u32) -> Result<()> {
    if signals::name(signal).is_none() && !(1..=64).contains(&signal) {
        return Err(Error::InvalidInput(format!("unknown signal {signal}")));
    }
    let line = signals::kill_group_line(signal, pgid);
    tracing::debug!(host = %conn.host, pgid, signal, "signalling remote process group");
    let p = start(conn, line.into_bytes(), true, false).await?;
    let out = p.collect(None).await?;
    if !out.status.success() {
        tracing::debug!(stderr = %out.stderr_text(), "kill reported failure (group already gone?)");
    }
    Ok(())
}

/// Open a session channel, run `line`, and wire up the process.
///
/// `control`: use the slot kept for signalling. `marker`: `line` starts with
/// the pid report of [`remote_line`].
pub(crate) async fn start(
    conn: &Arc<Conn>,
    line: Vec<u8>,
    control: bool,
    marker: bool,
) -> Result<Process> {
    let (channel, slot) = conn.open_session(control).await?;
    let (read, write) = channel.split();
    let write = Arc::new(write);
    write.exec(true, line).await.map_err(|e| super::errors::lost(&conn.host, e))?;

    let (out_tx, out_rx) = mpsc::channel(QUEUE_CHUNKS);
    let (err_tx, err_rx) = mpsc::channel(QUEUE_CHUNKS);
    let (reply_tx, reply_rx) = oneshot::channel();
    let (pid_tx, mut pid_rx) = watch::channel(None);
    let (ended_tx, ended_rx) = watch::channel(None);
    let pump = Pump {
        read,
        stdout: Some(out_tx),
        stderr: Some(err_tx),
        marker: marker.then(MarkerFilter::default),
        exec_reply: Some(reply_tx),
        pid: pid_tx,
        ended: ended_tx,
        slot,
    };
    tokio::spawn(pump.run());

    if let Ok(Err(reason)) = reply_rx.await {
        // The server may keep a refused channel open: give its session back.
        let _ = write.close().await;
        return Err(Error::ChannelRefused {
            host: conn.host.clone(),
            channel: "exec".into(),
            reason,
        });
    }
    if marker {
        // Callers expect `id()` right after spawn; the marker follows the
        // exec reply within a round trip. Without it (a non-POSIX shell)
        // the process still runs, it just cannot be signalled.
        let mut ended = ended_rx.clone();
        let known = async {
            tokio::select! {
                _ = pid_rx.wait_for(Option::is_some) => {}
                _ = ended.wait_for(Option::is_some) => {}
            }
        };
        if tokio::time::timeout(PID_WAIT, known).await.is_err() {
            tracing::warn!(host = %conn.host, "the remote shell did not report its pid");
        }
    }
    let stdin = Stdin::new(write.clone(), ended_rx.clone());
    let control = Control { conn: conn.clone(), pid: pid_rx, ended: ended_rx, write, status: None };
    Ok(Process::new(
        Box::pin(stdin),
        Box::pin(ChunkReader::new(out_rx)),
        Box::pin(ChunkReader::new(err_rx)),
        Box::new(control),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(chunks: &[&[u8]]) -> (Option<u32>, Vec<u8>) {
        let mut f = MarkerFilter::default();
        let mut pid = None;
        let mut out = Vec::new();
        for c in chunks {
            let (p, pass) = f.feed(Bytes::copy_from_slice(c));
            pid = pid.or(p);
            out.extend_from_slice(&pass);
        }
        out.extend_from_slice(&f.finish());
        (pid, out)
    }

    #[test]
    fn marker_is_cut_out_even_when_split() {
        assert_eq!(feed_all(&[b"hpckit-pid:42\nerr\n"]), (Some(42), b"err\n".to_vec()));
        assert_eq!(
            feed_all(&[b"hpck", b"it-pid:4", b"2\nmore", b" text"]),
            (Some(42), b"more text".to_vec())
        );
        // Noise from a login script before the marker passes through.
        assert_eq!(feed_all(&[b"motd\nhpckit-pid:7\nx"]), (Some(7), b"motd\nx".to_vec()));
        // Only the first marker is ours.
        assert_eq!(
            feed_all(&[b"hpckit-pid:1\nhpckit-pid:2\n"]),
            (Some(1), b"hpckit-pid:2\n".to_vec())
        );
    }

    #[test]
    fn without_marker_everything_passes() {
        assert_eq!(feed_all(&[b"no marker here"]), (None, b"no marker here".to_vec()));
        assert_eq!(feed_all(&[b"xhpckit-pid:3\n"]), (None, b"xhpckit-pid:3\n".to_vec()));
        let big = vec![b'a'; MARKER_SEARCH_LIMIT + 10];
        let mut f = MarkerFilter::default();
        let (pid, pass) = f.feed(Bytes::from(big.clone()));
        assert_eq!((pid, pass.len()), (None, big.len()));
    }

    #[test]
    fn line_prefix() {
        assert_eq!(
            remote_line(b"exec true"),
            b"printf 'hpckit-pid:%d\\n' \"$$\" >&2; exec true".to_vec()
        );
    }
}
