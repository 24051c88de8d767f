//! The Slurm adaptor over SSH (`slurm+ssh://hpctest@127.0.0.1:<port>`): the
//! same cases as `sched_slurm.rs`, every Slurm command run through
//! `SshExecutor` as the test user of `cargo xtask services up sshd`, against
//! both clusters of `cargo xtask services up slurm slurm-acct`.

#[path = "slurm_fixture/mod.rs"]
mod slurm_fixture;
#[path = "ssh_support/mod.rs"]
mod ssh_support;

use std::sync::Arc;

use slurm_fixture::Fixture;

async fn over_ssh(service: &str) -> Fixture {
    let env = ssh_support::ssh_env();
    Fixture::with_executor(service, Arc::new(env.connect().await))
}

slurm_fixture::cases::suite!(plain, "slurm", crate::over_ssh);
slurm_fixture::cases::suite!(acct, "slurm-acct", crate::over_ssh);
