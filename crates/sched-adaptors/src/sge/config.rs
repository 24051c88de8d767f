//! [`SgeConfig`]: every per-site difference of a Grid Engine installation
//! as data.

use std::collections::BTreeMap;

use hpc_core::{Error, JobPath, Result};
use serde::{Deserialize, Serialize};

use crate::batch::{BatchConfig, PollConfig, common_fields, switch};

/// Paths (or names on the PATH) of Grid Engine's commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs, reason = "each field is the command of the same name")]
pub struct SgeCommands {
    pub qsub: String,
    pub qstat: String,
    pub qdel: String,
    pub qacct: String,
    pub qconf: String,
    /// The POSIX shell that runs batched accounting queries and submissions.
    pub sh: String,
}

impl Default for SgeCommands {
    fn default() -> Self {
        SgeCommands {
            qsub: "qsub".into(),
            qstat: "qstat".into(),
            qdel: "qdel".into(),
            qacct: "qacct".into(),
            qconf: "qconf".into(),
            sh: "sh".into(),
        }
    }
}

/// Per-site configuration of the Grid Engine adaptor. Load from TOML,
/// override from URL parameters (`root=PATH` sets `SGE_ROOT`, `cell=NAME`
/// `SGE_CELL`, `pe=NAME`, `accounting=on|off`, and those of every batch
/// adaptor, see [`BatchConfig::apply_location`]):
///
/// ```
/// use sched_adaptors::batch::BatchConfig;
/// use sched_adaptors::sge::SgeConfig;
///
/// let mut s = SgeConfig::from_toml(r#"
///     parallel_environment = "smp"
///     qsub_args = ["-P", "myproject"]
///     [env]
///     SGE_ROOT = "/opt/sge"
///     SGE_CELL = "default"
///     [poll]
///     poll_interval = 0.5
///     accounting_grace = 20
/// "#).unwrap();
/// assert_eq!(s.poll.accounting_grace.as_secs(), 20);
/// s.apply_location(&"sge://?root=/var/lib/gridengine&pe=mpi".parse().unwrap()).unwrap();
/// assert_eq!(s.env["SGE_ROOT"], "/var/lib/gridengine");
/// assert_eq!(s.parallel_environment.as_deref(), Some("mpi"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgeConfig {
    /// Command paths.
    pub commands: SgeCommands,
    /// Environment for every command: `SGE_ROOT`, `SGE_CELL`, and
    /// `SGE_QMASTER_PORT` where a site needs them.
    pub env: BTreeMap<String, String>,
    /// Poll interval bounds, and `poll.accounting_grace`: how long a job that
    /// has left `qstat` may be missing from `qacct` before it is reported as
    /// finished without an accounting record. The qmaster writes the
    /// accounting file every `flush_time` (15 s by default), so keep the
    /// grace above that.
    pub poll: PollConfig,
    /// Look finished jobs up with `qacct` (exit code, usage). Off: finished
    /// jobs are reported as done with an unknown exit code.
    pub accounting: bool,
    /// Extra arguments for every `qsub` (before the job's own scheduler arguments).
    pub qsub_args: Vec<String>,
    /// Parallel environment for jobs with more than one slot (`-pe NAME N`).
    pub parallel_environment: Option<String>,
    /// Per-slot memory resource for `memory_mb` (`h_vmem`, `mem_free`, ...).
    pub memory_resource: Option<String>,
    /// Resource for `gpus_per_node` (`gpu`), if the site defines one.
    pub gpu_resource: Option<String>,
    /// Boolean resource for exclusive jobs (`exclusive`), if the site defines one.
    pub exclusive_resource: Option<String>,
    /// Shell of the job scripts (`qsub -S`).
    pub shell: String,
    /// Working directory of jobs that name none (URL path); else the home directory.
    pub default_workdir: Option<JobPath>,
    /// Jobs per remote shell in `submit_many`.
    pub submit_chunk: usize,
    /// Remote shells running at once in `submit_many`.
    pub submit_parallel: usize,
}

impl Default for SgeConfig {
    fn default() -> Self {
        SgeConfig {
            commands: SgeCommands::default(),
            env: BTreeMap::new(),
            poll: PollConfig::default(),
            accounting: true,
            qsub_args: Vec::new(),
            parallel_environment: None,
            memory_resource: None,
            gpu_resource: None,
            exclusive_resource: None,
            shell: "/bin/sh".into(),
            default_workdir: None,
            submit_chunk: 25,
            submit_parallel: 4,
        }
    }
}

impl BatchConfig for SgeConfig {
    const ADAPTOR: &'static str = "sge";
    const PARAMS: &'static [&'static str] = &["root", "cell", "pe", "accounting"];

    common_fields!();

    fn submit_limits(&self) -> Option<(usize, usize)> {
        Some((self.submit_chunk, self.submit_parallel))
    }

    fn shell(&self) -> Option<&str> {
        Some(&self.shell)
    }

    fn apply_param(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "root" => {
                self.env.insert("SGE_ROOT".into(), value.to_owned());
            }
            "cell" => {
                self.env.insert("SGE_CELL".into(), value.to_owned());
            }
            "pe" => self.parallel_environment = Some(value.to_owned()),
            "accounting" => {
                self.accounting = switch(value).ok_or_else(|| {
                    Error::InvalidInput(format!("accounting={value:?}: expected on or off"))
                })?;
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
        assert!(SgeConfig::from_toml("acounting = true").is_err());
        assert!(SgeConfig::from_toml("[env]\n\"A B\" = \"x\"").is_err());
        assert!(SgeConfig::from_toml("submit_chunk = 0").is_err());
        assert!(SgeConfig::from_toml("shell = \"sh\"").is_err());
        assert!(SgeConfig::from_toml("[commands]\nqsbu = \"x\"").is_err());
        let mut s = SgeConfig::default();
        assert!(s.apply_location(&"sge://?bogus=1".parse().unwrap()).is_err());
        assert!(s.apply_location(&"sge://?accounting=perhaps".parse().unwrap()).is_err());
    }

    #[test]
    fn location_overrides() {
        let mut s = SgeConfig::default();
        s.apply_location(
            &"sge+ssh://u@h:22/scratch/my%20dir?root=/opt/sge&cell=c1&grace=5&accounting=off"
                .parse()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(s.default_workdir.as_ref().map(JobPath::as_str), Some("/scratch/my dir"));
        assert_eq!(s.env["SGE_ROOT"], "/opt/sge");
        assert_eq!(s.env["SGE_CELL"], "c1");
        assert_eq!(s.poll.accounting_grace.as_secs(), 5);
        assert!(!s.accounting);
    }
}
