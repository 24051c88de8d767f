//! The `ssh` scheduler: jobs as background processes on a host, through any
//! [`Executor`].
//!
//! Location: `ssh://[user@]host[:port][/workdir][?k=v] [via:hop...]`; over a
//! local executor the same adaptor is `nohup://[/workdir][?k=v]`: detached jobs on
//! this host that outlive the hpckit process.
//!
//! Each job runs under a small POSIX-sh wrapper in its own session (`setsid`),
//! which records its pid, start time, end time and exit code in files under
//! the job directory on the host (default `~/.hpckit/jobs/<id>/`, see
//! [`script`] for the layout). So status survives a client restart: a new
//! scheduler on the same host sees the old jobs and their exit codes.
//!
//! * Status of any number of jobs is ONE remote command (a small sh program
//!   printing one line per job); submitting many jobs sends up to 32 per command.
//! * Cancel marks the job cancelled, sends SIGTERM to its process group and
//!   SIGKILL after the grace period; the job then reports
//!   [`JobState::Cancelled`].
//! * Working directory and executable are checked at submit time (missing:
//!   [`hpc_core::Error::NotFound`]).
//! * Relative working directories start at the scheduler's working directory:
//!   the URL path (`ssh://host/scratch/me`; `ssh://host/~/work` is relative
//!   to the home directory), default the home directory.
//! * Interactive jobs run in the foreground of one remote command, with the
//!   same bookkeeping, so `status` reports their exit code too.
//! * One queue, `default`: jobs start at once.
//!
//! Parameters: `jobdir` (job directory, relative to home; default
//! `.hpckit/jobs`), `poll` (seconds between status queries while waiting,
//! default 0.5), `grace` (seconds between SIGTERM and SIGKILL, default 2),
//! `keep_days` (finished jobs older than this are removed at the next
//! submit; default 7, 0 keeps all).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> hpc_core::Result<()> {
//! use std::sync::Arc;
//! use hpc_core::{JobDescription, JobState, Scheduler};
//! use sched_adaptors::ssh::{SshConfig, SshScheduler};
//!
//! let tmp = tempfile::tempdir().unwrap();
//! let mut config = SshConfig::default();
//! config.jobdir = tmp.path().to_str().unwrap().to_owned();
//! let sched = SshScheduler::new(Arc::new(hpc_exec::LocalExecutor::new()), config, "nohup://");
//! let id = sched.submit_batch(&JobDescription::new("sh").args(["-c", "exit 3"])).await?;
//! // A second scheduler (a restarted client) sees the same job.
//! let again = SshScheduler::new(Arc::new(hpc_exec::LocalExecutor::new()), sched.config().clone(), "nohup://");
//! let status = again.wait_until_done(&id, None).await?;
//! assert_eq!((status.state, status.exit_code), (JobState::Failed, Some(3)));
//! # Ok(()) }
//! ```

mod parse;
pub mod script;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use hpc_core::error::NotFoundKind;
use hpc_core::scheduler::ProgressFn;
use hpc_core::{
    Error, InteractiveJob, JobDescription, JobId, JobState, JobStatus, Location, QueueStatus,
    Result, Scheduler, SchedulerCapabilities, WaitUntil,
};
use hpc_exec::{Command, Executor};
use tokio::io::AsyncBufReadExt;

use self::parse::Submitted;
use self::script::Paths;
use crate::batch::{PollSettings, Poller, StatusSource};

/// The one queue of this adaptor.
pub const QUEUE: &str = "default";

/// Jobs per remote submit command.
const SUBMIT_CHUNK: usize = 32;

/// Settings of an [`SshScheduler`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SshConfig {
    /// Where job records live on the host (relative: to the home directory).
    pub jobdir: String,
    /// Where relative working directories start (relative: to the home
    /// directory); `None`: the home directory.
    pub workdir: Option<String>,
    /// Time between status queries while waiting.
    pub poll_interval: Duration,
    /// Time between SIGTERM and SIGKILL when cancelling.
    pub cancel_grace: Duration,
    /// Finished jobs older than this many days are removed at the next
    /// submit (0: never).
    pub keep_days: u32,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            jobdir: ".hpckit/jobs".into(),
            workdir: None,
            poll_interval: Duration::from_millis(500),
            cancel_grace: Duration::from_secs(2),
            keep_days: 7,
        }
    }
}

