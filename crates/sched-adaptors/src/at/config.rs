//! [`AtSettings`]: per-site differences of the at adaptor as data.

use std::collections::BTreeMap;

use hpc_core::{Error, Location, Result};
use serde::{Deserialize, Serialize};

use crate::batch::{PollSettings, site};

/// Paths (or names on the PATH) of the commands the adaptor runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs, reason = "each field is the command of the same name")]
pub struct AtCommands {
    pub at: String,
    pub atq: String,
    pub atrm: String,
    /// The POSIX shell that runs the adaptor's small programs.
    pub sh: String,
}

impl Default for AtCommands {
    fn default() -> Self {
        AtCommands { at: "at".into(), atq: "atq".into(), atrm: "atrm".into(), sh: "sh".into() }
    }
}

/// Settings of the at adaptor. Load from TOML, override from URL parameters
/// (`queue`, `state_dir`, `poll`, `max_poll`, `grace`).
///
/// ```
/// let s = sched_adaptors::at::AtSettings::from_toml("queue = \"b\"\n[poll]\npoll_interval = 1").unwrap();
/// assert_eq!(s.queue, "b");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AtSettings {
    /// Command paths.
    pub commands: AtCommands,
    /// Default at queue (one letter).
    pub queue: String,
    /// Where the wrapper keeps each job's pid, times and exit code, on the
    /// execution host. `~/` is the user's home there.
    pub state_dir: String,
    /// Poll interval bounds.
    pub poll: PollSettings,
    /// Environment for every command (and so for every job: at records it).
    pub env: BTreeMap<String, String>,
    /// Working directory of jobs that name none (URL path); else the login
    /// directory (SSH) or the current directory (local).
    pub default_workdir: Option<String>,
}

impl Default for AtSettings {
    fn default() -> Self {
        AtSettings {
            commands: AtCommands::default(),
            queue: "a".into(),
            state_dir: "~/.hpckit/at".into(),
            poll: PollSettings::default(),
            env: BTreeMap::new(),
            default_workdir: None,
        }
    }
}

/// Whether `q` is an at queue name (one ASCII letter).
pub(crate) fn valid_queue(q: &str) -> bool {
    q.len() == 1 && q.as_bytes()[0].is_ascii_alphabetic()
}

impl AtSettings {
    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        site::from_toml("at", text, Self::validate)
    }

    /// Apply a location: its path is the default working directory;
    /// parameters `queue`, `state_dir`, `poll`, `max_poll`, `grace` override.
    pub fn apply_location(&mut self, loc: &Location) -> Result<()> {
        if let Some(dir) = site::workdir(loc) {
            self.default_workdir = Some(dir);
        }
        for (k, v) in &loc.query {
            match k.as_str() {
                "queue" => self.queue = v.clone(),
                "state_dir" => self.state_dir = v.clone(),
                k if site::is_transport_param(loc, k) => {}
                _ => {
                    if !self.poll.apply_param(k, v)? {
                        return Err(Error::InvalidInput(format!(
                            "unknown at location parameter {k:?} (known: queue, state_dir, poll, max_poll, grace)"
                        )));
                    }
                }
            }
        }
        self.validate()
    }

    /// Check values before they reach a command line.
    pub fn validate(&self) -> Result<()> {
        if !valid_queue(&self.queue) {
            return Err(Error::InvalidInput(format!(
                "at queue {:?} is not one letter",
                self.queue
            )));
        }
        if self.state_dir.is_empty() || self.state_dir.contains(['\n', '\0']) {
            return Err(Error::InvalidInput("at state_dir is empty or has a line break".into()));
        }
        site::Check { adaptor: "at", poll: &self.poll, env: &self.env, submit: None, shell: None }
            .run()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_location() {
        let s = AtSettings::default();
        assert_eq!(AtSettings::from_toml(&toml::to_string(&s).unwrap()).unwrap(), s);
        assert!(AtSettings::from_toml("queue = \"ab\"").is_err());
        assert!(AtSettings::from_toml("queu = \"a\"").is_err());
        let mut s = AtSettings::default();
        s.apply_location(&"at+ssh://u@h/work?queue=c&poll=2".parse().unwrap()).unwrap();
        assert_eq!((s.queue.as_str(), s.default_workdir.as_deref()), ("c", Some("/work")));
        assert!(s.apply_location(&"at://?queue=1".parse().unwrap()).is_err());
        assert!(s.apply_location(&"at://?x=1".parse().unwrap()).is_err());
    }
}
