//! The [`Scheduler`] trait every batch-system adaptor implements.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::caps::SchedulerCapabilities;
use crate::error::{Error, Result};
use crate::job::{JobDescription, JobId, JobPath};
use crate::status::{JobState, JobStatus, QueueStatus};

/// A readable byte stream (stdout or stderr of an interactive job).
pub type BoxRead = Pin<Box<dyn AsyncRead + Send>>;
/// A writable byte stream (stdin of an interactive job).
pub type BoxWrite = Pin<Box<dyn AsyncWrite + Send>>;

/// A job whose standard streams are connected to the caller.
///
/// The scheduler keeps tracking the job under [`InteractiveJob::id`]: ask it
/// for the status (exit code) after the output has ended. Drop `stdin` (or
/// shut it down) to send end-of-file.
pub struct InteractiveJob {
    /// The job's id in the scheduler.
    pub id: JobId,
    /// The job's standard input.
    pub stdin: BoxWrite,
    /// The job's standard output.
    pub stdout: BoxRead,
    /// The job's standard error.
    pub stderr: BoxRead,
}

impl fmt::Debug for InteractiveJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InteractiveJob").field("id", &self.id).finish_non_exhaustive()
    }
}

/// What [`Scheduler::wait`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitUntil {
    /// Until each job runs or has already finished.
    Running,
    /// Until each job has finished.
    Done,
}

impl WaitUntil {
    /// Whether `status` satisfies this condition.
    pub fn is_met(self, status: &JobStatus) -> bool {
        match self {
            WaitUntil::Running => status.state != JobState::Pending,
            WaitUntil::Done => status.is_done(),
        }
    }
}

/// Counts reported while waiting for many jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitProgress {
    /// Jobs waiting for resources.
    pub pending: usize,
    /// Jobs running (or suspended).
    pub running: usize,
    /// Jobs finished, or no longer known to the scheduler.
    pub done: usize,
    /// All jobs waited for.
    pub total: usize,
}

impl WaitProgress {
    /// Count the states in one poll's answer. Unknown jobs count as done.
    pub fn count(statuses: &[Result<JobStatus>]) -> Self {
        let mut p = WaitProgress { total: statuses.len(), ..WaitProgress::default() };
        for s in statuses {
            match s {
                Ok(s) if s.is_done() => p.done += 1,
                Ok(s) if s.state != JobState::Pending => p.running += 1,
                Err(_) => p.done += 1,
                Ok(_) => p.pending += 1,
            }
        }
        p
    }
}

/// Callback for progress while waiting.
pub type ProgressFn<'a> = &'a (dyn Fn(&WaitProgress) + Send + Sync);

/// What a scheduler is: its adaptor, where it is and what it can do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchedulerInfo {
    /// Adaptor name (`local`, `ssh`, `slurm`, ...).
    pub adaptor: &'static str,
    /// The location the scheduler was opened with (never contains a secret).
    pub location: String,
    /// What the adaptor can do.
    pub capabilities: SchedulerCapabilities,
    /// Where jobs without a working directory start, and relative working
    /// directories are resolved from; `None`: the scheduler's own default
    /// (the home or login directory on the execution host).
    pub working_directory: Option<JobPath>,
}

impl SchedulerInfo {
    /// The info of an adaptor at `location`, without a working directory.
    pub fn new(
        adaptor: &'static str,
        location: impl Into<String>,
        capabilities: SchedulerCapabilities,
    ) -> Self {
        SchedulerInfo { adaptor, location: location.into(), capabilities, working_directory: None }
    }

    /// Set the working directory.
    pub fn with_working_directory(mut self, dir: Option<JobPath>) -> Self {
        self.working_directory = dir;
        self
    }
}

