#![doc = include_str!("docs.md")]

mod backend;
mod config;
pub(crate) mod parse;
mod script;

pub(crate) use backend::CREDENTIALS;
pub use backend::{UnicoreScheduler, capabilities};
pub use config::UnicoreConfig;
