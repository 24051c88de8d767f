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

/// The query parameters of an `ssh://` or `<adaptor>+ssh://` location that
/// configure the SSH connection itself (see `ssh::SshOptions::from_location`);
/// adaptors accept them beside their own.
pub const SSH_LOCATION_PARAMS: &[&str] =
    &["host_key", "known_hosts", "ssh_config", "connect_timeout", "max_sessions"];
