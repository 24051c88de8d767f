#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod lister;
mod parse;
mod pool;
mod tls;
mod writer;

pub use backend::{FtpFileSystem, capabilities};
pub use config::FtpConfig;
