//! Pieces shared by the batch-system adaptors (Slurm, Grid Engine, Torque, at).
//!
//! * [`PollSettings`]: poll interval bounds and the accounting grace period,
//!   the same knobs for every batch adaptor (serde, seconds as numbers).
//! * [`Poller`]: a coalescing poller. All concurrent `wait` calls on one
//!   scheduler share one loop that asks the scheduler about every watched job
//!   with ONE status query per cycle, and adapts its interval to how fast jobs
//!   finish (see `docs/adr/0402-batched-poller.md`).
//! * [`submit`]: run many submit commands (`sbatch`, `qsub`) in one remote
//!   shell, each reading its script from a here-document, one result per job.
//! * [`time`]: parse the `YYYY-MM-DDTHH:MM:SS` and `[D-]HH:MM:SS` forms the
//!   schedulers print.
//!
//! Nothing here knows a particular scheduler.
#![doc = include_str!("docs.md")]

mod poller;
pub(crate) mod site;
pub mod submit;
pub mod time;

use std::io;
use std::time::Duration;

use hpc_core::{Error, JobStatus, Location};
use serde::{Deserialize, Serialize};

pub use poller::{Poller, StatusSource};

/// How a batch adaptor polls. Loadable from TOML (durations in seconds):
///
/// ```
/// let s: sched_adaptors::batch::PollSettings =
///     toml::from_str("poll_interval = 0.5\nmax_poll_interval = 5").unwrap();
/// assert_eq!(s.poll_interval.as_millis(), 500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollSettings {
    /// Shortest time between two status queries (and the interval while
    /// nothing is known about how fast jobs finish).
    #[serde(with = "secs")]
    pub poll_interval: Duration,
    /// Longest time between two status queries while jobs are watched.
    #[serde(with = "secs")]
    pub max_poll_interval: Duration,
    /// How long a job that has left the queue but is not (yet) in the
    /// accounting records keeps its last seen state before it counts as unknown.
    #[serde(with = "secs")]
    pub accounting_grace: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            poll_interval: Duration::from_millis(250),
            max_poll_interval: Duration::from_secs(3),
            accounting_grace: Duration::from_secs(30),
        }
    }
}

impl PollSettings {
    /// Apply URL parameters `poll`, `max_poll`, `grace` (seconds).
    pub fn apply_param(&mut self, key: &str, value: &str) -> hpc_core::Result<bool> {
        let target = match key {
            "poll" | "poll_interval" => &mut self.poll_interval,
            "max_poll" | "max_poll_interval" => &mut self.max_poll_interval,
            "grace" | "accounting_grace" => &mut self.accounting_grace,
            _ => return Ok(false),
        };
        *target = parse_secs(value).ok_or_else(|| {
            Error::InvalidInput(format!("parameter {key}={value:?} is not a number of seconds"))
        })?;
        Ok(true)
    }

    /// Check the bounds.
    pub fn validate(&self) -> hpc_core::Result<()> {
        if self.poll_interval.is_zero() {
            return Err(Error::InvalidInput("poll_interval must be positive".into()));
        }
        if self.max_poll_interval < self.poll_interval {
            return Err(Error::InvalidInput(
                "max_poll_interval must not be below poll_interval".into(),
            ));
        }
        Ok(())
    }
}

fn parse_secs(v: &str) -> Option<Duration> {
    let f: f64 = v.trim().parse().ok()?;
    (f.is_finite() && (0.0..1e9).contains(&f)).then(|| Duration::from_secs_f64(f))
}

/// Serde helper: a `Duration` as (fractional) seconds.
pub mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serialize as seconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// Deserialize from seconds (integer or float).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let f = f64::deserialize(d)?;
        if !(f.is_finite() && (0.0..1e9).contains(&f)) {
            return Err(D::Error::custom(format!("{f} is not a valid number of seconds")));
        }
        Ok(Duration::from_secs_f64(f))
    }
}

