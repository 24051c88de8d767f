//! A small bounded pool of logged-in control connections (OpenDAL's shape):
//! NOOP before reuse, broken connections are dropped, never returned.
//!
//! A task that already holds a connection of the pool never waits for a
//! second one: a read feeding a write to the same server (a copy within one
//! server), or a listing whose consumer makes directories, would otherwise
//! deadlock once every connection is held by a task waiting for another.
//! Such a task gets a free connection if there is one, else one beyond the
//! limit, which is closed instead of kept. So at most twice `pool`
//! connections are open, and at most `pool` are kept.
//!
//! Every connection is made here, so the rules for data connections hold
//! for all of them: passive mode to the control connection's own peer
//! address (EPSV where the server offers it, else PASV with the address in
//! the `227` reply ignored), each connect bounded by the connect limit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hpc_core::{Error, Result};
use suppaftp::tokio::ImplAsyncFtpStream;
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::config::FtpConfig;
use super::error::{ftp_error, is_connection_error, reply_code, tls_error};
use super::tls::{FtpsConnector, FtpsStream};

/// A control connection, plain or TLS (with [`FtpsStream`], not suppaftp's
/// own rustls stream: see the `tls` module).
pub(crate) type Conn = ImplAsyncFtpStream<FtpsStream>;

/// The longest wait for the NOOP that checks an idle connection before it
/// is reused (at most the idle limit).
const NOOP_PROBE: Duration = Duration::from_secs(5);

/// What the server announced in `FEAT` (asked once, on the first login).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Features {
    /// `EPSV`: the data port without any address.
    pub(crate) epsv: bool,
    /// `MLST`: machine-readable facts of one path (and `MLSD` listings).
    pub(crate) mlst: bool,
}

pub(crate) struct Pool {
    config: FtpConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    features: OnceLock<Features>,
    /// EPSV still looks usable: cleared when the server refuses it although
    /// `FEAT` listed it; PASV (to the control peer) from then on.
    epsv: AtomicBool,
    /// How many connections each task holds.
    holders: Mutex<HashMap<tokio::task::Id, usize>>,
}

/// A checked-out connection. Returned to the pool on drop only if
/// `reusable` (cleared while a transfer is open, and on connection errors)
/// and within the limit (`permit`; a connection beyond it is closed).
pub(crate) struct PooledConn {
    conn: Option<Conn>,
    pool: Arc<Pool>,
    pub(crate) reusable: bool,
    permit: Option<OwnedSemaphorePermit>,
    holder: Option<tokio::task::Id>,
}

impl Pool {
    pub(crate) fn new(config: FtpConfig) -> Result<Arc<Pool>> {
        let tls = if config.tls {
            let extra: Vec<_> = config.ca_file.iter().cloned().collect();
            Some(Arc::new(hpc_http::tls_client_config(&extra)?))
        } else {
            None
        };
        let permits = Arc::new(Semaphore::new(config.pool_size));
        Ok(Arc::new(Pool {
            config,
            tls,
            idle: Mutex::new(Vec::new()),
            permits,
            features: OnceLock::new(),
            epsv: AtomicBool::new(true),
            holders: Mutex::new(HashMap::new()),
        }))
    }

    pub(crate) fn host(&self) -> String {
        format!("{}:{}", self.config.host, self.config.port)
    }

    pub(crate) fn config(&self) -> &FtpConfig {
        &self.config
    }

    /// The server's features (known once a connection has logged in).
    pub(crate) fn features(&self) -> Features {
        self.features.get().copied().unwrap_or_default()
    }

