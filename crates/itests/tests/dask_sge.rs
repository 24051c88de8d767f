//! `hpckit dask` on the real Grid Engine over SSH (`sge+ssh://hpctest@...`):
//! the Dask scheduler and two worker jobs in `all.q`, reached through tunnels
//! of the SSH connection; a Python `dask.distributed.Client` computes through
//! them. Needs `cargo xtask services up sge sshd dask`.

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
    let sge = hpc_testkit::services::require("sge");
    dask_support::dask_env();
    let url = format!(
        "sge+ssh://{}@{}:{}?known_hosts={}&root={}&cell={}&pe={}&poll=0.2&grace=20",
        ssh.user(),
        ssh.host(),
        ssh.port(),
        ssh.known_hosts().display(),
        sge.var("HPCKIT_SGE_ROOT"),
        sge.var("HPCKIT_SGE_CELL"),
        sge.var("HPCKIT_SGE_PE"),
    );
    let sched: Arc<dyn Scheduler> =
        hpckit::open_scheduler(&url, &ssh.key_creds()).await.expect("opening Grid Engine");
    Target {
        url,
        scheduler_on: None,
        global: vec!["-i".into(), ssh.key().display().to_string()],
        options: Vec::new(),
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
