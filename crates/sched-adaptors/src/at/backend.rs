//! [`AtScheduler`]: the `Scheduler` implementation over `at`, `atq`, `atrm`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use hpc_core::scheduler::{ProgressFn, WaitUntil};
use hpc_core::{
    Error, JobDescription, JobId, JobStatus, Location, NotFoundKind, QueueStatus, Result,
    Scheduler, SchedulerCapabilities,
};
use hpc_exec::{Command, Executor, Output};

use super::config::AtSettings;
use super::{parse, script};
use crate::batch::{Poller, StatusSource, dup_error, submit};

/// Jobs per remote shell in `submit_many`, and shells at once.
const CHUNK: usize = 25;
const PARALLEL: usize = 4;

/// at/atd through any [`Executor`]: `at://` here, `at+ssh://user@host` over SSH.
#[derive(Clone)]
pub struct AtScheduler {
    core: Arc<Core>,
    poller: Poller,
}

impl std::fmt::Debug for AtScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtScheduler").field("location", &self.core.location).finish_non_exhaustive()
    }
}

struct Core {
    exec: Arc<dyn Executor>,
    settings: AtSettings,
    location: String,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 12 && id.bytes().all(|b| b.is_ascii_digit())
}

impl AtScheduler {
    /// A scheduler running at's commands through `exec`.
    pub fn new(
        exec: Arc<dyn Executor>,
        settings: AtSettings,
        location: impl Into<String>,
    ) -> Result<Self> {
        settings.validate()?;
        let poll = settings.poll;
        let core = Arc::new(Core { exec, settings, location: location.into() });
        let poller = Poller::new(core.clone(), poll);
        Ok(AtScheduler { core, poller })
    }

    /// Open `at://[path][?params]` or `at+ssh://...` with an executor for it.
    pub fn open(loc: &Location, exec: Arc<dyn Executor>, mut settings: AtSettings) -> Result<Self> {
        if loc.scheme != "at" {
            return Err(Error::InvalidLocation {
                location: loc.to_string(),
                reason: "not an at:// location".into(),
            });
        }
        settings.apply_location(loc)?;
        Self::new(exec, settings, loc.to_string())
    }

    /// Number of status queries the shared poller has made.
    pub fn poll_queries(&self) -> u64 {
        self.poller.queries()
    }
}

impl Core {
    fn sh(&self, program: String) -> Command {
        let mut c = Command::new(&self.settings.commands.sh).arg("-s").stdin(program.into_bytes());
        for (k, v) in &self.settings.env {
            c = c.env(k.clone(), v);
        }
        c
    }

    async fn run(&self, cmd: &Command) -> Result<Output> {
        let span = tracing::debug_span!("at", target = self.exec.target());
        let _g = span.enter();
        self.exec.run(cmd).await
    }

    async fn submit_chunk(
        &self,
        jobs: Vec<(usize, &JobDescription)>,
    ) -> Vec<(usize, Result<JobId>)> {
        let refs: Vec<&JobDescription> = jobs.iter().map(|(_, j)| *j).collect();
        let (program, argvs) = match script::submit_program(&refs, &self.settings) {
            Ok(p) => p,
            Err(e) => return jobs.into_iter().map(|(i, _)| (i, Err(dup_error(&e)))).collect(),
        };
        let cmd = self.sh(program);
        let out = match self.run(&cmd).await {
            Ok(o) => o,
            Err(e) => return jobs.into_iter().map(|(i, _)| (i, Err(dup_error(&e)))).collect(),
        };
        let results = submit::parse(&out.stdout, jobs.len(), "sh -s (at submit)");
        jobs.into_iter()
            .zip(results)
            .zip(argvs)
            .map(|(((i, _), r), argv)| {
                let r = r.and_then(|o| {
                    let last =
                        o.output.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("");
                    if o.exit_code != 0 {
                        let shown = Command::new(&argv[0]).args(&argv[1..]).display();
                        Err(Error::CommandFailed {
                            command: shown,
                            exit_code: Some(o.exit_code),
                            stderr: o.output,
                        })
                    } else if valid_id(last) {
                        Ok(JobId::new(last))
                    } else {
                        Err(Error::Parse {
                            command: "at".into(),
                            reason: "expected a job id".into(),
                            line: last.into(),
                        })
                    }
                });
                (i, r)
            })
            .collect()
    }

    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        let valid: Vec<&str> = ids.iter().map(JobId::as_str).filter(|i| valid_id(i)).collect();
        let cmd = self.sh(script::status_program(&valid, &self.settings));
        let out = self.run(&cmd).await?.check(&cmd)?;
        let (rows, recs) = parse::parse_status(&out.stdout_text())?;
        ids.iter()
            .map(|id| {
                if !valid_id(id.as_str()) {
                    return Ok(Err(Error::job_not_found(id)));
                }
                Ok(parse::status_of(id, &rows, recs.get(id.as_str()))?
                    .ok_or_else(|| Error::job_not_found(id)))
            })
            .collect()
    }
}

