#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod error;
mod lister;
mod reader;
mod writer;

pub use backend::{S3FileSystem, capabilities};
pub use config::{AddressingStyle, S3Config, S3Keys};
