//! [`SshExecutor`]: one authenticated connection (through any jump hosts).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hpc_auth::{Credential, CredentialMap};
use hpc_core::error::NotFoundKind;
use hpc_core::{Error, Result};
use russh::client::{self, Handle, Msg};
use russh::keys::Algorithm;
use russh::{Channel, ChannelOpenFailure, Disconnect, Preferred};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::auth;
use super::errors::{channel_error, connect_error, lost, tunnel_error};
use super::forward::{self, Forward};
use super::handler::{ClientHandler, HandlerError, HostKeyCheck, RemoteForwards};
use super::known_hosts;
use super::options::SshOptions;
use super::process;
use super::resolve::{self, HopPlan};
use super::stream::{SessionCount, SessionSlot, SshStream};
use crate::command::Command;
use crate::executor::{Executor, Process};

type Stream = Box<dyn AsyncReadWrite>;

trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncReadWrite for T {}

/// The shared state behind every clone of an [`SshExecutor`].
pub(crate) struct Conn {
    /// `user@host:port` of the target.
    pub target: String,
    /// `host:port` of the target, for messages.
    pub host: String,
    pub handle: Handle<ClientHandler>,
    /// Outer hops, kept alive for as long as the target connection.
    _jumps: Vec<Handle<ClientHandler>>,
    process_slots: Arc<Semaphore>,
    control_slots: Arc<Semaphore>,
    sessions: Arc<SessionCount>,
    pub forwards: RemoteForwards,
    session_wait: Duration,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("target", &self.target).finish_non_exhaustive()
    }
}

/// Attempts at opening a refused session channel while none of ours is open
/// (the server may still be tearing down the last one).
const REFUSED_RETRIES_WHEN_IDLE: u32 = 4;

impl Conn {
    /// Open a session channel, waiting for a free slot, and for the server
    /// to accept it when it refuses (OpenSSH answers "open failed" with
    /// reason connect-failed once its `MaxSessions` is reached, counting
    /// sessions whose process it has not reaped yet).
    pub(crate) async fn open_session(&self, control: bool) -> Result<(Channel<Msg>, SessionSlot)> {
        let slots = if control { &self.control_slots } else { &self.process_slots };
        let deadline = Instant::now() + self.session_wait;
        let mut idle_refusals = 0;
        let mut backoff = Duration::from_millis(20);
        loop {
            let permit =
                slots.clone().acquire_owned().await.map_err(|_| Error::ConnectionLost {
                    host: self.host.clone(),
                    reason: "the connection was closed".into(),
                })?;
            let closed = self.sessions.closed();
            tokio::pin!(closed);
            closed.as_mut().enable();
            let opened = self
                .handle
                .channel_open_session()
                .instrument(
                    tracing::debug_span!("ssh_channel_open", host = %self.host, kind = "session"),
                )
                .await;
            match opened {
                Ok(ch) => return Ok((ch, SessionSlot::new(permit, self.sessions.clone()))),
                Err(russh::Error::ChannelOpenFailure(
                    f @ (ChannelOpenFailure::AdministrativelyProhibited
                    | ChannelOpenFailure::ConnectFailed
                    | ChannelOpenFailure::ResourceShortage),
                )) => {
                    drop(permit);
                    let busy = self.sessions.open() > 0;
                    if !busy {
                        idle_refusals += 1;
                    }
                    if idle_refusals > REFUSED_RETRIES_WHEN_IDLE || Instant::now() >= deadline {
                        return Err(channel_error(
                            &self.host,
                            "session",
                            russh::Error::ChannelOpenFailure(f),
                        ));
                    }
                    tracing::debug!(host = %self.host, busy, "session refused, waiting to retry");
                    let _ = tokio::time::timeout(backoff, closed).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                Err(e) => return Err(channel_error(&self.host, "session", e)),
            }
        }
    }
}

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
    /// then the default; none: [`Credential::Default`]).
    pub async fn connect(opts: SshOptions, creds: &CredentialMap) -> Result<SshExecutor> {
        let plan = resolve::plan(&opts)?;
        connect_plan(&opts, &plan, creds).await
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
        let ex = connect_plan(&opts, &plan, creds).await?;
        *cached = Arc::downgrade(&ex.conn);
        Ok(ex)
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
        let _ = self.conn.handle.disconnect(Disconnect::ByApplication, "", "en").await;
        for j in self.conn._jumps.iter().rev() {
            let _ = j.disconnect(Disconnect::ByApplication, "", "en").await;
        }
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

fn config_for(opts: &SshOptions, hop: &HopPlan) -> client::Config {
    let known = known_hosts::known_algorithms(&hop.known_hosts, &hop.host, hop.port);
    let mut preferred = Preferred::default();
    if !known.is_empty() {
        let family = |a: &Algorithm| match a {
            Algorithm::Rsa { .. } => "rsa".to_owned(),
            other => other.as_str().to_owned(),
        };
        let known: Vec<String> = known.iter().map(family).collect();
        let mut keys = preferred.key.to_vec();
        // Stable: known types first, in the library's order.
        keys.sort_by_key(|a| !known.contains(&family(a)));
        preferred.key = keys.into();
    }
    if hardware_aes() {
        // With AES instructions AES-GCM costs both ends a fraction of the CPU
        // ChaCha20-Poly1305 does (the bulk of an SFTP transfer on a small
        // node); both are AEADs of the same strength.
        let mut ciphers = preferred.cipher.to_vec();
        ciphers.sort_by_key(|c| *c != russh::cipher::AES_256_GCM);
        preferred.cipher = ciphers.into();
    }
    client::Config {
        preferred,
        nodelay: true,
        keepalive_interval: opts.keepalive,
        keepalive_max: 3,
        ..Default::default()
    }
}

/// Whether this CPU encrypts AES-GCM in hardware.
fn hardware_aes() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

async fn open_transport(
    opts: &SshOptions,
    hop: &HopPlan,
    prev: Option<(&Handle<ClientHandler>, &HopPlan)>,
) -> Result<Stream> {
    let label = hop.label();
    match prev {
        None => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((hop.host.as_str(), hop.port))
                .await
                .map_err(|_| Error::NotFound { kind: NotFoundKind::Host, name: hop.host.clone() })?
                .collect();
            if addrs.is_empty() {
                return Err(Error::NotFound { kind: NotFoundKind::Host, name: hop.host.clone() });
            }
            let connect = tokio::time::timeout(
                opts.connect_timeout,
                tokio::net::TcpStream::connect(&addrs[..]),
            );
            let sock = match connect.await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    let reason = match e.kind() {
                        std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                        _ => e.to_string(),
                    };
                    return Err(Error::Connect { host: label, reason });
                }
                Err(_) => {
                    return Err(Error::Connect {
                        host: label,
                        reason: format!("no answer within {:?}", opts.connect_timeout),
                    });
                }
            };
            let _ = sock.set_nodelay(true);
            Ok(Box::new(sock))
        }
        Some((handle, prev_hop)) => {
            let ch = handle
                .channel_open_direct_tcpip(hop.host.as_str(), u32::from(hop.port), "127.0.0.1", 0)
                .instrument(tracing::debug_span!("ssh_channel_open", host = %prev_hop.label(), kind = "direct-tcpip", to = %label))
                .await
                .map_err(|e| match e {
                    russh::Error::ChannelOpenFailure(ChannelOpenFailure::ConnectFailed) => Error::Connect {
                        host: label.clone(),
                        reason: format!("jump host {} could not connect to it", prev_hop.label()),
                    },
                    e => tunnel_error(&prev_hop.label(), &label, e),
                })?;
            Ok(Box::new(ch.into_stream()))
        }
    }
}

