//! The russh client handler: host-key check and incoming forwarded connections.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hpc_core::error::HostKeyProblem;
use russh::client::{self, ChannelOpenHandle, Msg, Session};
use russh::keys::{HashAlg, PublicKeyOrCertificate};
use russh::{Channel, ChannelOpenFailure};

use super::known_hosts::{self, Verdict};
use super::options::HostKeyPolicy;

/// Why the handler ended the connection.
#[derive(Debug)]
pub(crate) enum HandlerError {
    Ssh(russh::Error),
    HostKey(HostKeyProblem),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Ssh(e)
    }
}

/// Where remote-forwarded connections go: `(bind address, port)` on the
/// server to `(host, port)` reachable from here.
pub(crate) type RemoteForwards = Arc<Mutex<HashMap<(String, u32), (String, u16)>>>;

pub(crate) struct HostKeyCheck {
    pub files: Vec<PathBuf>,
    pub host: String,
    pub port: u16,
    pub policy: HostKeyPolicy,
}

pub(crate) struct ClientHandler {
    pub check: HostKeyCheck,
    pub forwards: RemoteForwards,
}

impl client::Handler for ClientHandler {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = key.public_key();
        let c = &self.check;
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        match known_hosts::check(&c.files, &c.host, c.port, &key) {
            Verdict::Known => Ok(true),
            Verdict::Changed(known_hosts) => {
                Err(HandlerError::HostKey(HostKeyProblem::Changed { fingerprint, known_hosts }))
            }
            Verdict::Unknown => match (c.policy, c.files.first()) {
                (HostKeyPolicy::AcceptNew, Some(file)) => {
                    known_hosts::learn(file, &c.host, c.port, &key)
                        .map_err(|e| HandlerError::Ssh(russh::Error::IO(e)))?;
                    tracing::info!(host = %c.host, port = c.port, %fingerprint, file = %file.display(), "recorded new host key");
                    Ok(true)
                }
                _ => Err(HandlerError::HostKey(HostKeyProblem::Unknown { fingerprint })),
            },
        }
    }

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: Channel<Msg>,
        connected_address: &str,
        connected_port: u32,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let target = {
            let map = self.forwards.lock().unwrap_or_else(|p| p.into_inner());
            map.get(&(connected_address.to_owned(), connected_port)).cloned()
        };
        let Some((host, port)) = target else {
            tracing::warn!(
                connected_address,
                connected_port,
                "forwarded connection for no known forward"
            );
            reply.reject(ChannelOpenFailure::AdministrativelyProhibited).await;
            return Ok(());
        };
        tracing::debug!(originator_address, originator_port, %host, port, "forwarded connection");
        reply.accept().await;
        tokio::spawn(async move {
            match tokio::net::TcpStream::connect((host.as_str(), port)).await {
                Ok(mut sock) => {
                    let _ = sock.set_nodelay(true);
                    let mut stream = channel.into_stream();
                    let _ = tokio::io::copy_bidirectional(&mut sock, &mut stream).await;
                }
                Err(e) => {
                    tracing::warn!(%host, port, error = %e, "cannot reach the forward's destination");
                    let _ = channel.close().await;
                }
            }
        });
        Ok(())
    }
}