    /// A logged-in connection: a healthy idle one, or a new one.
    pub(crate) async fn get(self: &Arc<Self>) -> Result<PooledConn> {
        let holder = tokio::task::try_id();
        let holds_one = holder.is_some_and(|id| {
            self.holders.lock().unwrap_or_else(|p| p.into_inner()).get(&id).is_some_and(|n| *n > 0)
        });
        let permit = if holds_one {
            // Waiting here could wait for ever (see the module docs).
            self.permits.clone().try_acquire_owned().ok()
        } else {
            Some(
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the pool's semaphore is never closed"),
            )
        };
        if let Some(id) = holder {
            *self.holders.lock().unwrap_or_else(|p| p.into_inner()).entry(id).or_default() += 1;
        }
        let mut pooled =
            PooledConn { conn: None, pool: self.clone(), reusable: true, permit, holder };
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(mut conn) = idle else { break };
            // A server may have closed an idle connection (421 timeout), or
            // the connection died on the way and nothing answers: a healthy
            // server answers NOOP at once, and a fresh login costs less than
            // the idle limit (60 s by default).
            let probe = self.config.timeouts.idle.min(NOOP_PROBE);
            if tokio::time::timeout(probe, conn.noop()).await.is_ok_and(|r| r.is_ok()) {
                pooled.conn = Some(conn);
                return Ok(pooled);
            }
        }
        pooled.conn = Some(self.connect().await?);
        Ok(pooled)
    }

    async fn connect(&self) -> Result<Conn> {
        let host = self.host();
        let c = &self.config;
        let limits = c.timeouts;
        let tcp = tokio::time::timeout(
            limits.connect,
            tokio::net::TcpStream::connect((c.host.as_str(), c.port)),
        )
        .await
        .map_err(|_| Error::Timeout {
            what: format!("connecting to {host}"),
            after: limits.connect,
        })?
        .map_err(|e| Error::connect(&host, e))?;
        let _ = tcp.set_nodelay(true);
        // Every step of the login is one reply: each gets the idle limit.
        let step = |what: &'static str| Error::Timeout {
            what: format!("{what} on {host} (no answer)"),
            after: limits.idle,
        };
        let mut ftp = tokio::time::timeout(limits.idle, Conn::connect_with_stream(tcp))
            .await
            .map_err(|_| step("the greeting"))?
            .map_err(|e| Error::connect(&host, e))?;
        if let Some(tls) = &self.tls {
            let connector = FtpsConnector::from(tokio_rustls::TlsConnector::from(tls.clone()));
            ftp = tokio::time::timeout(limits.idle, ftp.into_secure(connector, &c.host))
                .await
                .map_err(|_| step("AUTH TLS"))?
                .map_err(|e| tls_error(e, &host, c.ca_file.is_some()))?;
        }
        tokio::time::timeout(limits.idle, ftp.login(c.user.as_str(), c.password.expose()))
            .await
            .map_err(|_| step("login"))?
            .map_err(|e| match e {
                suppaftp::FtpError::UnexpectedResponse(r) if r.status.code() == 530 => {
                    Error::Authentication {
                        user: c.user.clone(),
                        host: host.clone(),
                        reason: format!(
                            "the server said: {}",
                            String::from_utf8_lossy(&r.body).trim()
                        ),
                    }
                }
                other => ftp_error(other, "login", &host),
            })?;
        tokio::time::timeout(limits.idle, ftp.transfer_type(FileType::Binary))
            .await
            .map_err(|_| step("TYPE I"))?
            .map_err(|e| ftp_error(e, "TYPE I", &host))?;
        let features = match self.features.get() {
            Some(f) => *f,
            None => {
                // A server without FEAT (or a broken answer) offers nothing extra.
                let feat = tokio::time::timeout(limits.idle, ftp.feat()).await;
                let names = feat.ok().and_then(|r| r.ok()).unwrap_or_default();
                let has = |k: &str| names.keys().any(|n| n.trim().eq_ignore_ascii_case(k));
                *self.features.get_or_init(|| Features { epsv: has("EPSV"), mlst: has("MLST") })
            }
        };
        let epsv = features.epsv && self.epsv.load(Ordering::Relaxed);
        Ok(passive_to_control_peer(ftp, epsv, limits.connect))
    }
}

/// Data connections go to the control connection's peer, never to an
/// address the server names: with EPSV the reply has only a port; with
/// PASV the address in the `227` reply is replaced by the peer's (the
/// "NAT workaround" of suppaftp), so a hostile or misconfigured server
/// cannot send hpckit to another host. Each connect is bounded by `limit`,
/// and its error names the address really tried.
fn passive_to_control_peer(mut ftp: Conn, epsv: bool, limit: Duration) -> Conn {
    ftp.set_mode(if epsv { Mode::ExtendedPassive } else { Mode::Passive });
    ftp.set_passive_nat_workaround(true);
    ftp.passive_stream_builder(move |addr: SocketAddr| {
        Box::pin(async move {
            let io =
                |kind, text: String| FtpError::ConnectionError(std::io::Error::new(kind, text));
            match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    Ok(stream)
                }
                Ok(Err(e)) => Err(io(e.kind(), format!("data connection to {addr}: {e}"))),
                Err(_) => {
                    Err(io(std::io::ErrorKind::TimedOut, format!("data connection to {addr}")))
                }
            }
        })
    })
}

