//! [`FtpServer`]: an FTP server on 127.0.0.1 with one flat directory (`/`)
//! and configurable misbehaviour: a `227` reply naming another host, no
//! EPSV, an endless or trickling `LIST`, silence after the greeting, sizes
//! (`SIZE`, `RETR`'s `150` line) that lie. It
//! logs every command, so a test can check what a client asked. `STOR`,
//! `RNFR`/`RNTO` and `DELE` are said to succeed but change nothing. With
//! [`Behaviour::tls`] it speaks explicit FTPS (`AUTH TLS`, then `PROT P`
//! data connections) with a certificate from a CA made at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::listener::{Listener, Log, record};

/// What `LIST`/`MLSD` send on the data connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListData {
    /// The server's files, then the end.
    Files,
    /// Listing lines without end (the client must stop it).
    Endless,
    /// One line that never ends (no line end, ever).
    EndlessLine,
    /// The files' lines, one byte per `Duration`.
    Trickle(Duration),
    /// Nothing: the data connection stays open and silent.
    Silent,
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// The address a `227` reply names. The data listener is on 127.0.0.1
    /// only, so a client that trusts this address connects elsewhere.
    pub pasv_claims: [u8; 4],
    /// Announce `EPSV` in `FEAT` and answer it (else `502`).
    pub epsv: bool,
    /// Announce `EPSV` in `FEAT` but refuse it with `502` (as some servers
    /// behind address translation do).
    pub epsv_refused: bool,
    /// Announce `MLST` in `FEAT` and answer `MLST` and `MLSD`.
    pub mlst: bool,
    /// The `227`/`229` reply names a port where nothing listens.
    pub data_port_closed: bool,
    /// What listings send.
    pub list: ListData,
    /// Files in `/`: name and size.
    pub files: Vec<(String, u64)>,
    /// Greet, then never answer again.
    pub silent_after_greeting: bool,
    /// Never answer `NOOP` (a connection that went dead on the way while
    /// it sat idle); the rest works.
    pub noop_unanswered: bool,
    /// The size `SIZE` answers and `RETR`'s `150` line announces, whatever
    /// the file's real size (`RETR` sends that many `x` bytes).
    pub claimed_size: Option<u64>,
    /// Explicit FTPS: `AUTH TLS` as the first command secures the control
    /// connection, `PROT P` the data connections (the server's certificate
    /// names `127.0.0.1` and `localhost`; [`FtpServer::ca_file`] is its CA).
    pub tls: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            pasv_claims: [127, 0, 0, 1],
            epsv: true,
            epsv_refused: false,
            mlst: false,
            data_port_closed: false,
            list: ListData::Files,
            files: vec![("a.txt".into(), 3), ("b.bin".into(), 1024)],
            silent_after_greeting: false,
            noop_unanswered: false,
            claimed_size: None,
            tls: false,
        }
    }
}

/// A running server; stops when dropped.
pub struct FtpServer {
    inner: Listener,
    /// The CA of a TLS server, in a directory removed on drop.
    ca: Option<(tempfile::TempDir, PathBuf)>,
}

/// The behaviour and, for a TLS server, what accepts its TLS connections.
struct Setup {
    b: Behaviour,
    tls: Option<TlsAcceptor>,
}

impl FtpServer {
    /// Listen on a free port of 127.0.0.1.
    pub async fn start(behaviour: Behaviour) -> Self {
        let (tls, ca) = if behaviour.tls {
            let (acceptor, ca_pem) =
                crate::tls::acceptor("hpckit FTP test CA", &["127.0.0.1", "localhost"], &[])
                    .expect("a test CA and certificate");
            let dir = tempfile::tempdir().expect("a temporary directory");
            let path = dir.path().join("ca.pem");
            std::fs::write(&path, ca_pem).expect("writing the test CA");
            (Some(acceptor), Some((dir, path)))
        } else {
            (None, None)
        };
        let setup = Setup { b: behaviour, tls };
        FtpServer { inner: Listener::start(setup, session).await, ca }
    }

