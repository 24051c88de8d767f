//! [`BatchAdaptor`]: what one batch system adds to the shared
//! [`Backend`](super::Backend), and [`Host`]: how its commands run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use hpc_core::{
    Error, InteractiveJob, JobDescription, JobId, JobStatus, QueueStatus, Result,
    SchedulerCapabilities,
};
use hpc_exec::{Command, Executor, Output};
use tracing::Instrument;

use super::config::BatchConfig;
use super::poller::Lookup;
use super::submit::{Chunking, Submission};

/// One batch system (Slurm, Grid Engine, Torque, at): its scripts, commands
/// and parsers. [`super::Backend`] implements `Scheduler` once on top of it:
/// construction, locations, batched submission, the shared poller, queue
/// selection. The adaptor's own memory of jobs (what it submitted, what it
/// saw) lives in `self`.
#[async_trait]
pub trait BatchAdaptor: Default + Send + Sync + 'static {
    /// Scheme and adaptor name (`slurm`).
    const NAME: &'static str;
    /// Environment every command gets before the configured one.
    const ENV: &'static [(&'static str, &'static str)] = &[];

    /// The per-site configuration.
    type Config: BatchConfig;

    /// What the adaptor can do.
    fn capabilities() -> SchedulerCapabilities;

    /// How `submit_many` cuts jobs into round trips.
    fn chunking(config: &Self::Config) -> Chunking;

    /// One job's submit command and script. An error rejects the job before
    /// anything is sent.
    fn plan(&self, config: &Self::Config, job: &JobDescription) -> Result<Submission>;

    /// The job id from the output of a submit command that succeeded (the
    /// command as `shown`); the adaptor may remember the job here.
    fn submitted(&self, job: &JobDescription, shown: &str, output: &str) -> Result<JobId>;

    /// The reason a command failed, from its standard error (or, when that
    /// is empty, its output), as error messages show it.
    fn error_text(output: &str) -> String {
        output.to_owned()
    }

    /// Whether a failed command's text says that the batch system's
    /// controller did not answer (down, restarting, overloaded): the same
    /// command may work a moment later, so the error is
    /// [`Retry::Temporary`](hpc_core::error::Retry) and a wait's poll loop rides it out.
    fn controller_unreachable(_output: &str) -> bool {
        false
    }

    /// One [`Lookup`] per id, in order, with as few commands as possible:
    /// what the poller asks every cycle.
    async fn statuses(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Lookup>>;

    /// What `Scheduler::statuses` answers: the same, with details that cost
    /// an extra command where the adaptor has them.
    async fn detailed_statuses(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Lookup>> {
        self.statuses(host, ids).await
    }

    /// Cancel a job ([`Error::NotFound`] for an id that cannot be one of
    /// this scheduler's); the backend reports the status afterwards.
    async fn cancel(&self, host: &Host<Self>, id: &JobId) -> Result<()>;

    /// Cancel many jobs ([`hpc_core::Scheduler::cancel_many`]): one result
    /// per id, in order. The default runs [`BatchAdaptor::cancel`] for each,
    /// one command per job; adaptors whose cancel command takes many ids
    /// send one.
    async fn cancel_many(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Result<()>>> {
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            results.push(self.cancel(host, id).await);
        }
        Ok(results)
    }

    /// Every queue.
    async fn queues(&self, host: &Host<Self>) -> Result<Vec<QueueStatus>>;

    /// The names of every queue.
    async fn queue_names(&self, host: &Host<Self>) -> Result<Vec<String>> {
        Ok(self.queues(host).await?.into_iter().map(|q| q.name).collect())
    }

    /// The queue of jobs that name none.
    async fn default_queue(&self, host: &Host<Self>) -> Result<Option<String>> {
        Ok(self.queues(host).await?.into_iter().find(|q| q.is_default).map(|q| q.name))
    }

    /// The user's jobs in `queues` (all queues when empty).
    async fn list_jobs(&self, host: &Host<Self>, queues: &[String]) -> Result<Vec<JobStatus>>;

    /// Start an interactive job, where the batch system has them.
    async fn submit_interactive(
        &self,
        host: &Host<Self>,
        job: &JobDescription,
    ) -> Result<InteractiveJob> {
        let _ = (host, job);
        Err(Error::unsupported(Self::NAME, "running interactive jobs"))
    }
}

/// Where an adaptor's commands run: the executor, the configuration, and a
/// count of the commands run.
pub struct Host<A: BatchAdaptor> {
    exec: Arc<dyn Executor>,
    config: A::Config,
    commands_run: AtomicU64,
}

impl<A: BatchAdaptor> Host<A> {
    pub(crate) fn new(exec: Arc<dyn Executor>, config: A::Config) -> Self {
        Host { exec, config, commands_run: AtomicU64::new(0) }
    }

    /// The configuration.
    pub fn config(&self) -> &A::Config {
        &self.config
    }

    /// The executor commands run through.
    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.exec
    }

    /// How many commands have run.
    pub fn commands_run(&self) -> u64 {
        self.commands_run.load(Ordering::Relaxed)
    }

    /// `argv` (program first) with the adaptor's and the configured environment.
    pub fn command<S: AsRef<str>>(&self, argv: &[S]) -> Command {
        let mut cmd = Command::new(argv[0].as_ref()).args(argv[1..].iter().map(AsRef::as_ref));
        for (k, v) in A::ENV {
            cmd = cmd.env(*k, *v);
        }
        for (k, v) in self.config.env() {
            cmd = cmd.env(k.clone(), v);
        }
        cmd
    }

    /// Run a command.
    pub async fn run(&self, cmd: &Command) -> Result<Output> {
        self.commands_run.fetch_add(1, Ordering::Relaxed);
        let span = tracing::debug_span!(
            "batch",
            adaptor = A::NAME,
            target = self.exec.target(),
            command = %cmd.display()
        );
        self.exec.run(cmd).instrument(span).await
    }

    /// Run a command; a non-zero exit is [`Error::CommandFailed`].
    pub async fn run_checked(&self, cmd: &Command) -> Result<Output> {
        let out = self.run(cmd).await?;
        if out.status.success() { Ok(out) } else { Err(self.failed(&cmd.display(), &out)) }
    }

    /// The error for `out` of a command (as `shown`) that exited non-zero.
    pub fn failed(&self, shown: &str, out: &Output) -> Error {
        command_failed::<A>(shown, out.status.code, &failure_text(out))
    }
}

