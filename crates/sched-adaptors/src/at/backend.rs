//! [`At`]: at's part of the shared batch backend: `at`, `atq` and `atrm`,
//! with a wrapper that records exit codes.

use async_trait::async_trait;
use hpc_core::{
    Error, JobDescription, JobId, JobStatus, QueueStatus, Result, SchedulerCapabilities,
};
use hpc_exec::Command;

use super::config::AtConfig;
use super::{parse, script};
use crate::batch::submit::{Chunking, Submission};
use crate::batch::{Backend, BatchAdaptor, Host, Lookup};

/// at/atd through any [`hpc_exec::Executor`]: `at://` here,
/// `at+ssh://user@host` over SSH.
pub type AtScheduler = Backend<At>;

/// at's commands, programs and parsers (see [`AtScheduler`]). Everything
/// about a job is recorded on the execution host, so it remembers nothing.
#[derive(Debug, Default)]
pub struct At;

/// Jobs per remote shell in `submit_many`, and shells at once.
const CHUNKING: Chunking = Chunking { size: 25, parallel: 4, spread: false };

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// What the at adaptor can do.
pub fn capabilities() -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.submit_batch = true;
    c.status_after_restart = true;
    c.credentials = hpc_auth::SSH_CREDENTIAL_KINDS;
    c
}

/// `sh -s` running one of the adaptor's programs.
fn sh(host: &Host<At>, program: String) -> Command {
    host.command(&[host.config().commands.sh.as_str(), "-s"]).stdin(program.into_bytes())
}

impl At {
    async fn atq(&self, host: &Host<Self>) -> Result<Vec<parse::AtqRow>> {
        let cmd = sh(host, script::atq_snippet(host.config()));
        let out = host.run_checked(&cmd).await?;
        parse::parse_atq(&out.stdout_text())
    }
}

#[async_trait]
impl BatchAdaptor for At {
    const NAME: &'static str = "at";
    type Config = AtConfig;

    fn capabilities() -> SchedulerCapabilities {
        capabilities()
    }

    fn chunking(_config: &AtConfig) -> Chunking {
        CHUNKING
    }

    fn plan(&self, config: &AtConfig, job: &JobDescription) -> Result<Submission> {
        script::plan(job, config)
    }

    fn submitted(&self, _job: &JobDescription, shown: &str, output: &str) -> Result<JobId> {
        let last = output.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("");
        if valid_id(last) {
            return Ok(JobId::new(last));
        }
        Err(Error::parse(shown, "expected a job id", last))
    }

    async fn statuses(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Lookup>> {
        let valid: Vec<&str> = ids.iter().map(JobId::as_str).filter(|i| valid_id(i)).collect();
        let cmd = sh(host, script::status_program(&valid, host.config()));
        let out = host.run_checked(&cmd).await?;
        let (rows, recs) = parse::parse_status(&out.stdout_text())?;
        ids.iter()
            .map(|id| {
                if !valid_id(id.as_str()) {
                    return Ok(None);
                }
                parse::status_of(id, &rows, recs.get(id.as_str()))
            })
            .collect()
    }

    async fn cancel(&self, host: &Host<Self>, id: &JobId) -> Result<()> {
        if !valid_id(id.as_str()) {
            return Err(Error::job_not_found(id));
        }
        let cmd = sh(host, script::cancel_program(&[id.as_str()], host.config()));
        let out = host.run_checked(&cmd).await?;
        if parse::cancel_missing(&out.stdout_text()).contains(id.as_str()) {
            return Err(Error::job_not_found(id));
        }
        Ok(())
    }

    async fn cancel_many(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Result<()>>> {
        let valid: Vec<&str> = ids.iter().map(JobId::as_str).filter(|id| valid_id(id)).collect();
        let missing = if valid.is_empty() {
            Default::default()
        } else {
            let cmd = sh(host, script::cancel_program(&valid, host.config()));
            let out = host.run_checked(&cmd).await?;
            parse::cancel_missing(&out.stdout_text())
        };
        Ok(ids
            .iter()
            .map(|id| {
                if !valid_id(id.as_str()) || missing.contains(id.as_str()) {
                    Err(Error::job_not_found(id))
                } else {
                    Ok(())
                }
            })
            .collect())
    }

    async fn queues(&self, host: &Host<Self>) -> Result<Vec<QueueStatus>> {
        let rows = self.atq(host).await?;
        let default = &host.config().queue;
        Ok(self
            .queue_names(host)
            .await?
            .into_iter()
            .map(|name| {
                let mut q = QueueStatus::new(name.clone());
                q.is_default = &name == default;
                q.state = Some("up".into());
                q.pending_jobs = Some(rows.iter().filter(|r| r.queue == name).count() as u32);
                // Running jobs leave their queue letter for `=`.
                q.running_jobs =
                    q.is_default.then(|| rows.iter().filter(|r| r.queue == "=").count() as u32);
                q
            })
            .collect())
    }

    async fn queue_names(&self, _host: &Host<Self>) -> Result<Vec<String>> {
        Ok((b'a'..=b'z').map(|c| (c as char).to_string()).collect())
    }

    async fn default_queue(&self, host: &Host<Self>) -> Result<Option<String>> {
        Ok(Some(host.config().queue.clone()))
    }

    async fn list_jobs(&self, host: &Host<Self>, queues: &[String]) -> Result<Vec<JobStatus>> {
        let rows = self.atq(host).await?;
        let ids: Vec<JobId> = rows
            .iter()
            .filter(|r| queues.is_empty() || queues.contains(&r.queue) || r.queue == "=")
            .map(|r| JobId::new(r.id.clone()))
            .collect();
        Ok(self.statuses(host, &ids).await?.into_iter().flatten().collect())
    }
}
