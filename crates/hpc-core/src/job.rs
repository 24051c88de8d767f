//! What to run: [`JobDescription`], the union of Xenon's and PSI/J's job models.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A scheduler's identifier for a job, as the scheduler prints it (`12345`,
/// `12345_7`, `8921165.batch1`, `local-3`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// Wrap a scheduler-given id.
    pub fn new(id: impl Into<String>) -> Self {
        JobId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for JobId {
    fn from(s: &str) -> Self {
        JobId(s.to_owned())
    }
}

impl From<String> for JobId {
    fn from(s: String) -> Self {
        JobId(s)
    }
}

impl AsRef<str> for JobId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A path on the host where a job runs, exactly as given: the job's working
/// directory, or a file for its standard streams.
///
/// The text is kept verbatim (no lexical normalisation): the execution host
/// resolves it, relative paths against the job's working directory (or, for the
/// working directory itself, against the scheduler's), where symbolic links may
/// make `a/..` differ from `.`. In JSON it is a plain string.
///
/// ```
/// use hpc_core::JobPath;
///
/// let p = JobPath::from("out %j.txt");
/// assert!(!p.is_absolute());
/// assert_eq!(p.as_str(), "out %j.txt");
/// assert!(JobPath::from("/scratch/run 1").is_absolute());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobPath(String);

impl JobPath {
    /// Wrap a path as given.
    pub fn new(path: impl Into<String>) -> Self {
        JobPath(path.into())
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the path starts at the root (`/`).
    pub fn is_absolute(&self) -> bool {
        self.0.starts_with('/')
    }
}

impl fmt::Display for JobPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for JobPath {
    fn from(s: &str) -> Self {
        JobPath(s.to_owned())
    }
}

impl From<String> for JobPath {
    fn from(s: String) -> Self {
        JobPath(s)
    }
}

impl From<&String> for JobPath {
    fn from(s: &String) -> Self {
        JobPath(s.clone())
    }
}

impl AsRef<str> for JobPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for JobPath {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

/// A job array: task ids `start..=end` in steps of `step`, at most
/// `max_concurrent` running at once. Text form is Slurm's: `1-10:2%4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArraySpec {
    /// First task id.
    pub start: u32,
    /// Last task id (inclusive).
    pub end: u32,
    /// Distance between task ids (at least 1).
    pub step: u32,
    /// Limit on simultaneously running tasks.
    pub max_concurrent: Option<u32>,
}

impl ArraySpec {
    /// Tasks `start..=end` with step 1 and no concurrency limit.
    pub fn range(start: u32, end: u32) -> Self {
        ArraySpec { start, end, step: 1, max_concurrent: None }
    }

    /// The task ids this array produces.
    pub fn task_ids(&self) -> impl Iterator<Item = u32> + '_ {
        (self.start..=self.end).step_by(self.step.max(1) as usize)
    }

    fn validate(&self) -> Result<()> {
        if self.step == 0 {
            return Err(Error::InvalidJobDescription("array step must be at least 1".into()));
        }
        if self.end < self.start {
            return Err(Error::InvalidJobDescription(format!(
                "array end {} is before start {}",
                self.end, self.start
            )));
        }
        if self.max_concurrent == Some(0) {
            return Err(Error::InvalidJobDescription(
                "array concurrency limit must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for ArraySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)?;
        if self.step != 1 {
            write!(f, ":{}", self.step)?;
        }
        if let Some(m) = self.max_concurrent {
            write!(f, "%{m}")?;
        }
        Ok(())
    }
}

impl FromStr for ArraySpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidJobDescription(format!("array spec {s:?} is not START-END[:STEP][%MAX]"))
        };
        let num = |t: &str| t.parse::<u32>().map_err(|_| bad());
        let (rest, max) = match s.split_once('%') {
            Some((r, m)) => (r, Some(num(m)?)),
            None => (s, None),
        };
        let (range, step) = match rest.split_once(':') {
            Some((r, st)) => (r, num(st)?),
            None => (rest, 1),
        };
        let (start, end) = match range.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(range)?;
                (n, n)
            }
        };
        let spec = ArraySpec { start, end, step, max_concurrent: max };
        spec.validate()?;
        Ok(spec)
    }
}

