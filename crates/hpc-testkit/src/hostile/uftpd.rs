//! [`UftpdServer`]: a UFTPD control port on 127.0.0.1 that logs anyone in
//! and misbehaves as told: `MLSD` listings naming `..`, `/`, paths that
//! climb or NUL, a `150` line announcing 2^63 bytes, reply lines that never
//! end and multi-line replies that never close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::listener::{Listener, Log, record};

/// A hostile reply to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misreply {
    /// `250 ` and then bytes without a line end, forever.
    EndlessLine,
    /// `211-` and then 1000-byte lines, forever, never the closing `211 `.
    EndlessReply,
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// The lines `MLSD` sends (without line ends).
    pub mlsd: Vec<String>,
    /// The `MLST` facts line of every path.
    pub mlst: String,
    /// The text of `RETR`'s `150` line.
    pub retr_announce: String,
    /// What `RETR` sends on the data connection.
    pub retr_data: Vec<u8>,
    /// The verb whose reply is hostile, and how.
    pub misreply: Option<(String, Misreply)>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            mlsd: vec!["size=3;modify=20260102030405;type=file;perm=rw; a.txt".into()],
            mlst: "size=3;modify=20260102030405;type=file;perm=rw; a.txt".into(),
            retr_announce: "OK 3 bytes available for reading.".into(),
            retr_data: b"abc".to_vec(),
            misreply: None,
        }
    }
}

/// An `MLSD` facts line for a file `name` of `size` bytes.
pub fn file_line(name: &str, size: u64) -> String {
    format!("size={size};modify=20260102030405;type=file;perm=rw; {name}")
}

/// An `MLSD` facts line for a directory `name`.
pub fn dir_line(name: &str) -> String {
    format!("size=4096;modify=20260102030405;type=dir;perm=elw; {name}")
}

/// A running server; stops when dropped.
pub struct UftpdServer {
    inner: Listener,
}

impl UftpdServer {
    /// Listen on a free port of 127.0.0.1.
    pub async fn start(behaviour: Behaviour) -> Self {
        UftpdServer { inner: Listener::start(behaviour, session).await }
    }

    /// The control port's address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr()
    }

    /// Every command received so far (the `PASS` argument hidden), in order.
    pub fn commands(&self) -> Vec<String> {
        self.inner.log()
    }
}

async fn session(conn: TcpStream, b: Arc<Behaviour>, log: Log) {
    let (read, mut write) = conn.into_split();
    let mut lines = BufReader::new(read).lines();
    if write.write_all(b"220 hostile UFTPD ready\r\n").await.is_err() {
        return;
    }
    let mut data: Option<TcpListener> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let verb = verb.to_ascii_uppercase();
        let shown = if verb == "PASS" { "PASS ***".to_owned() } else { line.clone() };
        record(&log, shown);
        if let Some((hostile, how)) = &b.misreply
            && hostile.eq_ignore_ascii_case(&verb)
        {
            misreply(&mut write, how).await;
            return;
        }
        let reply = match verb.as_str() {
            "USER" => "331 password please\r\n".to_owned(),
            "PASS" => "230 logged in\r\n".to_owned(),
            "FEAT" => "211-Features:\r\n MLST\r\n211 End\r\n".to_owned(),
            "NOOP" | "TYPE" => "200 ok\r\n".to_owned(),
            "REST" | "RANG" => "350 ok\r\n".to_owned(),
            "MLST" => format!("250-Listing {arg}\r\n {}\r\n250 End\r\n", b.mlst),
            "PASV" => {
                let Ok(listener) = TcpListener::bind("127.0.0.1:0").await else { return };
                let Ok(port) = listener.local_addr().map(|a| a.port()) else { return };
                data = Some(listener);
                format!("227 Entering Passive Mode (127,0,0,1,{},{})\r\n", port >> 8, port & 0xff)
            }
            "MLSD" | "RETR" => {
                let Some(listener) = data.take() else {
                    let _ = write.write_all(b"425 use PASV first\r\n").await;
                    continue;
                };
                let accepted =
                    tokio::time::timeout(Duration::from_secs(10), listener.accept()).await;
                let Ok(Ok((mut conn, _))) = accepted else {
                    let _ = write.write_all(b"425 no data connection\r\n").await;
                    continue;
                };
                let (announce, payload) = if verb == "MLSD" {
                    let text: String = b.mlsd.iter().map(|l| format!("{l}\r\n")).collect();
                    ("150 OK".to_owned(), text.into_bytes())
                } else {
                    (format!("150 {}", b.retr_announce), b.retr_data.clone())
                };
                if write.write_all(format!("{announce}\r\n").as_bytes()).await.is_err() {
                    return;
                }
                let _ = conn.write_all(&payload).await;
                drop(conn);
                "226 done\r\n".to_owned()
            }
            "QUIT" => return,
            _ => "500 not implemented\r\n".to_owned(),
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn misreply(write: &mut tokio::net::tcp::OwnedWriteHalf, how: &Misreply) {
    match how {
        Misreply::EndlessLine => {
            if write.write_all(b"250 ").await.is_err() {
                return;
            }
            let chunk = [b'x'; 4096];
            while write.write_all(&chunk).await.is_ok() {}
        }
        Misreply::EndlessReply => {
            if write.write_all(b"211-Features:\r\n").await.is_err() {
                return;
            }
            let mut line = vec![b'y'; 998];
            line.extend_from_slice(b"\r\n");
            while write.write_all(&line).await.is_ok() {}
        }
    }
}
