//! taurus-datamover README: `dm.dtls('--help').communicate()`, the usage of
//! a datamover command (it returns at once, without a Slurm job).
//!
//! Settings: `HPCKIT_SSH_USER`, `_HOST`, `_PORT`, `_KEY`, `_KNOWN_HOSTS`
//! (the login node), `HPCKIT_DM_BIN` (where the tools are, if not on the
//! `PATH`).

#[path = "support/mod.rs"]
mod support;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let dm = support::datamover().await?;
    let out = dm.dtls(["--help"]).await?.output().await?;
    print!("{}", out.stdout_text());
    Ok(())
}
