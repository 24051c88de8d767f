#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod error;
mod parse;
mod pool;

pub use backend::{FtpFileSystem, capabilities};
pub use config::FtpConfig;
