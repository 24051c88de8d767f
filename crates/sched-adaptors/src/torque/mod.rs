//! The Torque / PBS adaptor (`torque://`, `torque+ssh://user@host`).
#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod parse;
mod script;

pub use backend::{TorqueScheduler, capabilities};
pub use config::{TorqueCommands, TorqueSettings};
