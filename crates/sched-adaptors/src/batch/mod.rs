//! The batch-system adaptors' shared machinery (Slurm, Grid Engine, Torque, at).
//!
//! * [`Backend`]: `Scheduler` written once; an adaptor supplies a
//!   [`BatchAdaptor`] (its scripts, commands, parsers) and a [`BatchConfig`].
//! * [`PollConfig`]: poll interval bounds and the accounting grace period,
//!   the same knobs for every batch adaptor (serde, seconds as numbers).
//! * [`Poller`]: a coalescing poller. All concurrent `wait` calls on one
//!   scheduler share ONE status query per cycle for every watched job, and
//!   the interval adapts to how fast jobs finish (see
//!   `docs/adr/0402-batched-poller.md`).
//! * [`submit`]: the one `submit_many` policy (chunks, a few round trips at
//!   once) and the `sh -s` program that runs many submit commands, each
//!   reading its script from a here-document, one result per job.
//! * `script`, [`time`], `xml`: the job script body of Grid Engine and
//!   Torque, the time formats schedulers print, an element tree for their XML.
#![doc = include_str!("docs.md")]

mod adaptor;
mod backend;
mod config;
mod poller;
pub(crate) mod script;
pub mod submit;
pub mod time;
pub(crate) mod xml;

pub use adaptor::{BatchAdaptor, Host, restore_name};
pub use backend::{Backend, check_location};
pub use config::{BatchConfig, PollConfig, secs};
pub(crate) use config::{common_fields, switch};
pub use poller::{Lookup, Poller, StatusSource};
