#![doc = include_str!("docs.md")]

pub(crate) mod backend;
mod config;

pub use backend::{UnicoreFileSystem, capabilities};
pub use config::UnicoreConfig;