/// Everything a scheduler needs to run a job.
///
/// Unset fields are left to the scheduler's defaults. Resource fields follow
/// PSI/J's model: `nodes` x `processes_per_node` processes (or `processes` in
/// total), each with `cores_per_task` cores. Memory is per node in MiB.
///
/// Build with the chained setters:
///
/// ```
/// use std::time::Duration;
/// use hpc_core::JobDescription;
///
/// let job = JobDescription::new("python3")
///     .args(["train.py", "--epochs", "3"])
///     .env("OMP_NUM_THREADS", "4")
///     .queue("batch")
///     .max_runtime(Duration::from_secs(3600))
///     .stdout("train.out");
/// assert!(job.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct JobDescription {
    /// Program to run: a path, or a name looked up on the execution host's PATH.
    pub executable: String,
    /// Arguments, passed verbatim (no shell interpretation).
    pub arguments: Vec<String>,
    /// Directory the job starts in (relative paths are relative to the scheduler's working directory).
    pub working_directory: Option<JobPath>,
    /// Extra environment variables.
    pub environment: BTreeMap<String, String>,
    /// File to read standard input from (none: empty input).
    pub stdin: Option<JobPath>,
    /// File to write standard output to (none: adaptor default, usually discarded or a scheduler log).
    pub stdout: Option<JobPath>,
    /// File to write standard error to.
    pub stderr: Option<JobPath>,
    /// Queue or partition.
    pub queue: Option<String>,
    /// Wall-clock limit.
    #[serde(with = "opt_secs")]
    pub max_runtime: Option<Duration>,
    /// Number of nodes.
    pub nodes: Option<u32>,
    /// Total number of processes (tasks); alternative to `processes_per_node`.
    pub processes: Option<u32>,
    /// Processes (tasks) per node.
    pub processes_per_node: Option<u32>,
    /// CPU cores per process.
    pub cores_per_task: Option<u32>,
    /// Memory per node in MiB.
    pub memory_mb: Option<u64>,
    /// GPUs per node.
    pub gpus_per_node: Option<u32>,
    /// Account or project to charge.
    pub account: Option<String>,
    /// Advance reservation to run in.
    pub reservation: Option<String>,
    /// Quality of service.
    pub qos: Option<String>,
    /// Node features the job needs (Slurm `--constraint`).
    pub constraints: Option<String>,
    /// Whether the job must not share nodes.
    pub exclusive: bool,
    /// Job name as the scheduler shows it.
    pub name: Option<String>,
    /// Run as a job array.
    pub array: Option<ArraySpec>,
    /// Start one process only, even when several are allocated (the job
    /// launches its own tasks, e.g. with `srun` or `mpirun`).
    pub start_single_process: bool,
    /// Arguments passed verbatim to the submit command (`sbatch`, `qsub`).
    pub scheduler_arguments: Vec<String>,
}

impl JobDescription {
    /// A job that runs `executable` with no arguments.
    pub fn new(executable: impl Into<String>) -> Self {
        JobDescription { executable: executable.into(), ..Default::default() }
    }

    /// Append one argument.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.arguments.push(a.into());
        self
    }

    /// Append arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.arguments.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set one environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.environment.insert(key.into(), value.into());
        self
    }

    /// Set the working directory.
    pub fn working_directory(mut self, dir: impl Into<JobPath>) -> Self {
        self.working_directory = Some(dir.into());
        self
    }

    /// Set the stdin file.
    pub fn stdin(mut self, path: impl Into<JobPath>) -> Self {
        self.stdin = Some(path.into());
        self
    }

    /// Set the stdout file.
    pub fn stdout(mut self, path: impl Into<JobPath>) -> Self {
        self.stdout = Some(path.into());
        self
    }

    /// Set the stderr file.
    pub fn stderr(mut self, path: impl Into<JobPath>) -> Self {
        self.stderr = Some(path.into());
        self
    }

    /// Set the queue.
    pub fn queue(mut self, q: impl Into<String>) -> Self {
        self.queue = Some(q.into());
        self
    }

    /// Set the wall-clock limit.
    pub fn max_runtime(mut self, d: Duration) -> Self {
        self.max_runtime = Some(d);
        self
    }

    /// Set the job name.
    pub fn name(mut self, n: impl Into<String>) -> Self {
        self.name = Some(n.into());
        self
    }

    /// Make it a job array.
    pub fn array(mut self, spec: ArraySpec) -> Self {
        self.array = Some(spec);
        self
    }

    /// Check the description before anything is sent.
    ///
    /// Rejects an empty executable, NUL bytes anywhere (no process can receive
    /// them), environment names that are not shell identifiers, zero resource
    /// counts and malformed arrays.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidJobDescription(m));
        if self.executable.trim().is_empty() {
            return bad("executable is empty".into());
        }
        let texts = std::iter::once(("executable", &self.executable))
            .chain(self.arguments.iter().map(|a| ("argument", a)))
            .chain(self.environment.values().map(|v| ("environment value", v)))
            .chain(self.scheduler_arguments.iter().map(|a| ("scheduler argument", a)))
            .chain(
                [
                    ("working directory", &self.working_directory),
                    ("stdin", &self.stdin),
                    ("stdout", &self.stdout),
                    ("stderr", &self.stderr),
                ]
                .into_iter()
                .filter_map(|(what, v)| v.as_ref().map(|v| (what, &v.0))),
            )
            .chain(
                [
                    ("queue", &self.queue),
                    ("account", &self.account),
                    ("reservation", &self.reservation),
                    ("qos", &self.qos),
                    ("constraints", &self.constraints),
                    ("name", &self.name),
                ]
                .into_iter()
                .filter_map(|(what, v)| v.as_ref().map(|v| (what, v))),
            );
        for (what, text) in texts {
            if text.contains('\0') {
                return bad(format!("{what} {text:?} contains a NUL byte"));
            }
        }
        for key in self.environment.keys() {
            if !is_env_name(key) {
                return bad(format!(
                    "environment name {key:?} is not a valid name (letters, digits, '_', not starting with a digit)"
                ));
            }
        }
        for (what, v) in [
            ("nodes", self.nodes),
            ("processes", self.processes),
            ("processes_per_node", self.processes_per_node),
            ("cores_per_task", self.cores_per_task),
        ] {
            if v == Some(0) {
                return bad(format!("{what} must be at least 1"));
            }
        }
        if self.memory_mb == Some(0) {
            return bad("memory_mb must be at least 1".into());
        }
        if self.max_runtime == Some(Duration::ZERO) {
            return bad("max_runtime must be positive".into());
        }
        if let Some(a) = &self.array {
            a.validate()?;
        }
        for (what, v) in [("queue", &self.queue), ("name", &self.name)] {
            if v.as_deref().is_some_and(|s| s.contains('\n')) {
                return bad(format!("{what} contains a newline"));
            }
        }
        Ok(())
    }

    /// Total processes: `processes`, else `nodes * processes_per_node`, else 1.
    pub fn total_processes(&self) -> u32 {
        self.processes.unwrap_or_else(|| {
            self.nodes.unwrap_or(1).saturating_mul(self.processes_per_node.unwrap_or(1))
        })
    }
}