#[async_trait]
impl StatusSource for Core {
    async fn query(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        self.statuses(ids).await
    }
}

/// What the at adaptor can do.
pub(crate) fn capabilities() -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.supports_batch = true;
    c.survives_client_restart = true;
    c.uses_file_system = true;
    c.credentials = hpc_auth::SSH_CREDENTIAL_KINDS;
    c
}

#[async_trait]
impl Scheduler for AtScheduler {
    fn adaptor(&self) -> &str {
        "at"
    }

    fn location(&self) -> &str {
        &self.core.location
    }

    fn capabilities(&self) -> SchedulerCapabilities {
        capabilities()
    }

    async fn submit_batch(&self, job: &JobDescription) -> Result<JobId> {
        let mut r = self.core.submit_chunk(vec![(0, job)]).await;
        r.pop().map(|(_, r)| r).unwrap_or_else(|| Err(Error::Cancelled("not submitted".into())))
    }

    async fn submit_many(&self, jobs: &[JobDescription]) -> Result<Vec<Result<JobId>>> {
        let indexed: Vec<(usize, &JobDescription)> = jobs.iter().enumerate().collect();
        let chunks: Vec<Vec<(usize, &JobDescription)>> =
            indexed.chunks(CHUNK).map(<[_]>::to_vec).collect();
        let core = &self.core;
        let mut results: Vec<Option<Result<JobId>>> = (0..jobs.len()).map(|_| None).collect();
        // Futures collected first: a closure in `map` trips async-trait's lifetimes.
        let mut futs = Vec::new();
        for c in chunks {
            futs.push(core.submit_chunk(c));
        }
        let mut stream = futures::stream::iter(futs).buffer_unordered(PARALLEL);
        while let Some(done) = stream.next().await {
            for (i, r) in done {
                results[i] = Some(r);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Cancelled("not submitted".into()))))
            .collect())
    }

    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        self.core.statuses(ids).await
    }

    async fn cancel(&self, id: &JobId) -> Result<JobStatus> {
        if !valid_id(id.as_str()) {
            return Err(Error::job_not_found(id));
        }
        let cmd = self.core.sh(script::cancel_program(id.as_str(), &self.core.settings));
        let out = self.core.run(&cmd).await?.check(&cmd)?;
        if out.stdout_text().lines().any(|l| l == "missing") {
            return Err(Error::job_not_found(id));
        }
        self.status(id).await
    }

    fn poll_interval(&self) -> Duration {
        self.core.settings.poll.poll_interval
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
        Ok((b'a'..=b'z').map(|c| (c as char).to_string()).collect())
    }

    async fn default_queue(&self) -> Result<Option<String>> {
        Ok(Some(self.core.settings.queue.clone()))
    }

    async fn queue_statuses(&self, names: &[String]) -> Result<Vec<QueueStatus>> {
        let rows = self.atq().await?;
        let wanted: Vec<String> =
            if names.is_empty() { self.queue_names().await? } else { names.to_vec() };
        wanted
            .into_iter()
            .map(|name| {
                if !super::config::valid_queue(&name) {
                    return Err(Error::NotFound { kind: NotFoundKind::Queue, name });
                }
                let mut q = QueueStatus::new(name.clone());
                q.is_default = name == self.core.settings.queue;
                q.state = Some("up".into());
                q.pending_jobs = Some(rows.iter().filter(|r| r.queue == name).count() as u32);
                // Running jobs leave their queue letter for `=`.
                q.running_jobs =
                    q.is_default.then(|| rows.iter().filter(|r| r.queue == "=").count() as u32);
                Ok(q)
            })
            .collect()
    }

    async fn list_jobs(&self, queues: &[String]) -> Result<Vec<JobStatus>> {
        let rows = self.atq().await?;
        let ids: Vec<JobId> = rows
            .iter()
            .filter(|r| queues.is_empty() || queues.contains(&r.queue) || r.queue == "=")
            .map(|r| JobId::new(r.id.clone()))
            .collect();
        Ok(self.core.statuses(&ids).await?.into_iter().filter_map(Result::ok).collect())
    }
}

impl AtScheduler {
    async fn atq(&self) -> Result<Vec<parse::AtqRow>> {
        let cmd = self.core.sh(script::atq_snippet(&self.core.settings));
        let out = self.core.run(&cmd).await?.check(&cmd)?;
        parse::parse_atq(&out.stdout_text())
    }
}
