//! The Grid Engine adaptor (`sge://`, `sge+ssh://user@host`).
#![doc = include_str!("docs.md")]

mod backend;
mod config;
pub(crate) mod parse;
pub(crate) mod script;

pub use backend::{Sge, SgeScheduler, capabilities};
pub use config::{SgeCommands, SgeConfig};
