//! [`open_dask_site`]: the [`Site`] of a scheduler location, for
//! [`DaskCluster`](hpc_dask::DaskCluster) (feature `dask`).

use std::sync::Arc;

use hpc_auth::CredentialMap;
use hpc_core::{Location, Result};
use hpc_dask::{ExecSite, Site};
use hpc_exec::ssh::{SshExecutor, SshOptions};

/// The site of the jobs a scheduler location runs: over SSH for
/// `x+ssh://` and `ssh://` locations (the same shared connection
/// [`open_scheduler`](crate::open_scheduler) uses, so files and tunnels
/// travel with the scheduler's commands), else this host, whose nodes are
/// reached directly.
pub async fn open_dask_site(url: &str, creds: &CredentialMap) -> Result<Arc<dyn Site>> {
    let loc: Location = url.parse()?;
    if loc.is_ssh() {
        let ssh = SshExecutor::shared(SshOptions::from_location(&loc)?, creds).await?;
        return Ok(Arc::new(ExecSite::ssh(ssh)));
    }
    Ok(Arc::new(ExecSite::local()))
}
