//! PyXenon quick start, "Retrieving the result": read `result.txt` (written
//! by the job of `pyxenon_slurm_submit`) over SFTP, chunk by chunk.
//!
//! Settings: as `pyxenon_sftp_write`.

#[path = "support/mod.rs"]
mod support;

use futures::StreamExt;
use hpckit::core::{ByteRange, Path};

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let credential = support::ssh_password()?;
    let location = format!("sftp://{}?{}", support::ssh_authority()?, support::ssh_query()?);
    let remotefs = hpckit::open_filesystem(&location, &credential).await?;

    let mut chunks = remotefs.read(&Path::new("result.txt")?, ByteRange::ALL).await?;
    let mut text = String::new();
    while let Some(chunk) = chunks.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk?));
    }
    print!("{text}");
    Ok(())
}
