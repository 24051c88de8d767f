//! `hpckit job submit|run|status|list|cancel|wait|queues <scheduler-url>`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use hpckit::core::{
    ArraySpec, Error, JobDescription, JobId, JobState, JobStatus, Location, QueueStatus, Scheduler,
    WaitProgress, WaitUntil,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::creds::CredentialArgs;
use crate::output::{self, EXIT_FAILURE, EXIT_TIMEOUT, Table};

/// Job subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum JobCommand {
    /// Submit a batch job; prints its id.
    ///
    /// Example: hpckit job submit slurm+ssh://me@login --queue batch --stdout out.txt -- ./run.sh 1
    Submit {
        /// Scheduler location, e.g. local://, ssh://user@host/workdir, slurm+ssh://user@login.
        url: String,
        #[command(flatten)]
        job: JobArgs,
        /// Print the id as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a job with its output streamed here and its input forwarded;
    /// exits with the job's exit code (128+N when signal N ended it).
    ///
    /// Example: hpckit job run local:// -- echo hello
    Run {
        /// Scheduler location.
        url: String,
        #[command(flatten)]
        job: JobArgs,
    },
    /// Show the status of jobs.
    Status {
        /// Scheduler location.
        url: String,
        /// Job ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Print JSON (an array of job statuses).
        #[arg(long)]
        json: bool,
    },
    /// List the jobs the scheduler shows you.
    List {
        /// Scheduler location.
        url: String,
        /// Only these queues (repeatable).
        #[arg(long = "queue", short = 'q', value_name = "QUEUE")]
        queues: Vec<String>,
        /// Print JSON (an array of job statuses).
        #[arg(long)]
        json: bool,
    },
    /// Cancel jobs; prints their status afterwards.
    Cancel {
        /// Scheduler location.
        url: String,
        /// Job ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Print JSON (an array of job statuses).
        #[arg(long)]
        json: bool,
    },
    /// Wait until jobs have finished (or run); exits 124 on timeout and 1
    /// when a job did not complete successfully.
    Wait {
        /// Scheduler location.
        url: String,
        /// Job ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Give up after this long (seconds, or 90s, 15m, 2h, HH:MM:SS).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// What to wait for.
        #[arg(long, value_enum, default_value_t = Until::Done)]
        until: Until,
        /// Print JSON (an array of job statuses).
        #[arg(long)]
        json: bool,
    },
    /// Show the scheduler's queues (partitions).
    Queues {
        /// Scheduler location.
        url: String,
        /// Print JSON (an array of queue statuses).
        #[arg(long)]
        json: bool,
    },
}

