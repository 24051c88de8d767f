//! Local (`ssh -L`) and remote (`ssh -R`) port forwarding.

use std::net::SocketAddr;
use std::sync::Arc;

use hpc_core::{Error, Result};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use super::connection::Conn;
use super::errors::lost;

/// A running port forward. Dropping it (or [`Forward::close`]) stops
/// accepting new connections; for a local forward, open tunnels end too.
pub struct Forward {
    local: Option<SocketAddr>,
    remote: Option<(String, u16)>,
    task: Option<JoinHandle<()>>,
    conn: Arc<Conn>,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("host", &self.conn.host)
            .finish()
    }
}

impl Forward {
    /// The local listening address of a local forward (with the real port
    /// when port 0 was asked for).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The port the server listens on for a remote forward (the one it
    /// chose when port 0 was asked for).
    pub fn remote_port(&self) -> Option<u16> {
        self.remote.as_ref().map(|(_, p)| *p)
    }

    /// Stop the forward and, for a remote one, wait until the server has
    /// stopped listening.
    pub async fn close(mut self) -> Result<()> {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some((bind, port)) = self.remote.take() {
            unregister(&self.conn, &bind, port);
            self.conn
                .handle
                .cancel_tcpip_forward(bind, u32::from(port))
                .await
                .map_err(|e| lost(&self.conn.host, e))?;
        }
        Ok(())
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some((bind, port)) = self.remote.take() {
            unregister(&self.conn, &bind, port);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let conn = self.conn.clone();
                rt.spawn(async move {
                    let _ = conn.handle.cancel_tcpip_forward(bind, u32::from(port)).await;
                });
            }
        }
    }
}

fn unregister(conn: &Conn, bind: &str, port: u16) {
    let mut map = conn.forwards.lock().unwrap_or_else(|p| p.into_inner());
    map.remove(&(bind.to_owned(), u32::from(port)));
}

pub(crate) async fn local(
    conn: Arc<Conn>,
    bind: SocketAddr,
    remote_host: &str,
    remote_port: u16,
) -> Result<Forward> {
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|e| Error::io(format!("listening on {bind} for a forward"), e))?;
    let local = listener.local_addr().map_err(|e| Error::io("reading the forward's address", e))?;
    let (c, host) = (conn.clone(), remote_host.to_owned());
    let span = tracing::debug_span!("ssh_forward_local", %local, to = %host, port = remote_port);
    let task = tokio::spawn(
        async move {
            // Tunnels live in this set: aborting the listener task ends them too.
            let mut tunnels = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut sock, peer)) = accepted else { continue };
                        let _ = sock.set_nodelay(true);
                        let (c, host) = (c.clone(), host.clone());
                        tunnels.spawn(async move {
                            let opened = c
                                .handle
                                .channel_open_direct_tcpip(host.as_str(), u32::from(remote_port), peer.ip().to_string(), u32::from(peer.port()))
                                .await;
                            match opened {
                                Ok(ch) => {
                                    let mut stream = ch.into_stream();
                                    let _ = tokio::io::copy_bidirectional(&mut sock, &mut stream).await;
                                }
                                Err(e) => tracing::warn!(to = %host, port = remote_port, error = %e, "forwarded connection refused"),
                            }
                        });
                    }
                    Some(_) = tunnels.join_next(), if !tunnels.is_empty() => {}
                }
            }
        }
        .instrument(span),
    );
    Ok(Forward { local: Some(local), remote: None, task: Some(task), conn })
}

pub(crate) async fn remote(
    conn: Arc<Conn>,
    remote_bind: &str,
    remote_port: u16,
    to_host: &str,
    to_port: u16,
) -> Result<Forward> {
    let target = (to_host.to_owned(), to_port);
    let register = |port: u16| {
        let mut map = conn.forwards.lock().unwrap_or_else(|p| p.into_inner());
        map.insert((remote_bind.to_owned(), u32::from(port)), target.clone());
    };
    // A fixed port is registered first so that no early connection is turned away.
    if remote_port != 0 {
        register(remote_port);
    }
    let asked = conn
        .handle
        .tcpip_forward(remote_bind, u32::from(remote_port))
        .instrument(tracing::debug_span!("ssh_forward_remote", host = %conn.host, bind = %remote_bind, port = remote_port))
        .await;
    let port = match asked {
        Ok(p) if remote_port == 0 => u16::try_from(p).unwrap_or(0),
        Ok(_) => remote_port,
        Err(e) => {
            unregister(&conn, remote_bind, remote_port);
            return Err(match e {
                russh::Error::RequestDenied => Error::ChannelRefused {
                    host: conn.host.clone(),
                    channel: format!("tcpip-forward on {remote_bind}:{remote_port}"),
                    reason: "the server denied the request".into(),
                },
                e => lost(&conn.host, e),
            });
        }
    };
    if remote_port == 0 {
        register(port);
    }
    Ok(Forward { local: None, remote: Some((remote_bind.to_owned(), port)), task: None, conn })
}
