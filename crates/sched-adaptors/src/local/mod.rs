//! The `local` scheduler: an embedded queue in this process.
//!
//! Location: `local://[/workdir][?max_concurrent=N&history=N]`. Jobs run on
//! this host through [`hpc_exec::LocalExecutor`] (each in its own process
//! group), and live as long as this process: use the `ssh` adaptor over a
//! local executor for jobs that must outlive it.
//!
//! * Queues (Xenon's design): `multi` (default; at most `max_concurrent` jobs
//!   at once, default: the number of CPUs), `single` (one at a time) and
//!   `unlimited`. Interactive jobs start at once, whatever the queue holds.
//! * Batch jobs read `stdin` and write `stdout`/`stderr` files named in the
//!   description (relative to the job's working directory); without them
//!   input is empty and output is discarded.
//! * The working directory and the executable are checked at submit time:
//!   a missing one is [`hpc_core::Error::NotFound`] right away.
//! * Cancelling sends SIGTERM to the job's process group and SIGKILL after a
//!   grace period; the job then reports [`JobState::Cancelled`].
//! * Waiting does not poll: every state change wakes the waiters.
//! * Finished jobs stay queryable until `history` newer ones have finished.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> hpc_core::Result<()> {
//! use hpc_core::{JobDescription, JobState, Scheduler};
//! use sched_adaptors::local::LocalScheduler;
//!
//! let sched = LocalScheduler::new(Default::default())?;
//! assert!(sched.location().starts_with("local:///"));
//! let id = sched.submit_batch(&JobDescription::new("sh").args(["-c", "exit 3"])).await?;
//! let status = sched.wait_until_done(&id, None).await?;
//! assert_eq!((status.state, status.exit_code), (JobState::Failed, Some(3)));
//! # Ok(()) }
//! ```

mod queue;
mod resolve;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use hpc_core::scheduler::ProgressFn;
use hpc_core::{
    Error, InteractiveJob, JobDescription, JobId, JobState, JobStatus, Location, QueueStatus,
    Result, Scheduler, SchedulerCapabilities, WaitProgress, WaitUntil,
};
use hpc_exec::{Command, Executor, ExitStatus, LocalExecutor, Process, ProcessControl};
use tokio::io::AsyncReadExt;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use self::queue::{Job, Queue, State};

/// Settings of a [`LocalScheduler`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalConfig {
    /// Directory relative working directories start from (default: this
    /// process's current directory).
    pub workdir: Option<PathBuf>,
    /// Jobs the `multi` queue runs at once (default: the number of CPUs).
    pub max_concurrent: usize,
    /// Finished jobs kept queryable (default 1000).
    pub history: usize,
    /// Time between SIGTERM and SIGKILL when cancelling (default 2 s).
    pub cancel_grace: Duration,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            workdir: None,
            max_concurrent: std::thread::available_parallelism().map_or(4, |n| n.get()),
            history: 1000,
            cancel_grace: Duration::from_secs(2),
        }
    }
}

impl LocalConfig {
    /// Settings from a `local://[/workdir][?max_concurrent=N&history=N]` location.
    pub fn from_location(loc: &Location) -> Result<Self> {
        if loc.scheme != "local" || loc.transport.is_some() {
            return Err(Error::InvalidLocation {
                location: loc.to_string(),
                reason: "not a local:// location".into(),
            });
        }
        loc.expect_no_host()?;
        let mut config =
            LocalConfig { workdir: loc.path.as_ref().map(PathBuf::from), ..Default::default() };
        for (key, value) in &loc.query {
            let number = || {
                value.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::InvalidLocation {
                        location: loc.to_string(),
                        reason: format!("{key} must be a positive number, not {value:?}"),
                    }
                })
            };
            match key.as_str() {
                "max_concurrent" => config.max_concurrent = number()?,
                "history" => config.history = number()?,
                _ => {
                    return Err(Error::InvalidLocation {
                        location: loc.to_string(),
                        reason: format!(
                            "unknown parameter {key:?} (local:// takes max_concurrent, history)"
                        ),
                    });
                }
            }
        }
        Ok(config)
    }
}

