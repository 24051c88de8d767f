//! taurus-datamover README: `proc = dm.dtls('-lh', DIR)`, `proc.poll()`,
//! `waitfor(proc)`, `proc.communicate()`: list a directory on a datamover
//! node in the background, look whether it is done, wait, print the
//! listing.
//!
//! Argument: the directory. Settings: as `datamover_dtls_help`.

#[path = "support/mod.rs"]
mod support;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let dir = support::arg(1, "datamover_dtls DIRECTORY")?;
    let dm = support::datamover().await?;
    let proc = dm.dtls(["-lh", dir.as_str()]).await?;
    // Still queued or running: poll() says None, as Popen.poll() does.
    println!("poll: {:?}", proc.poll());
    let code = proc.wait(None).await?;
    println!("exit code: {code}");
    let out = proc.output().await?;
    print!("{}", out.stdout_text());
    Ok(())
}
