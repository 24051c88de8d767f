//! [`Backend`]: `Scheduler` written once for every [`BatchAdaptor`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpc_core::scheduler::{ProgressFn, WaitUntil};
use hpc_core::{
    Error, InteractiveJob, JobDescription, JobId, JobStatus, Location, NotFoundKind, QueueStatus,
    Result, Scheduler, SchedulerExt, SchedulerInfo,
};
use hpc_exec::Executor;

use super::adaptor::{BatchAdaptor, Host};
use super::config::BatchConfig;
use super::poller::{Lookup, Poller, StatusSource, found, lookup_each};
use super::submit::{self, Submission, SubmitOutput};

/// A batch scheduler: [`BatchAdaptor`] `A` (its commands, scripts and
/// parsers) running through any [`Executor`], on this host (`A://`) or over
/// SSH (`A+ssh://user@host`).
///
/// Status is batched: one query answers for every job asked about, and all
/// concurrent [`Scheduler::wait`] calls share one poll loop. `submit_many`
/// sends many jobs per round trip and a few round trips at once. Cheap to
/// clone; clones share everything.
pub struct Backend<A: BatchAdaptor> {
    core: Arc<Core<A>>,
    poller: Poller,
}

struct Core<A: BatchAdaptor> {
    adaptor: A,
    host: Host<A>,
    info: SchedulerInfo,
}

impl<A: BatchAdaptor> Clone for Backend<A> {
    fn clone(&self) -> Self {
        Backend { core: Arc::clone(&self.core), poller: self.poller.clone() }
    }
}

impl<A: BatchAdaptor> fmt::Debug for Backend<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("adaptor", &A::NAME)
            .field("location", &self.core.info.location)
            .field("executor", &self.core.host.executor().target())
            .finish_non_exhaustive()
    }
}

impl<A: BatchAdaptor> Backend<A> {
    /// A scheduler running the batch system's commands through `exec` with
    /// `config`, at location `A://`.
    pub fn new(exec: Arc<dyn Executor>, config: A::Config) -> Result<Self> {
        Self::with_location(exec, config, format!("{}://", A::NAME))
    }

    /// Open `A://[path][?params]` or `A+<transport>://...` with `exec`
    /// already connected to the host the location names. The location's path
    /// and parameters override `config` (see [`BatchConfig::apply_location`]).
    pub fn open(location: &Location, exec: Arc<dyn Executor>, config: A::Config) -> Result<Self> {
        let config = Self::configure(location, config)?;
        Self::with_location(exec, config, location.to_string())
    }

    /// The configuration [`Backend::open`] makes of `location` and `config`,
    /// checked without touching any host: a caller that must connect first
    /// (over SSH) refuses a wrong parameter before it connects.
    pub fn configure(location: &Location, mut config: A::Config) -> Result<A::Config> {
        check_location(location, A::NAME)?;
        config.apply_location(location)?;
        config.validate()?;
        Ok(config)
    }

    fn with_location(exec: Arc<dyn Executor>, config: A::Config, location: String) -> Result<Self> {
        config.validate()?;
        let poll = *config.poll();
        let info = SchedulerInfo::new(A::NAME, location, A::capabilities())
            .with_working_directory(config.default_workdir().cloned());
        let core = Arc::new(Core { adaptor: A::default(), host: Host::new(exec, config), info });
        let poller = Poller::new(core.clone(), poll);
        Ok(Backend { core, poller })
    }

    /// The configuration in use.
    pub fn config(&self) -> &A::Config {
        self.core.host.config()
    }

    /// How many commands (remote command executions) this scheduler has run.
    pub fn commands_run(&self) -> u64 {
        self.core.host.commands_run()
    }

    /// Number of status queries the shared poller has made.
    pub fn poll_queries(&self) -> u64 {
        self.poller.queries()
    }

    /// The adaptor, for its own operations beyond `Scheduler`.
    pub(crate) fn adaptor(&self) -> &A {
        &self.core.adaptor
    }

    /// Where the adaptor's commands run.
    pub(crate) fn host(&self) -> &Host<A> {
        &self.core.host
    }
}

/// Check that `location` is `<scheme>://` (no host: this machine) or
/// `<scheme>+<transport>://host` before an adaptor opens it.
pub fn check_location(location: &Location, scheme: &str) -> Result<()> {
    if location.scheme != scheme {
        return Err(Error::InvalidLocation {
            location: location.to_string(),
            reason: format!("the {scheme} adaptor needs a {scheme}:// or {scheme}+ssh:// location"),
        });
    }
    if location.transport.is_none() {
        location.expect_no_host()?;
    }
    Ok(())
}

impl<A: BatchAdaptor> Core<A> {
    /// What the submit command said for one job.
    fn outcome(&self, job: &JobDescription, shown: &str, out: SubmitOutput) -> Result<JobId> {
        if out.exit_code != 0 {
            return Err(super::adaptor::command_failed::<A>(
                shown,
                Some(out.exit_code),
                &out.output,
            ));
        }
        self.adaptor.submitted(job, shown, &out.output)
    }

