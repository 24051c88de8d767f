//! The `slurm` scheduler adaptor: Slurm's commands through any
//! `hpc_exec::Executor`.
#![doc = include_str!("docs.md")]

mod backend;
mod config;
pub mod parse;
pub mod script;
mod srun_stderr;

pub use backend::SlurmScheduler;
pub(crate) use backend::capabilities;
pub(crate) use config::SSH_PARAMS;
pub use config::{Accounting, SlurmCommands, SlurmSettings};
