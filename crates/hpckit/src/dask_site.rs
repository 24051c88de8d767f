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
/// travel with the scheduler's commands); for `unicore://` (feature
/// `unicore`) the site's `HOME` storage and UNICORE's port forwarding of the
/// scheduler job; else this host, whose nodes are reached directly.
pub async fn open_dask_site(url: &str, creds: &CredentialMap) -> Result<Arc<dyn Site>> {
    let loc: Location = url.parse()?;
    if loc.is_ssh() {
        let ssh = SshExecutor::shared(SshOptions::from_location(&loc)?, creds).await?;
        return Ok(Arc::new(ExecSite::ssh(ssh)));
    }
    #[cfg(feature = "unicore")]
    if loc.scheme == "unicore" {
        let sched = unicore_rest::scheduler::UnicoreScheduler::open(&loc, creds).await?;
        let site = hpc_dask::UnicoreSite::open(sched.client().clone(), "HOME").await?;
        return Ok(Arc::new(site));
    }
    Ok(Arc::new(ExecSite::local()))
}
