//! Scheduler setups shared by the `sched_*` tests and the conformance suites
//! of `sched_conformance.rs`: the batch systems of `cargo xtask services up
//! sge torque at`, used as the ordinary test user (Grid Engine refuses root),
//! locally or through an executor the caller connected (SSH).
#![allow(dead_code, reason = "each test file uses part of it")]

use std::sync::Arc;
use std::time::Duration;

use hpc_core::Location;
use hpc_exec::{Command, Executor, LocalExecutor};
use hpc_testkit::scratch::ScratchDir;
use sched_adaptors::at::{AtConfig, AtScheduler};
use sched_adaptors::sge::{SgeConfig, SgeScheduler};
use sched_adaptors::torque::{TorqueCommands, TorqueConfig, TorqueScheduler};

/// uid and gid of a local user, from /etc/passwd; panics naming `service`.
pub(crate) fn user_ids(user: &str, service: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.split(':').next() == Some(user))
        .unwrap_or_else(|| panic!("no user {user}: run `cargo xtask services up {service}`"));
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

/// A directory in /tmp every user may write, removed when dropped.
pub(crate) fn shared_tempdir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .unwrap();
    dir
}

/// A fresh directory `/tmp/<name>-XXXXXX` on the executor's host.
pub(crate) async fn remote_tempdir(exec: &Arc<dyn Executor>, name: &str) -> String {
    let out = exec
        .run_checked(&Command::new("mktemp").args(["-d", &format!("/tmp/{name}-XXXXXX")]))
        .await
        .unwrap();
    out.stdout_text().trim().to_owned()
}

/// A unique directory name under the test user's home for this run.
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// The ssh adaptor's configuration for tests: records in `jobdir`, quick
/// polls and cancels.
pub(crate) fn ssh_config(jobdir: &str) -> sched_adaptors::ssh::SshConfig {
    let mut config = sched_adaptors::ssh::SshConfig::default();
    config.jobdir = jobdir.to_owned();
    config.poll_interval = Duration::from_millis(200);
    config.cancel_grace = Duration::from_secs(1);
    config
}

/// Grid Engine (`cargo xtask services up sge`).
pub(crate) mod sge {
    use super::*;

    /// The cell's configuration: root, cell, parallel environment, quick polls.
    pub(crate) fn config() -> SgeConfig {
        let sge = hpc_testkit::services::require("sge");
        let mut config = SgeConfig::default();
        config.env.insert("SGE_ROOT".into(), sge.var("HPCKIT_SGE_ROOT").into());
        config.env.insert("SGE_CELL".into(), sge.var("HPCKIT_SGE_CELL").into());
        config.parallel_environment = Some(sge.var("HPCKIT_SGE_PE").into());
        config.poll.poll_interval = Duration::from_millis(200);
        config.poll.accounting_grace = Duration::from_secs(20);
        config
    }

    /// Locally, as the test user: the scheduler and its executor.
    pub(crate) fn local() -> (SgeScheduler, Arc<dyn Executor>) {
        let sge = hpc_testkit::services::require("sge");
        let uid: u32 = sge.var("HPCKIT_SGE_UID").parse().unwrap();
        let gid: u32 = sge.var("HPCKIT_SGE_GID").parse().unwrap();
        let exec: Arc<dyn Executor> = Arc::new(LocalExecutor::as_user(uid, gid));
        (SgeScheduler::new(exec.clone(), config()).unwrap(), exec)
    }

    /// `sge+ssh://<authority>?root=..&cell=..&pe=..` through `exec`.
    pub(crate) fn over_ssh(exec: Arc<dyn Executor>, authority: &str) -> SgeScheduler {
        let sge = hpc_testkit::services::require("sge");
        let url = format!(
            "sge+ssh://{authority}?root={}&cell={}&pe={}&poll=0.2&grace=20",
            sge.var("HPCKIT_SGE_ROOT"),
            sge.var("HPCKIT_SGE_CELL"),
            sge.var("HPCKIT_SGE_PE"),
        );
        let loc: Location = url.parse().unwrap();
        SgeScheduler::open(&loc, exec, SgeConfig::default()).unwrap()
    }
}

/// hpc-testkit's Torque stand-in (`cargo xtask services up torque`).
pub(crate) mod torque {
    use super::*;

    /// The test user that submits.
    pub(crate) fn user() -> (u32, u32) {
        user_ids("hpctest", "torque")
    }

    /// The directory of the stand-in's commands.
    pub(crate) fn bin() -> String {
        hpc_testkit::services::require("torque").var("HPCKIT_TORQUE_BIN").to_owned()
    }

    /// The test user's local executor.
    pub(crate) fn executor() -> Arc<dyn Executor> {
        let (uid, gid) = user();
        Arc::new(LocalExecutor::as_user(uid, gid))
    }

    /// The stand-in's commands in `bin`, run locally as the test user.
    pub(crate) fn scheduler(bin: &str) -> TorqueScheduler {
        let mut config =
            TorqueConfig { commands: TorqueCommands::in_dir(bin), ..TorqueConfig::default() };
        config.poll.poll_interval = Duration::from_millis(100);
        TorqueScheduler::new(executor(), config).unwrap()
    }

    /// `torque+ssh://<authority>?bin=..` through `exec`.
    pub(crate) fn over_ssh(exec: Arc<dyn Executor>, authority: &str) -> TorqueScheduler {
        let url = format!("torque+ssh://{authority}?bin={}&poll=0.2", bin());
        let loc: Location = url.parse().unwrap();
        TorqueScheduler::open(&loc, exec, TorqueConfig::default()).unwrap()
    }
}

/// at/atd (`cargo xtask services up at`).
pub(crate) mod at {
    use super::*;

    /// The shortest poll interval of the fixtures.
    pub(crate) const POLL: Duration = Duration::from_millis(250);

    /// A scheduler, its executor, and a directory the test user owns.
    pub(crate) struct Fixture {
        pub(crate) sched: AtScheduler,
        pub(crate) exec: Arc<dyn Executor>,
        pub(crate) dir: ScratchDir,
        pub(crate) uid: u32,
        pub(crate) gid: u32,
    }

    /// The test user that submits.
    pub(crate) fn user() -> (u32, u32) {
        let user = hpc_testkit::services::require("at").var("HPCKIT_AT_USER").to_owned();
        user_ids(&user, "at")
    }

    /// A fixture whose commands run through `exec` (as the test user).
    pub(crate) fn fixture(exec: Arc<dyn Executor>) -> Fixture {
        let (uid, gid) = user();
        let dir = ScratchDir::new("hpckit-itest-at", Some((uid, gid)));
        let mut config = AtConfig {
            state_dir: dir.join("state").to_string_lossy().into_owned(),
            default_workdir: Some(dir.to_string_lossy().into_owned().into()),
            ..Default::default()
        };
        config.poll.max_poll_interval = Duration::from_secs(1);
        config.poll.poll_interval = POLL;
        let sched = AtScheduler::new(exec.clone(), config).unwrap();
        Fixture { sched, exec, dir, uid, gid }
    }

    /// Locally, as the test user.
    pub(crate) fn local() -> Fixture {
        let (uid, gid) = user();
        fixture(Arc::new(LocalExecutor::as_user(uid, gid)))
    }
}
