//! PyXenon quick start, "Running a script": run `hello.sh` (written by
//! `pyxenon_sftp_write`) as a Slurm job over SSH, its output in
//! `result.txt`, and wait for it.
//!
//! Settings: as `pyxenon_sftp_write`, and `HPCKIT_SLURM_CONF` (the
//! cluster's slurm.conf on the login node; leave it unset on a real cluster).

#[path = "support/mod.rs"]
mod support;

use hpckit::{JobDescription, SchedulerExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let credential = support::ssh_password()?;
    let mut location =
        format!("slurm+ssh://{}?{}", support::ssh_authority()?, support::ssh_query()?);
    if let Ok(conf) = std::env::var("HPCKIT_SLURM_CONF") {
        location.push_str(&format!("&conf={conf}"));
    }
    let scheduler = hpckit::open_scheduler(&location, &credential).await?;

    let job_description = JobDescription::new("/bin/sh").arg("hello.sh").stdout("result.txt");
    let job = scheduler.submit_batch(&job_description).await?;
    let state = scheduler.wait_until_done(&job, None).await?;
    println!("job {job}: {:?}, exit code {:?}", state.state, state.exit_code);
    Ok(())
}
