//! The control connection's line protocol: commands out (`\r\n`), replies in
//! (`ddd text`, or `ddd-` … `ddd text` spanning lines), lines capped so that a
//! hostile server cannot make the client buffer without bound.

use hpc_core::{Error, Result};
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
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("host", &self.host).finish_non_exhaustive()
    }
}

impl Control {
    pub(crate) fn new(tcp: TcpStream, host: String) -> Self {
        let (r, w) = tcp.into_split();
        Control { reader: BufReader::new(r), writer: w, host, line: Vec::new() }
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
        tracing::trace!(command = shown, "uftp >");
        let mut data = Vec::with_capacity(command.len() + 2);
        data.extend_from_slice(command.as_bytes());
        data.extend_from_slice(b"\r\n");
        self.writer
            .write_all(&data)
            .await
            .map_err(|e| error::lost(&self.host, &format!("sending {shown}"), e))
    }

    /// Reads one complete reply. EOF before it is [`Error::ConnectionLost`].
    pub(crate) async fn read(&mut self, after: &str) -> Result<Reply> {
        let first = self.read_line(after).await?;
        let (code, sep, text) =
            split_code(&first).ok_or_else(|| error::malformed(&self.host, after, &first))?;
        let mut lines = vec![text.to_owned()];
        let mut bytes = first.len();
        if sep == '-' {
            loop {
                let line = self.read_line(after).await?;
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

    async fn read_line(&mut self, after: &str) -> Result<String> {
        self.line.clear();
        let mut limited = (&mut self.reader).take(MAX_LINE as u64 + 1);
        let n = limited
            .read_until(b'\n', &mut self.line)
            .await
            .map_err(|e| error::lost(&self.host, &format!("reading the reply to {after}"), e))?;
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
}
