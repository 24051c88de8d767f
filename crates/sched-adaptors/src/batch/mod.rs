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
//! * [`script`], [`time`], `xml`: the job script body of Grid Engine and
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

use hpc_core::JobStatus;

pub use adaptor::{BatchAdaptor, Host};
pub use backend::{Backend, check_location};
pub use config::{BatchConfig, PollConfig, secs};
pub(crate) use config::{common_fields, switch};
pub use poller::{Lookup, Poller, StatusSource};

/// Report the name a client submitted (`submitted`) where the scheduler
/// shows only its sanitized form (`sanitize(submitted)`), as Grid Engine and
/// Torque do with characters they do not allow.
pub fn restore_name(
    submitted: Option<&str>,
    sanitize: impl Fn(&str) -> Option<String>,
    mut status: JobStatus,
) -> JobStatus {
    if let Some(orig) = submitted
        && status.name.is_some()
        && status.name == sanitize(orig)
    {
        status.name = Some(orig.to_owned());
    }
    status
}

#[cfg(test)]
mod tests {
    use hpc_core::{Error, JobState, Location};

    use super::*;

    #[test]
    fn locations_name_their_adaptor_and_a_host_only_with_a_transport() {
        let ok = |u: &str| check_location(&u.parse::<Location>().unwrap(), "sge");
        assert!(ok("sge://").is_ok());
        assert!(ok("sge+ssh://alice@login:2222").is_ok());
        for bad in ["torque://", "sge://login"] {
            let e = ok(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidLocation { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn only_the_sanitized_form_of_the_submitted_name_is_restored() {
        let sanitize = |n: &str| Some(n.replace(' ', "_"));
        let shown = |name: &str| {
            JobStatus::new("1".into(), JobState::Running).with_name(Some(name.to_owned()))
        };
        let s = restore_name(Some("a b"), sanitize, shown("a_b"));
        assert_eq!(s.name.as_deref(), Some("a b"));
        let s = restore_name(Some("a b"), sanitize, shown("other"));
        assert_eq!(s.name.as_deref(), Some("other"));
        let s = restore_name(None, sanitize, shown("a_b"));
        assert_eq!(s.name.as_deref(), Some("a_b"));
    }
}
