//! [`Conn`]: the shared state of one authenticated connection (through any
//! jump hosts), and how a session channel is opened on it. Everything else in
//! this module (the executor, processes, forwards) builds on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hpc_core::{Error, Result};
use russh::client::{Handle, Msg};
use russh::{Channel, ChannelOpenFailure, Disconnect};
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::errors::channel_error;
use super::handler::{ClientHandler, RemoteForwards};
use super::stream::{SessionCount, SessionSlot};

/// The shared state behind every clone of an [`SshExecutor`].
pub(crate) struct Conn {
    /// `user@host:port` of the target.
    pub target: String,
    /// `host:port` of the target, for messages.
    pub host: String,
    pub handle: Handle<ClientHandler>,
    /// Outer hops, kept alive for as long as the target connection.
    jumps: Vec<Handle<ClientHandler>>,
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
                    source: None,
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

impl Conn {
    /// The connection to `host` (`host:port`) as `target` (`user@host:port`),
    /// with `jumps` the outer hops it runs through (outermost first).
    pub(crate) fn new(
        target: String,
        host: String,
        handle: Handle<ClientHandler>,
        jumps: Vec<Handle<ClientHandler>>,
        forwards: RemoteForwards,
        max_sessions: usize,
        session_wait: Duration,
    ) -> Self {
        Conn {
            target,
            host,
            handle,
            jumps,
            process_slots: Arc::new(Semaphore::new(max_sessions.saturating_sub(1).max(1))),
            control_slots: Arc::new(Semaphore::new(1)),
            sessions: Arc::new(SessionCount::default()),
            forwards,
            session_wait,
        }
    }

    /// Close the connection, then its jump hosts from the inside out.
    pub(crate) async fn disconnect(&self) {
        let _ = self.handle.disconnect(Disconnect::ByApplication, "", "en").await;
        for j in self.jumps.iter().rev() {
            let _ = j.disconnect(Disconnect::ByApplication, "", "en").await;
        }
    }
}
