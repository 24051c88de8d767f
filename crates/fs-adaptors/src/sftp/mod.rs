#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod error;
mod lister;
mod parse;
mod pipe;
mod session;

pub use backend::{SftpFileSystem, capabilities};
pub use config::{SftpConfig, SftpTuning};
