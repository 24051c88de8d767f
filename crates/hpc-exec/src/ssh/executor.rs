//! [`SshExecutor`]: runs commands, opens subsystems and forwards ports over
//! one shared connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use async_trait::async_trait;
use hpc_auth::CredentialMap;
use hpc_core::{Error, Result};
use tracing::Instrument;

use super::connect::connect_plan;
use super::connection::Conn;
use super::errors::{lost, tunnel_error};
use super::forward::{self, Forward};
use super::options::SshOptions;
use super::process;
use super::resolve;
use super::stream::SshStream;
use crate::command::Command;
use crate::executor::{Executor, Process};

/// Runs commands on one host over SSH; cheap to clone (all clones share the
/// connection).
#[derive(Clone)]
pub struct SshExecutor {
    conn: Arc<Conn>,
}

impl std::fmt::Debug for SshExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshExecutor").field("target", &self.conn.target).finish()
    }
}

type SharedSlot = Arc<tokio::sync::Mutex<Weak<Conn>>>;

/// Connections handed out by [`SshExecutor::shared`], by hop chain.
static SHARED: LazyLock<Mutex<HashMap<String, SharedSlot>>> = LazyLock::new(Default::default);

impl SshExecutor {
    /// Connect to the target through its jump hosts and log in on each hop
    /// with the credential `creds` has for it (`host:port`, then `host`,
    /// then the default; none: [`Credential::Default`](hpc_auth::Credential::Default)).
    pub async fn connect(opts: SshOptions, creds: &CredentialMap) -> Result<SshExecutor> {
        let plan = resolve::plan(&opts)?;
        Ok(SshExecutor { conn: Arc::new(connect_plan(&opts, &plan, creds).await?) })
    }

    /// Like [`SshExecutor::connect`], but reuse a live connection to the same
    /// hops (user, host, port, jump hosts) that this process already has
    /// from `shared`, so a scheduler and a file system on one host share one
    /// connection (and one MFA prompt). The credentials of the first caller
    /// are the ones used.
    pub async fn shared(opts: SshOptions, creds: &CredentialMap) -> Result<SshExecutor> {
        let plan = resolve::plan(&opts)?;
        let key = plan
            .iter()
            .map(|h| {
                let user = h.user.clone().or_else(|| {
                    creds.get(&h.credential_key()).and_then(|c| c.username().map(str::to_owned))
                });
                format!("{}@{}", user.unwrap_or_default(), h.label())
            })
            .collect::<Vec<_>>()
            .join(" via ");
        let slot = {
            let mut map = SHARED.lock().unwrap_or_else(|p| p.into_inner());
            // Forget slots whose connection is gone, unless someone is connecting.
            map.retain(|_, s| s.try_lock().map_or(true, |w| w.strong_count() > 0));
            map.entry(key).or_default().clone()
        };
        let mut cached = slot.lock().await;
        if let Some(conn) = cached.upgrade()
            && !conn.handle.is_closed()
        {
            return Ok(SshExecutor { conn });
        }
        let conn = Arc::new(connect_plan(&opts, &plan, creds).await?);
        *cached = Arc::downgrade(&conn);
        Ok(SshExecutor { conn })
    }

    /// Open a subsystem channel (`"sftp"`) as a byte stream. It occupies one
    /// session slot until dropped.
    pub async fn open_subsystem(&self, name: &str) -> Result<SshStream> {
        let host = &self.conn.host;
        let (mut channel, slot) = self.conn.open_session(false).await?;
        let refused = |reason: &str| Error::ChannelRefused {
            host: host.clone(),
            channel: format!("subsystem {name}"),
            reason: reason.to_owned(),
        };
        channel.request_subsystem(true, name).await.map_err(|e| lost(host, e))?;
        loop {
            match channel.wait().await {
                Some(russh::ChannelMsg::Success) => break,
                Some(russh::ChannelMsg::Failure) => {
                    return Err(refused("the server has no such subsystem"));
                }
                Some(russh::ChannelMsg::Close | russh::ChannelMsg::Eof) | None => {
                    return Err(refused("the channel closed"));
                }
                Some(_) => {}
            }
        }
        Ok(SshStream::new(channel.into_stream(), Some(slot)))
    }

    /// A `direct-tcpip` channel: a TCP connection to `host:port` made by the
    /// server, as a byte stream.
    pub async fn open_direct_tcpip(&self, host: &str, port: u16) -> Result<SshStream> {
        let ch = self
            .conn
            .handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
            .instrument(tracing::debug_span!("ssh_channel_open", host = %self.conn.host, kind = "direct-tcpip", to = %host, port))
            .await
            .map_err(|e| tunnel_error(&self.conn.host, &format!("{host}:{port}"), e))?;
        Ok(SshStream::new(ch.into_stream(), None))
    }

    /// Listen on `bind` here and tunnel each accepted connection to
    /// `remote_host:remote_port` as seen from the server (`ssh -L`).
    /// Port 0 picks a free port: see [`Forward::local_addr`].
    pub async fn forward_local(
        &self,
        bind: SocketAddr,
        remote_host: &str,
        remote_port: u16,
    ) -> Result<Forward> {
        forward::local(self.conn.clone(), bind, remote_host, remote_port).await
    }

    /// Ask the server to listen on `remote_bind:remote_port` and send each
    /// connection to `to_host:to_port` as seen from here (`ssh -R`).
    /// Port 0 lets the server pick: see [`Forward::remote_port`].
    pub async fn forward_remote(
        &self,
        remote_bind: &str,
        remote_port: u16,
        to_host: &str,
        to_port: u16,
    ) -> Result<Forward> {
        forward::remote(self.conn.clone(), remote_bind, remote_port, to_host, to_port).await
    }

    /// Close the connection (and its jump hosts). Running commands and
    /// channels end; later calls fail with [`Error::ConnectionLost`].
    pub async fn close(&self) {
        self.conn.disconnect().await;
    }

    /// Whether the connection has ended (closed, or lost).
    pub fn is_closed(&self) -> bool {
        self.conn.handle.is_closed()
    }
}

#[async_trait]
impl Executor for SshExecutor {
    fn target(&self) -> &str {
        &self.conn.target
    }

    fn is_local(&self) -> bool {
        false
    }

    async fn spawn(&self, cmd: &Command) -> Result<Process> {
        let line = process::remote_line(&cmd.to_shell_line()?);
        let span =
            tracing::debug_span!("ssh_exec", host = %self.conn.host, command = %cmd.display());
        process::start(&self.conn, line, false, true).instrument(span).await
    }
}