/// Whether `s` is a portable environment variable name.
pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Serde helper for `#[serde(with = "hpc_core::job::opt_secs")]`:
/// `Option<Duration>` as whole seconds (what job descriptions, statuses and
/// other crates' configurations write).
pub mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes whole seconds, or none.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    /// Reads whole seconds, or none.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_spec_round_trip() {
        for s in ["1-10", "0-99:3", "1-4%2", "5-9:2%1"] {
            let a: ArraySpec = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        let a: ArraySpec = "7".parse().unwrap();
        assert_eq!(a.task_ids().collect::<Vec<_>>(), vec![7]);
        let a: ArraySpec = "0-6:3".parse().unwrap();
        assert_eq!(a.task_ids().collect::<Vec<_>>(), vec![0, 3, 6]);
        for bad in ["", "a-b", "3-1", "1-4:0", "1-4%0", "-1-3"] {
            assert!(bad.parse::<ArraySpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn validation() {
        assert!(JobDescription::new("true").validate().is_ok());
        assert!(JobDescription::new("").validate().is_err());
        assert!(JobDescription::new("x").arg("a\0b").validate().is_err());
        assert!(JobDescription::new("x").stdout("a\0b").validate().is_err());
        assert!(JobDescription::new("x").env("1BAD", "v").validate().is_err());
        assert!(JobDescription::new("x").env("A=B", "v").validate().is_err());
        let ok = JobDescription::new("x").env("GOOD_1", "it's \"quoted\" $HOME `x`\nnext");
        assert!(ok.validate().is_ok());
        let mut zero = JobDescription::new("x");
        zero.nodes = Some(0);
        assert!(zero.validate().is_err());
        assert!(JobDescription::new("x").name("a\nb").validate().is_err());
    }

    #[test]
    fn json_shape_is_stable() {
        let mut j = JobDescription::new("sleep").arg("1").max_runtime(Duration::from_secs(90));
        j.nodes = Some(2);
        let j = j.working_directory("/scratch/a b").stdout("out %j.txt");
        let v = serde_json::to_value(&j).unwrap();
        assert_eq!(v["executable"], "sleep");
        // Paths are plain strings, kept verbatim.
        assert_eq!(v["working_directory"], "/scratch/a b");
        assert_eq!(v["stdout"], "out %j.txt");
        assert_eq!(v["max_runtime"], 90);
        assert_eq!(v["nodes"], 2);
        let back: JobDescription = serde_json::from_value(v).unwrap();
        assert_eq!(back, j);
        let typo = serde_json::json!({"executable": "x", "nodez": 3});
        assert!(serde_json::from_value::<JobDescription>(typo).is_err());
    }

    #[test]
    fn totals() {
        let mut j = JobDescription::new("x");
        assert_eq!(j.total_processes(), 1);
        j.nodes = Some(2);
        j.processes_per_node = Some(4);
        assert_eq!(j.total_processes(), 8);
        j.processes = Some(3);
        assert_eq!(j.total_processes(), 3);
    }
}
