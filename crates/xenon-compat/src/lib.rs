//! A gRPC server that speaks the xenon-grpc protocol of PyXenon 3.0.3 over hpckit's
//! adaptors, so PyXenon programs run without Java (`hpckit xenon-grpc`).
//!
//! ```no_run
//! # async fn run() -> hpckit::Result<()> {
//! let opts = xenon_compat::ServeOptions { port: 50051, disable_tls: true, ..Default::default() };
//! let bound = xenon_compat::bind(&opts).await?;
//! bound.serve(std::future::pending()).await
//! # }
//! ```
#![forbid(unsafe_code)]

mod adaptors;
mod errors;
mod filesystem;
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
