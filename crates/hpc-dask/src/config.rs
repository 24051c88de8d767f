//! [`DaskConfig`]: what the scheduler job and each worker job look like.

use std::collections::BTreeMap;
use std::time::Duration;

use hpc_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// Options of a Dask cluster: where the jobs go, what each worker job gets,
/// how its Python environment is set up, and the timeouts.
///
/// Every field has a default; set what differs from it:
///
/// ```
/// use std::time::Duration;
/// use hpc_dask::DaskConfig;
///
/// let mut config = DaskConfig::new("analysis");
/// config.queue = Some("batch".into());
/// config.threads = 2;
/// config.python_env = vec!["source /opt/venvs/dask/bin/activate".into()];
/// config.lease = Duration::from_secs(60);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DaskConfig {
    /// Cluster name: part of job names and of the run directory
    /// (letters, digits, `-`, `_`; at most 40).
    pub name: String,
    /// Queue or partition of every job (none: the scheduler's default).
    pub queue: Option<String>,
    /// Account or project charged.
    pub account: Option<String>,
    /// Wall-clock limit of every job.
    #[serde(with = "hpc_core::job::opt_secs")]
    pub walltime: Option<Duration>,
    /// Worker processes per worker job (`dask worker --nworkers`).
    pub processes: u32,
    /// Threads per worker process (`dask worker --nthreads`).
    pub threads: u32,
    /// Cores each worker job books (none: processes x threads); fewer than
    /// that lets several Dask threads share a core (dask-jobqueue's `job_cpu`).
    pub job_cpus: Option<u32>,
    /// Memory of a worker job in MiB, split evenly over its processes
    /// (`--memory-limit`); none: the scheduler's default, Dask's `auto`.
    pub memory_mb: Option<u64>,
    /// Extra options for the submit command of every job, verbatim
    /// (`sbatch`/`qsub` flags such as `--constraint=gpu`).
    pub job_options: Vec<String>,
    /// Shell lines run before the Dask command in each job: `module load
    /// python`, `source venv/bin/activate`, `conda activate dask`. They are
    /// the user's own shell code, run as written.
    pub python_env: Vec<String>,
    /// Environment variables of every job.
    pub environment: BTreeMap<String, String>,
    /// The scheduler program and its first arguments (default `dask scheduler`).
    pub scheduler_command: Vec<String>,
    /// The worker program and its first arguments (default `dask worker`).
    pub worker_command: Vec<String>,
    /// Extra arguments of `dask scheduler`.
    pub scheduler_args: Vec<String>,
    /// Extra arguments of `dask worker`.
    pub worker_args: Vec<String>,
    /// Directory on the cluster for the run directories (scheduler file,
    /// heartbeat, logs); none: the scheduler's working directory, else
    /// `$HOME/.hpckit/dask`. It must be visible from every node.
    pub base_dir: Option<String>,
    /// How long the scheduler may take to write its address and a worker
    /// to connect, counted from submission.
    #[serde(with = "secs")]
    pub startup_timeout: Duration,
    /// How long the jobs outlive a client that stopped renewing the lease
    /// (killed, or cut off): then scheduler and workers stop by themselves.
    #[serde(with = "secs")]
    pub lease: Duration,
    /// Local port for the scheduler's tunnel (0: any free port).
    pub local_port: u16,
    /// Local port for the dashboard's tunnel (0: any free port).
    pub local_dashboard_port: u16,
    /// Keep the run directory (job logs) after [`close`](crate::DaskCluster::close).
    pub debug: bool,
}

impl Default for DaskConfig {
    fn default() -> Self {
        DaskConfig {
            name: "dask".into(),
            queue: None,
            account: None,
            walltime: None,
            processes: 1,
            threads: 1,
            job_cpus: None,
            memory_mb: None,
            job_options: Vec::new(),
            python_env: Vec::new(),
            environment: BTreeMap::new(),
            scheduler_command: vec!["dask".into(), "scheduler".into()],
            worker_command: vec!["dask".into(), "worker".into()],
            scheduler_args: Vec::new(),
            worker_args: Vec::new(),
            base_dir: None,
            startup_timeout: Duration::from_secs(120),
            lease: Duration::from_secs(60),
            local_port: 0,
            local_dashboard_port: 0,
            debug: false,
        }
    }
}

impl DaskConfig {
    /// The defaults with a cluster name.
    pub fn new(name: impl Into<String>) -> Self {
        DaskConfig { name: name.into(), ..DaskConfig::default() }
    }

