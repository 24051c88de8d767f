//! Establishing a connection: the TCP socket or `direct-tcpip` channel of
//! each hop, its handshake and login, and the [`Conn`] at the end of the chain.

use std::net::SocketAddr;
use std::sync::Arc;

use hpc_auth::{Credential, CredentialMap};
use hpc_core::error::NotFoundKind;
use hpc_core::{Error, Result};
use russh::client::{self, Handle};
use russh::keys::Algorithm;
use russh::{ChannelOpenFailure, Preferred};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::Instrument;

use super::auth;
use super::connection::Conn;
use super::errors::{connect_error, tunnel_error};
use super::handler::{ClientHandler, HandlerError, HostKeyCheck, RemoteForwards};
use super::known_hosts;
use super::options::SshOptions;
use super::resolve::HopPlan;

type Stream = Box<dyn AsyncReadWrite>;

trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncReadWrite for T {}

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
                Ok(Err(e)) => return Err(Error::connect(label, e)),
                Err(_) => {
                    return Err(Error::Connect {
                        host: label,
                        reason: format!("no answer within {:?}", opts.connect_timeout),
                        source: None,
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
                        source: Some(e.into()),
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
            source: None,
        }),
    }
}

/// Connect through every hop of `plan` and log in on each; the last hop is
/// the target.
pub(crate) async fn connect_plan(
    opts: &SshOptions,
    plan: &[HopPlan],
    creds: &CredentialMap,
) -> Result<Conn> {
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
    Ok(Conn::new(
        format!("{user}@{}", last.label()),
        last.label(),
        handle,
        handles,
        forwards,
        opts.max_sessions,
        opts.session_wait,
    ))
}