/// The embedded scheduler. Cheap to clone; clones share the queue.
#[derive(Debug, Clone)]
pub struct LocalScheduler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    location: String,
    workdir: PathBuf,
    cancel_grace: Duration,
    executor: LocalExecutor,
    state: Mutex<State>,
    /// Bumped on every state change; waiters sleep on it.
    changes: watch::Sender<u64>,
}

/// Shell step that connects the job's files and then becomes the job, so
/// the job writes straight to its files and keeps the process-group leader's
/// pid. Arguments: stdin, stdout, stderr, `merge` (stderr into stdout) or
/// `split`, then the program and its arguments. Errors before the final
/// `exec` (a missing output directory) go to the pipe the scheduler reads.
const REDIRECT: &str = r#"exec <"$1" >"$2" || exit 126
if [ "$4" = merge ]; then exec 2>&1; else exec 2>"$3" || exit 126; fi
shift 4
exec "$@""#;

/// Capabilities of the local adaptor.
pub fn capabilities() -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.is_embedded = true;
    c.supports_interactive = true;
    c.supports_batch = true;
    c.uses_file_system = true;
    c.credentials = hpc_auth::LOCAL_CREDENTIAL_KINDS;
    c
}

impl LocalScheduler {
    /// A scheduler with these settings.
    pub fn new(config: LocalConfig) -> Result<Self> {
        let workdir = match config.workdir {
            Some(dir) => dir,
            None => std::env::current_dir()
                .map_err(|e| Error::io("reading the current directory", e))?,
        };
        if !workdir.is_dir() {
            return Err(Error::NotFound {
                kind: hpc_core::NotFoundKind::Path,
                name: format!("working directory {}", workdir.display()),
            });
        }
        let location = Location {
            scheme: "local".into(),
            transport: None,
            user: None,
            host: None,
            port: None,
            path: Some(workdir.to_string_lossy().into_owned()),
            query: Vec::new(),
            via: Vec::new(),
        }
        .to_string();
        let (changes, _) = watch::channel(0);
        Ok(LocalScheduler {
            inner: Arc::new(Inner {
                location,
                workdir,
                cancel_grace: config.cancel_grace,
                executor: LocalExecutor::new(),
                state: Mutex::new(State::new(config.max_concurrent, config.history)),
                changes,
            }),
        })
    }

    /// A scheduler for a `local://` location.
    pub fn from_location(loc: &Location) -> Result<Self> {
        Self::new(LocalConfig::from_location(loc)?)
    }

    fn snapshot(&self, ids: &[JobId]) -> Vec<Result<JobStatus>> {
        let state = self.inner.lock();
        ids.iter().map(|id| state.status(id)).collect()
    }

