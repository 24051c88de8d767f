//! The job description from command-line options or a JSON file, and the
//! parsers of durations, memory sizes and array specs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use hpckit::core::{ArraySpec, Error, JobDescription, JobPath};

/// The job description, field by field (or from a JSON file).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct JobArgs {
    /// Read the job description from this JSON file (a JobDescription object,
    /// or an array of them for `submit`); other job options override its fields.
    #[arg(long, value_name = "FILE")]
    json_file: Option<PathBuf>,
    /// Job name.
    #[arg(long)]
    name: Option<String>,
    /// Queue or partition.
    #[arg(long, short = 'q')]
    queue: Option<String>,
    /// Working directory (relative: to the scheduler's working directory).
    #[arg(long, short = 'C')]
    workdir: Option<String>,
    /// Environment variable NAME=VALUE, or NAME to pass this shell's value (repeatable).
    #[arg(long = "env", short = 'e', value_name = "NAME[=VALUE]")]
    env: Vec<String>,
    /// File for standard input (relative: to the working directory).
    #[arg(long)]
    stdin: Option<String>,
    /// File for standard output.
    #[arg(long)]
    stdout: Option<String>,
    /// File for standard error (same as --stdout: both go to one file).
    #[arg(long)]
    stderr: Option<String>,
    /// Wall-clock limit (seconds, or 90s, 15m, 2h, 1d, [D-]HH:MM:SS).
    #[arg(long, value_parser = parse_duration)]
    time: Option<Duration>,
    /// Number of nodes.
    #[arg(long)]
    nodes: Option<u32>,
    /// Processes per node.
    #[arg(long)]
    ppn: Option<u32>,
    /// Total number of processes.
    #[arg(long)]
    processes: Option<u32>,
    /// CPU cores per process.
    #[arg(long)]
    cores: Option<u32>,
    /// Memory per node (MiB, or with a unit: 512M, 4G, 1T).
    #[arg(long, value_parser = parse_memory_mb)]
    mem: Option<u64>,
    /// GPUs per node.
    #[arg(long)]
    gpus: Option<u32>,
    /// Account or project to charge.
    #[arg(long)]
    account: Option<String>,
    /// Advance reservation.
    #[arg(long)]
    reservation: Option<String>,
    /// Quality of service.
    #[arg(long)]
    qos: Option<String>,
    /// Node features (Slurm constraint).
    #[arg(long)]
    constraint: Option<String>,
    /// Do not share nodes with other jobs.
    #[arg(long)]
    exclusive: bool,
    /// Job array START-END[:STEP][%MAX].
    #[arg(long, value_parser = parse_array)]
    array: Option<ArraySpec>,
    /// Start one process only even when several are allocated.
    #[arg(long)]
    single_process: bool,
    /// Extra argument for the submit command (sbatch, qsub), passed verbatim (repeatable).
    #[arg(long = "sched-arg", value_name = "ARG", allow_hyphen_values = true)]
    sched_args: Vec<String>,
    /// The program and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

impl JobArgs {
    /// The job descriptions these options describe (several only from a
    /// JSON array).
    pub(super) fn descriptions(&self) -> anyhow::Result<Vec<JobDescription>> {
        let mut jobs = match &self.json_file {
            Some(path) => read_json_jobs(path)?,
            None => vec![JobDescription::default()],
        };
        for job in &mut jobs {
            self.apply(job)?;
            if job.executable.is_empty() {
                bail!(Error::InvalidJobDescription(
                    "no program given: put it after `--` (hpckit job run URL -- echo hello)".into()
                ));
            }
            job.validate()?;
        }
        Ok(jobs)
    }

    fn apply(&self, job: &mut JobDescription) -> anyhow::Result<()> {
        if let Some((exe, args)) = self.command.split_first() {
            job.executable = exe.clone();
            job.arguments = args.to_vec();
        }
        for item in &self.env {
            let (k, v) = match item.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => {
                    let v = std::env::var(item).with_context(|| {
                        format!("--env {item}: no such variable in this shell (use NAME=VALUE)")
                    })?;
                    (item.clone(), v)
                }
            };
            job.environment.insert(k, v);
        }
        let set = |field: &mut Option<String>, value: &Option<String>| {
            if value.is_some() {
                field.clone_from(value);
            }
        };
        let set_path = |field: &mut Option<JobPath>, value: &Option<String>| {
            if let Some(v) = value {
                *field = Some(JobPath::from(v));
            }
        };
        set(&mut job.name, &self.name);
        set(&mut job.queue, &self.queue);
        set_path(&mut job.working_directory, &self.workdir);
        set_path(&mut job.stdin, &self.stdin);
        set_path(&mut job.stdout, &self.stdout);
        set_path(&mut job.stderr, &self.stderr);
        set(&mut job.account, &self.account);
        set(&mut job.reservation, &self.reservation);
        set(&mut job.qos, &self.qos);
        set(&mut job.constraints, &self.constraint);
        job.max_runtime = self.time.or(job.max_runtime);
        job.nodes = self.nodes.or(job.nodes);
        job.processes_per_node = self.ppn.or(job.processes_per_node);
        job.processes = self.processes.or(job.processes);
        job.cores_per_task = self.cores.or(job.cores_per_task);
        job.memory_mb = self.mem.or(job.memory_mb);
        job.gpus_per_node = self.gpus.or(job.gpus_per_node);
        job.array = self.array.or(job.array);
        job.exclusive |= self.exclusive;
        job.start_single_process |= self.single_process;
        job.scheduler_arguments.extend(self.sched_args.iter().cloned());
        Ok(())
    }
}

