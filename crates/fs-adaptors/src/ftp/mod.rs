#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod error;
mod lister;
mod parse;
mod pool;
mod writer;

pub use backend::{FtpFileSystem, capabilities};
pub use config::FtpConfig;
