#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod lister;
mod parse;

pub use backend::{WebdavFileSystem, capabilities};
pub use config::WebdavConfig;
