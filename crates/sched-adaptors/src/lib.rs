//! Scheduler adaptors: every batch system behind the one `hpc_core::Scheduler` trait.
//!
//! Architecture invariant: this crate spawns no process itself; every command
//! goes through an `hpc_exec::Executor`, so each adaptor works on this host and
//! over SSH alike.
#![deny(missing_docs)]

pub mod at;
pub mod batch;
mod jobscript;
pub mod local;
pub mod sge;
pub mod slurm;
pub mod ssh;
pub mod torque;
mod xml;
