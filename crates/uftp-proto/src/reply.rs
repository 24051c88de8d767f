//! The control connection's line protocol: commands out (`\r\n`), replies in
//! (`ddd text`, or `ddd-` … `ddd text` spanning lines), lines capped so that a
//! hostile server cannot make the client buffer without bound.

use std::time::Duration;

use hpc_core::{Error, NetTimeouts, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::error;

/// The longest reply line accepted.
pub(crate) const MAX_LINE: usize = 16 * 1024;
/// The most lines of one multi-line reply (a `STAT` listing of a huge
/// directory is read through this too).
const MAX_LINES: usize = 1_000_000;
/// The most bytes of one multi-line reply: lines of [`MAX_LINE`] bytes, up
/// to [`MAX_LINES`] of them, would otherwise be 16 GiB.
const MAX_REPLY: usize = 64 << 20;

/// One reply: its code and its lines without the code prefix of the first
/// and last line (`lines[0]` is the text after `ddd-`/`ddd `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of each line (first line without `ddd-`, inner lines as
    /// sent, last line without `ddd `).
    pub lines: Vec<String>,
}

impl Reply {
    /// The text of the first line.
    pub fn text(&self) -> &str {
        self.lines.first().map(String::as_str).unwrap_or("")
    }

    /// The text of the last line.
    pub fn last(&self) -> &str {
        self.lines.last().map(String::as_str).unwrap_or("")
    }

    /// Lines between the first and the last (the payload of `MLST`, `STAT`, `FEAT`).
    pub fn inner(&self) -> &[String] {
        if self.lines.len() <= 2 { &[] } else { &self.lines[1..self.lines.len() - 1] }
    }

    /// 1xx.
    pub fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }
}

/// The control connection.
pub(crate) struct Control {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// `host:port`, for messages.
    pub(crate) host: String,
    line: Vec<u8>,
    limits: NetTimeouts,
    /// Set when a reply did not come in time: what came late may still
    /// arrive and would be taken for the next command's reply, so the
    /// connection is not used again.
    stalled: Option<String>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("host", &self.host).finish_non_exhaustive()
    }
}

impl Control {
    /// Each reply line must come within `limits.idle` and each whole reply
    /// within `limits.metadata` (see [`Control::read_within`]).
    pub(crate) fn new(tcp: TcpStream, host: String, limits: NetTimeouts) -> Self {
        let (r, w) = tcp.into_split();
        Control {
            reader: BufReader::new(r),
            writer: w,
            host,
            line: Vec::new(),
            limits,
            stalled: None,
        }
    }

    /// The error for any use of a connection whose reply came too late.
    fn check_usable(&self) -> Result<()> {
        match &self.stalled {
            None => Ok(()),
            Some(after) => Err(error::ended(
                &self.host,
                "using the control connection",
                &format!(
                    "the reply to {after} did not come in time, so later replies cannot be told apart; open a new session"
                ),
            )),
        }
    }

    /// Whether a reply came too late on this connection (it is not used again).
    pub(crate) fn is_stalled(&self) -> bool {
        self.stalled.is_some()
    }

    /// Sends one command line. `shown` is what messages and logs may say
    /// about it (differs only for `PASS`).
    pub(crate) async fn send(&mut self, command: &str, shown: &str) -> Result<()> {
        if command.contains(['\r', '\n']) {
            return Err(Error::InvalidInput(format!(
                "a UFTP command cannot contain a line break: {:?}",
                error::clip(shown)
            )));
        }
        self.check_usable()?;
        tracing::trace!(command = shown, "uftp >");
        let mut data = Vec::with_capacity(command.len() + 2);
        data.extend_from_slice(command.as_bytes());
        data.extend_from_slice(b"\r\n");
        self.writer
            .write_all(&data)
            .await
            .map_err(|e| error::lost(&self.host, &format!("sending {shown}"), e))
    }

    /// Reads one complete reply, each line within the idle limit and the
    /// whole within the metadata limit. EOF before it is
    /// [`Error::ConnectionLost`]; a limit passing is [`Error::Timeout`].
    pub(crate) async fn read(&mut self, after: &str) -> Result<Reply> {
        self.read_within(after, Some(self.limits)).await
    }

    /// [`Control::read`] with the given limits; `None` waits as long as the
    /// server takes (a command that works through a whole file first).
    pub(crate) async fn read_within(
        &mut self,
        after: &str,
        limits: Option<NetTimeouts>,
    ) -> Result<Reply> {
        self.check_usable()?;
        let Some(limits) = limits else {
            return self.read_reply(after, None).await;
        };
        let result =
            tokio::time::timeout(limits.metadata, self.read_reply(after, Some(limits.idle))).await;
        let (what, after_limit) = match result {
            Ok(Err(Error::Timeout { what, after })) => (what, after),
            Ok(r) => return r,
            Err(_) => (format!("the whole reply to {after} from {}", self.host), limits.metadata),
        };
        self.stalled = Some(after.to_owned());
        Err(Error::Timeout { what, after: after_limit })
    }

