//! [`SshScheduler`]: jobs as background processes on a host, behind
//! `Scheduler`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpc_core::error::NotFoundKind;
use hpc_core::scheduler::ProgressFn;
use hpc_core::{
    Error, InteractiveJob, JobDescription, JobId, JobPath, JobState, JobStatus, QueueStatus,
    Result, Scheduler, SchedulerCapabilities, SchedulerExt, SchedulerInfo, WaitUntil,
};
use hpc_exec::{Command, Executor};
use tokio::io::AsyncBufReadExt;

use super::config::SshConfig;
use super::parse::{self, Submitted};
use super::script::{self, Paths};
use crate::batch::submit::{Chunking, submit_chunked};
use crate::batch::{Lookup, PollConfig, Poller, StatusSource};

/// The one queue of this adaptor.
pub const QUEUE: &str = "default";

/// Jobs per remote submit command, and commands at once.
const CHUNKING: Chunking = Chunking { size: 32, parallel: 4, spread: false };

/// Jobs as background processes on the executor's host.
#[derive(Debug, Clone)]
pub struct SshScheduler {
    executor: Arc<dyn Executor>,
    config: SshConfig,
    info: SchedulerInfo,
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
    async fn query(&self, ids: &[JobId]) -> Result<Vec<Lookup>> {
        statuses(&*self.executor, &self.jobdir, ids).await
    }
}

/// Status of `ids` in one remote command; ids that cannot be ours are
/// unknown without asking.
async fn statuses(executor: &dyn Executor, jobdir: &str, ids: &[JobId]) -> Result<Vec<Lookup>> {
    let asked: Vec<&str> = ids.iter().filter(|id| parse::valid_id(id)).map(JobId::as_str).collect();
    let mut answers =
        if asked.is_empty() { Vec::new() } else { query(executor, jobdir, &asked).await? };
    Ok(ids
        .iter()
        .map(|id| {
            let i = answers.iter().position(|(a, _)| a == id)?;
            answers.swap_remove(i).1
        })
        .collect())
}

/// Run the status program with `args` (ids, or `--all`).
async fn query(
    executor: &dyn Executor,
    jobdir: &str,
    args: &[&str],
) -> Result<Vec<(JobId, Lookup)>> {
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
    c.embedded = true;
    c.submit_interactive = true;
    c.submit_batch = true;
    c.status_after_restart = true;
    c.credentials =
        if remote { hpc_auth::SSH_CREDENTIAL_KINDS } else { hpc_auth::LOCAL_CREDENTIAL_KINDS };
    c
}

impl SshScheduler {
    /// A scheduler running its jobs through `executor`. `location` is what
    /// [`SchedulerInfo::location`] reports (it must not contain a secret).
    pub fn new(
        executor: Arc<dyn Executor>,
        config: SshConfig,
        location: impl Into<String>,
    ) -> Self {
        let source = Source { executor: Arc::clone(&executor), jobdir: config.jobdir.clone() };
        let poll = PollConfig {
            poll_interval: config.poll_interval,
            max_poll_interval: config.poll_interval.max(Duration::from_secs(3)),
            ..PollConfig::default()
        };
        let poller = Poller::new(Arc::new(source), poll);
        let local = executor.is_local();
        let info =
            SchedulerInfo::new(if local { "nohup" } else { "ssh" }, location, capabilities(!local))
                .with_working_directory(config.workdir.as_deref().map(JobPath::from));
        SshScheduler { executor, config, info, poller }
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

    /// Run the submit program for `jobs` (one remote command); returns what
    /// it printed: one result line per job.
    async fn run_submit(&self, jobs: &[&JobDescription]) -> Result<String> {
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
        Ok(out.stdout_text().into_owned())
    }

    /// Submit a chunk of jobs in one remote command.
    async fn submit_chunk(&self, jobs: &[&JobDescription]) -> Result<Vec<Result<JobId>>> {
        let text = self.run_submit(jobs).await?;
        Ok(jobs.iter().enumerate().map(|(i, job)| submitted(&text, i, jobs.len(), job)).collect())
    }
}

/// The result for job `i` of `n` in the submit program's output `text`.
fn submitted(text: &str, i: usize, n: usize, job: &JobDescription) -> Result<JobId> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(line) = lines.get(i) else {
        // The remote program stopped early (a setup error on the first line).
        return Err(match lines.first().map(|l| parse::submit_line("submit", l)) {
            Some(Ok(Submitted::Error(code, msg))) => submit_error(job, code, &msg),
            _ => Error::parse("hpckit ssh submit", format!("expected {n} result lines"), text),
        });
    };
    match parse::submit_line("hpckit ssh submit", line)? {
        Submitted::Ok(id) => Ok(id),
        Submitted::Error(code, msg) => Err(submit_error(job, code, &msg)),
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
                job.working_directory.as_ref().map_or("(the scheduler's)", JobPath::as_str)
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
    fn info(&self) -> &SchedulerInfo {
        &self.info
    }

    async fn submit_batch(&self, job: &JobDescription) -> Result<JobId> {
        job.validate()?;
        self.check_queue(job)?;
        let text = self.run_submit(&[job]).await?;
        submitted(&text, 0, 1, job)
    }

    async fn submit_many(&self, jobs: &[JobDescription]) -> Result<Vec<Result<JobId>>> {
        // Invalid descriptions fail alone; the rest go in chunks, a few at once.
        let plans: Vec<Result<&JobDescription>> = jobs
            .iter()
            .map(|job| job.validate().and_then(|()| self.check_queue(job)).map(|()| job))
            .collect();
        Ok(submit_chunked(plans, CHUNKING, |chunk| async move { self.submit_chunk(&chunk).await })
            .await)
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
        let answers = statuses(&*self.executor, &self.config.jobdir, ids).await?;
        Ok(ids
            .iter()
            .zip(answers)
            .map(|(id, s)| s.ok_or_else(|| Error::job_not_found(id)))
            .collect())
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
                return Err(Error::parse(
                    "hpckit ssh cancel",
                    "expected `ID ok|done|missing`",
                    text.into_owned(),
                ));
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
            .filter_map(|(_, s)| s)
            .collect();
        jobs.sort_by_key(|j| j.id.as_str().parse::<u64>().unwrap_or(u64::MAX));
        Ok(jobs)
    }
}
