//! [`open_scheduler`]: any scheduler from its location URL.

use std::sync::Arc;

use hpc_auth::CredentialMap;
use hpc_core::{Error, Location, Result, Scheduler};
use hpc_exec::ssh::{SshExecutor, SshOptions};
use hpc_exec::{Executor, LocalExecutor};
use sched_adaptors::at::At;
use sched_adaptors::batch::{Backend, BatchAdaptor};
use sched_adaptors::local::LocalScheduler;
use sched_adaptors::sge::Sge;
use sched_adaptors::slurm::Slurm;
use sched_adaptors::ssh::{SshConfig, SshScheduler};
use sched_adaptors::torque::Torque;

/// Schemes [`open_scheduler`] understands (shown in the unknown-scheme error).
pub const SCHEDULER_SCHEMES: &[&str] = &[
    "local",
    "nohup",
    "ssh",
    "slurm",
    "slurm+ssh",
    "at",
    "at+ssh",
    "sge",
    "sge+ssh",
    "torque",
    "torque+ssh",
    #[cfg(feature = "unicore")]
    "unicore",
    #[cfg(feature = "unicore")]
    "unicore+https",
    #[cfg(feature = "unicore")]
    "unicore+http",
];

/// Open the scheduler a location names.
///
/// | location | scheduler |
/// |---|---|
/// | `local://[/workdir][?max_concurrent=N&history=N]` | embedded queue in this process |
/// | `nohup://[/workdir][?jobdir=..&poll=..]` | detached background jobs on this host (survive this process) |
/// | `ssh://[user@]host[:port][/workdir][?..] [via:hop]...` | background jobs on a host over SSH |
/// | `slurm://[/workdir][?accounting=..&conf=..&poll=..]` | Slurm's commands on this host |
/// | `slurm+ssh://[user@]host[:port][/workdir][?..]` | Slurm's commands over SSH |
/// | `at://[/workdir][?queue=..]`, `at+ssh://[user@]host[/workdir]` | at/atd here or over SSH |
/// | `sge://[/workdir][?root=..&cell=..&pe=..&grace=..]`, `sge+ssh://[user@]host[:port][/workdir]` | Grid Engine here or over SSH |
/// | `torque://[/workdir][?bin=..&queue=..]`, `torque+ssh://[user@]host[:port][/workdir]` | Torque / PBS here or over SSH |
/// | `unicore://host[:port]/SITE[?ca=..]`, `unicore+https://host[:port]/SITE/rest/core` (feature `unicore`) | a UNICORE site over its REST API |
///
/// `creds` supplies logins for SSH hosts (target and jump hosts). The grammar
/// of locations is [`hpc_core::location`]'s; `docs/schedulers.md` lists every
/// adaptor's parameters.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hpc_core::Result<()> {
/// use hpckit::auth::CredentialMap;
///
/// let sched = hpckit::open_scheduler("local://", &CredentialMap::new()).await?;
/// assert_eq!(sched.info().adaptor, "local");
/// let e = hpckit::open_scheduler("pbs://host", &CredentialMap::new()).await.unwrap_err();
/// assert!(e.to_string().starts_with("unknown scheme \"pbs\""));
/// # Ok(()) }
/// ```
pub async fn open_scheduler(url: &str, creds: &CredentialMap) -> Result<Arc<dyn Scheduler>> {
    let loc: Location = url.parse()?;
    // One arm per adaptor: its configuration comes from `loc`; batch systems
    // run their commands through `executor_for(&loc, creds).await?`.
    let location = loc.to_string();
    Ok(match (loc.scheme.as_str(), loc.transport.as_deref()) {
        ("local", None) => Arc::new(LocalScheduler::from_location(&loc)?),
        ("nohup", None) => {
            loc.expect_no_host()?;
            let config = SshConfig::from_location(&loc)?;
            Arc::new(SshScheduler::new(Arc::new(LocalExecutor::new()), config, location))
        }
        ("ssh", None) => {
            let config = SshConfig::from_location(&loc)?;
            Arc::new(SshScheduler::new(executor_for(&loc, creds).await?, config, location))
        }
        ("slurm", None | Some("ssh")) => batch::<Slurm>(&loc, creds).await?,
        ("at", None | Some("ssh")) => batch::<At>(&loc, creds).await?,
        ("sge", None | Some("ssh")) => batch::<Sge>(&loc, creds).await?,
        ("torque", None | Some("ssh")) => batch::<Torque>(&loc, creds).await?,
        #[cfg(feature = "unicore")]
        ("unicore", None | Some("https") | Some("http")) => {
            Arc::new(unicore_rest::scheduler::UnicoreScheduler::open(&loc, creds).await?)
        }
        _ => return Err(unknown_scheme(&loc)),
    })
}