    /// The CA (PEM file) that signed a TLS server's certificate.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca.as_ref().map(|(_, p)| p.as_path())
    }

    /// The control connection's address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr()
    }

    /// `ftp://user@127.0.0.1:port/` plus `options` (a query string without
    /// `?`); for a TLS server `ftps://` with `ca=` naming its CA.
    pub fn url(&self, options: &str) -> String {
        let mut q: Vec<String> = Vec::new();
        if let Some(ca) = self.ca_file() {
            q.push(format!("ca={}", ca.display()));
        }
        if !options.is_empty() {
            q.push(options.to_owned());
        }
        let q = if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) };
        let scheme = if self.ca.is_some() { "ftps" } else { "ftp" };
        format!("{scheme}://user@{}/{q}", self.addr())
    }

    /// Every command received so far (verb and argument), in order.
    pub fn commands(&self) -> Vec<String> {
        self.inner.log()
    }

    /// How many commands had this verb (`LIST`, `MLST`, ...).
    pub fn count(&self, verb: &str) -> usize {
        self.commands()
            .iter()
            .filter(|c| c.split(' ').next().is_some_and(|v| v.eq_ignore_ascii_case(verb)))
            .count()
    }
}

fn list_line(name: &str, size: u64) -> String {
    format!("-rw-r--r--    1 user     group    {size:>8} Jan 02  2026 {name}\r\n")
}

/// A stream a session runs on: plain TCP, or TLS over it.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

async fn session(mut conn: TcpStream, setup: Arc<Setup>, log: Log) {
    if conn.write_all(b"220 hostile FTP ready\r\n").await.is_err() {
        return;
    }
    let Some(acceptor) = setup.tls.clone() else {
        return serve(Box::new(conn), None, false, &setup, &log).await;
    };
    // `AUTH TLS` first: read it a byte at a time, so that nothing of the
    // handshake that follows is read as a command.
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        match tokio::io::AsyncReadExt::read(&mut conn, &mut byte).await {
            Ok(1) => line.push(byte[0]),
            _ => return,
        }
    }
    let line = String::from_utf8_lossy(&line).trim_end().to_owned();
    if !line.eq_ignore_ascii_case("AUTH TLS") {
        return serve(Box::new(conn), Some(line), false, &setup, &log).await;
    }
    record(&log, line);
    if conn.write_all(b"234 AUTH TLS ok\r\n").await.is_err() {
        return;
    }
    if let Ok(tls) = acceptor.accept(conn).await {
        serve(Box::new(tls), None, true, &setup, &log).await;
    }
}

