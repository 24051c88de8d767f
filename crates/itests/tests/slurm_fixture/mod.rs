//! Shared setup of the Slurm integration tests: a `SlurmScheduler` for one of
//! the two clusters (`slurm`, `slurm-acct`), submitting as the test user.

#![allow(dead_code, reason = "each test file uses part of the fixture")]

#[allow(unused_macros, unused_imports, reason = "sched_conformance.rs uses the fixture only")]
pub(crate) mod cases;

use std::path::PathBuf;
use std::sync::Arc;

use hpc_exec::{Executor, LocalExecutor};
use hpc_testkit::scratch::ScratchDir;
use sched_adaptors::slurm::{Accounting, SlurmConfig, SlurmScheduler};

/// The variables of a running service; panics naming the xtask command when
/// the service is not up.
pub(crate) fn service_var(service: &str, key: &str) -> String {
    hpc_testkit::services::require(service).var(key).to_owned()
}

/// Env-file prefix of each service's keys.
fn prefix(service: &str) -> &'static str {
    match service {
        "slurm" => "HPCKIT_SLURM",
        "slurm-acct" => "HPCKIT_SLURM_ACCT",
        other => panic!("no slurm service {other}"),
    }
}

/// uid and gid of a local user, from /etc/passwd.
pub(crate) fn user_ids(user: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == user {
            return (f[2].parse().unwrap(), f[3].parse().unwrap());
        }
    }
    panic!("user {user} does not exist: run `cargo xtask services up slurm`");
}

/// One scheduler plus a scratch directory owned by the test user.
pub(crate) struct Fixture {
    /// The scheduler under test.
    pub(crate) sched: SlurmScheduler,
    /// Whether the cluster has accounting.
    pub(crate) accounting: bool,
    /// Scratch directory (owned by the test user, removed with the fixture).
    pub(crate) dir: ScratchDir,
    /// The executor the scheduler runs its commands through (as the test user).
    pub(crate) exec: Arc<dyn Executor>,
    /// Every partition the service configured, hidden ones too, in slurm.conf order.
    pub(crate) partitions: Vec<String>,
    config: SlurmConfig,
    uid: u32,
    gid: u32,
}

impl Fixture {
    /// The configuration for `service` (`slurm` or `slurm-acct`).
    fn config(service: &str) -> (SlurmConfig, bool, String) {
        let p = prefix(service);
        let conf = service_var(service, &format!("{p}_CONF"));
        let accounting = service_var(service, &format!("{p}_ACCOUNTING")) == "1";
        let user = service_var(service, &format!("{p}_USER"));
        let mut config = SlurmConfig::default();
        config.env.insert("SLURM_CONF".into(), conf);
        config.accounting = if accounting { Accounting::On } else { Accounting::Off };
        // Tests want answers quickly.
        config.poll.max_poll_interval = std::time::Duration::from_secs(1);
        (config, accounting, user)
    }

    /// Local commands, run as the test user (Slurm refuses nothing from root,
    /// but real users are not root; Grid Engine even refuses root).
    pub(crate) fn local(service: &str) -> Fixture {
        let user = service_var(service, &format!("{}_USER", prefix(service)));
        let (uid, gid) = user_ids(&user);
        Self::with_executor(service, Arc::new(LocalExecutor::as_user(uid, gid)))
    }

    /// Through any executor (e.g. SSH as the test user).
    pub(crate) fn with_executor(service: &str, exec: Arc<dyn Executor>) -> Fixture {
        let (mut config, accounting, user) = Self::config(service);
        let (uid, gid) = user_ids(&user);
        let dir = ScratchDir::new(&format!("hpckit-itest-{service}"), Some((uid, gid)));
        config.default_workdir = Some(dir.to_string_lossy().into_owned().into());
        let sched = SlurmScheduler::new(exec.clone(), config.clone()).unwrap();
        let partitions = service_var(service, &format!("{}_PARTITIONS", prefix(service)))
            .split(',')
            .map(str::to_owned)
            .collect();
        Fixture { sched, accounting, dir, exec, partitions, config, uid, gid }
    }

    /// The shortest interval between two status queries of one poll loop.
    pub(crate) fn poll_interval(&self) -> std::time::Duration {
        self.config.poll.poll_interval
    }

    /// A subdirectory owned by the test user.
    pub(crate) fn mkdir(&self, name: &str) -> PathBuf {
        let d = self.dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(self.uid), Some(self.gid)).unwrap();
        d
    }

    /// What `accounting = auto` decides on this cluster.
    pub(crate) async fn auto_detected_accounting(&self) -> bool {
        let mut c = self.config.clone();
        c.accounting = Accounting::Auto;
        let sched = SlurmScheduler::new(self.exec.clone(), c).unwrap();
        sched.accounting_enabled().await
    }
}