/// A batch system (or an embedded queue) that runs jobs.
///
/// All methods take `&self`: adaptors are shared (`Arc<dyn Scheduler>`) and
/// safe to call concurrently. Status queries are batched: [`Scheduler::statuses`]
/// answers for many jobs with one scheduler command, and [`Scheduler::wait`]
/// polls all watched jobs with one such call per cycle. What follows from
/// these methods (the status of one job, waiting for one job) is in
/// [`SchedulerExt`], implemented for every scheduler.
#[async_trait]
pub trait Scheduler: Send + Sync + fmt::Debug {
    /// Adaptor name, location, capabilities and working directory.
    fn info(&self) -> &SchedulerInfo;

    /// Submit a batch job; returns its id once the scheduler has accepted it.
    async fn submit_batch(&self, job: &JobDescription) -> Result<JobId>;

    /// Submit many batch jobs. Adaptors may do this in fewer round trips than
    /// one per job; the default submits up to 16 at a time. Results are in
    /// input order, one per job.
    async fn submit_many(&self, jobs: &[JobDescription]) -> Result<Vec<Result<JobId>>> {
        use futures::StreamExt;
        // Collect the futures first: a closure in `map` trips a lifetime
        // limitation of async-trait's boxed futures.
        let mut futures = Vec::with_capacity(jobs.len());
        for job in jobs {
            futures.push(self.submit_batch(job));
        }
        let results = futures::stream::iter(futures).buffered(16).collect::<Vec<_>>().await;
        Ok(results)
    }

    /// Start a job with its standard streams connected to the caller.
    async fn submit_interactive(&self, job: &JobDescription) -> Result<InteractiveJob> {
        let _ = job;
        Err(Error::unsupported(self.info().adaptor, "running interactive jobs"))
    }

    /// Status of many jobs in one query. The outer error is a failure of the
    /// query itself; each inner result is one job's status, or
    /// [`Error::NotFound`] for an id the scheduler does not know.
    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>>;

    /// Cancel a job. Returns its status afterwards (which may still show it
    /// ending). Cancelling a finished job is not an error; an unknown id is
    /// [`Error::NotFound`].
    async fn cancel(&self, id: &JobId) -> Result<JobStatus>;

    /// Cancel many jobs with as few scheduler commands as the adaptor can, and
    /// without the status query that [`Scheduler::cancel`] makes afterwards
    /// (ADR 0903). One result per id, in input order: `Ok(())` once the
    /// scheduler took the request (the job may still be ending, or had
    /// ended), [`Error::NotFound`] for an id that cannot be one of this
    /// scheduler's, any other error for a job the scheduler refused to
    /// cancel. The outer error is a failure of the command as a whole.
    ///
    /// The default calls [`Scheduler::cancel`] for each id, up to 16 at once.
    async fn cancel_many(&self, ids: &[JobId]) -> Result<Vec<Result<()>>> {
        use futures::StreamExt;
        let mut futures = Vec::with_capacity(ids.len());
        for id in ids {
            futures.push(self.cancel(id));
        }
        let results = futures::stream::iter(futures).buffered(16).collect::<Vec<_>>().await;
        Ok(results.into_iter().map(|r| r.map(drop)).collect())
    }

    /// Wait until every job in `ids` meets `until` or `timeout` passes, and
    /// return the last statuses (in input order). A timeout is not an error:
    /// check the statuses. Jobs that turn out unknown count as finished and are
    /// returned as [`Error::NotFound`]; the outer error is a failed status query.
    ///
    /// The default polls with [`poll_wait`] once a second.
    async fn wait(
        &self,
        ids: &[JobId],
        until: WaitUntil,
        timeout: Option<Duration>,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Vec<Result<JobStatus>>> {
        poll_wait(self, ids, until, timeout, progress, Duration::from_secs(1)).await
    }

    /// Names of all queues.
    async fn queue_names(&self) -> Result<Vec<String>>;

    /// The queue jobs go to when none is given, if the scheduler has one.
    async fn default_queue(&self) -> Result<Option<String>>;

    /// Status of the named queues (all queues when `names` is empty).
    async fn queue_statuses(&self, names: &[String]) -> Result<Vec<QueueStatus>>;

    /// Jobs in the named queues (all queues when empty) that this scheduler
    /// shows the user: its own jobs for real batch systems.
    async fn list_jobs(&self, queues: &[String]) -> Result<Vec<JobStatus>>;
}

/// What every [`Scheduler`] can do through its own methods: the status of
/// one job, and waiting for one job. Implemented for every scheduler.
#[async_trait]
pub trait SchedulerExt: Scheduler {
    /// Status of one job ([`Scheduler::statuses`] of one id).
    async fn status(&self, id: &JobId) -> Result<JobStatus> {
        let all = self.statuses(std::slice::from_ref(id)).await?;
        the_one(all, id)
    }

