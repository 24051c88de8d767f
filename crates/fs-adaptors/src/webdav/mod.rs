#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod propfind;

pub use backend::{WebdavFileSystem, capabilities};
pub use config::WebdavConfig;