impl SshConfig {
    /// Settings from the path and parameters of an `ssh://` or `nohup://` location.
    pub fn from_location(loc: &Location) -> Result<Self> {
        let bad = |reason: String| Error::InvalidLocation { location: loc.to_string(), reason };
        // `/~/dir` (or `/~`) is relative to the home directory, like scp's `~/dir`.
        let workdir = match loc.path.as_deref() {
            None | Some("" | "/" | "/~" | "/~/") => None,
            Some(p) => Some(p.strip_prefix("/~/").unwrap_or(p).to_owned()),
        };
        let mut config = SshConfig { workdir, ..SshConfig::default() };
        let seconds = |key: &str, value: &str| {
            value
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s < 86_400.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| bad(format!("{key} must be a number of seconds, not {value:?}")))
        };
        for (key, value) in &loc.query {
            match key.as_str() {
                "jobdir" if !value.is_empty() => config.jobdir.clone_from(value),
                "poll" => config.poll_interval = seconds(key, value)?,
                "grace" => config.cancel_grace = seconds(key, value)?,
                "keep_days" => {
                    config.keep_days = value
                        .parse()
                        .map_err(|_| bad(format!("keep_days must be a number, not {value:?}")))?;
                }
                // The SSH connection's own settings (hpc_exec::ssh::SshOptions).
                k if loc.is_ssh() && hpc_exec::SSH_LOCATION_PARAMS.contains(&k) => {}
                _ => {
                    let ssh = if loc.is_ssh() {
                        format!(", {}", hpc_exec::SSH_LOCATION_PARAMS.join(", "))
                    } else {
                        String::new()
                    };
                    return Err(bad(format!(
                        "unknown parameter {key:?} (takes jobdir, poll, grace, keep_days{ssh})"
                    )));
                }
            }
        }
        Ok(config)
    }
}

/// Jobs as background processes on the executor's host.
#[derive(Debug, Clone)]
pub struct SshScheduler {
    executor: Arc<dyn Executor>,
    config: SshConfig,
    location: String,
    /// All concurrent waits share one status query per cycle.
    poller: Poller,
}

/// The batched status query, shared with the poller.
#[derive(Debug)]
struct Source {
    executor: Arc<dyn Executor>,
    jobdir: String,
}

#[async_trait]
impl StatusSource for Source {
    async fn query(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        statuses(&*self.executor, &self.jobdir, ids).await
    }
}

/// Status of `ids` in one remote command; ids that cannot be ours are
/// unknown without asking.
async fn statuses(
    executor: &dyn Executor,
    jobdir: &str,
    ids: &[JobId],
) -> Result<Vec<Result<JobStatus>>> {
    let asked: Vec<&str> = ids.iter().filter(|id| parse::valid_id(id)).map(JobId::as_str).collect();
    let mut answers =
        if asked.is_empty() { Vec::new() } else { query(executor, jobdir, &asked).await? };
    Ok(ids
        .iter()
        .map(|id| match answers.iter().position(|(a, _)| a == id) {
            Some(i) => answers.swap_remove(i).1,
            None => Err(Error::job_not_found(id)),
        })
        .collect())
}

/// Run the status program with `args` (ids, or `--all`).
async fn query(
    executor: &dyn Executor,
    jobdir: &str,
    args: &[&str],
) -> Result<Vec<(JobId, Result<JobStatus>)>> {
    let cmd = Command::new("sh")
        .arg("-c")
        .arg(script::STATUS)
        .arg("hpckit-status")
        .arg(jobdir)
        .args(args);
    let out = executor.run_checked(&cmd).await?;
    out.stdout_text()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| parse::status_line("hpckit ssh status", l))
        .collect()
}

/// Capabilities of the ssh adaptor (`remote`: over SSH, else `nohup://`).
pub fn capabilities(remote: bool) -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.is_embedded = true;
    c.supports_interactive = true;
    c.supports_batch = true;
    c.uses_file_system = true;
    c.survives_client_restart = true;
    c.credentials =
        if remote { hpc_auth::SSH_CREDENTIAL_KINDS } else { hpc_auth::LOCAL_CREDENTIAL_KINDS };
    c
}

impl SshScheduler {
    /// A scheduler running its jobs through `executor`. `location` is what
    /// [`Scheduler::location`] reports (it must not contain a secret).
    pub fn new(
        executor: Arc<dyn Executor>,
        config: SshConfig,
        location: impl Into<String>,
    ) -> Self {
        let source = Source { executor: Arc::clone(&executor), jobdir: config.jobdir.clone() };
        let settings = PollSettings {
            poll_interval: config.poll_interval,
            max_poll_interval: config.poll_interval.max(Duration::from_secs(3)),
            ..PollSettings::default()
        };
        let poller = Poller::new(Arc::new(source), settings);
        SshScheduler { executor, config, location: location.into(), poller }
    }

    /// The settings in use.
    pub fn config(&self) -> &SshConfig {
        &self.config
    }

