//! The shared vocabulary of hpckit.
//!
//! Every adaptor, wherever it lives, implements the traits defined here:
//! [`Scheduler`] for batch systems and [`FileSystem`] for storage. The crate holds
//! types and rules only; it opens no connection and spawns no process
//! (architecture invariant, see `ARCHITECTURE.md`); [`cleanup`] only runs
//! on the caller's runtime what an adaptor hands it.
//!
//! ```
//! use hpc_core::{JobDescription, Location};
//!
//! let job = JobDescription::new("/bin/echo").arg("hello").name("greeting");
//! job.validate().unwrap();
//! let loc: Location = "slurm+ssh://alice@login.example.org:2222/scratch".parse().unwrap();
//! assert_eq!(loc.scheme, "slurm");
//! assert_eq!(loc.port, Some(2222));
//! ```
#![deny(missing_docs)]

pub mod caps;
pub mod cleanup;
pub mod credentials;
pub mod duration;
pub mod error;
pub mod fs;
pub mod job;
pub mod location;
pub mod logging;
pub mod path;
pub mod scheduler;
pub mod status;
pub mod text;
pub mod time;
pub mod timeouts;

pub use caps::{FsCapabilities, SchedulerCapabilities};
pub use credentials::{CredentialKind, CredentialKinds};
pub use error::{Error, ErrorKind, NotFoundKind, Result};
pub use fs::{
    ByteRange, ByteStream, ChecksumAlgorithm, CopyMode, EntryKind, FileSystem, FileSystemInfo,
    PartStream, PathAttributes, PendingUpload, tag_offsets,
};
pub use job::{ArraySpec, JobDescription, JobId, JobPath};
pub use location::{Hop, Location};
pub use path::Path;
pub use scheduler::{
    InteractiveJob, Scheduler, SchedulerExt, SchedulerInfo, WaitProgress, WaitUntil,
};
pub use status::{JobState, JobStatus, JobUsage, QueueStatus};
pub use timeouts::NetTimeouts;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
