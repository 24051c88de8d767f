//! The Grid Engine adaptor (`sge://`, `sge+ssh://user@host`).
#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod parse;
mod script;

pub use backend::{Sge, SgeScheduler, capabilities};
pub use config::{SgeCommands, SgeConfig};