async fn connect_hop(
    opts: &SshOptions,
    hop: &HopPlan,
    prev: Option<(&Handle<ClientHandler>, &HopPlan)>,
    creds: &CredentialMap,
    forwards: RemoteForwards,
) -> Result<(Handle<ClientHandler>, String)> {
    let label = hop.label();
    let stream = open_transport(opts, hop, prev).await?;
    let handler = ClientHandler {
        check: HostKeyCheck {
            files: hop.known_hosts.clone(),
            host: hop.host.clone(),
            port: hop.port,
            policy: opts.host_key_policy,
        },
        forwards,
    };
    let config = Arc::new(config_for(opts, hop));
    let default_cred = Credential::default_for(None);
    let cred = creds.get(&hop.credential_key()).unwrap_or(&default_cred);
    let work = async {
        let mut handle =
            client::connect_stream(config, stream, handler).await.map_err(|e| match e {
                HandlerError::HostKey(problem) => Error::HostKey { host: label.clone(), problem },
                HandlerError::Ssh(e) => connect_error(&label, e),
            })?;
        let user = auth::authenticate(&mut handle, hop, cred).await?;
        tracing::Span::current().record("user", user.as_str());
        Ok::<_, Error>((handle, user))
    };
    match tokio::time::timeout(opts.connect_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(Error::Connect {
            host: label,
            reason: format!("handshake and login did not finish within {:?}", opts.connect_timeout),
        }),
    }
}

async fn connect_plan(
    opts: &SshOptions,
    plan: &[HopPlan],
    creds: &CredentialMap,
) -> Result<SshExecutor> {
    let Some(last) = plan.last() else {
        return Err(Error::InvalidInput("no host to connect to".into()));
    };
    let forwards = RemoteForwards::default();
    let mut handles: Vec<Handle<ClientHandler>> = Vec::new();
    let mut user = String::new();
    for (i, hop) in plan.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| (&handles[p], &plan[p]));
        let span =
            tracing::info_span!("ssh_connect", host = %hop.label(), hop = i, hops = plan.len());
        let (handle, u) =
            connect_hop(opts, hop, prev, creds, forwards.clone()).instrument(span).await?;
        tracing::debug!(host = %hop.label(), user = %u, "connected");
        handles.push(handle);
        user = u;
    }
    let handle =
        handles.pop().ok_or_else(|| Error::InvalidInput("no host to connect to".into()))?;
    let process_slots = opts.max_sessions.saturating_sub(1).max(1);
    let conn = Conn {
        target: format!("{user}@{}", last.label()),
        host: last.label(),
        handle,
        _jumps: handles,
        process_slots: Arc::new(Semaphore::new(process_slots)),
        control_slots: Arc::new(Semaphore::new(1)),
        sessions: Arc::new(SessionCount::default()),
        forwards,
        session_wait: opts.session_wait,
    };
    Ok(SshExecutor { conn: Arc::new(conn) })
}
