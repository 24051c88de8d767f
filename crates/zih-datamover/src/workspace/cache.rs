//! [`CacheWorkspace`]: a short-lived workspace that is released when done.

use hpc_core::{Error, Result};

use super::parse::Allocation;
use super::tools::{AllocateRequest, Workspaces};

/// A workspace for temporary files: allocated when created (reused if one
/// of that name exists), released by [`CacheWorkspace::cleanup`].
///
/// Dropped without `cleanup`, it is released in the background on the
/// current tokio runtime (and a warning is logged), or only logged when no
/// runtime is left to do it.
#[derive(Debug)]
pub struct CacheWorkspace {
    tools: Workspaces,
    id: String,
    filesystem: Option<String>,
    allocation: Allocation,
    released: bool,
}

/// The id taurus-datamover gives its cache workspace.
pub const DEFAULT_CACHE_ID: &str = "cache";

impl CacheWorkspace {
    /// Allocates (or reuses) workspace `cache` for one day.
    pub async fn new(tools: Workspaces) -> Result<Self> {
        Self::with_request(
            tools,
            AllocateRequest::new(DEFAULT_CACHE_ID, 1).comment("temporary_files"),
        )
        .await
    }

    /// Allocates (or reuses) the workspace `req` describes.
    pub async fn with_request(tools: Workspaces, req: AllocateRequest) -> Result<Self> {
        let allocation = tools.allocate(&req).await?;
        if !allocation.directory.starts_with('/') {
            return Err(Error::parse(
                "ws_allocate",
                "the workspace directory is not an absolute path",
                allocation.directory,
            ));
        }
        Ok(CacheWorkspace {
            tools,
            id: req.name,
            filesystem: req.filesystem,
            allocation,
            released: false,
        })
    }

    /// The workspace id (`cache` by default).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its directory.
    pub fn path(&self) -> &str {
        &self.allocation.directory
    }

    /// What `ws_allocate` reported.
    pub fn allocation(&self) -> &Allocation {
        &self.allocation
    }

    /// Releases the workspace (its data can be restored for a while).
    pub async fn cleanup(mut self) -> Result<()> {
        self.released = true;
        self.tools.release(&self.id, self.filesystem.as_deref()).await
    }
}

impl Drop for CacheWorkspace {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (tools, id, fs) = (self.tools.clone(), self.id.clone(), self.filesystem.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                tracing::warn!(workspace = %id, "cache workspace dropped without cleanup(); releasing it in the background");
                rt.spawn(async move {
                    if let Err(e) = tools.release(&id, fs.as_deref()).await {
                        tracing::warn!(workspace = %id, error = %e, "releasing the dropped cache workspace failed");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(workspace = %id, "cache workspace dropped without cleanup() and outside a tokio runtime: it stays allocated until it expires");
            }
        }
    }
}
