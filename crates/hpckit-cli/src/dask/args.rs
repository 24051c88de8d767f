//! Options of `hpckit dask up`, turned into a [`DaskConfig`].

use std::time::Duration;

use anyhow::{Context, bail};
use hpckit::dask::DaskConfig;

use crate::job::parse_duration;

/// What each job gets and how Dask is started.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ClusterArgs {
    /// Queue or partition of every job.
    #[arg(long, short = 'q')]
    pub(crate) queue: Option<String>,
    /// Account or project charged.
    #[arg(long, visible_alias = "project")]
    pub(crate) account: Option<String>,
    /// Wall-clock limit of every job (90, 15m, 2h, HH:MM:SS).
    #[arg(long, value_parser = parse_duration)]
    pub(crate) walltime: Option<Duration>,
    /// Worker processes per worker job.
    #[arg(long, default_value_t = 1)]
    pub(crate) processes: u32,
    /// Threads per worker process.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: u32,
    /// Cores each worker job books (default: processes x threads).
    #[arg(long, value_name = "N")]
    pub(crate) job_cpus: Option<u32>,
    /// Memory per worker job in MiB (split over its processes).
    #[arg(long, value_name = "MIB")]
    pub(crate) memory: Option<u64>,
    /// Extra option for the submit command, verbatim (repeatable), e.g. --job-option=--constraint=fat.
    #[arg(long = "job-option", value_name = "OPT", allow_hyphen_values = true)]
    pub(crate) job_options: Vec<String>,
    /// Activate this virtualenv in every job (adds `. VENV/bin/activate`).
    #[arg(long, value_name = "DIR")]
    pub(crate) venv: Option<String>,
    /// Shell line run before Dask in every job (repeatable): `module load python`, `conda activate dask`.
    #[arg(long = "env-line", value_name = "LINE")]
    pub(crate) env_lines: Vec<String>,
    /// Environment variable of every job, NAME=VALUE (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub(crate) env: Vec<String>,
    /// Scheduler program and its first arguments, split at spaces (default: "dask scheduler").
    #[arg(long, value_name = "CMD")]
    pub(crate) scheduler_command: Option<String>,
    /// Worker program and its first arguments, split at spaces (default: "dask worker").
    #[arg(long, value_name = "CMD")]
    pub(crate) worker_command: Option<String>,
    /// Extra argument of `dask scheduler` (repeatable).
    #[arg(long = "scheduler-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub(crate) scheduler_args: Vec<String>,
    /// Extra argument of `dask worker` (repeatable).
    #[arg(long = "worker-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub(crate) worker_args: Vec<String>,
    /// Directory on the cluster for run directories (default: the scheduler's
    /// working directory, else ~/.hpckit/dask); every node must see it.
    #[arg(long, value_name = "DIR")]
    pub(crate) base_dir: Option<String>,
    /// How long the scheduler and the workers may take to start.
    #[arg(long, value_parser = parse_duration, default_value = "120")]
    pub(crate) startup_timeout: Duration,
    /// How long the jobs outlive this command when it is killed or cut off.
    #[arg(long, value_parser = parse_duration, default_value = "60")]
    pub(crate) lease: Duration,
    /// Local port of the scheduler tunnel (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    /// Local port of the dashboard tunnel (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub(crate) dashboard_port: u16,
    /// Keep the run directory (job logs) after `down`.
    #[arg(long)]
    pub(crate) debug: bool,
}

impl ClusterArgs {
    /// The cluster options these arguments ask for.
    pub(crate) fn config(&self, name: &str) -> anyhow::Result<DaskConfig> {
        let mut c = DaskConfig::new(name);
        c.queue.clone_from(&self.queue);
        c.account.clone_from(&self.account);
        c.walltime = self.walltime;
        c.processes = self.processes;
        c.threads = self.threads;
        c.job_cpus = self.job_cpus;
        c.memory_mb = self.memory;
        c.job_options.clone_from(&self.job_options);
        if let Some(venv) = &self.venv {
            c.python_env.push(format!(". {}/bin/activate", shell_word(venv)?));
        }
        c.python_env.extend(self.env_lines.iter().cloned());
        for pair in &self.env {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("--env {pair:?} is not NAME=VALUE"))?;
            c.environment.insert(k.to_owned(), v.to_owned());
        }
        let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        if let Some(cmd) = &self.scheduler_command {
            c.scheduler_command = words(cmd);
        }
        if let Some(cmd) = &self.worker_command {
            c.worker_command = words(cmd);
        }
        c.scheduler_args.clone_from(&self.scheduler_args);
        c.worker_args.clone_from(&self.worker_args);
        c.base_dir.clone_from(&self.base_dir);
        c.startup_timeout = self.startup_timeout;
        c.lease = self.lease;
        c.local_port = self.port;
        c.local_dashboard_port = self.dashboard_port;
        c.debug = self.debug;
        c.validate()?;
        Ok(c)
    }
}

/// A path that goes into the activate line as it is: only characters that
/// need no quoting (the line is shell code, so nothing else is let in).
fn shell_word(path: &str) -> anyhow::Result<&str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+~:@%,=".contains(c);
    if path.is_empty()
        || !path.chars().all(plain)
        || path.starts_with('~') && path.len() > 1 && !path.starts_with("~/")
    {
        bail!(
            "--venv {path:?}: use a plain path (letters, digits, / . _ - + : @ % , =), or --env-line"
        );
    }
    Ok(path)
}

/// `MIN:MAX` bounds of adaptive scaling.
pub(crate) fn parse_bounds(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?} is not MIN:MAX (e.g. 0:10)");
    let (a, b) = text.split_once(':').ok_or_else(bad)?;
    let (min, max) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if min > max {
        return Err(format!("adaptive minimum {min} is above the maximum {max}"));
    }
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(parse_bounds("0:10"), Ok((0, 10)));
        assert!(parse_bounds("3:1").is_err());
        assert!(parse_bounds("3").is_err());
        assert!(parse_bounds("a:1").is_err());
    }

    #[test]
    fn venv_paths_that_would_be_shell_code_are_refused() {
        assert!(shell_word("/opt/hpckit/venv/dask").is_ok());
        assert!(shell_word("~/venvs/d").is_ok());
        for bad in ["/x; rm -rf ~", "$(id)", "a b", "", "~root/v"] {
            assert!(shell_word(bad).is_err(), "{bad}");
        }
    }
}