/// A batch system's scheduler at `loc`: its parameters are checked before
/// the connection to its host, so a typo costs no SSH login.
async fn batch<A: BatchAdaptor>(
    loc: &Location,
    creds: &CredentialMap,
) -> Result<Arc<dyn Scheduler>> {
    let config = Backend::<A>::configure(loc, Default::default())?;
    let exec = executor_for(loc, creds).await?;
    Ok(Arc::new(Backend::<A>::open(loc, exec, config)?))
}

/// The executor a location's commands run through: the SSH connection to
/// its host (over its jump hosts; one shared connection per host) for
/// `ssh://` and `x+ssh://` locations, else this host.
pub async fn executor_for(loc: &Location, creds: &CredentialMap) -> Result<Arc<dyn Executor>> {
    if loc.is_ssh() {
        let opts = SshOptions::from_location(loc)?;
        return Ok(Arc::new(SshExecutor::shared(opts, creds).await?));
    }
    if let Some(t) = &loc.transport {
        return Err(Error::InvalidLocation {
            location: loc.to_string(),
            reason: format!("unknown transport {t:?} (supported: ssh)"),
        });
    }
    loc.expect_no_host()?;
    Ok(Arc::new(LocalExecutor::new()))
}

fn unknown_scheme(loc: &Location) -> Error {
    let scheme = match &loc.transport {
        Some(t) => format!("{}+{t}", loc.scheme),
        None => loc.scheme.clone(),
    };
    Error::UnknownScheme { scheme, supported: SCHEDULER_SCHEMES.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn schemes_and_bad_locations() {
        let creds = CredentialMap::new();
        let open = |u: &'static str| open_scheduler(u, &creds);
        assert_eq!(open("local://").await.unwrap().info().adaptor, "local");
        assert_eq!(open("nohup://").await.unwrap().info().adaptor, "nohup");
        assert_eq!(open("sge://?root=/opt/sge&pe=smp").await.unwrap().info().adaptor, "sge");
        assert_eq!(open("torque://?bin=/opt/torque/bin").await.unwrap().info().adaptor, "torque");
        assert!(open("sge://host").await.is_err());
        assert!(open("torque://?bogus=1").await.is_err());
        let e = open("local://host").await.unwrap_err();
        assert!(matches!(e, Error::InvalidLocation { .. }), "{e}");
        let e = open("slurm+ftp://h").await.unwrap_err();
        assert!(e.to_string().contains("supported: local, nohup, ssh"), "{e}");
        let e = open("local://?max_concurent=3").await.unwrap_err();
        assert!(e.to_string().contains("unknown parameter"), "{e}");
        let e = open("ssh://").await.unwrap_err();
        assert!(e.to_string().contains("needs a host"), "{e}");
    }

    #[tokio::test]
    async fn a_batch_location_over_ssh_is_checked_before_connecting() {
        // Port 1 refuses connections: an error about the parameter proves
        // that no connection was tried.
        let creds = CredentialMap::new();
        for url in [
            "slurm+ssh://u@127.0.0.1:1?bogus=1",
            "sge+ssh://u@127.0.0.1:1?grace=soon",
            "at+ssh://u@127.0.0.1:1?queue=",
            "torque+ssh://u@127.0.0.1:1?poll=-3",
        ] {
            let e = open_scheduler(url, &creds).await.unwrap_err();
            assert_eq!(e.kind(), hpc_core::ErrorKind::InvalidInput, "{url}: {e}");
        }
    }
}
