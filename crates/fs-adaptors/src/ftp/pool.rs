//! A small bounded pool of logged-in control connections (OpenDAL's shape):
//! NOOP before reuse, broken connections are dropped, never returned.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use hpc_core::{Error, Result};
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::types::FileType;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::config::FtpConfig;
use super::error::{ftp_error, is_connection_error};

pub(crate) type Conn = AsyncRustlsFtpStream;

pub(crate) struct Pool {
    config: FtpConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
}

/// A checked-out connection. Returned to the pool on drop only if
/// `reusable` (cleared while a transfer is open, and on connection errors).
pub(crate) struct PooledConn {
    conn: Option<Conn>,
    pool: Arc<Pool>,
    pub(crate) reusable: bool,
    _permit: OwnedSemaphorePermit,
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
        Ok(Arc::new(Pool { config, tls, idle: Mutex::new(Vec::new()), permits }))
    }

    pub(crate) fn host(&self) -> String {
        format!("{}:{}", self.config.host, self.config.port)
    }

    pub(crate) fn config(&self) -> &FtpConfig {
        &self.config
    }

    /// A logged-in connection: a healthy idle one, or a new one.
    pub(crate) async fn get(self: &Arc<Self>) -> Result<PooledConn> {
        // Only a closed semaphore refuses a permit, and nothing closes this one.
        let permit =
            self.permits.clone().acquire_owned().await.expect("the pool never closes its permits");
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(mut conn) = idle else { break };
            // A server may have closed an idle connection (421 timeout).
            if tokio::time::timeout(self.config.timeout, conn.noop()).await.is_ok_and(|r| r.is_ok())
            {
                return Ok(PooledConn {
                    conn: Some(conn),
                    pool: self.clone(),
                    reusable: true,
                    _permit: permit,
                });
            }
        }
        let conn = self.connect().await?;
        Ok(PooledConn { conn: Some(conn), pool: self.clone(), reusable: true, _permit: permit })
    }

    async fn connect(&self) -> Result<Conn> {
        let host = self.host();
        let c = &self.config;
        let timeout =
            |what: &str| Error::Timeout { what: format!("{what} {host}"), after: c.timeout };
        let tcp = tokio::time::timeout(
            c.timeout,
            tokio::net::TcpStream::connect((c.host.as_str(), c.port)),
        )
        .await
        .map_err(|_| timeout("connecting to"))?
        .map_err(|e| Error::connect(&host, e))?;
        let _ = tcp.set_nodelay(true);
        let login = async {
            let mut ftp =
                Conn::connect_with_stream(tcp).await.map_err(|e| Error::connect(&host, e))?;
            if let Some(tls) = &self.tls {
                let connector =
                    AsyncRustlsConnector::from(tokio_rustls::TlsConnector::from(tls.clone()));
                ftp = ftp
                    .into_secure(connector, &c.host)
                    .await
                    .map_err(|e| Error::connect(&host, e).during("TLS"))?;
            }
            ftp.login(c.user.as_str(), c.password.expose()).await.map_err(|e| match e {
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
            ftp.transfer_type(FileType::Binary).await.map_err(|e| ftp_error(e, "TYPE I", &host))?;
            Ok::<_, Error>(ftp)
        };
        tokio::time::timeout(c.timeout, login).await.map_err(|_| timeout("logging in to"))?
    }
}

impl PooledConn {
    /// Run one control-channel operation, with the pool's time limit; a
    /// transport failure marks the connection broken.
    pub(crate) async fn run<T, F>(&mut self, what: &str, op: F) -> Result<T>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> futures::future::BoxFuture<'c, suppaftp::FtpResult<T>>,
    {
        let limit = self.pool.config.timeout;
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
                Err(ftp_error(e, what, &host))
            }
            Ok(Ok(v)) => Ok(v),
        }
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
            && let Some(conn) = self.conn.take()
        {
            self.pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        }
    }
}
