//! taurus-datamover README, "Workspace": allocate workspace `my-workspace`
//! for 30 days, list the workspaces, release it.
//!
//! Argument: the workspace name (default `my-workspace`). Settings: as
//! `datamover_dtls_help`.

#[path = "support/mod.rs"]
mod support;

use hpckit::datamover::{AllocateRequest, ListOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "my-workspace".into());
    let ws = support::workspaces().await?;

    let workspace_path = ws.allocate(&AllocateRequest::new(name.as_str(), 30)).await?.directory;
    println!("allocated: {workspace_path}");

    for info in ws.list(&ListOptions::default()).await? {
        println!("id: {}", info.id);
        println!("     workspace directory  : {}", info.directory);
        println!("     filesystem name      : {}", info.filesystem.unwrap_or_default());
    }

    ws.release(&name, None).await?;
    println!("released: {name}");
    Ok(())
}