/// Check that `location` is `<scheme>://` (no host: this machine) or
/// `<scheme>+<transport>://host` before an adaptor opens it.
pub fn check_location(location: &Location, scheme: &str) -> hpc_core::Result<()> {
    if location.scheme != scheme {
        return Err(Error::InvalidLocation {
            location: location.to_string(),
            reason: format!("the {scheme} adaptor needs a {scheme}:// or {scheme}+ssh:// location"),
        });
    }
    if location.transport.is_none() {
        location.expect_no_host()?;
    }
    Ok(())
}

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

/// A copy of an error, for handing one failure to several waiters.
/// (`Error` holds an `io::Error` and is not `Clone`.)
pub fn dup_error(e: &Error) -> Error {
    match e {
        Error::InvalidLocation { location, reason } => {
            Error::InvalidLocation { location: location.clone(), reason: reason.clone() }
        }
        Error::InvalidJobDescription(m) => Error::InvalidJobDescription(m.clone()),
        Error::InvalidInput(m) => Error::InvalidInput(m.clone()),
        Error::NotFound { kind, name } => Error::NotFound { kind: *kind, name: name.clone() },
        Error::PermissionDenied { what, message } => {
            Error::PermissionDenied { what: what.clone(), message: message.clone() }
        }
        Error::Connect { host, reason } => {
            Error::Connect { host: host.clone(), reason: reason.clone() }
        }
        Error::ConnectionLost { host, reason } => {
            Error::ConnectionLost { host: host.clone(), reason: reason.clone() }
        }
        Error::CommandFailed { command, exit_code, stderr } => Error::CommandFailed {
            command: command.clone(),
            exit_code: *exit_code,
            stderr: stderr.clone(),
        },
        Error::Parse { command, reason, line } => {
            Error::Parse { command: command.clone(), reason: reason.clone(), line: line.clone() }
        }
        Error::Unsupported { adaptor, operation } => {
            Error::Unsupported { adaptor: adaptor.clone(), operation: operation.clone() }
        }
        Error::Timeout { what, after } => Error::Timeout { what: what.clone(), after: *after },
        Error::Cancelled(m) => Error::Cancelled(m.clone()),
        Error::Remote { service, status, message } => {
            Error::Remote { service: service.clone(), status: *status, message: message.clone() }
        }
        Error::Io { context, source } => Error::Io {
            context: context.clone(),
            source: io::Error::new(source.kind(), source.to_string()),
        },
        other => {
            Error::Remote { service: "scheduler".into(), status: None, message: other.to_string() }
        }
    }
}

#[cfg(test)]
mod tests {
    use hpc_core::JobState;

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

    #[test]
    fn settings_from_toml_and_params() {
        let s: PollSettings = toml::from_str("poll_interval = 1\naccounting_grace = 2.5").unwrap();
        assert_eq!(s.poll_interval, Duration::from_secs(1));
        assert_eq!(s.accounting_grace, Duration::from_millis(2500));
        assert_eq!(s.max_poll_interval, PollSettings::default().max_poll_interval);
        assert!(toml::from_str::<PollSettings>("poll_interval = -1").is_err());
        assert!(toml::from_str::<PollSettings>("pol = 1").is_err());
        let mut s = PollSettings::default();
        assert!(s.apply_param("poll", "0.1").unwrap());
        assert_eq!(s.poll_interval, Duration::from_millis(100));
        assert!(!s.apply_param("other", "1").unwrap());
        assert!(s.apply_param("poll", "soon").is_err());
        s.max_poll_interval = Duration::from_millis(50);
        assert!(s.validate().is_err());
    }

    #[test]
    fn dup_keeps_variant_and_text() {
        let e = Error::CommandFailed {
            command: "squeue".into(),
            exit_code: Some(1),
            stderr: "x".into(),
        };
        assert_eq!(dup_error(&e).to_string(), e.to_string());
        let e = Error::io("reading", io::Error::new(io::ErrorKind::BrokenPipe, "pipe"));
        let d = dup_error(&e);
        assert!(
            matches!(&d, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
        );
    }
}
