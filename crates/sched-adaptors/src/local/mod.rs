//! The `local` scheduler: an embedded queue in this process.
#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod queue;
mod resolve;
mod run;

pub use backend::{LocalScheduler, capabilities};
pub use config::LocalConfig;
