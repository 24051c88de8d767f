//! [`LocalScheduler`]: the embedded queue behind `Scheduler`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use hpc_core::scheduler::ProgressFn;
use hpc_core::{
    Error, InteractiveJob, JobDescription, JobId, JobPath, JobState, JobStatus, Location,
    QueueStatus, Result, Scheduler, SchedulerCapabilities, SchedulerExt, SchedulerInfo,
    WaitProgress, WaitUntil,
};
use hpc_exec::{Command, Executor, ExitStatus, LocalExecutor};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::config::LocalConfig;
use super::queue::{self, Job, Queue, State};
use super::{resolve, run};

/// The embedded scheduler. Cheap to clone; clones share the queue.
#[derive(Debug, Clone)]
pub struct LocalScheduler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    info: SchedulerInfo,
    workdir: PathBuf,
    cancel_grace: Duration,
    executor: LocalExecutor,
    state: Mutex<State>,
    /// Bumped on every state change; waiters sleep on it.
    changes: watch::Sender<u64>,
}

/// Capabilities of the local adaptor.
pub fn capabilities() -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.embedded = true;
    c.submit_interactive = true;
    c.submit_batch = true;
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
        let info = SchedulerInfo::new("local", location, capabilities())
            .with_working_directory(Some(JobPath::new(workdir.to_string_lossy())));
        let (changes, _) = watch::channel(0);
        Ok(LocalScheduler {
            inner: Arc::new(Inner {
                info,
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
            let inner = Arc::clone(self);
            tokio::spawn(async move {
                let (exit, error) =
                    run::run_batch(&inner.executor, cmd, kill, inner.cancel_grace).await;
                inner.finish(n, exit, error);
            });
        }
    }
}

#[async_trait]
impl Scheduler for LocalScheduler {
    fn info(&self) -> &SchedulerInfo {
        &self.inner.info
    }

    async fn submit_batch(&self, job: &JobDescription) -> Result<JobId> {
        job.validate()?;
        let queue = Queue::by_name(job.queue.as_deref().unwrap_or(Queue::DEFAULT.name()))?;
        let dir = resolve::working_dir(job, &self.inner.workdir)?;
        resolve::executable(job, &dir)?;
        let mut entry = Job::new(job.name.clone(), queue);
        entry.command = Some(run::batch_command(job, dir));
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
            let status = run::control_or_kill(&mut control, rx, inner.cancel_grace).await;
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
        // A timeout too large for a deadline means no deadline.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
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
