//! [`LocalConfig`]: the embedded queue's limits and working directory.

use std::path::PathBuf;
use std::time::Duration;

use hpc_core::{Error, Location, Result};

/// Configuration of a [`LocalScheduler`](super::LocalScheduler).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalConfig {
    /// Directory relative working directories start from (default: this
    /// process's current directory).
    pub workdir: Option<PathBuf>,
    /// Jobs the `multi` queue runs at once (default: the number of CPUs).
    pub max_concurrent: usize,
    /// Finished jobs kept queryable (default 1000).
    pub history: usize,
    /// Time between SIGTERM and SIGKILL when cancelling (default 2 s).
    pub cancel_grace: Duration,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            workdir: None,
            max_concurrent: std::thread::available_parallelism().map_or(4, |n| n.get()),
            history: 1000,
            cancel_grace: Duration::from_secs(2),
        }
    }
}

impl LocalConfig {
    /// The configuration a `local://[/workdir][?max_concurrent=N&history=N]` location names.
    pub fn from_location(loc: &Location) -> Result<Self> {
        if loc.scheme != "local" || loc.transport.is_some() {
            return Err(Error::InvalidLocation {
                location: loc.to_string(),
                reason: "not a local:// location".into(),
            });
        }
        loc.expect_no_host()?;
        let mut config =
            LocalConfig { workdir: loc.path.as_ref().map(PathBuf::from), ..Default::default() };
        loc.check_params(&["max_concurrent", "history"])?;
        for (key, value) in &loc.query {
            let number = || {
                value.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::InvalidLocation {
                        location: loc.to_string(),
                        reason: format!("{key} must be a positive number, not {value:?}"),
                    }
                })
            };
            match key.as_str() {
                "max_concurrent" => config.max_concurrent = number()?,
                "history" => config.history = number()?,
                _ => {} // refused by check_params above
            }
        }
        Ok(config)
    }
}
