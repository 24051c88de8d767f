//! Settings of the datamover and workspace clients.

use std::time::Duration;

use hpc_core::{Error, Result};

/// Where the datamover commands live and how their jobs are submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatamoverConfig {
    /// Directory of the `dt*` commands; `None` looks them up on the `PATH`
    /// of the login node. (taurus kept them in
    /// `/sw/taurus/tools/slurmtools/default/bin`.)
    pub bin_dir: Option<String>,
    /// Add `--blocking` to every transfer command (default): the command
    /// then lives as long as its Slurm job (srun instead of sbatch), so the
    /// handle knows when the transfer ended and with which exit code. Without
    /// it, transfer commands other than `dtls` return once `sbatch` accepted
    /// the job ([`crate::DtEvent::Submitted`]).
    pub blocking: bool,
    /// `--time`: the job's time limit (the datamover's default is 18 hours).
    pub time_limit: Option<Duration>,
    /// `--account`: the account the transfer jobs are charged to.
    pub account: Option<String>,
    /// Extra environment for every command (travels on the command line, so
    /// it arrives over SSH too; srun hands it on to the job).
    pub env: Vec<(String, String)>,
    /// Directory the commands start in (relative paths and the `slurm-N.out`
    /// of submitted jobs); the login shell's (home) when `None`.
    pub working_dir: Option<String>,
}

/// The datamover's time limit when a command gives none (ZIH documentation).
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(18 * 3600);

impl Default for DatamoverConfig {
    fn default() -> Self {
        DatamoverConfig {
            bin_dir: None,
            blocking: true,
            time_limit: None,
            account: None,
            env: Vec::new(),
            working_dir: None,
        }
    }
}

impl DatamoverConfig {
    /// The defaults with the commands taken from `dir`.
    pub fn with_bin_dir(dir: impl Into<String>) -> Self {
        DatamoverConfig { bin_dir: Some(dir.into()), ..Default::default() }
    }

    /// Checks what no command would accept.
    pub fn validate(&self) -> Result<()> {
        if let Some(t) = self.time_limit
            && t < Duration::from_secs(60)
        {
            return Err(Error::InvalidInput(format!(
                "datamover time limit {}s is below Slurm's smallest limit of one minute",
                t.as_secs()
            )));
        }
        if let Some(a) = &self.account
            && (a.is_empty() || a.contains(char::is_whitespace))
        {
            return Err(Error::InvalidInput(format!("invalid Slurm account {a:?}")));
        }
        Ok(())
    }

    /// The options the datamover commands add to their tool's, in the form
    /// the commands take them.
    pub(crate) fn dt_options(&self) -> Vec<String> {
        let mut opts = Vec::new();
        if let Some(t) = self.time_limit {
            opts.push(format!("--time={}", slurm_time(t)));
        }
        if let Some(a) = &self.account {
            opts.push(format!("--account={a}"));
        }
        if self.blocking {
            opts.push("--blocking".into());
        }
        opts
    }

    /// The time limit a job of these settings runs under.
    pub(crate) fn effective_time_limit(&self) -> Duration {
        self.time_limit.unwrap_or(DEFAULT_TIME_LIMIT)
    }
}

/// Slurm's `[D-]HH:MM:SS`, rounded up to whole minutes as Slurm does.
pub(crate) fn slurm_time(d: Duration) -> String {
    let minutes = d.as_secs().div_ceil(60);
    let (days, rest) = (minutes / 1440, minutes % 1440);
    if days > 0 {
        format!("{days}-{:02}:{:02}:00", rest / 60, rest % 60)
    } else {
        format!("{:02}:{:02}:00", rest / 60, rest % 60)
    }
}

/// Where the workspace tools live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WorkspaceConfig {
    /// Directory of the `ws_*` commands; `None` looks them up on the `PATH`.
    pub bin_dir: Option<String>,
    /// Extra environment for every command.
    pub env: Vec<(String, String)>,
}

impl WorkspaceConfig {
    /// The commands taken from `dir`.
    pub fn with_bin_dir(dir: impl Into<String>) -> Self {
        WorkspaceConfig { bin_dir: Some(dir.into()), ..Default::default() }
    }
}

/// `dir/name`, or `name` for a lookup on the `PATH`.
pub(crate) fn program_path(dir: Option<&str>, name: &str) -> String {
    match dir {
        Some(d) => format!("{}/{name}", d.trim_end_matches('/')),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_time_format() {
        assert_eq!(slurm_time(Duration::from_secs(61)), "00:02:00");
        assert_eq!(slurm_time(Duration::from_secs(18 * 3600)), "18:00:00");
        assert_eq!(slurm_time(Duration::from_secs(2 * 86_400 + 90 * 60)), "2-01:30:00");
        let mut c = DatamoverConfig::default();
        assert_eq!(c.dt_options(), ["--blocking"]);
        c.time_limit = Some(Duration::from_secs(3600));
        c.account = Some("p_x".into());
        c.blocking = false;
        assert_eq!(c.dt_options(), ["--time=01:00:00", "--account=p_x"]);
        assert!(c.validate().is_ok());
        c.time_limit = Some(Duration::from_secs(5));
        assert!(c.validate().is_err());
        c.time_limit = None;
        c.account = Some("a b".into());
        assert!(c.validate().is_err());
        assert_eq!(program_path(Some("/sw/bin/"), "dtls"), "/sw/bin/dtls");
        assert_eq!(program_path(None, "dtls"), "dtls");
    }
}
