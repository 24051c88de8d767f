#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod lister;
mod owners;
mod writer;

pub use backend::{LocalFileSystem, capabilities};
pub use config::LocalConfig;