impl PooledConn {
    /// Run one control-channel operation, with the idle limit (one reply,
    /// or the opening of one data connection); a transport failure marks
    /// the connection broken.
    pub(crate) async fn run<T, F>(&mut self, what: &str, op: F) -> Result<T>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> futures::future::BoxFuture<'c, suppaftp::FtpResult<T>>,
    {
        let limit = self.pool.config.timeouts.idle;
        let host = self.pool.host();
        let conn = self.conn.as_mut().expect("connection present until drop");
        match tokio::time::timeout(limit, op(conn)).await {
            Err(_) => {
                self.reusable = false;
                Err(Error::Timeout { what: format!("{what} on {host}"), after: limit })
            }
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    self.reusable = false;
                }
                if let FtpError::ConnectionError(io) = &e
                    && io.kind() == std::io::ErrorKind::TimedOut
                {
                    return Err(Error::Timeout {
                        what: format!("{what} on {host}: {io}"),
                        after: self.pool.config.timeouts.connect,
                    });
                }
                Err(ftp_error(e, what, &host))
            }
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Open a data connection with `op` (a transfer or listing command), as
    /// [`run`](Self::run) does; if the server refuses the `EPSV` that opens
    /// it (500, 501, 502 or 522) although `FEAT` listed it, once more with
    /// `PASV` (to the control peer as well), which the pool then keeps to.
    pub(crate) async fn run_data<T, F>(&mut self, what: &str, op: F) -> Result<T>
    where
        F: for<'c> Fn(&'c mut Conn) -> futures::future::BoxFuture<'c, suppaftp::FtpResult<T>>,
    {
        let epsv = self.pool.features().epsv && self.pool.epsv.load(Ordering::Relaxed);
        match self.run(what, &op).await {
            Err(e) if epsv && matches!(reply_code(&e), Some(500 | 501 | 502 | 522)) => {
                tracing::debug!(error = %e, "EPSV refused; using PASV to the control peer");
                self.pool.epsv.store(false, Ordering::Relaxed);
                if let Some(conn) = self.conn.as_mut() {
                    conn.set_mode(Mode::Passive);
                }
                self.run(what, &op).await
            }
            other => other,
        }
    }

    /// The pool this connection belongs to.
    pub(crate) fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }
}

impl Deref for PooledConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if self.reusable
            && self.permit.is_some()
            && let Some(conn) = self.conn.take()
        {
            self.pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        }
        if let Some(id) = self.holder {
            let mut holders = self.pool.holders.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = holders.get_mut(&id) {
                *n -= 1;
                if *n == 0 {
                    holders.remove(&id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hpc_auth::Credential;
    use hpc_testkit::hostile::ftp::{Behaviour, FtpServer};

    use super::*;

    /// An idle connection whose NOOP goes unanswered is given up after the
    /// probe's few seconds, not the idle limit, and a fresh one does the work.
    #[tokio::test]
    async fn a_pooled_connection_that_stopped_answering_is_replaced_quickly() {
        let server =
            FtpServer::start(Behaviour { noop_unanswered: true, ..Behaviour::default() }).await;
        let loc = server.url("idle_timeout=600").parse().unwrap();
        let pool =
            Pool::new(FtpConfig::from_location(&loc, &Credential::password("user", "pw")).unwrap())
                .unwrap();
        for _ in 0..2 {
            let mut c = pool.get().await.unwrap();
            c.run("RNFR/RNTO", |c| Box::pin(c.rename("a.txt", "c.txt"))).await.unwrap();
        }
        let started = std::time::Instant::now();
        let mut c = pool.get().await.unwrap();
        c.run("RNFR/RNTO", |c| Box::pin(c.rename("a.txt", "c.txt"))).await.unwrap();
        // The probe's limit, not the 600 s idle limit, ended the wait.
        assert!(started.elapsed() < Duration::from_secs(300), "{:?}", started.elapsed());
        assert_eq!(server.count("RNTO"), 3, "{:?}", server.commands());
        assert_eq!(server.count("NOOP"), 2, "one probe per reuse: {:?}", server.commands());
        assert_eq!(server.count("PASS"), 3, "each unanswered probe cost a login");
    }
}