    /// Check the options before anything is submitted.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 40
            && self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return bad(format!(
                "cluster name {:?} must be 1 to 40 letters, digits, '-' or '_'",
                self.name
            ));
        }
        if self.processes == 0 || self.threads == 0 {
            return bad("processes and threads per worker must be at least 1".into());
        }
        if self.job_cpus == Some(0) {
            return bad("a worker job must book at least 1 core".into());
        }
        if self.memory_mb == Some(0) {
            return bad("worker memory must be at least 1 MiB".into());
        }
        if self.scheduler_command.is_empty() || self.worker_command.is_empty() {
            return bad("the scheduler and worker commands must not be empty".into());
        }
        if self.lease < Duration::from_secs(4) {
            return bad("the lease must be at least 4 seconds".into());
        }
        if self.startup_timeout.is_zero() {
            return bad("the startup timeout must be positive".into());
        }
        if let Some(dir) = &self.base_dir
            && (dir.trim().is_empty() || dir.contains('\0'))
        {
            return bad(format!("base directory {dir:?} is not a usable path"));
        }
        Ok(())
    }

    /// Worker jobs needed for `workers` worker processes.
    pub fn jobs_for(&self, workers: u32) -> u32 {
        workers.div_ceil(self.processes.max(1))
    }

    /// Cores a worker job asks for.
    pub fn cores_per_job(&self) -> u32 {
        self.job_cpus.unwrap_or_else(|| self.processes.saturating_mul(self.threads))
    }

    /// Seconds of the lease, as the job wrapper counts them.
    pub(crate) fn lease_secs(&self) -> u64 {
        self.lease.as_secs().max(4)
    }

    /// How often the wrapper looks at the heartbeat (a fifth of the lease).
    pub(crate) fn check_secs(&self) -> u64 {
        (self.lease_secs() / 5).max(1)
    }

    /// How often the client renews the lease (a quarter of it, so a check
    /// never sees the file unchanged for a whole lease while the client lives).
    pub fn heartbeat_interval(&self) -> Duration {
        (self.lease / 4).max(Duration::from_secs(1))
    }
}

/// `Duration` as whole seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_options_are_refused() {
        assert!(DaskConfig::default().validate().is_ok());
        let with = |f: fn(&mut DaskConfig)| {
            let mut c = DaskConfig::default();
            f(&mut c);
            c.validate()
        };
        assert!(with(|c| c.name = "a b".into()).is_err());
        assert!(with(|c| c.name = "../x".into()).is_err());
        assert!(with(|c| c.name = String::new()).is_err());
        assert!(with(|c| c.threads = 0).is_err());
        assert!(with(|c| c.memory_mb = Some(0)).is_err());
        assert!(with(|c| c.job_cpus = Some(0)).is_err());
        assert!(with(|c| c.worker_command.clear()).is_err());
        assert!(with(|c| c.lease = Duration::from_secs(1)).is_err());
        assert!(with(|c| c.base_dir = Some(" ".into())).is_err());
        let e = with(|c| c.name = "a b".into()).unwrap_err();
        assert!(e.to_string().starts_with("invalid input: cluster name \"a b\""), "{e}");
    }

    #[test]
    fn jobs_round_up_to_whole_jobs() {
        let mut c = DaskConfig { processes: 3, ..DaskConfig::default() };
        assert_eq!(c.jobs_for(0), 0);
        assert_eq!(c.jobs_for(1), 1);
        assert_eq!(c.jobs_for(3), 1);
        assert_eq!(c.jobs_for(4), 2);
        c.threads = 4;
        assert_eq!(c.cores_per_job(), 12);
        c.job_cpus = Some(2);
        assert_eq!(c.cores_per_job(), 2);
    }

    #[test]
    fn lease_timing_leaves_room_for_missed_beats() {
        let c = DaskConfig { lease: Duration::from_secs(20), ..DaskConfig::default() };
        assert_eq!(c.lease_secs(), 20);
        assert_eq!(c.check_secs(), 4);
        assert_eq!(c.heartbeat_interval(), Duration::from_secs(5));
    }

    #[test]
    fn json_round_trip_and_typos_refused() {
        let c = DaskConfig { queue: Some("batch".into()), ..DaskConfig::new("x") };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["lease"], 60);
        let back: DaskConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        assert!(serde_json::from_value::<DaskConfig>(serde_json::json!({"quue": "x"})).is_err());
    }
}