/// The error of a batch command (as `shown`) that exited with `exit_code`
/// and said `text`: a temporary [`Error::Remote`] when the controller did
/// not answer, else [`Error::CommandFailed`].
pub(crate) fn command_failed<A: BatchAdaptor>(
    shown: &str,
    exit_code: Option<i32>,
    text: &str,
) -> Error {
    let stderr = A::error_text(text);
    if !A::controller_unreachable(&stderr) {
        return Error::CommandFailed { command: shown.to_owned(), exit_code, stderr };
    }
    let said = stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    Error::Remote {
        service: A::NAME.to_owned(),
        status: None,
        message: format!(
            "`{shown}`: the controller did not answer: {}",
            hpc_core::text::quote("stderr line", said)
        ),
        retry: hpc_core::error::Retry::Temporary,
        source: None,
    }
}

/// What a failed command said: its standard error, else its output.
pub(crate) fn failure_text(out: &Output) -> String {
    let text = if out.stderr.is_empty() { out.stdout_text() } else { out.stderr_text() };
    text.into_owned()
}

/// Report the name a client submitted (`submitted`) where the scheduler
/// shows only its sanitized form (`sanitize(submitted)`), as Grid Engine and
/// Torque do with characters they do not allow.
pub fn restore_name(
    submitted: Option<&str>,
    sanitize: impl Fn(&str) -> Option<String>,
    mut status: JobStatus,
) -> JobStatus {
    if let Some(orig) = submitted
        && status.name.is_some()
        && status.name == sanitize(orig)
    {
        status.name = Some(orig.to_owned());
    }
    status
}

#[cfg(test)]
mod tests {
    use hpc_core::JobState;

    use super::*;

    #[test]
    fn only_the_sanitized_form_of_the_submitted_name_is_restored() {
        let sanitize = |n: &str| Some(n.replace(' ', "_"));
        let shown = |name: &str| {
            JobStatus::new("1".into(), JobState::Running).with_name(Some(name.to_owned()))
        };
        let s = restore_name(Some("a b"), sanitize, shown("a_b"));
        assert_eq!(s.name.as_deref(), Some("a b"));
        let s = restore_name(Some("a b"), sanitize, shown("other"));
        assert_eq!(s.name.as_deref(), Some("other"));
        let s = restore_name(None, sanitize, shown("a_b"));
        assert_eq!(s.name.as_deref(), Some("a_b"));
    }

    #[test]
    fn a_controller_that_does_not_answer_is_a_temporary_error_of_its_service() {
        use crate::{sge::Sge, slurm::Slurm, torque::Torque};
        let cases = [
            (
                command_failed::<Slurm>(
                    "squeue -h",
                    Some(1),
                    "squeue: error: Unable to contact slurm controller (connect failure)\n",
                ),
                "slurm",
            ),
            (
                command_failed::<Sge>(
                    "qstat",
                    Some(1),
                    "error: commlib error: got select error (Connection refused)\n\
                     error: unable to send message to qmaster using port 6444 on host \"h\"\n",
                ),
                "sge",
            ),
            (
                command_failed::<Torque>(
                    "qstat -x",
                    Some(111),
                    "qstat: cannot connect to server h (errno=111) Connection refused\n",
                ),
                "torque",
            ),
        ];
        for (e, service) in cases {
            assert!(e.is_retryable(), "{e}");
            assert!(matches!(&e, Error::Remote { service: s, .. } if s == service), "{e:?}");
            assert!(e.to_string().contains("the controller did not answer"), "{e}");
        }
        // Any other failure stays the command's, and final.
        let e = command_failed::<Slurm>("sbatch", Some(1), "sbatch: error: invalid partition\n");
        assert!(matches!(e, Error::CommandFailed { .. }) && !e.is_retryable(), "{e:?}");
    }
}