/// What `wait` waits for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Until {
    /// Until each job runs (or has finished).
    Running,
    /// Until each job has finished.
    Done,
}

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
    fn descriptions(&self) -> anyhow::Result<Vec<JobDescription>> {
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
        set(&mut job.name, &self.name);
        set(&mut job.queue, &self.queue);
        set(&mut job.working_directory, &self.workdir);
        set(&mut job.stdin, &self.stdin);
        set(&mut job.stdout, &self.stdout);
        set(&mut job.stderr, &self.stderr);
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

/// Run one job subcommand.
pub(crate) async fn run(cmd: JobCommand, creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        JobCommand::Submit { url, job, json } => {
            let jobs = job.descriptions()?;
            submit(&open(&url, creds).await?, jobs, json).await
        }
        JobCommand::Run { url, job } => {
            let mut jobs = job.descriptions()?;
            if jobs.len() != 1 {
                bail!(Error::InvalidInput("`run` takes one job, not a JSON array".into()));
            }
            run_interactive(&open(&url, creds).await?, jobs.remove(0)).await
        }
        JobCommand::Status { url, ids, json } => {
            let sched = open(&url, creds).await?;
            let ids = job_ids(ids);
            let answers = sched.statuses(&ids).await?;
            print_statuses(&*sched, answers, json)
        }
        JobCommand::List { url, queues, json } => {
            let sched = open(&url, creds).await?;
            let jobs = sched.list_jobs(&queues).await?;
            print_statuses(&*sched, jobs.into_iter().map(Ok).collect(), json)
        }
        JobCommand::Cancel { url, ids, json } => {
            let sched = open(&url, creds).await?;
            let mut answers = Vec::new();
            for id in job_ids(ids) {
                answers.push(sched.cancel(&id).await);
            }
            print_statuses(&*sched, answers, json)
        }
        JobCommand::Wait { url, ids, timeout, until, json } => {
            let sched = open(&url, creds).await?;
            wait(&*sched, job_ids(ids), until, timeout, json).await
        }
        JobCommand::Queues { url, json } => {
            let sched = open(&url, creds).await?;
            let queues = sched.queue_statuses(&[]).await?;
            if json {
                output::print_json(&queues)?;
            } else {
                queue_table(&queues).print()?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn open(url: &str, creds: &CredentialArgs) -> anyhow::Result<Arc<dyn Scheduler>> {
    let loc: Location = url.parse()?;
    let map = creds.credentials(&loc)?;
    Ok(hpckit::open_scheduler(url, &map).await?)
}

fn job_ids(ids: Vec<String>) -> Vec<JobId> {
    ids.into_iter().map(JobId::from).collect()
}

/// Whether jobs of this scheduler vanish with this process.
fn lives_in_process(sched: &dyn Scheduler) -> bool {
    !sched.capabilities().survives_client_restart && sched.capabilities().is_embedded
}

async fn submit(
    sched: &Arc<dyn Scheduler>,
    jobs: Vec<JobDescription>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let results = if jobs.len() == 1 {
        vec![sched.submit_batch(&jobs[0]).await]
    } else {
        sched.submit_many(&jobs).await?
    };
    let mut ids = Vec::new();
    let mut first_error = None;
    for r in results {
        match r {
            Ok(id) => ids.push(id),
            Err(e) if first_error.is_none() => first_error = Some(e),
            Err(e) => output::note(format!("error: {e}")),
        }
    }
    if json {
        let objects: Vec<_> = ids.iter().map(|id| serde_json::json!({ "id": id })).collect();
        if jobs.len() == 1 && objects.len() == 1 {
            output::print_json(&objects[0])?;
        } else {
            output::print_json(&objects)?;
        }
    } else {
        let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
        output::write_stdout(text.as_bytes())?;
    }
    if !ids.is_empty() && lives_in_process(&**sched) {
        // The embedded queue ends with this process: keep the jobs alive.
        output::note(format!(
            "{} jobs run inside this hpckit process; waiting for them to finish \
             (use ssh:// or a batch system for detached jobs)",
            sched.adaptor()
        ));
        sched.wait(&ids, WaitUntil::Done, None, None).await?;
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

async fn run_interactive(
    sched: &Arc<dyn Scheduler>,
    job: JobDescription,
) -> anyhow::Result<ExitCode> {
    let started = sched.submit_interactive(&job).await?;
    let id = started.id.clone();
    tracing::debug!(%id, "interactive job started");
    let mut job_stdin = started.stdin;
    // Forward our stdin until it ends; then the job sees end-of-file.
    tokio::spawn(async move {
        let mut input = tokio::io::stdin();
        let _ = tokio::io::copy(&mut input, &mut job_stdin).await;
        let _ = job_stdin.shutdown().await;
    });
    let streams = async {
        let (out, err) = tokio::join!(
            pump(started.stdout, tokio::io::stdout()),
            pump(started.stderr, tokio::io::stderr()),
        );
        out.and(err)
    };
    tokio::select! {
        r = streams => r.context("copying the job's output")?,
        _ = tokio::signal::ctrl_c() => {
            output::note(format!("interrupted: cancelling job {id}"));
            sched.cancel(&id).await?;
            return Ok(ExitCode::from(130));
        }
    }
    let status = sched.wait_until_done(&id, None).await?;
    Ok(ExitCode::from(job_exit_code(&status)))
}

/// Copy one output stream, flushing as data comes so output appears live.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.flush().await;
        }
        if let Err(e) = to.write_all(&buf[..n]).await {
            // A closed pipe (`| head`) is not the job's failure: keep draining.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                continue;
            }
            return Err(e);
        }
        to.flush().await?;
    }
}

/// The shell's convention for a finished job: its code, 128 + signal, 130
/// when cancelled, 1 for a failure without a code.
fn job_exit_code(status: &JobStatus) -> u8 {
    match (status.exit_code, status.signal) {
        (Some(c), _) => u8::try_from(c.rem_euclid(256)).unwrap_or(EXIT_FAILURE),
        (None, Some(s)) => u8::try_from(128 + s).unwrap_or(EXIT_FAILURE),
        (None, None) => match status.state {
            JobState::Completed => 0,
            JobState::Cancelled => 130,
            _ => EXIT_FAILURE,
        },
    }
}

async fn wait(
    sched: &dyn Scheduler,
    ids: Vec<JobId>,
    until: Until,
    timeout: Option<Duration>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let until = match until {
        Until::Running => WaitUntil::Running,
        Until::Done => WaitUntil::Done,
    };
    let bar = output::spinner(format!("waiting for {} jobs", ids.len()));
    let show = |p: &WaitProgress| bar.set_message(progress_text(p));
    let answers = sched.wait(&ids, until, timeout, Some(&show)).await?;
    bar.finish_and_clear();
    let unmet = answers.iter().any(|a| matches!(a, Ok(s) if !until.is_met(s)));
    let unsuccessful = until == WaitUntil::Done
        && answers.iter().any(|a| matches!(a, Ok(s) if s.is_done() && !s.succeeded()));
    let code = print_statuses(sched, answers, json)?;
    if unmet {
        output::note("timed out: not every job is there yet");
        return Ok(ExitCode::from(EXIT_TIMEOUT));
    }
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    if unsuccessful {
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_text(p: &WaitProgress) -> String {
    format!("{} running, {} pending, {} done of {}", p.running, p.pending, p.done, p.total)
}

/// Print statuses as a table or JSON; errors (unknown ids) go to stderr and
/// make the exit code that of the first error.
fn print_statuses(
    sched: &dyn Scheduler,
    answers: Vec<hpckit::core::Result<JobStatus>>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut found = Vec::new();
    let mut code = ExitCode::SUCCESS;
    for a in answers {
        match a {
            Ok(s) => found.push(s),
            Err(e) => {
                let hint = if e.is_not_found() && lives_in_process(sched) {
                    " (local:// jobs exist only inside the hpckit process that submitted them)"
                } else {
                    ""
                };
                output::note(format!("error: {e}{hint}"));
                if code == ExitCode::SUCCESS {
                    code = ExitCode::from(output::code_for(&e));
                }
            }
        }
    }
    if json {
        output::print_json(&found)?;
    } else if !found.is_empty() || std::io::stdout().is_terminal() {
        status_table(&found).print()?;
    }
    Ok(code)
}

fn status_table(statuses: &[JobStatus]) -> Table {
    let mut t = Table::new(["id", "state", "exit", "queue", "name", "error"]);
    for s in statuses {
        let exit = match (s.exit_code, s.signal) {
            (Some(c), _) => c.to_string(),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => String::new(),
        };
        t.row([
            s.id.to_string(),
            s.state.to_string(),
            exit,
            s.queue.clone().unwrap_or_default(),
            s.name.clone().unwrap_or_default(),
            s.error.clone().unwrap_or_default(),
        ]);
    }
    t
}

fn queue_table(queues: &[QueueStatus]) -> Table {
    let mut t =
        Table::new(["queue", "default", "state", "running", "pending", "nodes", "max time"]);
    let num = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    for q in queues {
        t.row([
            q.name.clone(),
            if q.is_default { "*".into() } else { String::new() },
            q.state.clone().unwrap_or_default(),
            num(q.running_jobs),
            num(q.pending_jobs),
            num(q.nodes),
            q.max_runtime.map(format_duration).unwrap_or_default(),
        ]);
    }
    t
}

/// `[D-]HH:MM:SS`.
fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}-{h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

/// Seconds (`90`), a number with a unit (`90s`, `15m`, `2h`, `1d`), or
/// `[D-]HH:MM:SS` / `MM:SS`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (90, 90s, 15m, 2h, 1d, [D-]HH:MM:SS)");
    let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
    let t = text.trim();
    let secs = if let Some(n) = t.strip_suffix('s') {
        num(n)?
    } else if let Some(n) = t.strip_suffix('m') {
        num(n)? * 60
    } else if let Some(n) = t.strip_suffix('h') {
        num(n)? * 3600
    } else if let Some(n) = t.strip_suffix('d') {
        num(n)? * 86400
    } else if t.contains(':') || t.contains('-') {
        let (days, clock) = match t.split_once('-') {
            Some((d, c)) => (num(d)?, c),
            None => (0, t),
        };
        let parts: Vec<u64> = clock.split(':').map(num).collect::<Result<_, _>>()?;
        let clock = match parts[..] {
            [h, m, s] => h * 3600 + m * 60 + s,
            [m, s] => m * 60 + s,
            [h] if days > 0 => h * 3600,
            _ => return Err(bad()),
        };
        days * 86400 + clock
    } else {
        num(t)?
    };
    if secs == 0 {
        return Err(format!("{text:?}: the duration must be positive"));
    }
    Ok(Duration::from_secs(secs))
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
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mb = (n * factor_kib).div_ceil(1024);
    if mb == 0 {
        return Err(format!("{text:?}: memory must be at least 1 MiB"));
    }
    Ok(mb)
}

fn parse_array(text: &str) -> Result<ArraySpec, String> {
    text.parse::<ArraySpec>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn exit_codes_follow_the_shell() {
        let st = |state, code, sig| {
            JobStatus::new("1".into(), state).with_exit_code(code).with_signal(sig)
        };
        assert_eq!(job_exit_code(&st(JobState::Completed, Some(0), None)), 0);
        assert_eq!(job_exit_code(&st(JobState::Failed, Some(3), None)), 3);
        assert_eq!(job_exit_code(&st(JobState::Failed, None, Some(9))), 137);
        assert_eq!(job_exit_code(&st(JobState::Cancelled, None, None)), 130);
        assert_eq!(job_exit_code(&st(JobState::Failed, None, None)), 1);
    }
}