    fn program(&self, program: &str, name: &str) -> Command {
        Command::new("sh").arg("-c").arg(program).arg(name)
    }

    fn paths(&self) -> Paths<'_> {
        Paths { workdir: self.config.workdir.as_deref() }
    }

    fn check_queue(&self, job: &JobDescription) -> Result<()> {
        match job.queue.as_deref() {
            None | Some(QUEUE) => Ok(()),
            Some(other) => Err(Error::NotFound {
                kind: NotFoundKind::Queue,
                name: format!("{other} (the ssh adaptor has one queue: {QUEUE})"),
            }),
        }
    }

    /// Submit up to [`SUBMIT_CHUNK`] jobs in one remote command.
    async fn submit_chunk(&self, jobs: &[&JobDescription]) -> Result<Vec<Result<JobId>>> {
        let mut cmd = self
            .program(&script::submit_program(), "hpckit-submit")
            .arg(&self.config.jobdir)
            .arg(self.config.keep_days.to_string())
            .arg(script::WRAPPER);
        for job in jobs {
            cmd = cmd
                .arg(script::job_script(job, &self.paths(), true))
                .arg(job.name.as_deref().unwrap_or(""));
        }
        let out = self.executor.run_checked(&cmd).await?;
        let text = out.stdout_text();
        let lines: Vec<&str> = text.lines().collect();
        let mut results = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            let Some(line) = lines.get(i) else {
                // The remote program stopped early (a setup error on the first line).
                let err = match lines.first().map(|l| parse::submit_line("submit", l)) {
                    Some(Ok(Submitted::Error(code, msg))) => submit_error(job, code, &msg),
                    _ => Error::Parse {
                        command: "hpckit ssh submit".into(),
                        reason: format!("expected {} result lines", jobs.len()),
                        line: text.clone().into_owned(),
                    },
                };
                results.push(Err(err));
                continue;
            };
            results.push(match parse::submit_line("hpckit ssh submit", line)? {
                Submitted::Ok(id) => Ok(id),
                Submitted::Error(code, msg) => Err(submit_error(job, code, &msg)),
            });
        }
        Ok(results)
    }
}

/// The error for a job the submit program refused.
fn submit_error(job: &JobDescription, code: i32, message: &str) -> Error {
    match code {
        script::CHECK_NO_EXECUTABLE => {
            Error::NotFound { kind: NotFoundKind::Executable, name: job.executable.clone() }
        }
        script::CHECK_NO_WORKDIR => Error::NotFound {
            kind: NotFoundKind::Path,
            name: format!(
                "working directory {}",
                job.working_directory.as_deref().unwrap_or("(the scheduler's)")
            ),
        },
        _ => Error::CommandFailed {
            command: "hpckit ssh submit".into(),
            exit_code: Some(code),
            stderr: message.to_owned(),
        },
    }
}

#[async_trait]
impl Scheduler for SshScheduler {
    fn adaptor(&self) -> &str {
        if self.executor.is_local() { "nohup" } else { "ssh" }
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn capabilities(&self) -> SchedulerCapabilities {
        capabilities(!self.executor.is_local())
    }

    fn poll_interval(&self) -> Duration {
        self.config.poll_interval
    }

    async fn submit_batch(&self, job: &JobDescription) -> Result<JobId> {
        job.validate()?;
        self.check_queue(job)?;
        let mut results = self.submit_chunk(&[job]).await?;
        results.pop().unwrap_or_else(|| Err(Error::InvalidInput("no job".into())))
    }

    async fn submit_many(&self, jobs: &[JobDescription]) -> Result<Vec<Result<JobId>>> {
        // Invalid descriptions fail alone; the rest go in chunks, a few at once.
        let mut results: Vec<Option<Result<JobId>>> = Vec::with_capacity(jobs.len());
        let mut valid = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            match job.validate().and_then(|()| self.check_queue(job)) {
                Ok(()) => {
                    valid.push(i);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let chunks: Vec<Vec<usize>> = valid.chunks(SUBMIT_CHUNK).map(<[usize]>::to_vec).collect();
        let mut futures = Vec::with_capacity(chunks.len());
        for chunk in &chunks {
            let descs: Vec<&JobDescription> = chunk.iter().map(|&i| &jobs[i]).collect();
            futures.push(async move { self.submit_chunk(&descs).await });
        }
        let answers: Vec<Result<Vec<Result<JobId>>>> =
            futures::stream::iter(futures).buffered(4).collect().await;
        for (chunk, answer) in chunks.iter().zip(answers) {
            let answer = answer?;
            for (&i, r) in chunk.iter().zip(answer) {
                results[i] = Some(r);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::InvalidInput("job not submitted".into()))))
            .collect())
    }

    async fn submit_interactive(&self, job: &JobDescription) -> Result<InteractiveJob> {
        job.validate()?;
        self.check_queue(job)?;
        let cmd = self
            .program(&script::interactive_program(), "hpckit-interactive")
            .arg(&self.config.jobdir)
            .arg(script::job_script(job, &self.paths(), false))
            .arg(job.name.as_deref().unwrap_or(""));
        let process = self.executor.spawn(&cmd).await?;
        let (stdin, stdout, stderr, mut control) = process.into_parts();
        let (Some(stdin), Some(stdout), Some(stderr)) = (stdin, stdout, stderr) else {
            return Err(Error::io("starting job", std::io::Error::other("missing pipe")));
        };
        // The first line says whether the job started, and its id.
        let mut stdout = tokio::io::BufReader::new(stdout);
        let mut header = String::new();
        stdout
            .read_line(&mut header)
            .await
            .map_err(|e| Error::io("reading the interactive job's first line", e))?;
        let id = match parse::submit_line("hpckit ssh interactive", &header) {
            Ok(Submitted::Ok(id)) => id,
            Ok(Submitted::Error(code, msg)) => {
                let _ = control.wait().await;
                return Err(submit_error(job, code, &msg));
            }
            Err(e) => {
                let _ = control.signal(9).await;
                return Err(e);
            }
        };
        // Keep the process handle alive until the job ends: dropping it early
        // would stop the job.
        tokio::spawn(async move {
            let _ = control.wait().await;
        });
        Ok(InteractiveJob { id, stdin, stdout: Box::pin(stdout), stderr })
    }

    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        statuses(&*self.executor, &self.config.jobdir, ids).await
    }

