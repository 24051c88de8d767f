#![doc = include_str!("docs.md")]

mod backend;
mod batch;
mod config;
mod route;

pub use backend::{WsFileSystem, capabilities};
pub use config::{DEFAULT_STAGE, DatamoverTargets, WS_LOCATION_PARAMS, WsConfig, WsRoot};
