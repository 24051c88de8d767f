//! [`Site`]: what a cluster needs from the place its jobs run besides the
//! scheduler: a shared directory, small files in it, and a way to reach a
//! port on a node from here.
//!
//! [`ExecSite`] does it with commands through an hpc-exec executor (this
//! host, or the SSH connection the scheduler adaptor uses) and tunnels
//! through that SSH connection. Other sites (UNICORE) implement the trait
//! with their own storage and forwarding.

use std::any::Any;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use async_trait::async_trait;
use hpc_core::{Error, JobId, Result};
use hpc_exec::ssh::SshExecutor;
use hpc_exec::{Command, Executor, LocalExecutor};

/// A local address that reaches a port on the cluster, for as long as the
/// value lives.
pub struct Tunnel {
    addr: SocketAddr,
    // The forward (or whatever keeps the path open); dropped with the tunnel.
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnel").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Tunnel {
    /// A direct route: the port is reachable from here as it is.
    pub fn direct(addr: SocketAddr) -> Self {
        Tunnel { addr, _guard: None }
    }

    /// A tunnel at `addr` that stays open while `guard` lives.
    pub fn guarded(addr: SocketAddr, guard: impl Any + Send + Sync) -> Self {
        Tunnel { addr, _guard: Some(Box::new(guard)) }
    }

    /// The address to connect to from here.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// The cluster's file and network access beside its [`hpc_core::Scheduler`].
#[async_trait]
pub trait Site: Send + Sync + fmt::Debug {
    /// Create the run directory `name` under `base` (none: the site's
    /// default, which every node must see), create the empty file
    /// `heartbeat` in it, and return its absolute path.
    async fn create_run_dir(&self, base: Option<&str>, name: &str) -> Result<String>;

    /// The contents of a small file, or `None` when it does not exist (yet).
    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>>;

    /// Set a file's modification time to now (the lease's heartbeat).
    async fn touch(&self, path: &str) -> Result<()>;

    /// Remove a run directory and everything in it.
    async fn remove_dir(&self, path: &str) -> Result<()>;

    /// Make `host:port` (as a node of the cluster names it) reachable from
    /// here, on `local_port` of 127.0.0.1 where a tunnel is needed (0: any).
    /// `job` is the job listening there (UNICORE forwards through the job).
    async fn forward(&self, job: &JobId, host: &str, port: u16, local_port: u16) -> Result<Tunnel>;
}

/// Creates the run directory and heartbeat, prints the absolute path.
/// `$1` base (empty: `$HOME/.hpckit/dask`), `$2` name.
const CREATE_RUN_DIR: &str = r#"d=${1:-$HOME/.hpckit/dask}/$2
mkdir -p -- "$d" && cd -- "$d" && : >heartbeat && pwd -P"#;

/// Prints a file, or exits 3 when it does not exist.
const READ_FILE: &str = r#"[ -e "$1" ] || exit 3
cat -- "$1""#;

/// A [`Site`] through an executor: commands on this host or over SSH, and
/// for SSH, tunnels through the same connection.
#[derive(Debug, Clone)]
pub struct ExecSite {
    exec: Arc<dyn Executor>,
    ssh: Option<SshExecutor>,
}

impl ExecSite {
    /// Jobs run on this host (or on nodes reachable from it directly).
    pub fn local() -> Self {
        ExecSite { exec: Arc::new(LocalExecutor::new()), ssh: None }
    }

    /// Files through `exec`, ports reached directly from here (for
    /// executors on this host, such as [`LocalExecutor::as_user`]).
    pub fn direct(exec: Arc<dyn Executor>) -> Self {
        ExecSite { exec, ssh: None }
    }

