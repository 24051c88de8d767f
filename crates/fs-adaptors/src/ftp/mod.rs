#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod error;
mod parse;
mod pool;

pub use backend::{FtpFs, capabilities};
pub use config::FtpConfig;
