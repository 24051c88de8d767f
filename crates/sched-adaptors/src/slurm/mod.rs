//! The `slurm` scheduler adaptor: Slurm's commands through any
//! `hpc_exec::Executor`.
#![doc = include_str!("docs.md")]

mod backend;
mod config;
pub mod parse;
pub mod script;
pub(crate) mod srun_stderr;

pub use backend::{Slurm, SlurmScheduler, capabilities};
pub use config::{Accounting, SlurmCommands, SlurmConfig};
