//! PyUNICORE README, "Run a job and read result files": run `date` on the
//! site, wait for it, then look at its working directory and read `stdout`.
//!
//! Settings: as `pyunicore_client`.

#[path = "support/mod.rs"]
mod support;

use hpckit::unicore::{Client, JobDescription};

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let base_url = support::var("HPCKIT_UNICORE_URL")?;
    let client = Client::connect(&support::unicore_transport()?, &base_url).await?;

    let my_job = JobDescription::executable("date").to_json();
    let job = client.new_job(&my_job, &[], true).await?;
    println!("job: {}", job.url());

    // PyUNICORE's job.poll(): wait until the job has finished.
    let done = job.wait_done(None).await?;
    println!("status: {:?}, exit code: {:?}", done.status, done.exit_code);

    let work_dir = job.working_dir().await?;
    println!("working directory: {}", work_dir.url());
    let stdout = work_dir.stat("stdout").await?;
    println!("stdout file: {stdout:?}");
    let content = work_dir.read_all("stdout").await?;
    print!("stdout: {}", String::from_utf8_lossy(&content));
    Ok(())
}
