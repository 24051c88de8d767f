//! [`SlurmSettings`]: every per-site difference as data.

use std::collections::BTreeMap;

use hpc_core::{Error, Location, Result};
use serde::{Deserialize, Serialize};

use crate::batch::{PollSettings, site};

/// Whether finished jobs are looked up with `sacct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accounting {
    /// Ask `sacct` once whether accounting storage is enabled, then decide.
    #[default]
    Auto,
    /// Use `sacct` for jobs that have left the controller's memory.
    On,
    /// Never call `sacct`; finished jobs are known only while `squeue` lists them.
    Off,
}

/// Paths (or names on the PATH) of Slurm's commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs, reason = "each field is the command of the same name")]
pub struct SlurmCommands {
    pub sbatch: String,
    pub squeue: String,
    pub sacct: String,
    pub scontrol: String,
    pub scancel: String,
    pub sinfo: String,
    pub srun: String,
    /// The POSIX shell used to run many submissions in one round trip.
    pub sh: String,
}

impl Default for SlurmCommands {
    fn default() -> Self {
        SlurmCommands {
            sbatch: "sbatch".into(),
            squeue: "squeue".into(),
            sacct: "sacct".into(),
            scontrol: "scontrol".into(),
            scancel: "scancel".into(),
            sinfo: "sinfo".into(),
            srun: "srun".into(),
            sh: "sh".into(),
        }
    }
}

/// Per-site settings of the Slurm adaptor. Load from TOML, override from URL
/// parameters:
///
/// ```
/// use sched_adaptors::slurm::{Accounting, SlurmSettings};
///
/// let mut s = SlurmSettings::from_toml(r#"
///     accounting = "off"
///     sbatch_args = ["--requeue"]
///     [env]
///     SLURM_CONF = "/etc/slurm-test/slurm.conf"
///     [poll]
///     poll_interval = 0.5
/// "#).unwrap();
/// assert_eq!(s.accounting, Accounting::Off);
/// s.apply_location(&"slurm://?accounting=on&poll=1".parse().unwrap()).unwrap();
/// assert_eq!(s.accounting, Accounting::On);
/// assert_eq!(s.poll.poll_interval.as_secs(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlurmSettings {
    /// Command paths.
    pub commands: SlurmCommands,
    /// Use of `sacct`.
    pub accounting: Accounting,
    /// Poll interval bounds and the accounting grace period.
    pub poll: PollSettings,
    /// Extra arguments for every `sbatch` (before the job's own scheduler arguments).
    pub sbatch_args: Vec<String>,
    /// Extra arguments for every `srun` of an interactive job.
    pub srun_args: Vec<String>,
    /// Environment for every Slurm command (`SLURM_CONF`, `PATH`...).
    pub env: BTreeMap<String, String>,
    /// Working directory of jobs that name none (URL path); else the login
    /// directory (SSH) or the current directory (local).
    pub default_workdir: Option<String>,
    /// Standard output/error of jobs that name none. Xenon's choice,
    /// `/dev/null`, by default; empty means Slurm's `slurm-%j.out`.
    pub default_output: String,
    /// Jobs per remote shell in `submit_many`.
    pub submit_chunk: usize,
    /// Remote shells running at once in `submit_many`.
    pub submit_parallel: usize,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            commands: SlurmCommands::default(),
            accounting: Accounting::Auto,
            poll: PollSettings::default(),
            sbatch_args: Vec::new(),
            srun_args: Vec::new(),
            env: BTreeMap::new(),
            default_workdir: None,
            default_output: "/dev/null".into(),
            submit_chunk: 25,
            submit_parallel: 4,
        }
    }
}

impl SlurmSettings {
    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        site::from_toml("slurm", text, Self::validate)
    }

    /// Read a TOML file.
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self> {
        Self::from_toml(&site::read_file(path)?)
    }

    /// Apply a location: its path becomes the default working directory, and
    /// query parameters override settings: `accounting=auto|on|off`,
    /// `conf=PATH` (sets `SLURM_CONF`), `poll`, `max_poll`, `grace` (seconds),
    /// `settings=FILE` (a TOML file read first).
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
                "accounting" => {
                    self.accounting = match v.as_str() {
                        "auto" => Accounting::Auto,
                        "on" | "true" | "1" => Accounting::On,
                        "off" | "false" | "0" => Accounting::Off,
                        _ => {
                            return Err(Error::InvalidInput(format!(
                                "accounting={v:?}: expected auto, on or off"
                            )));
                        }
                    }
                }
                "conf" => {
                    self.env.insert("SLURM_CONF".into(), v.clone());
                }
                _ => {
                    if !self.poll.apply_param(k, v)? {
                        return Err(Error::InvalidInput(format!(
                            "unknown slurm location parameter {k:?} (known: accounting, conf, poll, max_poll, grace, settings)"
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
            adaptor: "slurm",
            poll: &self.poll,
            env: &self.env,
            submit: Some((self.submit_chunk, self.submit_parallel)),
            shell: None,
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
        let s = SlurmSettings::default();
        let text = toml::to_string(&s).unwrap();
        assert_eq!(SlurmSettings::from_toml(&text).unwrap(), s);
    }

    #[test]
    fn bad_settings_are_rejected() {
        assert!(SlurmSettings::from_toml("acounting = \"on\"").is_err());
        assert!(SlurmSettings::from_toml("accounting = \"maybe\"").is_err());
        assert!(SlurmSettings::from_toml("[env]\n\"A B\" = \"x\"").is_err());
        assert!(SlurmSettings::from_toml("submit_chunk = 0").is_err());
        let mut s = SlurmSettings::default();
        assert!(s.apply_location(&"slurm://?bogus=1".parse().unwrap()).is_err());
        assert!(s.apply_location(&"slurm://?accounting=perhaps".parse().unwrap()).is_err());
    }

    #[test]
    fn location_overrides() {
        let mut s = SlurmSettings::default();
        s.apply_location(
            &"slurm+ssh://u@h:22/scratch/my%20dir?conf=/x/slurm.conf&grace=5".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(s.default_workdir.as_deref(), Some("/scratch/my dir"));
        assert_eq!(s.env.get("SLURM_CONF").map(String::as_str), Some("/x/slurm.conf"));
        assert_eq!(s.poll.accounting_grace.as_secs(), 5);
    }
}
