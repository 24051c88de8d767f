//! [`TorqueConfig`]: every per-site difference of a Torque installation as data.

use std::collections::BTreeMap;

use hpc_core::{JobPath, Result};
use serde::{Deserialize, Serialize};

use crate::batch::{BatchConfig, PollConfig, common_fields};

/// Paths (or names on the PATH) of Torque's commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs, reason = "each field is the command of the same name")]
pub struct TorqueCommands {
    pub qsub: String,
    pub qstat: String,
    pub qdel: String,
    /// The POSIX shell that runs batched submissions.
    pub sh: String,
}

impl Default for TorqueCommands {
    fn default() -> Self {
        TorqueCommands {
            qsub: "qsub".into(),
            qstat: "qstat".into(),
            qdel: "qdel".into(),
            sh: "sh".into(),
        }
    }
}

impl TorqueCommands {
    /// All commands from one directory (`<dir>/qsub`, ...), as for the stand-in.
    pub fn in_dir(dir: &str) -> Self {
        let dir = dir.trim_end_matches('/');
        TorqueCommands {
            qsub: format!("{dir}/qsub"),
            qstat: format!("{dir}/qstat"),
            qdel: format!("{dir}/qdel"),
            sh: "sh".into(),
        }
    }
}

/// Per-site configuration of the Torque adaptor. Load from TOML, override
/// from URL parameters (`bin=DIR`: all commands from DIR, `queue=NAME`, and
/// those of every batch adaptor, see [`BatchConfig::apply_location`]):
///
/// ```
/// use sched_adaptors::batch::BatchConfig;
/// use sched_adaptors::torque::TorqueConfig;
///
/// let mut s = TorqueConfig::from_toml(r#"
///     qsub_args = ["-A", "myproject"]
///     [commands]
///     qsub = "/opt/torque/bin/qsub"
///     [poll]
///     poll_interval = 1
/// "#).unwrap();
/// s.apply_location(&"torque://?bin=/opt/torque/bin&queue=short".parse().unwrap()).unwrap();
/// assert_eq!(s.commands.qstat, "/opt/torque/bin/qstat");
/// assert_eq!(s.default_queue.as_deref(), Some("short"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TorqueConfig {
    /// Command paths.
    pub commands: TorqueCommands,
    /// Environment for every command.
    pub env: BTreeMap<String, String>,
    /// Poll interval bounds (`poll.accounting_grace` is unused: Torque has no
    /// accounting query; finished jobs are known while the server keeps them).
    pub poll: PollConfig,
    /// Extra arguments for every `qsub` (before the job's own scheduler arguments).
    pub qsub_args: Vec<String>,
    /// Queue of jobs that name none; else the server's default queue.
    pub default_queue: Option<String>,
    /// Shell of the job scripts (`qsub -S`).
    pub shell: String,
    /// Working directory of jobs that name none (URL path); else the home directory.
    pub default_workdir: Option<JobPath>,
    /// Jobs per remote shell in `submit_many`.
    pub submit_chunk: usize,
    /// Remote shells running at once in `submit_many`.
    pub submit_parallel: usize,
}

impl Default for TorqueConfig {
    fn default() -> Self {
        TorqueConfig {
            commands: TorqueCommands::default(),
            env: BTreeMap::new(),
            poll: PollConfig::default(),
            qsub_args: Vec::new(),
            default_queue: None,
            shell: "/bin/sh".into(),
            default_workdir: None,
            submit_chunk: 25,
            submit_parallel: 4,
        }
    }
}

impl BatchConfig for TorqueConfig {
    const ADAPTOR: &'static str = "torque";
    const PARAMS: &'static [&'static str] = &["bin", "queue"];

    common_fields!();

    fn submit_limits(&self) -> Option<(usize, usize)> {
        Some((self.submit_chunk, self.submit_parallel))
    }

    fn shell(&self) -> Option<&str> {
        Some(&self.shell)
    }

    fn apply_param(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "bin" => {
                let sh = std::mem::take(&mut self.commands.sh);
                self.commands = TorqueCommands { sh, ..TorqueCommands::in_dir(value) };
            }
            "queue" => self.default_queue = Some(value.to_owned()),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_rejected() {
        assert!(TorqueConfig::from_toml("qsub_argz = []").is_err());
        assert!(TorqueConfig::from_toml("[env]\n\"A B\" = \"x\"").is_err());
        assert!(TorqueConfig::from_toml("submit_parallel = 0").is_err());
        let mut s = TorqueConfig::default();
        assert!(s.apply_location(&"torque://?bogus=1".parse().unwrap()).is_err());
    }

    #[test]
    fn location_overrides() {
        let mut s = TorqueConfig::default();
        s.apply_location(&"torque+ssh://u@h/work%20dir?bin=/opt/t/bin/&poll=2".parse().unwrap())
            .unwrap();
        assert_eq!(s.commands.qdel, "/opt/t/bin/qdel");
        assert_eq!(s.commands.sh, "sh");
        assert_eq!(s.default_workdir.as_ref().map(JobPath::as_str), Some("/work dir"));
        assert_eq!(s.poll.poll_interval.as_secs(), 2);
    }
}
