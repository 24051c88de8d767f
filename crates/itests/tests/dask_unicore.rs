//! `hpckit dask` on the UNICORE test server (`unicore://demouser@localhost:PORT/DEMO-SITE`):
//! the Dask scheduler and workers as UNICORE jobs, the run directory in the
//! site's `HOME` storage, the scheduler and dashboard reached through UNICORE's
//! port forwarding of the scheduler job; a Python `dask.distributed.Client`
//! computes through it. Needs `cargo xtask services up unicore dask`.

#[path = "dask_support/mod.rs"]
mod dask_support;
#[path = "unicore_support/mod.rs"]
mod unicore_support;

use std::sync::Arc;
use std::time::Duration;

use dask_support::Target;
use hpc_core::Scheduler;

async fn target() -> Target {
    let u = unicore_support::unicore();
    dask_support::dask_env();
    let port = u.env.var("HPCKIT_UNICORE_PORT");
    let url = format!("unicore://{}@localhost:{port}/DEMO-SITE?ca={}", u.user, u.ca.display());
    let (loc, creds) = u.location("");
    let sched: Arc<dyn Scheduler> =
        hpckit::open_scheduler(&loc.to_string(), &creds).await.expect("opening the UNICORE site");
    Target {
        url,
        scheduler_on: None,
        global: vec!["--password-env".into(), "HPCKIT_TEST_UNICORE_PASSWORD".into()],
        options: Vec::new(),
        dask_sched: sched.clone(),
        sched,
        startup: Duration::from_secs(120),
        env: vec![("HPCKIT_TEST_UNICORE_PASSWORD".into(), u.password.clone())],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sum_on_two_workers_through_unicore_forwarding_then_down() {
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