    /// Files and tunnels over an SSH connection (the one the scheduler
    /// adaptor uses, from [`SshExecutor::shared`]).
    pub fn ssh(ssh: SshExecutor) -> Self {
        ExecSite { exec: Arc::new(ssh.clone()), ssh: Some(ssh) }
    }
}

#[async_trait]
impl Site for ExecSite {
    async fn create_run_dir(&self, base: Option<&str>, name: &str) -> Result<String> {
        let cmd =
            Command::new("sh").args(["-c", CREATE_RUN_DIR, "hpc-dask", base.unwrap_or(""), name]);
        let out = self.exec.run(&cmd).await?.check(&cmd)?;
        let dir = out.stdout_text().trim().to_owned();
        if !dir.starts_with('/') {
            return Err(Error::parse(
                cmd.display(),
                "expected the absolute path of the run directory",
                dir,
            ));
        }
        Ok(dir)
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let cmd = Command::new("sh").args(["-c", READ_FILE, "hpc-dask", path]);
        let out = self.exec.run(&cmd).await?;
        match out.status.code {
            Some(0) => Ok(Some(out.stdout)),
            Some(3) => Ok(None),
            code => Err(Error::CommandFailed {
                command: format!("cat {path}"),
                exit_code: code,
                stderr: out.stderr_text().into_owned(),
            }),
        }
    }

    async fn touch(&self, path: &str) -> Result<()> {
        let cmd = Command::new("touch").arg("--").arg(path);
        self.exec.run(&cmd).await?.check(&cmd).map(drop)
    }

    async fn remove_dir(&self, path: &str) -> Result<()> {
        // Refuse what cannot be a run directory: never `rm -rf /` by mistake.
        if !path.starts_with('/') || path.trim_end_matches('/').matches('/').count() < 2 {
            return Err(Error::InvalidInput(format!("{path:?} is not a run directory")));
        }
        let cmd = Command::new("rm").args(["-rf", "--", path]);
        self.exec.run(&cmd).await?.check(&cmd).map(drop)
    }

    async fn forward(
        &self,
        _job: &JobId,
        host: &str,
        port: u16,
        local_port: u16,
    ) -> Result<Tunnel> {
        match &self.ssh {
            Some(ssh) => {
                let bind = SocketAddr::from(([127, 0, 0, 1], local_port));
                let fwd = ssh.forward_local(bind, host, port).await?;
                let addr = fwd.local_addr().unwrap_or(bind);
                Ok(Tunnel::guarded(addr, fwd))
            }
            None => {
                let addr = (host, port)
                    .to_socket_addrs()
                    .map_err(|e| Error::io(format!("resolving {host}"), e))?
                    .next()
                    .ok_or_else(|| Error::NotFound {
                        kind: hpc_core::NotFoundKind::Host,
                        name: host.to_owned(),
                    })?;
                Ok(Tunnel::direct(addr))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_site_files_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let site = ExecSite::local();
        let base = tmp.path().to_str().unwrap();
        let dir = site.create_run_dir(Some(base), "c-1").await.unwrap();
        assert!(dir.ends_with("/c-1"), "{dir}");
        let hb = format!("{dir}/heartbeat");
        assert_eq!(site.read_file(&hb).await.unwrap(), Some(Vec::new()));
        assert_eq!(site.read_file(&format!("{dir}/nope")).await.unwrap(), None);
        site.touch(&hb).await.unwrap();
        std::fs::write(format!("{dir}/x"), b"{\"a\": 1}").unwrap();
        assert_eq!(site.read_file(&format!("{dir}/x")).await.unwrap().unwrap(), b"{\"a\": 1}");
        site.remove_dir(&dir).await.unwrap();
        assert!(!std::path::Path::new(&dir).exists());
        assert!(site.remove_dir("/").await.is_err());
        assert!(site.remove_dir("/home").await.is_err());
        assert!(site.remove_dir("relative/dir").await.is_err());
    }

    #[tokio::test]
    async fn local_site_reaches_ports_directly() {
        let t = ExecSite::local().forward(&JobId::new("1"), "127.0.0.1", 8786, 0).await.unwrap();
        assert_eq!(t.local_addr(), "127.0.0.1:8786".parse().unwrap());
    }
}
