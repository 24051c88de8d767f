#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod commands;
mod config;
mod datamover;
mod events;
pub mod filesystem;
mod handle;
mod listing;
pub mod workspace;

pub use commands::DtCommand;
pub use config::{DEFAULT_TIME_LIMIT, DatamoverConfig, WorkspaceConfig};
pub use datamover::{BatchJobEnd, Datamover};
pub use events::DtEvent;
pub use filesystem::{WsConfig, WsFileSystem};
pub use handle::{DtHandle, DtOutput, wait_all};
pub use workspace::{
    AllocateRequest, CacheWorkspace, ListOptions, Remaining, WorkspaceInfo, Workspaces,
};
