//! taurus-datamover README, `with CacheWorkspace() as cws:`: write a file in
//! a cache workspace, copy it with `dtcp` into the project space, and clean
//! the workspace up whatever happened (Rust has no `with`: the result is
//! kept until after `cleanup`).
//!
//! Arguments: the target file, the cache workspace's id (default `cache`).
//! Settings: as `datamover_dtls_help`.

#[path = "support/mod.rs"]
mod support;

use hpckit::datamover::workspace::DEFAULT_CACHE_ID;
use hpckit::datamover::{AllocateRequest, CacheWorkspace};
use hpckit::exec::Command;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let target_file = support::arg(1, "datamover_cache_copy TARGET_FILE")?;
    let login = support::login_node().await?;
    let dm = support::datamover().await?;
    let id = std::env::args().nth(2).unwrap_or_else(|| DEFAULT_CACHE_ID.into());
    let request = AllocateRequest::new(id, 1).comment("temporary_files");
    let cws = CacheWorkspace::with_request(support::workspaces().await?, request).await?;

    let temp_file = format!("{}/temp.txt", cws.path());
    let work = async {
        // imsave(temp_file): any program that writes into the workspace.
        let write = Command::new("sh").args([
            "-c",
            "echo 'made in the cache' > \"$1\"",
            "sh",
            temp_file.as_str(),
        ]);
        login.run_checked(&write).await?;
        dm.dtcp([temp_file.as_str(), target_file.as_str()]).await?.success().await
    }
    .await;
    cws.cleanup().await?;
    println!("dtcp exit code: {}", work?.exit_code);
    println!("copied {temp_file} to {target_file}");
    Ok(())
}
