//! The umbrella crate: re-exports every hpckit crate and opens adaptors by URL.
#![deny(missing_docs)]

pub use fs_adaptors;
pub use hpc_auth as auth;
pub use hpc_core as core;
pub use hpc_exec as exec;
pub use sched_adaptors;

mod filesystem;
mod scheduler;
