//! The `ssh` scheduler: jobs as background processes on a host, through any
//! [`hpc_exec::Executor`].
#![doc = include_str!("docs.md")]

mod backend;
mod config;
pub(crate) mod parse;
pub mod script;

pub use backend::{QUEUE, SshScheduler, capabilities};
pub use config::SshConfig;
