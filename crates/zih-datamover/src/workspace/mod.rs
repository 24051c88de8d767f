//! The hpc-workspace tools: allocate, list (typed, every layout), extend,
//! release, find and restore workspaces, and a cache-workspace guard.

mod cache;
mod parse;
mod time;
mod tools;

pub use cache::{CacheWorkspace, DEFAULT_CACHE_ID};
pub use parse::{
    Allocation, Remaining, Restorable, WorkspaceInfo, parse_allocation, parse_restorable,
    parse_ws_list,
};
pub use time::WsTime;
pub use tools::{AllocateRequest, ListOptions, WORKSPACE, Workspaces, validate_name};