    fn batch_command(&self, job: &JobDescription, dir: PathBuf) -> Command {
        let file = |f: &Option<String>| f.clone().unwrap_or_else(|| "/dev/null".into());
        let merge = job.stdout.is_some() && job.stdout == job.stderr;
        let mut cmd = Command::new("/bin/sh")
            .arg("-c")
            .arg(REDIRECT)
            .arg("hpckit-job")
            .arg(file(&job.stdin))
            .arg(file(&job.stdout))
            .arg(file(&job.stderr))
            .arg(if merge { "merge" } else { "split" })
            .arg(&job.executable)
            .args(&job.arguments)
            .current_dir(dir);
        for (k, v) in &job.environment {
            cmd = cmd.env(k, v);
        }
        cmd
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Record the end of job `n` and start whatever may run now.
    fn finish(self: &Arc<Self>, n: u64, exit: Option<ExitStatus>, error: Option<String>) {
        let start = {
            let mut state = self.lock();
            state.finish(n, exit, error);
            state.dispatch()
        };
        self.changed();
        self.start(start);
    }

    fn start(self: &Arc<Self>, jobs: Vec<u64>) {
        for n in jobs {
            let cmd_and_kill = {
                let mut state = self.lock();
                let Some(job) = state.jobs.get_mut(&n) else { continue };
                let (tx, rx) = oneshot::channel();
                job.kill = Some(tx);
                (job.command.take(), rx)
            };
            let (Some(cmd), kill) = cmd_and_kill else { continue };
            tokio::spawn(run_batch(Arc::clone(self), n, cmd, kill));
        }
    }
}

/// Run one batch job to its end and record how it ended.
async fn run_batch(inner: Arc<Inner>, n: u64, cmd: Command, mut kill: oneshot::Receiver<()>) {
    let process = tokio::select! {
        p = inner.executor.spawn(&cmd) => p,
        _ = &mut kill => {
            inner.finish(n, None, None);
            return;
        }
    };
    let mut process = match process {
        Ok(p) => p,
        Err(e) => {
            inner.finish(n, None, Some(e.to_string()));
            return;
        }
    };
    drop(process.stdin.take());
    let (stdout, stderr) = (process.stdout.take(), process.stderr.take());
    let grace = inner.cancel_grace;
    let (status, _, errors) = tokio::join!(
        wait_or_kill(&mut process, kill, grace),
        drain(stdout, 0),
        drain(stderr, 4096),
    );
    let error = match &status {
        Ok(s) if s.success() => None,
        Ok(_) => last_line(&errors),
        Err(e) => Some(e.to_string()),
    };
    inner.finish(n, status.ok(), error);
}

/// Wait for the process; on a kill request, SIGTERM its group, then SIGKILL
/// after `grace`.
async fn wait_or_kill(
    process: &mut Process,
    kill: oneshot::Receiver<()>,
    grace: Duration,
) -> Result<ExitStatus> {
    tokio::select! {
        s = process.wait() => return s,
        r = kill => if r.is_err() {
            // The scheduler forgot the job without cancelling it; let it run.
            return process.wait().await;
        },
    }
    process.terminate().await?;
    if let Ok(s) = tokio::time::timeout(grace, process.wait()).await {
        return s;
    }
    process.kill().await?;
    process.wait().await
}

/// The same for an interactive job, whose streams belong to the caller.
async fn control_or_kill(
    control: &mut Box<dyn ProcessControl>,
    kill: oneshot::Receiver<()>,
    grace: Duration,
) -> Result<ExitStatus> {
    tokio::select! {
        s = control.wait() => return s,
        r = kill => if r.is_err() {
            return control.wait().await;
        },
    }
    control.signal(15).await?;
    if let Ok(s) = tokio::time::timeout(grace, control.wait()).await {
        return s;
    }
    control.signal(9).await?;
    control.wait().await
}

/// Read a stream to its end, keeping at most `keep` bytes.
async fn drain(stream: Option<hpc_exec::BoxRead>, keep: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut stream) = stream else { return kept };
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = keep.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    kept
}

fn last_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines().rev().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned)
}

#[async_trait]
impl Scheduler for LocalScheduler {
    fn adaptor(&self) -> &str {
        "local"
    }

    fn location(&self) -> &str {
        &self.inner.location
    }

    fn capabilities(&self) -> SchedulerCapabilities {
        capabilities()
    }

    async fn submit_batch(&self, job: &JobDescription) -> Result<JobId> {
        job.validate()?;
        let queue = Queue::by_name(job.queue.as_deref().unwrap_or(Queue::DEFAULT.name()))?;
        let dir = resolve::working_dir(job, &self.inner.workdir)?;
        resolve::executable(job, &dir)?;
        let mut entry = Job::new(job.name.clone(), queue);
        entry.command = Some(self.batch_command(job, dir));
        let (n, start) = {
            let mut state = self.inner.lock();
            let n = state.enqueue(entry);
            (n, state.dispatch())
        };
        self.inner.changed();
        self.inner.start(start);
        tracing::debug!(job = n, "local job submitted");
        Ok(JobId::new(queue::format_id(n)))
    }

