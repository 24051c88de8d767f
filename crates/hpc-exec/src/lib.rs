#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod command;
mod executor;
mod local;
pub mod quote;
#[cfg(feature = "ssh")]
pub mod ssh;

pub use command::Command;
pub use executor::{BoxRead, BoxWrite, Executor, ExitStatus, Output, Process, ProcessControl};
pub use local::LocalExecutor;
