//! [`SgeSettings`]: every per-site difference of a Grid Engine installation
//! as data.

use std::collections::BTreeMap;

use hpc_core::{Error, Location, Result};
use serde::{Deserialize, Serialize};

use crate::batch::{PollSettings, site};

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

/// Per-site settings of the Grid Engine adaptor. Load from TOML, override
/// from URL parameters:
///
/// ```
/// use sched_adaptors::sge::SgeSettings;
///
/// let mut s = SgeSettings::from_toml(r#"
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
pub struct SgeSettings {
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
    pub poll: PollSettings,
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
    pub default_workdir: Option<String>,
    /// Jobs per remote shell in `submit_many`.
    pub submit_chunk: usize,
    /// Remote shells running at once in `submit_many`.
    pub submit_parallel: usize,
}

impl Default for SgeSettings {
    fn default() -> Self {
        SgeSettings {
            commands: SgeCommands::default(),
            env: BTreeMap::new(),
            poll: PollSettings::default(),
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

impl SgeSettings {
    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        site::from_toml("sge", text, Self::validate)
    }

    /// Read a TOML file.
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self> {
        Self::from_toml(&site::read_file(path)?)
    }

    /// Apply a location: its path becomes the default working directory, and
    /// query parameters override settings: `root=PATH` (`SGE_ROOT`),
    /// `cell=NAME` (`SGE_CELL`), `pe=NAME`, `accounting=on|off`, `poll`,
    /// `max_poll`, `grace` (seconds), `settings=FILE` (a TOML file read first).
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
                "root" => {
                    self.env.insert("SGE_ROOT".into(), v.clone());
                }
                "cell" => {
                    self.env.insert("SGE_CELL".into(), v.clone());
                }
                "pe" => self.parallel_environment = Some(v.clone()),
                "accounting" => {
                    self.accounting = site::switch(v).ok_or_else(|| {
                        Error::InvalidInput(format!("accounting={v:?}: expected on or off"))
                    })?;
                }
                _ => {
                    if !self.poll.apply_param(k, v)? {
                        return Err(Error::InvalidInput(format!(
                            "unknown sge location parameter {k:?} (known: root, cell, pe, accounting, poll, max_poll, grace, settings)"
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
            adaptor: "sge",
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
        let s = SgeSettings::default();
        let text = toml::to_string(&s).unwrap();
        assert_eq!(SgeSettings::from_toml(&text).unwrap(), s);
    }

    #[test]
    fn bad_settings_are_rejected() {
        assert!(SgeSettings::from_toml("acounting = true").is_err());
        assert!(SgeSettings::from_toml("[env]\n\"A B\" = \"x\"").is_err());
        assert!(SgeSettings::from_toml("submit_chunk = 0").is_err());
        assert!(SgeSettings::from_toml("shell = \"sh\"").is_err());
        assert!(SgeSettings::from_toml("[commands]\nqsbu = \"x\"").is_err());
        let mut s = SgeSettings::default();
        assert!(s.apply_location(&"sge://?bogus=1".parse().unwrap()).is_err());
        assert!(s.apply_location(&"sge://?accounting=perhaps".parse().unwrap()).is_err());
    }

    #[test]
    fn location_overrides() {
        let mut s = SgeSettings::default();
        s.apply_location(
            &"sge+ssh://u@h:22/scratch/my%20dir?root=/opt/sge&cell=c1&grace=5&accounting=off"
                .parse()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(s.default_workdir.as_deref(), Some("/scratch/my dir"));
        assert_eq!(s.env["SGE_ROOT"], "/opt/sge");
        assert_eq!(s.env["SGE_CELL"], "c1");
        assert_eq!(s.poll.accounting_grace.as_secs(), 5);
        assert!(!s.accounting);
    }
}
