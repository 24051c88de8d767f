//! Port forwarding through a job's `forward-port` endpoint: each local
//! connection becomes one HTTP/1.1 upgrade (`UNICORE-Socket-Forwarding`) to
//! the server, after which bytes flow both ways untouched. Bytes that arrive
//! in the same read as the `101` answer are handed on first, not dropped
//! (PyUNICORE's forwarder loses them).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hpc_core::{Error, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::transport::{PREFERENCES_HEADER, Transport};
use crate::url::with_query;

/// The upgrade protocol name.
pub const UPGRADE: &str = "UNICORE-Socket-Forwarding";
/// Longest answer head accepted before the byte stream starts.
const MAX_HEAD: usize = 64 * 1024;

/// A byte stream to the forwarded service (TCP or TLS underneath).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Opens tunnels to one forwarded service.
#[derive(Debug, Clone)]
pub struct Forwarder {
    transport: Transport,
    endpoint: String,
}

/// Where the service behind a job listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardTarget {
    /// A TCP port on `host` (default: the job's node, `localhost`).
    Port {
        /// The port.
        port: u16,
        /// The host, if not the job's node.
        host: Option<String>,
    },
    /// A unix socket file in the job's working directory.
    SocketFile(String),
}

impl Forwarder {
    /// A forwarder for `endpoint`: a job's `forward-port` URL with its query
    /// (`?port=N[&host=H]` or `?file=F`).
    pub fn new(transport: &Transport, endpoint: &str) -> Self {
        Forwarder { transport: transport.clone(), endpoint: endpoint.to_owned() }
    }

    /// A forwarder to `target` of `job`.
    pub async fn for_job(
        job: &crate::Job,
        target: &ForwardTarget,
        login_node: Option<&str>,
    ) -> Result<Self> {
        let base = job.forwarding_url().await?;
        let mut params = match target {
            ForwardTarget::Port { port, host } => {
                let mut p = vec![("port", port.to_string())];
                if let Some(h) = host {
                    p.push(("host", h.clone()));
                }
                p
            }
            ForwardTarget::SocketFile(f) => vec![("file", f.clone())],
        };
        if let Some(n) = login_node {
            params.push(("loginNode", n.to_owned()));
        }
        Ok(Forwarder::new(job.transport(), &with_query(&base, &params)))
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Opens one tunnel: the returned stream talks to the service.
    pub async fn connect(&self) -> Result<Box<dyn Io>> {
        let (scheme, host, port, path) = split_url(&self.endpoint)?;
        let addr = format!("{host}:{port}");
        let tcp = TcpStream::connect(&addr).await.map_err(|e| Error::connect(addr.clone(), e))?;
        let _ = tcp.set_nodelay(true);
        let mut stream: Box<dyn Io> = if scheme == "https" {
            let connector = tokio_rustls::TlsConnector::from(self.transport.http().tls_config());
            let name =
                rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                    .map_err(|_| {
                    Error::InvalidInput(format!("{host:?} is not a valid TLS server name"))
                })?;
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| Error::connect(addr.clone(), e).during("TLS handshake"))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let mut head = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: Upgrade\r\nUpgrade: {UPGRADE}\r\nAccept: application/json\r\n"
        );
        if let Ok(ua) = self.transport.http().user_agent().to_str() {
            head.push_str(&format!("User-Agent: {ua}\r\n"));
        }
        if let Some(auth) = self.transport.http().authorization().await? {
            let value = auth
                .to_str()
                .map_err(|_| Error::InvalidInput("credential is not printable".into()))?;
            head.push_str(&format!("Authorization: {value}\r\n"));
        }
        if let Some(p) = self.transport.preferences_header() {
            head.push_str(&format!("{PREFERENCES_HEADER}: {p}\r\n"));
        }
        if let Some(s) = self.transport.session_id() {
            head.push_str(&format!("{}: {s}\r\n", crate::transport::SESSION_HEADER));
        }
        head.push_str("\r\n");
        let lost = |e: std::io::Error| {
            Error::connection_lost(addr.clone(), e).during("forwarding request")
        };
        stream.write_all(head.as_bytes()).await.map_err(lost)?;
        drop(head);
        let (status, rest) = read_head(&mut stream).await.map_err(lost)?;
        let what = format!("GET {}", crate::url::path_only(&self.endpoint));
        if status != 101 {
            let mut body = rest.to_vec();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                let mut buf = [0u8; 4096];
                while body.len() < 4096 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => body.extend_from_slice(&buf[..n]),
                    }
                    if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
                        break;
                    }
                }
            })
            .await;
            return Err(crate::error::from_status(status, &what, &body));
        }
        tracing::debug!(endpoint = %crate::url::path_only(&self.endpoint), "forwarding tunnel open");
        Ok(Box::new(Prefixed { first: rest, inner: stream }))
    }

    /// Accepts connections on `listener` and relays each through its own
    /// tunnel, until the listener fails. `once`: only the first connection.
    pub async fn serve(&self, listener: TcpListener, once: bool) -> Result<()> {
        let this = Arc::new(self.clone());
        loop {
            let (local, peer) = listener
                .accept()
                .await
                .map_err(|e| Error::io("accepting a local connection", e))?;
            let _ = local.set_nodelay(true);
            tracing::debug!(%peer, "local client connected");
            let f = this.clone();
            let task = tokio::spawn(async move {
                if let Err(e) = f.relay(local).await {
                    tracing::warn!(error = %e, "forwarding ended with an error");
                }
            });
            if once {
                let _ = task.await;
                return Ok(());
            }
        }
    }

    /// Relays one local connection through a new tunnel until both sides end.
    pub async fn relay(&self, mut local: TcpStream) -> Result<()> {
        let mut remote = match self.connect().await {
            Ok(r) => r,
            Err(e) => {
                let _ = local.shutdown().await;
                return Err(e);
            }
        };
        tokio::io::copy_bidirectional(&mut local, &mut remote)
            .await
            .map(|_| ())
            .map_err(|e| Error::connection_lost("forwarded service", e))
    }
}