    async fn submit_interactive(&self, job: &JobDescription) -> Result<InteractiveJob> {
        job.validate()?;
        let queue = Queue::by_name(job.queue.as_deref().unwrap_or(Queue::DEFAULT.name()))?;
        let dir = resolve::working_dir(job, &self.inner.workdir)?;
        resolve::executable(job, &dir)?;
        let mut cmd = Command::new(&job.executable).args(&job.arguments).current_dir(dir);
        for (k, v) in &job.environment {
            cmd = cmd.env(k, v);
        }
        let process = self.inner.executor.spawn(&cmd).await?;
        let (stdin, stdout, stderr, mut control) = process.into_parts();
        let (Some(stdin), Some(stdout), Some(stderr)) = (stdin, stdout, stderr) else {
            return Err(Error::io("starting job", std::io::Error::other("missing pipe")));
        };
        let (tx, rx) = oneshot::channel();
        let mut entry = Job::new(job.name.clone(), queue);
        entry.kill = Some(tx);
        let n = self.inner.lock().start_now(entry);
        self.inner.changed();
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let status = control_or_kill(&mut control, rx, inner.cancel_grace).await;
            let error = status.as_ref().err().map(ToString::to_string);
            inner.finish(n, status.ok(), error);
        });
        Ok(InteractiveJob { id: JobId::new(queue::format_id(n)), stdin, stdout, stderr })
    }

    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        Ok(self.snapshot(ids))
    }

    async fn cancel(&self, id: &JobId) -> Result<JobStatus> {
        let n = queue::parse_id(id).ok_or_else(|| Error::job_not_found(id))?;
        let running = {
            let mut state = self.inner.lock();
            let job = state.jobs.get_mut(&n).ok_or_else(|| Error::job_not_found(id))?;
            match job.state {
                s if s.is_final() => return Ok(job.status(n)),
                JobState::Pending => {
                    state.cancel_pending(n);
                    false
                }
                _ => {
                    job.cancel_requested = true;
                    if let Some(kill) = job.kill.take() {
                        let _ = kill.send(());
                    }
                    true
                }
            }
        };
        if !running {
            self.inner.changed();
            return self.status(id).await;
        }
        // The kill takes effect within the grace period; report the outcome.
        let limit = self.inner.cancel_grace + Duration::from_secs(3);
        self.wait_until_done(id, Some(limit)).await
    }

    async fn wait(
        &self,
        ids: &[JobId],
        until: WaitUntil,
        timeout: Option<Duration>,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Vec<Result<JobStatus>>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut changes = self.inner.changes.subscribe();
        loop {
            // Mark the current version seen before looking, so no change is missed.
            changes.borrow_and_update();
            let statuses = self.snapshot(ids);
            if let Some(progress) = progress {
                progress(&WaitProgress::count(&statuses));
            }
            let met = statuses.iter().all(|s| s.as_ref().map_or(true, |s| until.is_met(s)));
            if met {
                return Ok(statuses);
            }
            let changed = changes.changed();
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, changed).await.is_err() {
                        return Ok(statuses);
                    }
                }
                None => {
                    let _ = changed.await;
                }
            }
        }
    }

    async fn queue_names(&self) -> Result<Vec<String>> {
        Ok(Queue::ALL.iter().map(|q| q.name().to_owned()).collect())
    }

    async fn default_queue(&self) -> Result<Option<String>> {
        Ok(Some(Queue::DEFAULT.name().to_owned()))
    }

    async fn queue_statuses(&self, names: &[String]) -> Result<Vec<QueueStatus>> {
        let queues = if names.is_empty() {
            Queue::ALL.to_vec()
        } else {
            names.iter().map(|n| Queue::by_name(n)).collect::<Result<_>>()?
        };
        let state = self.inner.lock();
        Ok(queues.into_iter().map(|q| state.queue_status(q)).collect())
    }

    async fn list_jobs(&self, queues: &[String]) -> Result<Vec<JobStatus>> {
        let wanted: Vec<Queue> = queues.iter().map(|n| Queue::by_name(n)).collect::<Result<_>>()?;
        let state = self.inner.lock();
        Ok(state
            .jobs
            .iter()
            .filter(|(_, j)| wanted.is_empty() || wanted.contains(&j.queue))
            .map(|(n, j)| j.status(*n))
            .collect())
    }
}
