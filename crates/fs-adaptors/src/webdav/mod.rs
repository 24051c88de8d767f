#![doc = include_str!("docs.md")]

mod backend;
mod config;
mod propfind;

pub use backend::{WebdavFs, capabilities};
pub use config::WebdavConfig;
