//! [`SlurmConfig`]: every per-site difference as data.

use std::collections::BTreeMap;

use hpc_core::{Error, JobPath, Result};
use serde::{Deserialize, Serialize};

use crate::batch::{BatchConfig, PollConfig, common_fields};

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

/// Per-site configuration of the Slurm adaptor. Load from TOML, override
/// from URL parameters (`accounting=auto|on|off`, `conf=PATH`: sets
/// `SLURM_CONF`, and those of every batch adaptor, see
/// [`BatchConfig::apply_location`]):
///
/// ```
/// use sched_adaptors::batch::BatchConfig;
/// use sched_adaptors::slurm::{Accounting, SlurmConfig};
///
/// let mut s = SlurmConfig::from_toml(r#"
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
pub struct SlurmConfig {
    /// Command paths.
    pub commands: SlurmCommands,
    /// Use of `sacct`.
    pub accounting: Accounting,
    /// Poll interval bounds and the accounting grace period.
    pub poll: PollConfig,
    /// Extra arguments for every `sbatch` (before the job's own scheduler arguments).
    pub sbatch_args: Vec<String>,
    /// Extra arguments for every `srun` of an interactive job.
    pub srun_args: Vec<String>,
    /// Environment for every Slurm command (`SLURM_CONF`, `PATH`...).
    pub env: BTreeMap<String, String>,
    /// Working directory of jobs that name none (URL path); else the login
    /// directory (SSH) or the current directory (local).
    pub default_workdir: Option<JobPath>,
    /// Standard output/error of jobs that name none. Xenon's choice,
    /// `/dev/null`, by default; empty means Slurm's `slurm-%j.out`.
    pub default_output: String,
    /// Jobs per remote shell in `submit_many`.
    pub submit_chunk: usize,
    /// Remote shells running at once in `submit_many`.
    pub submit_parallel: usize,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        SlurmConfig {
            commands: SlurmCommands::default(),
            accounting: Accounting::Auto,
            poll: PollConfig::default(),
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

impl BatchConfig for SlurmConfig {
    const ADAPTOR: &'static str = "slurm";
    const PARAMS: &'static [&'static str] = &["accounting", "conf"];

    common_fields!();

    fn submit_limits(&self) -> Option<(usize, usize)> {
        Some((self.submit_chunk, self.submit_parallel))
    }

    fn apply_param(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "accounting" => {
                self.accounting = match value {
                    "auto" => Accounting::Auto,
                    "on" | "true" | "1" => Accounting::On,
                    "off" | "false" | "0" => Accounting::Off,
                    _ => {
                        return Err(Error::InvalidInput(format!(
                            "accounting={value:?}: expected auto, on or off"
                        )));
                    }
                }
            }
            "conf" => {
                self.env.insert("SLURM_CONF".into(), value.to_owned());
            }
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
        assert!(SlurmConfig::from_toml("acounting = \"on\"").is_err());
        assert!(SlurmConfig::from_toml("accounting = \"maybe\"").is_err());
        assert!(SlurmConfig::from_toml("[env]\n\"A B\" = \"x\"").is_err());
        assert!(SlurmConfig::from_toml("submit_chunk = 0").is_err());
        let mut s = SlurmConfig::default();
        assert!(s.apply_location(&"slurm://?bogus=1".parse().unwrap()).is_err());
        assert!(s.apply_location(&"slurm://?accounting=perhaps".parse().unwrap()).is_err());
    }

    #[test]
    fn location_overrides() {
        let mut s = SlurmConfig::default();
        s.apply_location(
            &"slurm+ssh://u@h:22/scratch/my%20dir?conf=/x/slurm.conf&grace=5".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(s.default_workdir.as_ref().map(JobPath::as_str), Some("/scratch/my dir"));
        assert_eq!(s.env.get("SLURM_CONF").map(String::as_str), Some("/x/slurm.conf"));
        assert_eq!(s.poll.accounting_grace.as_secs(), 5);
    }
}
