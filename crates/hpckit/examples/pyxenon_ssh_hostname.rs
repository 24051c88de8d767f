//! PyXenon README, "Example": run `hostname` as a batch job over SSH with
//! its standard output in a file, wait for it, and read that file (over
//! SFTP on the same connection, so the example also works for a remote
//! host).
//!
//! Settings: `HPCKIT_SSH_USER`, `_HOST`, `_PORT`, `_KEY`, `_KNOWN_HOSTS`.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use hpckit::core::Path;
use hpckit::{JobDescription, SchedulerExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let (login, query, creds) =
        (support::ssh_authority()?, support::ssh_query()?, support::ssh_key()?);
    let scheduler = hpckit::open_scheduler(&format!("ssh://{login}?{query}"), &creds).await?;

    // A relative path lies in the login directory on the target host.
    let target = format!("stdout-{}.txt", std::process::id());
    let desc = JobDescription::new("hostname").stdout(target.as_str());
    let job = scheduler.submit_batch(&desc).await?;
    let status = scheduler.wait_until_done(&job, Some(Duration::from_secs(60))).await?;
    println!("job {job}: {:?}", status.state);

    let files = hpckit::open_filesystem(&format!("sftp://{login}?{query}"), &creds).await?;
    let path = Path::new(&target)?;
    let content = support::read_to_end(files.as_ref(), &path).await?;
    print!("{}", String::from_utf8_lossy(&content));
    files.delete(&path, false).await?;
    Ok(())
}
