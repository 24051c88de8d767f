//! `hpckit dask` on the real Slurm over SSH (`slurm+ssh://hpctest@...`): the
//! Dask scheduler and workers as Slurm jobs of the test user, reached through
//! tunnels of the SSH connection; a Python `dask.distributed.Client` from
//! `cargo xtask services up dask` computes through them. Needs
//! `cargo xtask services up slurm sshd dask`.
//!
//! The test node has 2 CPUs: the scheduler job takes one, one worker job
//! with two Dask worker processes (`--processes 2 --job-cpus 1`) the other.
//! A test that cannot get the CPUs (another user's jobs) waits for them up to
//! the startup timeout.

#[path = "dask_support/mod.rs"]
mod dask_support;
#[path = "ssh_support/mod.rs"]
mod ssh_support;

use std::sync::Arc;
use std::time::Duration;

use dask_support::Target;
use hpc_core::Scheduler;

async fn target() -> Target {
    let ssh = ssh_support::ssh_env();
    let slurm = hpc_testkit::services::require("slurm");
    dask_support::dask_env();
    let url = format!(
        "slurm+ssh://{}@{}:{}?known_hosts={}&conf={}",
        ssh.user(),
        ssh.host(),
        ssh.port(),
        ssh.known_hosts().display(),
        slurm.var("HPCKIT_SLURM_CONF"),
    );
    let creds = ssh.key_creds();
    let sched: Arc<dyn Scheduler> =
        hpckit::open_scheduler(&url, &creds).await.expect("opening the Slurm scheduler");
    Target {
        url,
        scheduler_on: None,
        global: vec!["-i".into(), ssh.key().display().to_string()],
        // Slurm limits a job's memory (DefMemPerCPU here), and Dask's automatic
        // limit follows it: give the workers room, or they pause at once.
        options: ["--processes", "2", "--job-cpus", "1", "--memory", "1500"]
            .map(String::from)
            .to_vec(),
        dask_sched: sched.clone(),
        sched,
        startup: Duration::from_secs(180),
        env: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sum_on_two_workers_through_the_ssh_tunnel_then_down() {
    dask_support::sum_on_two_workers_then_down(&target().await, &["--workers", "2"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_worker_gives_its_stderr() {
    dask_support::failing_worker_gives_its_stderr(&target().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_of_up_leaves_no_job_after_the_lease() {
    dask_support::sigkill_leaves_no_job_after_the_lease(&target().await, &["--workers", "2"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_of_up_cancels_every_job_at_once() {
    dask_support::sigterm_of_up_cancels_every_job(&target().await, &["--workers", "2"]).await;
}
