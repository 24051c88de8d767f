//! [`SshConfig`]: where the ssh adaptor keeps its job records and how it
//! polls and cancels.

use std::time::Duration;

use hpc_core::{Error, Location, Result};

/// Configuration of an [`SshScheduler`](super::SshScheduler).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SshConfig {
    /// Where job records live on the host (relative: to the home directory).
    pub jobdir: String,
    /// Where relative working directories start (relative: to the home
    /// directory); `None`: the home directory.
    pub workdir: Option<String>,
    /// Time between status queries while waiting.
    pub poll_interval: Duration,
    /// Time between SIGTERM and SIGKILL when cancelling.
    pub cancel_grace: Duration,
    /// Finished jobs older than this many days are removed at the next
    /// submit (0: never).
    pub keep_days: u32,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            jobdir: ".hpckit/jobs".into(),
            workdir: None,
            poll_interval: Duration::from_millis(500),
            cancel_grace: Duration::from_secs(2),
            keep_days: 7,
        }
    }
}

impl SshConfig {
    /// The configuration the path and parameters of an `ssh://` or
    /// `nohup://` location name.
    pub fn from_location(loc: &Location) -> Result<Self> {
        let bad = |reason: String| Error::InvalidLocation { location: loc.to_string(), reason };
        // `/~/dir` (or `/~`) is relative to the home directory, like scp's `~/dir`.
        let workdir = match loc.path.as_deref() {
            None | Some("" | "/" | "/~" | "/~/") => None,
            Some(p) => Some(p.strip_prefix("/~/").unwrap_or(p).to_owned()),
        };
        let mut config = SshConfig { workdir, ..SshConfig::default() };
        let seconds = |key: &str, value: &str| {
            hpc_core::duration::parse_seconds(value)
                .ok()
                .filter(|s| *s < Duration::from_secs(86_400))
                .ok_or_else(|| bad(format!("{key} must be a number of seconds, not {value:?}")))
        };
        let own = ["jobdir", "poll", "grace", "keep_days"];
        let ssh: &[&str] = if loc.is_ssh() { hpc_exec::SSH_LOCATION_PARAMS } else { &[] };
        loc.check_params(&[&own[..], ssh].concat())?;
        for (key, value) in &loc.query {
            match key.as_str() {
                "jobdir" if !value.is_empty() => config.jobdir.clone_from(value),
                "poll" => config.poll_interval = seconds(key, value)?,
                "grace" => config.cancel_grace = seconds(key, value)?,
                "keep_days" => {
                    config.keep_days = value
                        .parse()
                        .map_err(|_| bad(format!("keep_days must be a number, not {value:?}")))?;
                }
                // The SSH connection's own settings (hpc_exec::ssh::SshOptions),
                // and an empty jobdir; unknown keys are refused above.
                _ => {}
            }
        }
        Ok(config)
    }
}
