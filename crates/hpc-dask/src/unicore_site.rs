//! [`UnicoreSite`]: a cluster's files in a UNICORE storage (its `HOME` by
//! default, which the site's jobs see at the storage's mount point) and its
//! tunnels through the scheduler job's `forward-port` endpoint (feature
//! `unicore`).

use async_trait::async_trait;
use hpc_core::{Error, JobId, Result};
use tokio::net::TcpListener;
use unicore_rest::{Client, ForwardTarget, Forwarder, Storage};

use crate::site::{Site, Tunnel};

/// Where run directories go when the configuration names no base: relative
/// to the storage's root.
const DEFAULT_BASE: &str = ".hpckit/dask";

/// A [`Site`] on a UNICORE server: files through a storage's REST API,
/// ports reached through UNICORE's port forwarding of the listening job.
#[derive(Debug, Clone)]
pub struct UnicoreSite {
    client: Client,
    storage: Storage,
    /// The storage's root as the site's jobs see it (absolute).
    mount: String,
}

impl UnicoreSite {
    /// A site whose run directories live in `storage_id` (for example `HOME`)
    /// of `client`'s site; reads the storage's mount point once.
    pub async fn open(client: Client, storage_id: &str) -> Result<Self> {
        let storage = client.storage(storage_id);
        let props = storage.properties().await?;
        let mount = props.require_str("mountPoint")?.trim_end_matches('/').to_owned();
        if !mount.starts_with('/') {
            return Err(Error::InvalidInput(format!(
                "storage {storage_id} has no absolute mount point ({mount:?}): jobs could not find its files"
            )));
        }
        Ok(UnicoreSite { client, storage, mount })
    }

    /// `path` (absolute, as jobs see it) relative to the storage's root.
    fn relative<'a>(&self, path: &'a str) -> Result<&'a str> {
        path.strip_prefix(&self.mount)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .map(|rest| rest.trim_start_matches('/'))
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{path:?} is outside the UNICORE storage mounted at {}",
                    self.mount
                ))
            })
    }
}

#[async_trait]
impl Site for UnicoreSite {
    async fn create_run_dir(&self, base: Option<&str>, name: &str) -> Result<String> {
        let base = match base {
            Some(b) if b.starts_with('/') => self.relative(b)?.to_owned(),
            Some(b) => b.trim_matches('/').to_owned(),
            None => DEFAULT_BASE.to_owned(),
        };
        let rel = if base.is_empty() { name.to_owned() } else { format!("{base}/{name}") };
        self.storage.mkdir(&rel).await?;
        self.storage.put_bytes(&format!("{rel}/heartbeat"), Vec::new()).await?;
        Ok(format!("{}/{rel}", self.mount))
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.storage.read_all(self.relative(path)?).await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn touch(&self, path: &str) -> Result<()> {
        // Rewriting the empty heartbeat gives it a new modification time.
        self.storage.put_bytes(self.relative(path)?, Vec::new()).await
    }

    async fn remove_dir(&self, path: &str) -> Result<()> {
        let rel = self.relative(path)?;
        // Never the storage's root (or a top-level directory) by mistake.
        if rel.split('/').filter(|s| !s.is_empty()).count() < 2 {
            return Err(Error::InvalidInput(format!("{path:?} is not a run directory")));
        }
        self.storage.rm(rel).await
    }

    async fn forward(&self, job: &JobId, host: &str, port: u16, local_port: u16) -> Result<Tunnel> {
        let job = self.client.job(job.as_str());
        let target = ForwardTarget::Port { port, host: Some(host.to_owned()) };
        let forwarder = Forwarder::for_job(&job, &target, None).await?;
        let listener = TcpListener::bind(("127.0.0.1", local_port))
            .await
            .map_err(|e| Error::io(format!("listening on 127.0.0.1:{local_port}"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the forwarder's local address", e))?;
        let task = tokio::spawn(async move {
            if let Err(e) = forwarder.serve(listener, false).await {
                tracing::warn!(error = %e, "UNICORE port forwarding stopped");
            }
        });
        Ok(Tunnel::guarded(addr, AbortOnDrop(task)))
    }
}

/// Stops the forwarding task with the tunnel.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
