//! Registered transfer requests and the two listeners.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hpc_core::{Error, Result};
use tokio::net::TcpListener;
use uftp_proto::EncryptionKey;

use super::config::UftpdConfig;

/// Unused requests expire after this long (UFTPD's default).
pub(crate) const REQUEST_LIFETIME: Duration = Duration::from_secs(300);

/// One transfer request from the command port.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) user: String,
    pub(crate) clients: Vec<IpAddr>,
    pub(crate) persistent: bool,
    /// The base directory (`file`), as a path in the server's tree.
    pub(crate) base: String,
    pub(crate) streams: usize,
    pub(crate) compress: bool,
    pub(crate) key: Option<EncryptionKey>,
    pub(crate) append: bool,
    pub(crate) access: String,
    pub(crate) created: Instant,
    /// Sessions logged in with this secret right now.
    pub(crate) active: usize,
    /// Whether a session ever logged in.
    pub(crate) used: bool,
}

/// The server's shared state.
pub(crate) struct Uftpd {
    pub(crate) config: UftpdConfig,
    pub(crate) control_addr: SocketAddr,
    pub(crate) jobs: Mutex<HashMap<String, Job>>,
    copies: std::sync::atomic::AtomicU64,
    /// Data connections accepted, by the path of the first transfer that
    /// used each (a kept connection counts once, however many follow).
    data_connections: Mutex<HashMap<String, u64>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Uftpd {
    /// A number for the next server-to-server copy.
    pub(crate) fn next_copy(&self) -> u64 {
        self.copies.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts `n` new data connections for a transfer of `path`.
    pub(crate) fn count_data_connections(&self, path: &str, n: usize) {
        *lock(&self.data_connections).entry(path.to_owned()).or_default() += n as u64;
    }

    /// Data connections counted for `dir` and the paths under it.
    pub(crate) fn data_connections_under(&self, dir: &str) -> u64 {
        let dir = dir.trim_end_matches('/');
        lock(&self.data_connections)
            .iter()
            .filter(|(p, _)| {
                dir.is_empty()
                    || *p == dir
                    || p.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// Registers a request under its secret.
    pub(crate) fn register(&self, secret: String, job: Job) {
        let mut jobs = lock(&self.jobs);
        jobs.retain(|_, j| j.active > 0 || j.created.elapsed() < REQUEST_LIFETIME);
        jobs.insert(secret, job);
    }
}

/// A running server. Dropping it stops both listeners.
#[derive(Debug)]
pub struct RunningUftpd {
    /// The command port's address.
    pub command_addr: SocketAddr,
    /// The control port's address.
    pub control_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RunningUftpd {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl RunningUftpd {
    /// Waits until the server stops (never, unless a listener fails).
    pub async fn wait(mut self) {
        for t in &mut self.tasks {
            let _ = t.await;
        }
    }
}

pub(crate) async fn start(config: UftpdConfig) -> Result<RunningUftpd> {
    let root = tokio::fs::canonicalize(&config.root)
        .await
        .map_err(|e| Error::from_io_path("opening", config.root.display(), e))?;
    let mut config = config;
    config.root = root;
    let bind = |host: IpAddr, port: u16| async move {
        TcpListener::bind(SocketAddr::new(host, port))
            .await
            .map_err(|e| Error::io(format!("listening on {host}:{port}"), e))
    };
    let command = bind(config.host, config.command_port).await?;
    let control = bind(config.host, config.control_port).await?;
    let command_addr = command.local_addr().map_err(|e| Error::io("local address", e))?;
    let control_addr = control.local_addr().map_err(|e| Error::io("local address", e))?;
    let mut controls = vec![control];
    for host in &config.also_listen {
        controls.push(bind(*host, control_addr.port()).await?);
    }
    let server = Arc::new(Uftpd {
        config,
        control_addr,
        jobs: Mutex::new(HashMap::new()),
        copies: Default::default(),
        data_connections: Mutex::new(HashMap::new()),
    });
    let s1 = server.clone();
    let mut tasks = vec![tokio::spawn(async move {
        loop {
            if let Ok((tcp, _)) = command.accept().await {
                let s = s1.clone();
                tokio::spawn(async move { super::command::serve(s, tcp).await });
            }
        }
    })];
    for control in controls {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                if let Ok((tcp, peer)) = control.accept().await {
                    let s = server.clone();
                    tokio::spawn(async move { super::session::serve(s, tcp, peer).await });
                }
            }
        }));
    }
    Ok(RunningUftpd { command_addr, control_addr, tasks })
}
