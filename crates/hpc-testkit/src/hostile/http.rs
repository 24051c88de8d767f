//! [`HttpServer`]: HTTP/1.1 on 127.0.0.1 whose answers a closure picks per
//! request: a normal answer, silence, or a body trickled a byte at a time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What a client asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, `PROPFIND`, ...
    pub method: String,
    /// The request target: path and query, as sent.
    pub target: String,
    /// Header names (lower-case) and values.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Status, headers and a whole body (`Content-Length` is added).
    Full {
        /// Status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// Read the request, then never answer (the connection stays open).
    Silent,
    /// These bytes as the whole answer, head included (a head no client
    /// should accept, a length the body never reaches), then close.
    Raw(Vec<u8>),
    /// Status and headers at once (with the body's `Content-Length`), then
    /// the body one byte per `every`: always some progress, never the end.
    Trickle {
        /// Status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
        /// The pause before each byte.
        every: Duration,
    },
    /// Status and headers, then `chunk` again and again until the client
    /// goes away: with `length` the head claims that many bytes
    /// (`Content-Length`, however huge), without it the body ends only when
    /// the connection closes, which it never does.
    Endless {
        /// Status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The `Content-Length` claimed, if any.
        length: Option<u64>,
        /// What is sent over and over (must not be empty).
        chunk: Vec<u8>,
    },
}

impl Answer {
    /// A whole answer with a `Content-Type`.
    pub fn full(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Answer {
        Answer::Full {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// `status` with an empty body.
    pub fn status(status: u16) -> Answer {
        Answer::Full { status, headers: Vec::new(), body: Vec::new() }
    }
}

type Responder = dyn Fn(&RequestHead) -> Answer + Send + Sync;

/// A running server; stops when dropped.
pub struct HttpServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RequestHead>>>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Listen on a free port of 127.0.0.1 and answer every request with `respond`.
    pub async fn start(respond: impl Fn(&RequestHead) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let log = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, respond.clone(), log.clone()));
            }
        });
        HttpServer { addr, requests, task }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:port`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<RequestHead> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut conn: TcpStream, respond: Arc<Responder>, log: Arc<Mutex<Vec<RequestHead>>>) {
    let mut buf = Vec::new();
    loop {
        let Some(head) = read_request(&mut conn, &mut buf).await else { return };
        log.lock().unwrap_or_else(|p| p.into_inner()).push(head.clone());
        let answer = respond(&head);
        let bodyless = head.method == "HEAD";
        match answer {
            Answer::Silent => std::future::pending::<()>().await,
            Answer::Raw(bytes) => {
                let _ = conn.write_all(&bytes).await;
                return;
            }
            Answer::Full { status, headers, body } => {
                let mut out = status_and_headers(status, &headers, body.len());
                if !bodyless {
                    out.extend_from_slice(&body);
                }
                if conn.write_all(&out).await.is_err() {
                    return;
                }
            }
            Answer::Endless { status, headers, length, chunk } => {
                let mut head = format!("HTTP/1.1 {status} Hostile\r\n");
                match length {
                    Some(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
                    None => head.push_str("Connection: close\r\n"),
                }
                for (k, v) in &headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if conn.write_all(head.as_bytes()).await.is_err() || bodyless {
                    return;
                }
                assert!(!chunk.is_empty(), "an endless body needs a non-empty chunk");
                while conn.write_all(&chunk).await.is_ok() {}
                return;
            }
            Answer::Trickle { status, headers, body, every } => {
                let head = status_and_headers(status, &headers, body.len());
                if conn.write_all(&head).await.is_err() {
                    return;
                }
                for b in body {
                    tokio::time::sleep(every).await;
                    if conn.write_all(&[b]).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn status_and_headers(status: u16, headers: &[(String, String)], len: usize) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} Hostile\r\nContent-Length: {len}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// One request's head (its body is read and dropped); `None` when the
/// client has gone.
async fn read_request(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<RequestHead> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end + 4);
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let head = RequestHead { method, target, headers };
    if head.header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        // Enough for the small bodies clients send here: up to the last chunk.
        loop {
            if let Some(i) = buf.windows(5).position(|w| w == b"0\r\n\r\n") {
                buf.drain(..i + 5);
                break;
            }
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
            buf.extend_from_slice(&chunk[..n]);
        }
    } else {
        let len: usize = head.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        while buf.len() < len {
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..len);
    }
    Some(head)
}