fn read_json_jobs(path: &std::path::Path) -> anyhow::Result<Vec<JobDescription>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::from_io_path("read", path.display(), e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::InvalidJobDescription(format!("{} is not valid JSON: {e}", path.display()))
    })?;
    let parse = |v: serde_json::Value| {
        serde_json::from_value::<JobDescription>(v)
            .map_err(|e| Error::InvalidJobDescription(format!("{}: {e}", path.display())))
    };
    Ok(match value {
        serde_json::Value::Array(items) => {
            items.into_iter().map(parse).collect::<Result<Vec<_>, _>>()?
        }
        other => vec![parse(other)?],
    })
}

/// A command-line duration: [`hpckit::core::duration::parse`] (bounded, checked).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    hpckit::core::duration::parse(text)
}

/// MiB, or a number with a unit K, M, G, T (binary multiples).
pub(crate) fn parse_memory_mb(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a memory size (512, 512M, 4G, 1T)");
    let t = text.trim().trim_end_matches(['B', 'b', 'i']);
    let (num, factor_kib) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1),
        Some((i, 'M' | 'm')) => (&t[..i], 1024),
        Some((i, 'G' | 'g')) => (&t[..i], 1024 * 1024),
        Some((i, 'T' | 't')) => (&t[..i], 1024 * 1024 * 1024),
        _ => (t, 1024),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let too_big = || format!("{text:?} is more memory than 2^64 KiB");
    let n: u64 = num.parse().map_err(|_| too_big())?;
    let mb = n.checked_mul(factor_kib).ok_or_else(too_big)?.div_ceil(1024);
    if mb == 0 {
        return Err(format!("{text:?}: memory must be at least 1 MiB"));
    }
    Ok(mb)
}

pub(super) fn parse_array(text: &str) -> Result<ArraySpec, String> {
    text.parse::<ArraySpec>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::show::format_duration;
    use super::*;

    #[test]
    fn durations() {
        for (text, secs) in [
            ("90", 90),
            ("90s", 90),
            ("15m", 900),
            ("2h", 7200),
            ("1d", 86400),
            ("1:30", 90),
            ("01:00:00", 3600),
            ("1-02:00:00", 93600),
            ("2-3", 2 * 86400 + 3 * 3600),
        ] {
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        for bad in ["", "x", "0", "1:2:3:4", "-5", "5w"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(93_661)), "1-02:01:01");
    }

    #[test]
    fn memory() {
        assert_eq!(parse_memory_mb("512"), Ok(512));
        assert_eq!(parse_memory_mb("512M"), Ok(512));
        assert_eq!(parse_memory_mb("4G"), Ok(4096));
        assert_eq!(parse_memory_mb("4GiB"), Ok(4096));
        assert_eq!(parse_memory_mb("1T"), Ok(1024 * 1024));
        assert_eq!(parse_memory_mb("1500K"), Ok(2));
        assert!(parse_memory_mb("lots").is_err());
        assert!(parse_memory_mb("0").is_err());
        for huge in ["17179869184T", "18446744073709551616", "18014398509481984G"] {
            assert!(parse_memory_mb(huge).unwrap_err().contains("more memory than"), "{huge}");
        }
    }

    #[test]
    fn options_fill_the_description() {
        let args = JobArgs {
            name: Some("n".into()),
            env: vec!["A=1=2".into()],
            time: Some(Duration::from_secs(60)),
            sched_args: vec!["--x".into()],
            command: vec!["echo".into(), "a b".into()],
            ..Default::default()
        };
        let jobs = args.descriptions().unwrap();
        assert_eq!(jobs.len(), 1);
        let j = &jobs[0];
        assert_eq!((j.executable.as_str(), j.arguments.clone()), ("echo", vec!["a b".into()]));
        assert_eq!(j.environment["A"], "1=2");
        assert_eq!(j.max_runtime, Some(Duration::from_secs(60)));
        assert_eq!(j.scheduler_arguments, vec!["--x".to_owned()]);
        let e = JobArgs::default().descriptions().unwrap_err();
        assert!(e.to_string().contains("no program given"), "{e}");
    }
}
