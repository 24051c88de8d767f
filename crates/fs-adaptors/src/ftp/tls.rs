//! TLS for FTPS: suppaftp's `AsyncTlsConnector`/`TokioTlsStream` over
//! tokio-rustls, with one difference from suppaftp's own rustls stream:
//! what has been written is pushed out before the stream waits to read.
//!
//! suppaftp sends a command with `write_all` and then reads the reply; it
//! never flushes (12.2.1; fine over plain TCP, whose writes go straight to
//! the kernel). tokio-rustls's `poll_write` encrypts into rustls's buffer
//! and may return `Ready(n)` with the record still there when the socket
//! write says Pending, and its `poll_read` never writes. The socket write
//! says Pending on a writable socket whenever the task's cooperative budget
//! (tokio's coop, 128 operations per poll) runs out at that write: then the
//! command never leaves the process, the server waits for it and the
//! client for its reply, until the idle limit (the intermittent
//! `RNFR/RNTO ... timed out after 60s` and `LIST ... timed out` of CI
//! under load). [`FtpsStream`] flushes after each write and, should that
//! flush be Pending, before each read, so a queued record always goes out.
//! Remove this wrapper once suppaftp flushes its control connection.

use std::pin::Pin;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use suppaftp::tokio::{AsyncTlsConnector, TokioTlsStream};
use suppaftp::{FtpError, FtpResult};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Makes the TLS sessions of an FTPS client: the control connection's
/// (`AUTH TLS`) and, with `PROT P`, every data connection's.
#[derive(Clone)]
pub(crate) struct FtpsConnector(tokio_rustls::TlsConnector);

impl From<tokio_rustls::TlsConnector> for FtpsConnector {
    fn from(connector: tokio_rustls::TlsConnector) -> Self {
        FtpsConnector(connector)
    }
}

impl std::fmt::Debug for FtpsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpsConnector").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl AsyncTlsConnector for FtpsConnector {
    type Stream = FtpsStream;

    async fn connect(&self, domain: &str, stream: TcpStream) -> FtpResult<FtpsStream> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| FtpError::SecureError(e.to_string()))?;
        let tls =
            self.0.connect(name, stream).await.map_err(|e| FtpError::SecureError(e.to_string()))?;
        Ok(FtpsStream { tls })
    }
}

/// A TLS connection (control or data) that never keeps written bytes back
/// while it waits to read (see the module docs).
#[derive(Debug)]
pub(crate) struct FtpsStream {
    tls: TlsStream<TcpStream>,
}

impl FtpsStream {
    /// Whether rustls holds records not yet handed to the socket.
    fn unsent(&self) -> bool {
        self.tls.get_ref().1.wants_write()
    }
}

impl AsyncRead for FtpsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.unsent() {
            // Pending registers this task for the socket's (or the coop
            // budget's) wake-up; the read below registers it for data.
            if let Poll::Ready(Err(e)) = Pin::new(&mut self.tls).poll_flush(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for FtpsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let n = std::task::ready!(Pin::new(&mut self.tls).poll_write(cx, buf))?;
        if self.unsent() {
            // Accepted is accepted: a Pending or failed flush is tried
            // again by the next read, write or flush, which reports it.
            let _ = Pin::new(&mut self.tls).poll_flush(cx);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

impl TokioTlsStream for FtpsStream {
    type InnerStream = TlsStream<TcpStream>;

    fn tcp_stream(self) -> FtpResult<TcpStream> {
        Ok(self.tls.into_inner().0)
    }

    fn get_ref(&self) -> &TcpStream {
        self.tls.get_ref().0
    }

    fn mut_ref(&mut self) -> &mut Self::InnerStream {
        &mut self.tls
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hpc_auth::Credential;
    use hpc_testkit::hostile::ftp::{Behaviour, FtpServer};

    use super::super::config::FtpConfig;
    use super::super::pool::Pool;

    async fn pool(server: &FtpServer) -> Arc<Pool> {
        // The idle limit only ends the hang of a failure (one reply takes
        // milliseconds).
        let loc = server.url("idle_timeout=30").parse().unwrap();
        Pool::new(FtpConfig::from_location(&loc, &Credential::password("user", "pw")).unwrap())
            .unwrap()
    }

    /// A command whose socket write meets the end of the task's coop budget
    /// (tokio's `poll_write` then says Pending on a writable socket) still
    /// reaches the server. A task starts with a full budget; spending `k`
    /// units first puts the end of the budget on each step before the reply
    /// is awaited in turn, the command's write among them (`k` = 127 before
    /// the fix: RNFR stayed in rustls's buffer, `RNFR/RNTO timed out`).
    #[tokio::test]
    async fn a_command_written_at_the_end_of_the_coop_budget_is_sent() {
        for tls in [false, true] {
            let server = FtpServer::start(Behaviour { tls, ..Behaviour::default() }).await;
            let pool = pool(&server).await;
            for k in 0..=130 {
                let mut c = pool.get().await.unwrap();
                let done = tokio::spawn(async move {
                    for _ in 0..k {
                        tokio::task::coop::consume_budget().await;
                    }
                    c.run("RNFR/RNTO", |c| Box::pin(c.rename("a.txt", "c.txt"))).await
                })
                .await
                .unwrap();
                assert!(done.is_ok(), "tls: {tls}, after {k} units of budget: {done:?}");
            }
            assert_eq!(server.count("RNTO"), 131, "{:?}", server.commands());
        }
    }
}
