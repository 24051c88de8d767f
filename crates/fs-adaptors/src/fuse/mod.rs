//! Mount any [`FileSystem`](hpc_core::FileSystem) with FUSE (`fuser`, no libfuse needed; the
//! kernel's FUSE and `fusermount3` do the mounting).
//!
//! * Requests are answered on the tokio runtime the mount was made from, so
//!   a slow remote call never blocks other requests.
//! * Reads go through a read-ahead window ([`READ_AHEAD`] bytes per open
//!   file), so sequential reads of 128 KiB kernel pages cost one remote
//!   request per window, not one per page.
//! * Writes are buffered in a local spool file per open file (write-back) and
//!   sent to the file system as one streamed write on `close` (flush),
//!   `fsync` and release. Adaptors write to a hidden sibling and rename it into
//!   place, so other readers see the old or the new file, never half of one.
//! * All files show the mounting user as owner (remote ids mean nothing
//!   here); permission bits are the remote ones where the adaptor reports them.
//!
//! No `unsafe`: fuser's safe API covers everything used here (ADR 0603).

mod handle;
mod inodes;
mod mount;
mod ops;
mod options;
mod requests;

pub use handle::READ_AHEAD;
pub use mount::{Mounted, mount};
pub use options::MountOptions;