    /// Submit one job with its own command.
    async fn submit_one(&self, job: &JobDescription) -> Result<JobId> {
        let plan = self.adaptor.plan(self.host.config(), job)?;
        self.submit_planned(job, plan).await
    }

    async fn submit_planned(&self, job: &JobDescription, plan: Submission) -> Result<JobId> {
        let cmd = self.host.command(&plan.argv).stdin(plan.script);
        let out = self.host.run(&cmd).await?;
        if !out.status.success() {
            return Err(self.host.failed(&plan.shown, &out));
        }
        let output = SubmitOutput { exit_code: 0, output: out.stdout_text().into_owned() };
        self.outcome(job, &plan.shown, output)
    }

    /// Submit a chunk of planned jobs through one `sh -s`.
    async fn submit_chunk(
        &self,
        chunk: Vec<(&JobDescription, Submission)>,
    ) -> Result<Vec<Result<JobId>>> {
        let program = submit::program(chunk.iter().map(|(_, s)| s))?;
        let sh = self.host.command(&[self.host.config().sh(), "-s"]).stdin(program);
        let out = self.host.run_checked(&sh).await?;
        let label = format!("sh -s ({} submissions)", chunk.len());
        let outputs = submit::parse(&out.stdout, chunk.len(), &label);
        Ok(chunk
            .iter()
            .zip(outputs)
            .map(|((job, plan), output)| output.and_then(|o| self.outcome(job, &plan.shown, o)))
            .collect())
    }

    /// One answer per id, for `Scheduler::statuses`.
    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        let answers = self.adaptor.detailed_statuses(&self.host, ids).await?;
        Ok(ids.iter().zip(lookup_each(ids, answers)).map(|(id, s)| found(id, s)).collect())
    }
}

#[async_trait]
impl<A: BatchAdaptor> StatusSource for Core<A> {
    async fn query(&self, ids: &[JobId]) -> Result<Vec<Lookup>> {
        self.adaptor.statuses(&self.host, ids).await
    }
}

/// The statuses of the queues in `names` (all when empty); an unknown name
/// is [`Error::NotFound`].
fn select_queues(all: Vec<QueueStatus>, names: &[String]) -> Result<Vec<QueueStatus>> {
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|q| &q.name == n)
                .cloned()
                .ok_or_else(|| Error::NotFound { kind: NotFoundKind::Queue, name: n.clone() })
        })
        .collect()
}

#[async_trait]
impl<A: BatchAdaptor> Scheduler for Backend<A> {
    fn info(&self) -> &SchedulerInfo {
        &self.core.info
    }

    async fn submit_batch(&self, job: &JobDescription) -> Result<JobId> {
        self.core.submit_one(job).await
    }

    async fn submit_many(&self, jobs: &[JobDescription]) -> Result<Vec<Result<JobId>>> {
        let core = &*self.core;
        if let [job] = jobs {
            // One job: its own command, no framing.
            return Ok(vec![core.submit_one(job).await]);
        }
        let config = core.host.config();
        let plans: Vec<Result<(&JobDescription, Submission)>> =
            jobs.iter().map(|job| Ok((job, core.adaptor.plan(config, job)?))).collect();
        Ok(submit::submit_chunked(plans, A::chunking(config), |chunk| core.submit_chunk(chunk))
            .await)
    }

    async fn submit_interactive(&self, job: &JobDescription) -> Result<InteractiveJob> {
        self.core.adaptor.submit_interactive(&self.core.host, job).await
    }

    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        self.core.statuses(ids).await
    }

    async fn cancel(&self, id: &JobId) -> Result<JobStatus> {
        self.core.adaptor.cancel(&self.core.host, id).await?;
        self.status(id).await
    }

    async fn cancel_many(&self, ids: &[JobId]) -> Result<Vec<Result<()>>> {
        self.core.adaptor.cancel_many(&self.core.host, ids).await
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

    async fn queue_names(&self) -> Result<Vec<String>> {
        self.core.adaptor.queue_names(&self.core.host).await
    }

    async fn default_queue(&self) -> Result<Option<String>> {
        self.core.adaptor.default_queue(&self.core.host).await
    }

    async fn queue_statuses(&self, names: &[String]) -> Result<Vec<QueueStatus>> {
        select_queues(self.core.adaptor.queues(&self.core.host).await?, names)
    }

    async fn list_jobs(&self, queues: &[String]) -> Result<Vec<JobStatus>> {
        self.core.adaptor.list_jobs(&self.core.host, queues).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_their_adaptor_and_a_host_only_with_a_transport() {
        let ok = |u: &str| check_location(&u.parse::<Location>().unwrap(), "sge");
        assert!(ok("sge://").is_ok());
        assert!(ok("sge+ssh://alice@login:2222").is_ok());
        for bad in ["torque://", "sge://login"] {
            let e = ok(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidLocation { .. }), "{bad}: {e}");
        }
    }
}
