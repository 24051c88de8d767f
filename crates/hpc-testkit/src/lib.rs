//! Test support shared by every adaptor: conformance suites (the same test
//! functions for every scheduler and every file system), the services env file
//! reader for integration tests, stand-ins for what cannot be installed, the
//! check of the capability checklists in the adaptors' docs, and hostile
//! servers that misbehave on purpose.
#![deny(missing_docs)]

pub mod checklist;
pub mod fs_conformance;
pub mod hostile;
pub mod sched_conformance;
pub mod scratch;
pub mod scripted;
pub mod services;
mod tls;
pub mod torque_standin;
pub mod trace_capture;
pub mod trials;
pub mod uftpd;
pub mod unicore;
pub mod zih;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
