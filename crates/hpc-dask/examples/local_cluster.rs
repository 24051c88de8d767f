//! A Dask cluster of local jobs: `cargo run -p hpc-dask --example local_cluster -- VENV [WORKERS]`
//! with a virtualenv that has `distributed` installed. Prints the address for
//! `dask.distributed.Client`, the dashboard URL and the jobs, then closes.

use std::sync::Arc;
use std::time::Duration;

use hpc_dask::{DaskCluster, DaskConfig, ExecSite};
use sched_adaptors::local::{LocalConfig, LocalScheduler};

#[tokio::main]
async fn main() -> hpc_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let venv = args.next().unwrap_or_else(|| "/opt/hpckit/venv/dask".into());
    let workers: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(2);
    // The embedded queue runs as many jobs at once as there are CPUs by
    // default: make room for the scheduler and every worker.
    let mut local = LocalConfig::default();
    local.max_concurrent = workers as usize + 1;
    let sched = Arc::new(LocalScheduler::new(local)?);
    let mut config = DaskConfig::new("example");
    config.python_env = vec![format!(". {venv}/bin/activate")];
    config.startup_timeout = Duration::from_secs(60);
    let cluster = DaskCluster::start(sched, Arc::new(ExecSite::local()), config, workers).await?;
    // Close on every path: an error while waiting must not leave jobs behind.
    let ready = cluster.wait_for_workers(workers as usize, Duration::from_secs(60)).await;
    let connected = match ready {
        Ok(n) => n,
        Err(e) => {
            cluster.close().await?;
            return Err(e);
        }
    };
    println!("scheduler: {}", cluster.address());
    println!("dashboard: {}", cluster.dashboard_url().unwrap_or_default());
    println!("{connected} workers connected");
    let status = cluster.status().await?;
    println!("{}", serde_json::to_string_pretty(&status).unwrap_or_default());
    cluster.close().await
}
