//! Run commands on this host or on a remote one.
//!
//! [`Executor`] is the one way hpckit starts a process: [`LocalExecutor`] here,
//! `SshExecutor` on a remote host. Argument vectors become a remote command
//! line only through [`quote::command_line`], which a property test checks
//! against a real `/bin/sh` over a real sshd.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> hpc_core::Result<()> {
//! use hpc_exec::{Command, Executor, LocalExecutor};
//!
//! let out = LocalExecutor::new().run(&Command::new("echo").arg("it's here")).await?;
//! assert_eq!(out.stdout, b"it's here\n");
//! assert!(out.status.success());
//! # Ok(()) }
//! ```
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
