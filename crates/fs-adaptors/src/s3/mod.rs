#![doc = include_str!("docs.md")]

mod backend;
mod client;
mod config;
mod copy;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod lister;
mod parts;
mod reader;
mod uploads;
mod writer;

pub use backend::{S3FileSystem, capabilities};
pub use config::{AddressingStyle, S3Config};
pub use keys::S3Keys;
