//! PyUNICORE README, "Dask cluster implementation": the Dask scheduler and
//! its workers as jobs of a UNICORE site (`UNICORECluster`), scaled to two
//! workers (`scale(2, wait_for_startup=True)`), a `dask.distributed.Client`
//! here computing through UNICORE's port forwarding, then `close()`.
//!
//! Settings: `HPCKIT_UNICORE_PORT`, user, password and CA as
//! `pyunicore_helpers_connect_site`; `HPCKIT_DASK_ACTIVATE`, the shell line
//! that gives the site's jobs a Python with `distributed`, and
//! `HPCKIT_DASK_PYTHON`, such a Python here (`cargo xtask services up dask`
//! makes one virtualenv for both).

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use hpckit::WaitUntil;
use hpckit::dask::{DaskCluster, DaskConfig};
use hpckit::exec::{Command, Executor, LocalExecutor};

/// The README's `Client(cluster)`, then a computation spread over the workers.
const CLIENT: &str = r#"
import sys
from dask.distributed import Client
client = Client(sys.argv[1], timeout=120)
squares = client.map(lambda x: x * x, range(100))
print("sum of squares:", client.submit(sum, squares).result())
print("workers seen by the client:", len(client.scheduler_info()["workers"]))
client.close()
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let (site, login) = (support::unicore_location("")?, support::unicore_login()?);
    let sched = hpckit::open_scheduler(&site, &login).await?;
    // Run directory in the site's HOME storage, ports through UNICORE's forwarding.
    let dask_site = hpckit::open_dask_site(&site, &login).await?;

    // PyUNICORE's `queue`, `project` and `debug` are `config.queue`,
    // `config.account` and `config.debug`; the test site needs none.
    let mut config = DaskConfig::new("readme");
    config.python_env = vec![support::var("HPCKIT_DASK_ACTIVATE")?];
    let cluster = DaskCluster::start(sched.clone(), dask_site, config, 0).await?;
    println!("scheduler: {}", cluster.address());

    let computed = scale_and_compute(&cluster).await;
    // Close on every path: a failed computation must not leave jobs behind.
    let jobs = cluster.job_ids().await;
    cluster.close().await?;
    print!("{}", computed?);

    let ended = sched.wait(&jobs, WaitUntil::Done, Some(Duration::from_secs(120)), None).await?;
    for status in ended {
        let status = status?;
        println!("closed: job {} {:?}", status.id, status.state);
    }
    Ok(())
}

/// Two workers, then what the Python client printed.
async fn scale_and_compute(cluster: &DaskCluster) -> hpckit::Result<String> {
    cluster.scale(2).await?;
    let connected = cluster.wait_for_workers(2, Duration::from_secs(120)).await?;
    println!("{connected} workers connected");

    let python = support::var("HPCKIT_DASK_PYTHON")?;
    let client = Command::new(python).args(["-c", CLIENT, cluster.address()]);
    let out = LocalExecutor::new().run(&client).await?.check(&client)?;
    Ok(out.stdout_text().into_owned())
}
