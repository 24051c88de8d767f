//! Listening where PyXenon looks, with or without (mutual) TLS.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use hpckit::core::{Error, Result};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::filesystem::FileSystemServer;
use crate::proto::file_system_service_server::FileSystemServiceServer;
use crate::proto::scheduler_service_server::SchedulerServiceServer;
use crate::scheduler::SchedulerServer;
use crate::state::State;

/// The Java server's default port.
pub const DEFAULT_PORT: u16 = 50051;

/// How `hpckit xenon-grpc` serves (the Java `xenon-grpc` flags).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// TCP port (`-p`).
    pub port: u16,
    /// Plain-text gRPC (`--disable-tls`); what `xenon.init(disable_tls=True)` expects.
    pub disable_tls: bool,
    /// PEM certificate chain of the server (`--server-cert-chain`).
    pub server_cert_chain: Option<PathBuf>,
    /// PEM private key of the server (`--server-private-key`).
    pub server_private_key: Option<PathBuf>,
    /// PEM certificates that client certificates must chain to (`--client-cert-chain`):
    /// with it, clients without such a certificate are refused (mutual TLS).
    pub client_cert_chain: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            port: DEFAULT_PORT,
            disable_tls: false,
            server_cert_chain: None,
            server_private_key: None,
            client_cert_chain: None,
        }
    }
}

fn read_pem(what: &str, path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(format!("reading the {what} {}", path.display()), e))
}

impl ServeOptions {
    fn tls(&self) -> Result<Option<ServerTlsConfig>> {
        if self.disable_tls {
            return Ok(None);
        }
        let (Some(cert), Some(key)) = (&self.server_cert_chain, &self.server_private_key) else {
            return Err(Error::InvalidInput(
                "TLS needs --server-cert-chain and --server-private-key (or pass --disable-tls, \
                 as PyXenon's xenon.init(disable_tls=True) expects)"
                    .into(),
            ));
        };
        let identity = Identity::from_pem(
            read_pem("server certificate chain", cert)?,
            read_pem("server private key", key)?,
        );
        let mut tls = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.client_cert_chain {
            tls = tls
                .client_ca_root(Certificate::from_pem(read_pem("client certificate chain", ca)?));
        }
        Ok(Some(tls))
    }
}

/// The addresses to listen on: loopback, and whatever this host's name resolves to
/// (PyXenon connects to `socket.gethostname()`).
async fn addresses(port: u16) -> Vec<SocketAddr> {
    let mut out = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)];
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    if let Ok(found) = tokio::net::lookup_host((host.as_str(), port)).await {
        for a in found {
            if !a.ip().is_unspecified() && !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Bound {
    listeners: Vec<TcpListener>,
    tls: Option<ServerTlsConfig>,
}

impl Bound {
    /// The addresses it listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let state = Arc::new(State::default());
        let mut builder = Server::builder();
        if let Some(tls) = self.tls {
            builder = builder
                .tls_config(tls)
                .map_err(|e| Error::InvalidInput(format!("TLS configuration: {e}")))?;
        }
        let incoming =
            futures::stream::select_all(self.listeners.into_iter().map(TcpListenerStream::new))
                .boxed();
        builder
            .add_service(SchedulerServiceServer::new(SchedulerServer { state: Arc::clone(&state) }))
            .add_service(FileSystemServiceServer::new(FileSystemServer { state }))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| Error::io("serving gRPC", std::io::Error::other(e)))
    }
}

/// Binds the port on every address PyXenon may use. Port 0 picks a free port (the
/// same one on every address).
pub async fn bind(opts: &ServeOptions) -> Result<Bound> {
    let tls = opts.tls()?;
    let mut listeners: Vec<TcpListener> = Vec::new();
    let mut port = opts.port;
    for mut addr in addresses(opts.port).await {
        addr.set_port(port);
        match TcpListener::bind(addr).await {
            Ok(l) => {
                port = l.local_addr().map(|a| a.port()).unwrap_or(port);
                listeners.push(l);
            }
            // The first address is loopback and must work; a host-name address that
            // cannot be bound (already taken by loopback, say) is not fatal.
            Err(e) if listeners.is_empty() => {
                return Err(Error::io(format!("listening on {addr}"), e));
            }
            Err(e) => tracing::debug!(%addr, error = %e, "skipping an address"),
        }
    }
    Ok(Bound { listeners, tls })
}
