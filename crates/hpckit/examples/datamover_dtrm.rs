//! taurus-datamover README, "Examples": `waitfor(dm.dtrm('-r', TARGET))`,
//! removing from space that is read-only on the login node, then checking
//! with `dtls` that it is gone.
//!
//! Argument: what to remove. Settings: as `datamover_dtls_help`.

#[path = "support/mod.rs"]
mod support;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let target = support::arg(1, "datamover_dtrm TARGET")?;
    let dm = support::datamover().await?;
    let removed = dm.dtrm(["-r", target.as_str()]).await?.success().await?;
    println!("dtrm exit code: {}", removed.exit_code);
    let check = dm.dtls(["-la", target.as_str()]).await?.output().await?;
    println!("dtls exit code: {}", check.exit_code);
    print!("{}", check.stderr);
    Ok(())
}