/// Answer commands on `conn` (`first` already read; `secure`: after `AUTH TLS`).
async fn serve(conn: Box<dyn Io>, first: Option<String>, secure: bool, setup: &Setup, log: &Log) {
    let b = &setup.b;
    let (read, mut write) = tokio::io::split(conn);
    let mut lines = BufReader::new(read).lines();
    let mut first = first;
    let mut data: Option<TcpListener> = None;
    // `PROT P` on a secured control connection: data connections use TLS.
    let mut protect: Option<TlsAcceptor> = None;
    loop {
        let line = match first.take() {
            Some(l) => l,
            None => match lines.next_line().await {
                Ok(Some(l)) => l,
                _ => return,
            },
        };
        record(log, line.clone());
        if b.silent_after_greeting {
            continue;
        }
        let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "USER" => "331 password please\r\n".to_owned(),
            "PASS" => "230 logged in\r\n".to_owned(),
            "TYPE" => "200 binary\r\n".to_owned(),
            "PWD" => "257 \"/\" is the directory\r\n".to_owned(),
            "NOOP" if b.noop_unanswered => continue,
            "NOOP" => "200 ok\r\n".to_owned(),
            "PBSZ" => "200 PBSZ=0\r\n".to_owned(),
            "PROT" if secure && arg.eq_ignore_ascii_case("P") => {
                protect = setup.tls.clone();
                "200 PROT now Private\r\n".to_owned()
            }
            "PROT" if arg.eq_ignore_ascii_case("C") => {
                protect = None;
                "200 PROT now Clear\r\n".to_owned()
            }
            "PROT" => "536 PROT P needs AUTH TLS first\r\n".to_owned(),
            // Said to succeed, but nothing changes: the files stay as configured.
            "RNFR" => "350 ready for RNTO\r\n".to_owned(),
            "RNTO" => "250 renamed\r\n".to_owned(),
            "DELE" => "250 deleted\r\n".to_owned(),
            "CWD" if arg == "/" => "250 ok\r\n".to_owned(),
            "CWD" => "550 no such directory\r\n".to_owned(),
            "FEAT" => {
                let mut f = String::from("211-Features:\r\n SIZE\r\n MDTM\r\n");
                if b.epsv || b.epsv_refused {
                    f.push_str(" EPSV\r\n");
                }
                if b.mlst {
                    f.push_str(" MLST type*;size*;modify*;\r\n");
                }
                f + "211 End\r\n"
            }
            "EPSV" if b.epsv && !b.epsv_refused => match open_data(b).await {
                Some((listener, port)) => {
                    data = Some(listener);
                    format!("229 Entering Extended Passive Mode (|||{port}|)\r\n")
                }
                None => "425 no data port\r\n".to_owned(),
            },
            "PASV" => match open_data(b).await {
                Some((listener, port)) => {
                    data = Some(listener);
                    let [h1, h2, h3, h4] = b.pasv_claims;
                    format!(
                        "227 Entering Passive Mode ({h1},{h2},{h3},{h4},{},{})\r\n",
                        port >> 8,
                        port & 0xff
                    )
                }
                None => "425 no data port\r\n".to_owned(),
            },
            "MLST" if b.mlst => {
                let name = arg.trim_start_matches('/');
                match b.files.iter().find(|(n, _)| n == name) {
                    Some((n, size)) => format!(
                        "250-Listing {arg}\r\n type=file;size={size};modify=20260102030405; /{n}\r\n250 End\r\n"
                    ),
                    None if name.is_empty() => {
                        "250-Listing /\r\n type=dir;modify=20260102030405; /\r\n250 End\r\n".into()
                    }
                    None => "550 no such file\r\n".to_owned(),
                }
            }
            "LIST" | "MLSD" => {
                let mlsd = verb.eq_ignore_ascii_case("MLSD");
                let opened =
                    accept_data(&mut data, &mut write, &protect, "150 here it comes").await;
                let mut conn = match opened {
                    Opened::Conn(c) => c,
                    Opened::Refused => continue,
                    Opened::Gone => return,
                };
                if send_listing(&mut conn, b, mlsd).await {
                    let _ = conn.shutdown().await;
                    drop(conn);
                    "226 done\r\n".to_owned()
                } else {
                    continue;
                }
            }
            "REST" => format!("350 restarting at {arg}\r\n"),
            "SIZE" => match file(b, arg) {
                Some(size) => format!("213 {}\r\n", b.claimed_size.unwrap_or(size)),
                None => "550 no such file\r\n".to_owned(),
            },
            "RETR" => {
                let Some(size) = file(b, arg) else {
                    let _ = write.write_all(b"550 no such file\r\n").await;
                    continue;
                };
                let announced = b.claimed_size.unwrap_or(size);
                let opening =
                    format!("150 Opening BINARY mode data connection ({announced} bytes)");
                let mut conn = match accept_data(&mut data, &mut write, &protect, &opening).await {
                    Opened::Conn(c) => c,
                    Opened::Refused => continue,
                    Opened::Gone => return,
                };
                let body = vec![b'x'; usize::try_from(size).unwrap_or(0).min(1 << 20)];
                let _ = conn.write_all(&body).await;
                let _ = conn.shutdown().await;
                drop(conn);
                "226 done\r\n".to_owned()
            }
            "STOR" | "APPE" => {
                let mut conn =
                    match accept_data(&mut data, &mut write, &protect, "150 send it").await {
                        Opened::Conn(c) => c,
                        Opened::Refused => continue,
                        Opened::Gone => return,
                    };
                // Taken and dropped: the directory stays as configured.
                let received = tokio::io::copy(&mut conn, &mut tokio::io::sink()).await;
                let _ = conn.shutdown().await;
                drop(conn);
                match received {
                    Ok(_) => "226 stored\r\n".to_owned(),
                    Err(_) => "426 the data connection broke\r\n".to_owned(),
                }
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => "502 not implemented\r\n".to_owned(),
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The real size of file `arg` (`/name` or `name`).
fn file(b: &Behaviour, arg: &str) -> Option<u64> {
    let name = arg.trim_start_matches('/');
    b.files.iter().find(|(n, _)| n == name).map(|(_, size)| *size)
}

/// A data listener on 127.0.0.1, and the port to announce (a closed one
/// when the behaviour asks for it).
async fn open_data(b: &Behaviour) -> Option<(TcpListener, u16)> {
    let listener = TcpListener::bind("127.0.0.1:0").await.ok()?;
    let port = listener.local_addr().ok()?.port();
    if b.data_port_closed {
        // A port that was free a moment ago: nothing listens there.
        let closed = TcpListener::bind("127.0.0.1:0").await.ok()?;
        let closed_port = closed.local_addr().ok()?.port();
        drop(closed);
        return Some((listener, closed_port));
    }
    Some((listener, port))
}

/// The data connection as it is, or with TLS after `PROT P` (`None` if
/// the handshake fails).
/// How opening a transfer's data connection went.
enum Opened {
    /// Ready to carry the data.
    Conn(Box<dyn Io>),
    /// Refused, and the reply saying so sent: on to the next command.
    Refused,
    /// The control connection is gone.
    Gone,
}

/// Accepts the data connection a transfer command needs on the listener
/// PASV/EPSV opened, sends the `opening` reply (a 150 line) and puts TLS on
/// the connection when `PROT P` asked for it.
async fn accept_data(
    data: &mut Option<TcpListener>,
    write: &mut (impl AsyncWrite + Unpin),
    protect: &Option<TlsAcceptor>,
    opening: &str,
) -> Opened {
    let Some(listener) = data.take() else {
        let _ = write.write_all(b"425 use PASV or EPSV first\r\n").await;
        return Opened::Refused;
    };
    let accepted = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await;
    let Ok(Ok((conn, _))) = accepted else {
        let _ = write.write_all(b"425 no data connection\r\n").await;
        return Opened::Refused;
    };
    if write.write_all(format!("{opening}\r\n").as_bytes()).await.is_err() {
        return Opened::Gone;
    }
    match data_stream(conn, protect).await {
        Some(conn) => Opened::Conn(conn),
        None => {
            let _ = write.write_all(b"425 TLS on the data connection failed\r\n").await;
            Opened::Refused
        }
    }
}

async fn data_stream(conn: TcpStream, protect: &Option<TlsAcceptor>) -> Option<Box<dyn Io>> {
    match protect {
        None => Some(Box::new(conn)),
        Some(acceptor) => {
            let tls = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(conn)).await;
            Some(Box::new(tls.ok()?.ok()?))
        }
    }
}

/// Send the listing; `true` if it ended (the client read all of it).
async fn send_listing(conn: &mut Box<dyn Io>, b: &Behaviour, mlsd: bool) -> bool {
    let files: String = b
        .files
        .iter()
        .map(|(n, s)| {
            if mlsd {
                format!("type=file;size={s};modify=20260102030405; {n}\r\n")
            } else {
                list_line(n, *s)
            }
        })
        .collect();
    match &b.list {
        ListData::Files => conn.write_all(files.as_bytes()).await.is_ok(),
        ListData::Endless => {
            for i in 0u64.. {
                if conn.write_all(list_line(&format!("f{i:012}"), i).as_bytes()).await.is_err() {
                    return false;
                }
            }
            false
        }
        ListData::EndlessLine => {
            let start = "-rw-r--r--    1 user     group           1 Jan 02  2026 ";
            if conn.write_all(start.as_bytes()).await.is_err() {
                return false;
            }
            let chunk = [b'x'; 4096];
            while conn.write_all(&chunk).await.is_ok() {}
            false
        }
        ListData::Trickle(every) => {
            for byte in files.bytes() {
                tokio::time::sleep(*every).await;
                if conn.write_all(&[byte]).await.is_err() {
                    return false;
                }
            }
            true
        }
        ListData::Silent => {
            // Keep the data connection open until the client closes it.
            let mut sink = [0u8; 64];
            let _ = tokio::io::AsyncReadExt::read(conn, &mut sink).await;
            false
        }
    }
}
