//! The Slurm adaptor against the real Slurm 22.05 clusters of
//! `cargo xtask services up slurm slurm-acct`: one without accounting
//! (squeue/scontrol path) and one with slurmdbd (sacct path). Jobs are
//! submitted as the ordinary test user: locally through
//! `LocalExecutor::as_user`, and over SSH as that user (see `sched_slurm_ssh.rs`).

#[path = "slurm_fixture/mod.rs"]
mod slurm_fixture;

use slurm_fixture::Fixture;

async fn local(service: &str) -> Fixture {
    Fixture::local(service)
}

slurm_fixture::cases::suite!(plain, "slurm", crate::local);
slurm_fixture::cases::suite!(acct, "slurm-acct", crate::local);
