//! taurus-datamover README, `CacheWorkspace`: allocate the short-lived
//! workspace `cache`, make a temporary directory in it, then clean up
//! (release the workspace).
//!
//! Settings: as `datamover_dtls_help`.

#[path = "support/mod.rs"]
mod support;

use hpckit::datamover::CacheWorkspace;
use hpckit::exec::Command;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let login = support::login_node().await?;
    let cws = CacheWorkspace::new(support::workspaces().await?).await?;
    println!("cache workspace: {}", cws.path());

    // Python's TemporaryDirectory(prefix=cws.name + '/'), on the login node.
    let tmp = login
        .run_checked(&Command::new("mktemp").arg("-d").arg(format!("{}/XXXXXXX", cws.path())))
        .await?;
    println!("temporary directory: {}", tmp.stdout_text().trim());

    let id = cws.id().to_owned();
    cws.cleanup().await?;
    println!("released: {id}");
    Ok(())
}
