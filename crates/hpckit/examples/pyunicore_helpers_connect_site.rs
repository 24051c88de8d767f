//! PyUNICORE README, helpers, "Connecting to a site directly": here through
//! hpckit's portable side, which opens a UNICORE site by URL like any other
//! scheduler and file system (`unicore://host:port/SITE`), then runs a job.
//!
//! Settings: `HPCKIT_UNICORE_PORT`, user, password and CA as
//! `pyunicore_client` (the site is `DEMO-SITE` on localhost).

#[path = "support/mod.rs"]
mod support;

use hpckit::{JobDescription, SchedulerExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let creds = support::unicore_login()?;

    let sched = hpckit::open_scheduler(&support::unicore_location("")?, &creds).await?;
    println!("scheduler: {} at {}", sched.info().adaptor, sched.info().location);
    let id = sched.submit_batch(&JobDescription::new("echo").arg("hello from UNICORE")).await?;
    let status = sched.wait_until_done(&id, None).await?;
    println!("job {id}: {:?}", status.state);

    let storage = support::unicore_location("/storages/HOME")?;
    let home = hpckit::open_filesystem(&storage, &creds).await?;
    println!("file system: {} at {}", home.info().adaptor, home.info().location);
    Ok(())
}
