//! Shared setup of the `datamover_*` tests: the ZIH stand-ins of
//! `cargo xtask services up slurm datamover`, driven as the test user,
//! locally (`LocalExecutor::as_user`) or over SSH (`services up sshd`).
#![allow(dead_code, unreachable_pub)]

pub mod cases;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hpc_exec::{Command, Executor, LocalExecutor};
use hpc_testkit::scratch::ScratchDir;
use zih_datamover::{Datamover, DatamoverConfig, WorkspaceConfig, Workspaces};

/// Names that break every careless quoting.
pub const NASTY: &str = "a b 'q' \"d\" $x `id`;|&*?[1] \\ #~";

/// The test user's ids, from /etc/passwd.
fn user_ids(user: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == user)
        .map(|f| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        .unwrap_or_else(|| {
            panic!("user {user} does not exist: run `cargo xtask services up datamover`")
        })
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// One way to reach the stand-ins, with a scratch directory of the test
/// user and a fresh directory in the project space.
pub struct Fx {
    pub exec: Arc<dyn Executor>,
    pub bin: String,
    /// Owned by the test user, writable directly.
    pub scratch: ScratchDir,
    /// In the project space: read-only for the test user except through dt*.
    pub project: PathBuf,
    pub label: &'static str,
    uid: u32,
    gid: u32,
}

impl Fx {
    fn new(exec: Arc<dyn Executor>, label: &'static str) -> Fx {
        let svc = hpc_testkit::services::require("datamover");
        hpc_testkit::services::require("slurm");
        let (uid, gid) = user_ids(svc.var("HPCKIT_DM_USER"));
        let n = DIRS.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{label}-{}-{n}", std::process::id());
        let scratch = ScratchDir::new(&format!("hpckit-dm-{label}"), Some((uid, gid)));
        // Made by root here; the test user still cannot write into it.
        let project = svc.path("HPCKIT_DM_PROJECT").join(&tag);
        std::fs::create_dir_all(&project).unwrap();
        // Group-writable like the space itself: the datamover's group writes.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&project, std::fs::Permissions::from_mode(0o2775)).unwrap();
        Fx { exec, bin: svc.var("HPCKIT_DM_BIN").to_owned(), scratch, project, label, uid, gid }
    }

    /// Locally, as the test user.
    pub fn local() -> Fx {
        let svc = hpc_testkit::services::require("datamover");
        let (uid, gid) = user_ids(svc.var("HPCKIT_DM_USER"));
        Fx::new(Arc::new(LocalExecutor::as_user(uid, gid)), "local")
    }

    /// Over SSH as the test user.
    pub async fn ssh() -> Fx {
        let env = crate::ssh_support::ssh_env();
        Fx::new(Arc::new(env.connect().await), "ssh")
    }

    pub fn config(&self) -> DatamoverConfig {
        let mut c = DatamoverConfig::with_bin_dir(&self.bin);
        c.working_dir = Some(self.scratch.to_string_lossy().into_owned());
        c
    }

    pub fn dm(&self) -> Datamover {
        Datamover::new(self.exec.clone(), self.config()).unwrap()
    }

    pub fn ws(&self) -> Workspaces {
        Workspaces::new(self.exec.clone(), WorkspaceConfig::with_bin_dir(&self.bin))
    }

    /// A file of the test user in the scratch directory.
    pub fn scratch_file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.scratch.join(name);
        std::fs::write(&p, content).unwrap();
        std::os::unix::fs::chown(&p, Some(self.uid), Some(self.gid)).unwrap();
        p
    }

    /// A directory of the test user in the scratch directory.
    pub fn scratch_dir(&self, name: &str) -> PathBuf {
        let p = self.scratch.join(name);
        std::fs::create_dir_all(&p).unwrap();
        std::os::unix::fs::chown(&p, Some(self.uid), Some(self.gid)).unwrap();
        p
    }

    /// Runs `sh -c script` as the test user and returns its exit code.
    pub async fn sh(&self, script: &str, args: &[&str]) -> i32 {
        let cmd = Command::new("sh").arg("-c").arg(script).arg("sh").args(args);
        self.exec.run(&cmd).await.unwrap().status.shell_code()
    }

    pub fn uid(&self) -> u32 {
        self.uid
    }
}

/// Slurm's state of a job (root's view, hidden partitions included).
pub async fn slurm_state(job: u64) -> String {
    let cmd = Command::new("squeue").args([
        "--all",
        "--noheader",
        "--states=all",
        "--format=%T",
        &format!("--jobs={job}"),
    ]);
    let out = LocalExecutor::new().run(&cmd).await.unwrap();
    out.stdout_text().trim().to_owned()
}

/// Sets the datamover partition UP or DOWN (jobs queue while it is down).
pub async fn partition_state(up: bool) {
    let state = if up { "State=UP" } else { "State=DOWN" };
    let cmd = Command::new("scontrol").args(["update", "PartitionName=datamover", state]);
    LocalExecutor::new().run_checked(&cmd).await.unwrap();
}

/// Held while a test takes the datamover partition down and up again, so
/// the local and the SSH test binaries (run in parallel) do not interleave.
pub struct PartitionLock(PathBuf);

impl PartitionLock {
    pub async fn acquire() -> PartitionLock {
        let p = std::env::temp_dir().join("hpckit-itest-datamover-partition.lock");
        for _ in 0..3000 {
            if std::fs::OpenOptions::new().write(true).create_new(true).open(&p).is_ok() {
                return PartitionLock(p);
            }
            // A lock older than 5 minutes was left by a crashed run.
            let stale = std::fs::metadata(&p).and_then(|m| m.modified()).is_ok_and(|t| {
                t.elapsed().unwrap_or_default() > std::time::Duration::from_secs(300)
            });
            if stale {
                let _ = std::fs::remove_file(&p);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("could not take {}", p.display());
    }
}

impl Drop for PartitionLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
