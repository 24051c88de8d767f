//! PyXenon quick start, "Writing to a remote filesystem": log in over SFTP
//! with a password, remove `hello.sh` if it exists and write it anew.
//!
//! Settings: `HPCKIT_SSH_USER`, `_HOST`, `_PORT`, `_PASSWORD`, `_KNOWN_HOSTS`.

#[path = "support/mod.rs"]
mod support;

use hpckit::core::Path;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let credential = support::ssh_password()?;
    let location = format!("sftp://{}?{}", support::ssh_authority()?, support::ssh_query()?);
    let remotefs = hpckit::open_filesystem(&location, &credential).await?;

    // Relative: in the login directory.
    let target = Path::new("hello.sh")?;
    if remotefs.exists(&target).await? {
        remotefs.delete(&target, false).await?;
    }
    let script = "#!/bin/sh\necho \"Hello, World!\"\n";
    let written = remotefs.write(&target, support::byte_stream(script), None).await?;
    println!("wrote {written} bytes to {target}");
    Ok(())
}