    async fn read_reply(&mut self, after: &str, idle: Option<Duration>) -> Result<Reply> {
        let first = self.read_line(after, idle).await?;
        let (code, sep, text) =
            split_code(&first).ok_or_else(|| error::malformed(&self.host, after, &first))?;
        let mut lines = vec![text.to_owned()];
        let mut bytes = first.len();
        if sep == '-' {
            loop {
                let line = self.read_line(after, idle).await?;
                if let Some((c, ' ', t)) = split_code(&line)
                    && c == code
                {
                    lines.push(t.to_owned());
                    break;
                }
                if lines.len() >= MAX_LINES {
                    return Err(error::bad_data(
                        &self.host,
                        format!("reply to {after} has more than {MAX_LINES} lines"),
                    ));
                }
                bytes += line.len();
                if bytes > MAX_REPLY {
                    return Err(error::bad_data(
                        &self.host,
                        format!("reply to {after} is longer than {} MiB", MAX_REPLY >> 20),
                    ));
                }
                lines.push(line);
            }
        }
        tracing::trace!(code, first = lines[0].as_str(), "uftp <");
        Ok(Reply { code, lines })
    }

    async fn read_line(&mut self, after: &str, idle: Option<Duration>) -> Result<String> {
        self.line.clear();
        let mut limited = (&mut self.reader).take(MAX_LINE as u64 + 1);
        let reading = limited.read_until(b'\n', &mut self.line);
        let got = match idle {
            None => reading.await,
            Some(limit) => {
                tokio::time::timeout(limit, reading).await.map_err(|_| Error::Timeout {
                    what: format!("the reply to {after} from {}", self.host),
                    after: limit,
                })?
            }
        };
        let n =
            got.map_err(|e| error::lost(&self.host, &format!("reading the reply to {after}"), e))?;
        if n == 0 {
            return Err(error::ended(
                &self.host,
                &format!("waiting for the reply to {after}"),
                "the server closed the control connection",
            ));
        }
        if self.line.last() != Some(&b'\n') {
            if self.line.len() > MAX_LINE {
                return Err(error::bad_data(
                    &self.host,
                    format!("a reply line to {after} is longer than {MAX_LINE} bytes"),
                ));
            }
            return Err(error::ended(
                &self.host,
                &format!("reading the reply to {after}"),
                "the server closed the control connection in the middle of a line",
            ));
        }
        while matches!(self.line.last(), Some(b'\n' | b'\r')) {
            self.line.pop();
        }
        Ok(String::from_utf8_lossy(&self.line).into_owned())
    }

    /// Closes the write side (the server sees EOF).
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.writer.shutdown().await;
    }
}

use tokio::io::AsyncReadExt as _;

/// `ddd text` / `ddd-text` / `ddd` → (code, separator, text).
pub(crate) fn split_code(line: &str) -> Option<(u16, char, &str)> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code: u16 = line[..3].parse().ok()?;
    match b.get(3) {
        None => Some((code, ' ', "")),
        Some(b' ') => Some((code, ' ', &line[4..])),
        Some(b'-') => Some((code, '-', &line[4..])),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(split_code("230 Login successful"), Some((230, ' ', "Login successful")));
        assert_eq!(split_code("250- Listing /x"), Some((250, '-', " Listing /x")));
        assert_eq!(split_code("226"), Some((226, ' ', "")));
        assert_eq!(split_code("23x ok"), None);
        assert_eq!(split_code("2300 ok"), None);
        assert_eq!(split_code(""), None);
    }

    /// A control connection to a server that writes `lines`, `pause` apart,
    /// and then holds the connection open without a word.
    async fn talking(
        lines: &'static [&'static str],
        pause: Duration,
        limits: NetTimeouts,
    ) -> Control {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut server, _) = l.accept().await.unwrap();
        tokio::spawn(async move {
            for line in lines {
                server.write_all(line.as_bytes()).await.unwrap();
                tokio::time::sleep(pause).await;
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        Control::new(tcp, "h:1".into(), limits)
    }

    fn limits(idle_ms: u64, whole_ms: u64) -> NetTimeouts {
        NetTimeouts {
            idle: Duration::from_millis(idle_ms),
            metadata: Duration::from_millis(whole_ms),
            ..NetTimeouts::default()
        }
    }

    #[tokio::test]
    async fn a_server_that_stops_answering_is_a_timeout_and_the_session_ends() {
        let mut c = talking(&["220 hi\r\n"], Duration::ZERO, limits(150, 10_000)).await;
        assert_eq!(c.read("connect").await.unwrap().code, 220);
        let e = c.read("PWD").await.unwrap_err();
        assert_eq!(e.kind(), hpc_core::ErrorKind::Timeout, "{e}");
        assert_eq!(e.to_string(), "the reply to PWD from h:1 timed out after 0.150s");
        assert!(c.is_stalled());
        // A late reply could be taken for the next command's: none is sent.
        let e = c.send("CWD /", "CWD /").await.unwrap_err();
        assert!(e.to_string().contains("did not come in time"), "{e}");
        assert!(c.read("CWD /").await.is_err());
    }

    #[tokio::test]
    async fn a_reply_that_trickles_in_is_cut_off_at_the_whole_reply_limit() {
        // Every line comes well within the idle limit, the reply never ends.
        const LINES: &[&str] = &["211-Features:\r\n"; 64];
        let mut c = talking(LINES, Duration::from_millis(20), limits(1_000, 300)).await;
        let started = std::time::Instant::now();
        let e = c.read("FEAT").await.unwrap_err();
        assert_eq!(e.kind(), hpc_core::ErrorKind::Timeout, "{e}");
        assert!(e.to_string().contains("whole reply to FEAT"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_reply_without_limits_waits_as_long_as_it_takes() {
        // The answer comes after four times both limits.
        let lines = &["", "213 SHA-256 0-1 ab f\r\n"];
        let mut c = talking(lines, Duration::from_millis(200), limits(50, 50)).await;
        let r = c.read_within("HASH f", None).await.unwrap();
        assert_eq!(r.code, 213);
        assert!(!c.is_stalled());
    }
}
