//! The `at` scheduler adaptor: `at`, `atq` and `atrm` through any
//! `hpc_exec::Executor`, with a wrapper that records exit codes.
#![doc = include_str!("docs.md")]

mod backend;
mod config;
pub mod parse;
pub(crate) mod script;

pub use backend::{At, AtScheduler, capabilities};
pub use config::{AtCommands, AtConfig};
