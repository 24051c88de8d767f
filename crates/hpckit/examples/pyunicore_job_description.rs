//! PyUNICORE README, helpers, "Defining a job or workflow": a typed job
//! description (executable `ls`, a project, 4 nodes) turned into the JSON
//! the REST API takes, then submitted.
//!
//! Settings: as `pyunicore_client`.

#[path = "support/mod.rs"]
mod support;

use hpckit::unicore::{Client, JobDescription, Resources};

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let base_url = support::var("HPCKIT_UNICORE_URL")?;
    let client = Client::connect(&support::unicore_transport()?, &base_url).await?;

    let mut resources = Resources::default();
    resources.nodes = Some(4);
    let mut job = JobDescription::executable("ls");
    job.project = Some("demoproject".into());
    job.resources = Some(resources);
    let json = job.to_json();
    println!("{json:#}");

    let submitted = client.new_job(&json, &[], true).await?;
    let done = submitted.wait_done(None).await?;
    println!("status: {:?}", done.status);
    Ok(())
}