/// Reads the answer head up to the blank line; returns the status and the
/// bytes that came after it.
async fn read_head(stream: &mut Box<dyn Io>) -> std::io::Result<(u16, Bytes)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find_blank_line(&buf) {
            let head = String::from_utf8_lossy(&buf[..end]);
            let status = head
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer")
                })?;
            return Ok((status, Bytes::copy_from_slice(&buf[end + 4..])));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "answer head too long",
            ));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "server closed before answering",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find_blank_line(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

fn split_url(url: &str) -> Result<(&str, String, u16, String)> {
    let bad = || {
        Error::InvalidInput(format!(
            "forwarding URL {:?} is not http(s)://host[:port]/path",
            crate::url::path_only(url)
        ))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let default_port = match scheme {
        "https" => 443,
        "http" => 80,
        _ => return Err(bad()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => {
            (h.to_owned(), p.parse().map_err(|_| bad())?)
        }
        _ => (authority.to_owned(), default_port),
    };
    if host.is_empty() || (host.contains(':') && !host.starts_with('[')) {
        return Err(bad());
    }
    Ok((scheme, host, port, path))
}

/// A stream that first yields bytes already read from it.
struct Prefixed {
    first: Bytes,
    inner: Box<dyn Io>,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.first.has_remaining() {
            let n = self.first.len().min(buf.remaining());
            buf.put_slice(&self.first[..n]);
            self.first.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        let (s, h, p, path) =
            split_url("https://127.0.0.1:8443/S/rest/core/jobs/1/forward-port?port=5").unwrap();
        assert_eq!(
            (s, h.as_str(), p, path.as_str()),
            ("https", "127.0.0.1", 8443, "/S/rest/core/jobs/1/forward-port?port=5")
        );
        assert_eq!(split_url("https://host/x").unwrap().2, 443);
        assert!(split_url("ftp://h/x").is_err());
        assert!(split_url("https://:9/x").is_err());
    }

    #[tokio::test]
    async fn bytes_sent_with_the_101_are_kept() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            assert!(
                req.starts_with("GET /S/rest/core/jobs/j/forward-port?port=7 HTTP/1.1\r\n"),
                "{req}"
            );
            assert!(req.contains("Upgrade: UNICORE-Socket-Forwarding"));
            // The greeting travels in the same segment as the 101.
            s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: UNICORE-Socket-Forwarding\r\n\r\nHELLO").await.unwrap();
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&buf[..n]).await.unwrap();
        });
        let t = Transport::builder().build().unwrap();
        let f =
            Forwarder::new(&t, &format!("http://{addr}/S/rest/core/jobs/j/forward-port?port=7"));
        let mut s = f.connect().await.unwrap();
        let mut got = [0u8; 5];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"HELLO");
        s.write_all(b"ping").await.unwrap();
        let mut echo = [0u8; 4];
        s.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"ping");
    }

    #[tokio::test]
    async fn refusals_are_typed_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await.unwrap();
            let body = r#"{"errorMessage":"Job is not running","status":500}"#;
            let head = format!(
                "HTTP/1.1 500 Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(head.as_bytes()).await.unwrap();
        });
        let t = Transport::builder().build().unwrap();
        let f =
            Forwarder::new(&t, &format!("http://{addr}/S/rest/core/jobs/j/forward-port?port=7"));
        let e = f.connect().await.err().unwrap();
        assert!(matches!(e, Error::Remote { status: Some(500), .. }), "{e:?}");
        assert!(e.to_string().contains("Job is not running"), "{e}");
    }
}
