//! The ZIH datamover and workspace tools on this host, as the test user
//! (`LocalExecutor::as_user`), against the stand-ins of
//! `cargo xtask services up slurm datamover`: every transfer is a job of
//! the real Slurm's `datamover` partition.

#[path = "datamover_support/mod.rs"]
mod datamover_support;
#[path = "ssh_support/mod.rs"]
#[allow(unused)]
mod ssh_support;

use datamover_support::Fx;

datamover_support::cases::suite!(Fx::local());

#[tokio::test]
async fn time_limit_is_reported() {
    datamover_support::cases::time_limit_is_reported(Fx::local()).await
}
