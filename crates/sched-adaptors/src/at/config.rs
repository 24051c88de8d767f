//! [`AtConfig`]: per-site differences of the at adaptor as data.

use std::collections::BTreeMap;

use hpc_core::{Error, JobPath, Result};
use serde::{Deserialize, Serialize};

use crate::batch::{BatchConfig, PollConfig, common_fields};

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

/// Configuration of the at adaptor. Load from TOML, override from URL
/// parameters (`queue`, `state_dir`, and those of every batch adaptor, see
/// [`BatchConfig::apply_location`]).
///
/// ```
/// use sched_adaptors::batch::BatchConfig;
///
/// let s = sched_adaptors::at::AtConfig::from_toml("queue = \"b\"\n[poll]\npoll_interval = 1").unwrap();
/// assert_eq!(s.queue, "b");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AtConfig {
    /// Command paths.
    pub commands: AtCommands,
    /// Default at queue (one letter).
    pub queue: String,
    /// Where the wrapper keeps each job's pid, times and exit code, on the
    /// execution host. `~/` is the user's home there.
    pub state_dir: String,
    /// Poll interval bounds.
    pub poll: PollConfig,
    /// Environment for every command (and so for every job: at records it).
    pub env: BTreeMap<String, String>,
    /// Working directory of jobs that name none (URL path); else the login
    /// directory (SSH) or the current directory (local).
    pub default_workdir: Option<JobPath>,
}

impl Default for AtConfig {
    fn default() -> Self {
        AtConfig {
            commands: AtCommands::default(),
            queue: "a".into(),
            state_dir: "~/.hpckit/at".into(),
            poll: PollConfig::default(),
            env: BTreeMap::new(),
            default_workdir: None,
        }
    }
}

/// Whether `q` is an at queue name (one ASCII letter).
pub(crate) fn valid_queue(q: &str) -> bool {
    q.len() == 1 && q.as_bytes()[0].is_ascii_alphabetic()
}

impl BatchConfig for AtConfig {
    const ADAPTOR: &'static str = "at";
    const PARAMS: &'static [&'static str] = &["queue", "state_dir"];

    common_fields!();

    fn apply_param(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "queue" => self.queue = value.to_owned(),
            "state_dir" => self.state_dir = value.to_owned(),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn check(&self) -> Result<()> {
        if !valid_queue(&self.queue) {
            return Err(Error::InvalidInput(format!(
                "at queue {:?} is not one letter",
                self.queue
            )));
        }
        if self.state_dir.is_empty() || self.state_dir.contains(['\n', '\0']) {
            return Err(Error::InvalidInput("at state_dir is empty or has a line break".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_location() {
        assert!(AtConfig::from_toml("queue = \"ab\"").is_err());
        assert!(AtConfig::from_toml("queu = \"a\"").is_err());
        let mut s = AtConfig::default();
        s.apply_location(&"at+ssh://u@h/work?queue=c&poll=2".parse().unwrap()).unwrap();
        let workdir = s.default_workdir.as_ref().map(JobPath::as_str);
        assert_eq!((s.queue.as_str(), workdir), ("c", Some("/work")));
        assert!(s.apply_location(&"at://?queue=1".parse().unwrap()).is_err());
        assert!(s.apply_location(&"at://?x=1".parse().unwrap()).is_err());
    }
}