    /// Wait until one job has finished, or `timeout` passes (then the returned
    /// status is not final).
    async fn wait_until_done(&self, id: &JobId, timeout: Option<Duration>) -> Result<JobStatus> {
        let all = self.wait(std::slice::from_ref(id), WaitUntil::Done, timeout, None).await?;
        the_one(all, id)
    }

    /// Wait until one job runs (or has finished), or `timeout` passes.
    async fn wait_until_running(&self, id: &JobId, timeout: Option<Duration>) -> Result<JobStatus> {
        let all = self.wait(std::slice::from_ref(id), WaitUntil::Running, timeout, None).await?;
        the_one(all, id)
    }
}

impl<S: Scheduler + ?Sized> SchedulerExt for S {}

/// The answer for `id` in the answers to a query about `id` alone; no answer
/// means the scheduler does not know it.
fn the_one(answers: Vec<Result<JobStatus>>, id: &JobId) -> Result<JobStatus> {
    answers.into_iter().next().unwrap_or_else(|| Err(Error::job_not_found(id)))
}

/// One answer per id, in order: the scheduler's answers, and
/// [`Error::NotFound`] for an id it gave no answer for (it does not know it).
pub fn answer_each(ids: &[JobId], answers: Vec<Result<JobStatus>>) -> Vec<Result<JobStatus>> {
    let mut answers = answers.into_iter();
    ids.iter().map(|id| answers.next().unwrap_or_else(|| Err(Error::job_not_found(id)))).collect()
}

/// Wait by asking [`Scheduler::statuses`] every `interval` about the jobs
/// that have not met `until` yet (one query per cycle for all of them); the
/// contract of [`Scheduler::wait`]. Adaptors without a poller of their own
/// use it, with their own interval.
pub async fn poll_wait<S: Scheduler + ?Sized>(
    sched: &S,
    ids: &[JobId],
    until: WaitUntil,
    timeout: Option<Duration>,
    progress: Option<ProgressFn<'_>>,
    interval: Duration,
) -> Result<Vec<Result<JobStatus>>> {
    // A timeout past what an Instant can hold is no deadline at all.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    // The first query answers for every job, so each has a status from then on.
    let mut last = answer_each(ids, sched.statuses(ids).await?);
    loop {
        if let Some(progress) = progress {
            progress(&WaitProgress::count(&last));
        }
        // Ask only about jobs that have not met the condition yet.
        let open: Vec<usize> =
            (0..ids.len()).filter(|&i| matches!(&last[i], Ok(s) if !until.is_met(s))).collect();
        if open.is_empty() {
            return Ok(last);
        }
        let mut sleep = interval;
        if let Some(deadline) = deadline {
            let now = Instant::now();
            if now >= deadline {
                return Ok(last);
            }
            sleep = sleep.min(deadline - now);
        }
        tokio::time::sleep(sleep).await;
        let query: Vec<JobId> = open.iter().map(|&i| ids[i].clone()).collect();
        let answers = answer_each(&query, sched.statuses(&query).await?);
        for (i, a) in open.into_iter().zip(answers) {
            last[i] = a;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A scheduler whose job `n` finishes after `n` polls; counts queries.
    #[derive(Debug)]
    struct Countdown {
        info: SchedulerInfo,
        polls: AtomicUsize,
        asked: Mutex<Vec<usize>>,
    }

    impl Default for Countdown {
        fn default() -> Self {
            Countdown {
                info: SchedulerInfo::new(
                    "countdown",
                    "countdown://",
                    SchedulerCapabilities::default(),
                ),
                polls: AtomicUsize::new(0),
                asked: Mutex::new(Vec::new()),
            }
        }
    }

    #[async_trait]
    impl Scheduler for Countdown {
        fn info(&self) -> &SchedulerInfo {
            &self.info
        }
        async fn wait(
            &self,
            ids: &[JobId],
            until: WaitUntil,
            timeout: Option<Duration>,
            progress: Option<ProgressFn<'_>>,
        ) -> Result<Vec<Result<JobStatus>>> {
            poll_wait(self, ids, until, timeout, progress, Duration::from_millis(10)).await
        }
        async fn submit_batch(&self, _job: &JobDescription) -> Result<JobId> {
            Ok("1".into())
        }
        async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
            let poll = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
            self.asked.lock().unwrap().push(ids.len());
            Ok(ids
                .iter()
                .map(|id| {
                    let n: usize = id.as_str().parse().map_err(|_| Error::job_not_found(id))?;
                    let state = if poll >= n { JobState::Completed } else { JobState::Running };
                    Ok(JobStatus::new(id.clone(), state))
                })
                .collect())
        }
        async fn cancel(&self, id: &JobId) -> Result<JobStatus> {
            Err(Error::job_not_found(id))
        }
        async fn queue_names(&self) -> Result<Vec<String>> {
            Ok(vec![])
        }
        async fn default_queue(&self) -> Result<Option<String>> {
            Ok(None)
        }
        async fn queue_statuses(&self, _names: &[String]) -> Result<Vec<QueueStatus>> {
            Ok(vec![])
        }
        async fn list_jobs(&self, _queues: &[String]) -> Result<Vec<JobStatus>> {
            Ok(vec![])
        }
    }

    #[tokio::test]
    async fn wait_polls_all_open_jobs_in_one_query_per_cycle() {
        let s = Countdown::default();
        let ids: Vec<JobId> = ["1", "3", "x", "2"].into_iter().map(JobId::from).collect();
        let seen = Mutex::new(Vec::new());
        let progress = |p: &WaitProgress| seen.lock().unwrap().push(*p);
        let out = s.wait(&ids, WaitUntil::Done, None, Some(&progress)).await.unwrap();
        assert!(out[0].as_ref().unwrap().is_done());
        assert!(out[1].as_ref().unwrap().is_done());
        assert!(out[2].as_ref().unwrap_err().is_not_found());
        assert!(out[3].as_ref().unwrap().is_done());
        // One query per cycle, asking only about the jobs still open.
        assert_eq!(*s.asked.lock().unwrap(), vec![4, 2, 1]);
        let last = *seen.lock().unwrap().last().unwrap();
        assert_eq!(last, WaitProgress { pending: 0, running: 0, done: 4, total: 4 });
    }

    #[tokio::test(start_paused = true)]
    async fn wait_returns_unfinished_status_at_timeout() {
        let s = Countdown::default();
        let st = s.wait_until_done(&"1000".into(), Some(Duration::from_millis(35))).await.unwrap();
        assert_eq!(st.state, JobState::Running);
        assert!(s.polls.load(Ordering::SeqCst) >= 3);
    }

    #[tokio::test]
    async fn cancel_many_answers_each_id_in_order_by_default() {
        let s = Countdown::default();
        let ids: Vec<JobId> = ["7", "8", "9"].into_iter().map(JobId::from).collect();
        let out = s.cancel_many(&ids).await.unwrap();
        assert_eq!(out.len(), 3);
        for (id, r) in ids.iter().zip(&out) {
            let e = r.as_ref().unwrap_err();
            assert!(e.is_not_found() && e.to_string().contains(id.as_str()), "{e}");
        }
    }

    #[tokio::test]
    async fn status_of_unknown_job_is_not_found() {
        let s = Countdown::default();
        assert!(s.status(&"nope".into()).await.unwrap_err().is_not_found());
    }
}
