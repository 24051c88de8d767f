//! [`TorqueSettings`]: every per-site difference of a Torque installation as data.

use std::collections::BTreeMap;

use hpc_core::{Error, Location, Result};
use serde::{Deserialize, Serialize};

use crate::batch::{PollSettings, site};

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

/// Per-site settings of the Torque adaptor. Load from TOML, override from URL
/// parameters:
///
/// ```
/// use sched_adaptors::torque::TorqueSettings;
///
/// let mut s = TorqueSettings::from_toml(r#"
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
pub struct TorqueSettings {
    /// Command paths.
    pub commands: TorqueCommands,
    /// Environment for every command.
    pub env: BTreeMap<String, String>,
    /// Poll interval bounds (`poll.accounting_grace` is unused: Torque has no
    /// accounting query; finished jobs are known while the server keeps them).
    pub poll: PollSettings,
    /// Extra arguments for every `qsub` (before the job's own scheduler arguments).
    pub qsub_args: Vec<String>,
    /// Queue of jobs that name none; else the server's default queue.
    pub default_queue: Option<String>,
    /// Shell of the job scripts (`qsub -S`).
    pub shell: String,
    /// Working directory of jobs that name none (URL path); else the home directory.
    pub default_workdir: Option<String>,
    /// Jobs per remote shell in `submit_many`.
    pub submit_chunk: usize,
    /// Remote shells running at once in `submit_many`.
    pub submit_parallel: usize,
}

impl Default for TorqueSettings {
    fn default() -> Self {
        TorqueSettings {
            commands: TorqueCommands::default(),
            env: BTreeMap::new(),
            poll: PollSettings::default(),
            qsub_args: Vec::new(),
            default_queue: None,
            shell: "/bin/sh".into(),
            default_workdir: None,
            submit_chunk: 25,
            submit_parallel: 4,
        }
    }
}

impl TorqueSettings {
    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        site::from_toml("torque", text, Self::validate)
    }

    /// Read a TOML file.
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self> {
        Self::from_toml(&site::read_file(path)?)
    }

    /// Apply a location: its path becomes the default working directory, and
    /// query parameters override settings: `bin=DIR` (all commands from DIR),
    /// `queue=NAME`, `poll`, `max_poll` (seconds), `settings=FILE`.
    pub fn apply_location(&mut self, loc: &Location) -> Result<()> {
        if let Some(file) = site::settings_file(loc) {
            *self = Self::from_toml_file(file)?;
        }
        if let Some(dir) = site::workdir(loc) {
            self.default_workdir = Some(dir);
        }
        for (k, v) in &loc.query {
            match k.as_str() {
                "settings" => {}
                k if site::is_transport_param(loc, k) => {}
                "bin" => {
                    let sh = std::mem::take(&mut self.commands.sh);
                    self.commands = TorqueCommands { sh, ..TorqueCommands::in_dir(v) };
                }
                "queue" => self.default_queue = Some(v.clone()),
                _ => {
                    if !self.poll.apply_param(k, v)? {
                        return Err(Error::InvalidInput(format!(
                            "unknown torque location parameter {k:?} (known: bin, queue, poll, max_poll, settings)"
                        )));
                    }
                }
            }
        }
        self.validate()
    }

    /// Check values that would break command lines.
    pub fn validate(&self) -> Result<()> {
        site::Check {
            adaptor: "torque",
            poll: &self.poll,
            env: &self.env,
            submit: Some((self.submit_chunk, self.submit_parallel)),
            shell: Some(&self.shell),
        }
        .run()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let s = TorqueSettings::default();
        let text = toml::to_string(&s).unwrap();
        assert_eq!(TorqueSettings::from_toml(&text).unwrap(), s);
    }

    #[test]
    fn bad_settings_are_rejected() {
        assert!(TorqueSettings::from_toml("qsub_argz = []").is_err());
        assert!(TorqueSettings::from_toml("[env]\n\"A B\" = \"x\"").is_err());
        assert!(TorqueSettings::from_toml("submit_parallel = 0").is_err());
        let mut s = TorqueSettings::default();
        assert!(s.apply_location(&"torque://?bogus=1".parse().unwrap()).is_err());
    }

    #[test]
    fn location_overrides() {
        let mut s = TorqueSettings::default();
        s.apply_location(&"torque+ssh://u@h/work%20dir?bin=/opt/t/bin/&poll=2".parse().unwrap())
            .unwrap();
        assert_eq!(s.commands.qdel, "/opt/t/bin/qdel");
        assert_eq!(s.commands.sh, "sh");
        assert_eq!(s.default_workdir.as_deref(), Some("/work dir"));
        assert_eq!(s.poll.poll_interval.as_secs(), 2);
    }
}
