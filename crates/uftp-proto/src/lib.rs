#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod auth;
mod codec;
mod crypto;
mod data;
mod error;
pub mod frame;
pub mod parse;
mod reply;
mod session;
pub mod transfer;

pub use auth::{AuthRequest, AuthServer, Grant, split_auth_url};
pub use crypto::{Algorithm, EncryptionKey};
pub use data::{Coding, Inbound, Outbound};
pub use parse::RemoteEntry;
pub use reply::Reply;
pub use session::{FEAT_MULTI_STREAM_CRYPT, Session, TransferOptions, WriteMode};
#[cfg(feature = "filesystem")]
pub mod filesystem;
