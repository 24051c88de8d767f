//! File-system adaptors behind the one `hpc_core::FileSystem` trait, the copy
//! engine that works between any two of them, and an optional FUSE mount.
#![deny(missing_docs)]

pub mod copy;
pub mod local;

#[cfg(feature = "ftp")]
pub mod ftp;
#[cfg(any(feature = "ftp", feature = "webdav", feature = "s3"))]
mod remote;
#[cfg(feature = "fuse")]
pub mod fuse;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "sftp")]
pub mod sftp;
#[cfg(feature = "webdav")]
pub mod webdav;
