//! The Torque / PBS adaptor (`torque://`, `torque+ssh://user@host`).
#![doc = include_str!("docs.md")]

mod backend;
mod config;
pub(crate) mod parse;
pub(crate) mod script;

pub use backend::{Torque, TorqueScheduler, capabilities};
pub use config::{TorqueCommands, TorqueConfig};
