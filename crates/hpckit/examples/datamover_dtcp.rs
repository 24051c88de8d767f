//! taurus-datamover README, "Examples": `waitfor(dm.dtcp('-r', SRC, DST))`,
//! a recursive copy into space that is read-only on the login node, done by
//! a datamover job; then list the copy with `dtls -la`.
//!
//! Arguments: source and target directory. Settings: as
//! `datamover_dtls_help`.

#[path = "support/mod.rs"]
mod support;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let usage = "datamover_dtcp SOURCE TARGET";
    let (src, dst) = (support::arg(1, usage)?, support::arg(2, usage)?);
    let dm = support::datamover().await?;
    // success(): the tool's output, or an error with its exit code and stderr.
    let copied = dm.dtcp(["-r", src.as_str(), dst.as_str()]).await?.success().await?;
    println!("dtcp exit code: {}", copied.exit_code);
    let listing = dm.dtls(["-la", dst.as_str()]).await?.success().await?;
    print!("{}", listing.stdout_text());
    Ok(())
}