    async fn wait(
        &self,
        ids: &[JobId],
        until: WaitUntil,
        timeout: Option<Duration>,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Vec<Result<JobStatus>>> {
        self.poller.wait(ids, until, timeout, progress).await
    }

    async fn cancel(&self, id: &JobId) -> Result<JobStatus> {
        if !parse::valid_id(id) {
            return Err(Error::job_not_found(id));
        }
        let grace = self.config.cancel_grace.as_secs().max(1).to_string();
        let cmd = self
            .program(script::CANCEL, "hpckit-cancel")
            .arg(&self.config.jobdir)
            .arg(grace)
            .arg(id.as_str());
        let out = self.executor.run_checked(&cmd).await?;
        let text = out.stdout_text();
        match text.split_whitespace().nth(1) {
            Some("missing") => return Err(Error::job_not_found(id)),
            Some("ok" | "done") => {}
            _ => {
                return Err(Error::Parse {
                    command: "hpckit ssh cancel".into(),
                    reason: "expected `ID ok|done|missing`".into(),
                    line: text.into_owned(),
                });
            }
        }
        // SIGTERM ends most jobs at once; report the outcome if it comes soon.
        let limit = self.config.cancel_grace + Duration::from_secs(2);
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let status = self.status(id).await?;
            if status.is_done() || tokio::time::Instant::now() >= deadline {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn queue_names(&self) -> Result<Vec<String>> {
        Ok(vec![QUEUE.to_owned()])
    }

    async fn default_queue(&self) -> Result<Option<String>> {
        Ok(Some(QUEUE.to_owned()))
    }

    async fn queue_statuses(&self, names: &[String]) -> Result<Vec<QueueStatus>> {
        if let Some(other) = names.iter().find(|n| *n != QUEUE) {
            return Err(Error::NotFound {
                kind: NotFoundKind::Queue,
                name: format!("{other} (the ssh adaptor has one queue: {QUEUE})"),
            });
        }
        let jobs = self.list_jobs(&[]).await?;
        let count = |state| u32::try_from(jobs.iter().filter(|j| j.state == state).count()).ok();
        let mut q = QueueStatus::new(QUEUE);
        q.is_default = true;
        q.state = Some("up".into());
        q.running_jobs = count(JobState::Running);
        q.pending_jobs = count(JobState::Pending);
        q.nodes = Some(1);
        Ok(vec![q])
    }

    async fn list_jobs(&self, queues: &[String]) -> Result<Vec<JobStatus>> {
        if let Some(other) = queues.iter().find(|n| *n != QUEUE) {
            return Err(Error::NotFound { kind: NotFoundKind::Queue, name: other.clone() });
        }
        let mut jobs: Vec<JobStatus> = query(&*self.executor, &self.config.jobdir, &["--all"])
            .await?
            .into_iter()
            .filter_map(|(_, s)| s.ok())
            .collect();
        jobs.sort_by_key(|j| j.id.as_str().parse::<u64>().unwrap_or(u64::MAX));
        Ok(jobs)
    }
}
