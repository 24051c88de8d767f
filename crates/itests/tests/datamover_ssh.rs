//! The same scenarios as `datamover_local.rs`, every command over SSH as the
//! test user (`cargo xtask services up slurm sshd datamover`).

#[path = "datamover_support/mod.rs"]
mod datamover_support;
#[path = "ssh_support/mod.rs"]
mod ssh_support;

use datamover_support::Fx;

datamover_support::cases::suite!(Fx::ssh().await);
