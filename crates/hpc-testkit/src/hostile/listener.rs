//! [`Listener`]: the accept loop the line-protocol servers (FTP, UFTPD)
//! share: one session task per connection, a log of what clients sent, and
//! the end of it all when dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What clients sent, shared by the sessions.
pub(crate) type Log = Arc<Mutex<Vec<String>>>;

/// A running server on a free port of 127.0.0.1.
pub(crate) struct Listener {
    addr: SocketAddr,
    log: Log,
    task: JoinHandle<()>,
}

impl Listener {
    /// Listen, and run `session(connection, behaviour, log)` for each client.
    pub(crate) async fn start<B, S, F>(behaviour: B, session: S) -> Listener
    where
        B: Send + Sync + 'static,
        S: Fn(TcpStream, Arc<B>, Log) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let log = Log::default();
        let shared = log.clone();
        let behaviour = Arc::new(behaviour);
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(session(conn, behaviour.clone(), shared.clone()));
            }
        });
        Listener { addr, log, task }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything logged so far, in order.
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Append `line` to `log`.
pub(crate) fn record(log: &Log, line: String) {
    log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
}
