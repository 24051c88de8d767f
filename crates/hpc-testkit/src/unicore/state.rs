//! The server's state and its accept loop.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use hpc_core::{Error, Result};
use http::HeaderValue;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use sched_adaptors::local::{LocalConfig, LocalScheduler};

use super::auth::{Session, authenticate};
use super::config::{ServerConfig, UserConfig};
use super::files::StorageRec;
use super::http::{Reply, error_reply};
use super::jobs::JobRec;
use super::transfers::TransferRec;
use super::workflows::WorkflowRec;
use super::{SITE, WORKFLOW};

/// Shared state of one server.
pub(crate) struct Server {
    pub(crate) config: ServerConfig,
    /// `https://localhost:<port>`.
    pub(crate) public: String,
    pub(crate) sched: LocalScheduler,
    pub(crate) sessions: Mutex<HashMap<String, Session>>,
    pub(crate) issued_tokens: Mutex<HashMap<String, String>>,
    pub(crate) jobs: Mutex<BTreeMap<String, JobRec>>,
    pub(crate) storages: Mutex<BTreeMap<String, StorageRec>>,
    pub(crate) transfers: Mutex<BTreeMap<String, TransferRec>>,
    pub(crate) workflows: Mutex<BTreeMap<String, WorkflowRec>>,
    seq: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) started: SystemTime,
    /// The server itself, for tasks that outlive a request.
    me: std::sync::OnceLock<std::sync::Weak<Server>>,
}

/// The caller's address, as a request extension (the UFTP auth endpoint
/// announces it as the client address).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

/// Locks a mutex, ignoring poisoning (a panicked handler must not take the server down).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    pub(crate) fn user(&self, name: &str) -> Option<&UserConfig> {
        self.config.users.iter().find(|u| u.name == name)
    }

    /// The shared handle of this server (for background tasks).
    pub(crate) fn arc(&self) -> Arc<Server> {
        self.me
            .get()
            .and_then(std::sync::Weak::upgrade)
            .expect("the server is alive while it handles a request")
    }

    /// A number that orders resources by creation.
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// `https://host:port/DEMO-SITE/rest/core`
    pub(crate) fn base(&self) -> String {
        format!("{}/{SITE}/rest/core", self.public)
    }

    /// `https://host:port/WORKFLOW/rest/workflows`
    pub(crate) fn workflow_base(&self) -> String {
        format!("{}/{WORKFLOW}/rest/workflows", self.public)
    }
}

/// A running server. Dropping it stops the accept loop.
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The site's base URL (`https://localhost:<port>/DEMO-SITE/rest/core`).
    pub site_url: String,
    /// The workflow service's URL.
    pub workflow_url: String,
    /// The registry's URL.
    pub registry_url: String,
    /// The CA certificate to trust (PEM).
    pub ca_pem: String,
    /// The same, as a file in the state directory.
    pub ca_file: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RunningServer {
    /// Waits until the server stops (never, unless its task fails).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

pub(crate) async fn start(config: ServerConfig) -> Result<RunningServer> {
    let io = |what: &str, e: std::io::Error| {
        Error::io(format!("{what} {}", config.state_dir.display()), e)
    };
    for dir in ["storages/HOME", "storages/WORK", "jobs"] {
        tokio::fs::create_dir_all(config.state_dir.join(dir))
            .await
            .map_err(|e| io("creating", e))?;
    }
    let (acceptor, ca_pem) = super::tls::make()?;
    let ca_file = config.state_dir.join("ca.pem");
    tokio::fs::write(&ca_file, &ca_pem).await.map_err(|e| io("writing ca.pem in", e))?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| Error::io(format!("listening on {}", config.bind), e))?;
    let addr = listener.local_addr().map_err(|e| Error::io("local address", e))?;
    let public = format!("https://localhost:{}", addr.port());
    let mut sched_config = LocalConfig::default();
    sched_config.max_concurrent = config.max_concurrent_jobs.max(1);
    sched_config.history = 100_000;
    let sched = LocalScheduler::new(sched_config)?;
    let server = Arc::new(Server {
        public,
        sched,
        sessions: Mutex::new(HashMap::new()),
        issued_tokens: Mutex::new(HashMap::new()),
        jobs: Mutex::new(BTreeMap::new()),
        storages: Mutex::new(BTreeMap::new()),
        transfers: Mutex::new(BTreeMap::new()),
        workflows: Mutex::new(BTreeMap::new()),
        seq: AtomicU64::new(1),
        requests: AtomicU64::new(0),
        started: SystemTime::now(),
        me: std::sync::OnceLock::new(),
        config,
    });
    let _ = server.me.set(Arc::downgrade(&server));
    super::files::add_shared_storages(&server);
    let running = RunningServer {
        addr,
        site_url: server.base(),
        workflow_url: server.workflow_base(),
        registry_url: format!("{}/REGISTRY/rest/registries/default_registry", server.public),
        ca_pem,
        ca_file,
        task: tokio::spawn(accept_loop(listener, acceptor, server)),
    };
    Ok(running)
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    server: Arc<Server>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
            };
            let svc = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                let server = server.clone();
                async move { Ok::<_, Infallible>(handle(server, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .with_upgrades()
                .await;
        });
    }
}

async fn handle(server: Arc<Server>, req: http::Request<Incoming>) -> Reply {
    server.requests.fetch_add(1, Ordering::Relaxed);
    let (identity, session) = match authenticate(&server, req.headers()) {
        Ok(x) => x,
        Err(e) => return error_reply(&e),
    };
    let mut reply = match super::routes::dispatch(&server, &identity, req).await {
        Ok(r) => r,
        Err(e) => error_reply(&e),
    };
    if let Some(id) = session
        && let Ok(v) = HeaderValue::from_str(&id)
    {
        reply.headers_mut().insert("X-UNICORE-SecuritySession", v);
        let ms = server.config.session_lifetime.as_millis().to_string();
        if let Ok(v) = HeaderValue::from_str(&ms) {
            reply.headers_mut().insert("X-UNICORE-SecuritySession-Lifetime", v);
        }
    }
    reply
}
