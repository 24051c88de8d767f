#![doc = include_str!("docs.md")]

mod backend;
mod config;

pub use backend::{UftpFileSystem, capabilities};
pub use config::UftpConfig;
