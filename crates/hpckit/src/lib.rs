#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub use fs_adaptors;
pub use hpc_auth as auth;
pub use hpc_core as core;
/// Dask clusters on any scheduler (feature `dask`).
#[cfg(feature = "dask")]
pub use hpc_dask as dask;
pub use hpc_exec as exec;
/// The PiCaS token pool on CouchDB (feature `picas`).
#[cfg(feature = "picas")]
pub use picas_tokens as picas;
pub use sched_adaptors;
/// The UFTP client and file system (feature `uftp`).
#[cfg(feature = "uftp")]
pub use uftp_proto as uftp;
/// The UNICORE REST client (feature `unicore`).
#[cfg(feature = "unicore")]
pub use unicore_rest as unicore;
/// The ZIH datamover and workspace tools (feature `datamover`).
#[cfg(feature = "datamover")]
pub use zih_datamover as datamover;

pub use hpc_auth::{Credential, CredentialMap};
pub use hpc_core::{
    Error, JobDescription, JobId, JobState, JobStatus, Location, Result, Scheduler, SchedulerExt,
    WaitUntil,
};

#[cfg(feature = "dask")]
mod dask_site;
mod filesystem;
mod scheduler;

#[cfg(feature = "dask")]
pub use dask_site::open_dask_site;

pub use filesystem::{FILESYSTEM_SCHEMES, FsUrl, open_filesystem, open_location};
pub use scheduler::{SCHEDULER_SCHEMES, executor_for, open_scheduler};

/// The migration guides' examples (`docs/migration/`), compiled as doc tests
/// so that every call they show exists. The guides of the domain crates need
/// their features (`cargo test --doc --workspace` turns them on through
/// `hpckit-cli`).
#[cfg(doctest)]
pub mod migration_guides {
    #[doc = include_str!("../../../docs/migration/from-pyxenon.md")]
    pub struct FromPyxenon;
    #[cfg(feature = "unicore")]
    #[doc = include_str!("../../../docs/migration/from-pyunicore.md")]
    pub struct FromPyunicore;
    #[cfg(feature = "picas")]
    #[doc = include_str!("../../../docs/migration/from-picas.md")]
    pub struct FromPicas;
    #[doc = include_str!("../../../docs/migration/from-taurus-datamover.md")]
    pub struct FromTaurusDatamover;
}
