#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

mod adaptors;
mod errors;
mod filesystem;
#[doc(hidden)]
pub mod fuzzing;
mod interactive;
mod locations;
mod registry;
mod scheduler;
mod server;
mod state;

pub use filesystem::FileSystemServer;
pub use scheduler::SchedulerServer;
pub use server::{Bound, DEFAULT_PORT, ServeOptions, bind};

/// The messages and services generated from `proto/xenon.proto` (PyXenon 3.0.3).
#[allow(missing_docs, unreachable_pub, nonstandard_style, clippy::all, rust_2018_idioms)]
pub mod proto {
    tonic::include_proto!("xenon");
}
