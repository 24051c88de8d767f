//! [`UnicoreScheduler`]: jobs on a UNICORE site through its REST API.

use futures::StreamExt;
use hpc_auth::CredentialMap;
use hpc_core::scheduler::{ProgressFn, poll_wait};
use hpc_core::{
    CredentialKinds, Error, JobDescription, JobId, JobStatus, Location, QueueStatus, Result,
    Scheduler, SchedulerCapabilities, SchedulerInfo, WaitUntil,
};
use serde_json::Value;

use super::config::UnicoreConfig;
use super::{parse, script};
use crate::client::Client;

/// Credential kinds a UNICORE location accepts: what its HTTP requests take
/// (`hpc_http`'s `Auth`; `default` is anonymous).
pub(crate) const CREDENTIALS: CredentialKinds = hpc_auth::HTTP_CREDENTIAL_KINDS;

/// Capabilities of the UNICORE scheduler.
pub fn capabilities() -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.submit_batch = true;
    c.status_after_restart = true;
    c.credentials = CREDENTIALS;
    c
}

/// A UNICORE site as a [`Scheduler`].
#[derive(Debug, Clone)]
pub struct UnicoreScheduler {
    config: UnicoreConfig,
    client: Client,
    info: SchedulerInfo,
}

impl UnicoreScheduler {
    /// Connects to the site of `loc` (`unicore://HOST:PORT/SITE`).
    pub async fn open(loc: &Location, creds: &CredentialMap) -> Result<Self> {
        let config = UnicoreConfig::from_location(loc, creds)?;
        let client = Client::connect(&config.transport()?, &config.site_url).await?;
        let info = SchedulerInfo::new("unicore", config.location.clone(), capabilities());
        Ok(UnicoreScheduler { config, client, info })
    }

    /// The settings it was opened with.
    pub fn config(&self) -> &UnicoreConfig {
        &self.config
    }

    /// The site client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn one_status(&self, id: &JobId) -> Result<JobStatus> {
        let job = self.client.job(id.as_str());
        match job.properties().await {
            Ok(p) => Ok(parse::status(id, &p)),
            Err(e) if e.is_not_found() => Err(Error::job_not_found(id)),
            Err(e) => Err(e),
        }
    }
}

#[async_trait::async_trait]
impl Scheduler for UnicoreScheduler {
    fn info(&self) -> &SchedulerInfo {
        &self.info
    }

    async fn submit_batch(&self, job: &JobDescription) -> Result<JobId> {
        let desc = script::description(job)?;
        let submitted = self.client.new_job(&desc, &[], true).await?;
        Ok(JobId::new(submitted.id()))
    }

    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        // One request per job (UNICORE has no bulk status), 16 at a time over the pool.
        let mut futures = Vec::with_capacity(ids.len());
        for id in ids {
            futures.push(self.one_status(id));
        }
        Ok(futures::stream::iter(futures).buffered(16).collect().await)
    }

    async fn cancel(&self, id: &JobId) -> Result<JobStatus> {
        let job = self.client.job(id.as_str());
        match job.abort().await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Err(Error::job_not_found(id)),
            Err(e) => return Err(e),
        }
        self.one_status(id).await
    }

    async fn wait(
        &self,
        ids: &[JobId],
        until: WaitUntil,
        timeout: Option<std::time::Duration>,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Vec<Result<JobStatus>>> {
        // One GET per open job per cycle; short jobs are seen finished quickly.
        poll_wait(self, ids, until, timeout, progress, std::time::Duration::from_millis(250)).await
    }

    async fn queue_names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for f in self.client.factories().await? {
            if let Some(r) = f.get("resources").and_then(Value::as_object) {
                names.extend(r.keys().cloned());
            }
        }
        if names.is_empty() {
            names.extend(self.default_queue().await?);
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn default_queue(&self) -> Result<Option<String>> {
        Ok(self
            .client
            .access_info()
            .and_then(|c| c.get("queues"))
            .and_then(|q| q.get("selected"))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    async fn queue_statuses(&self, names: &[String]) -> Result<Vec<QueueStatus>> {
        let all = self.queue_names().await?;
        if let Some(unknown) = names.iter().find(|n| !all.contains(n)) {
            return Err(Error::NotFound {
                kind: hpc_core::NotFoundKind::Queue,
                name: unknown.clone(),
            });
        }
        let pick = if names.is_empty() { all } else { names.to_vec() };
        Ok(pick.into_iter().map(QueueStatus::new).collect())
    }

    async fn list_jobs(&self, queues: &[String]) -> Result<Vec<JobStatus>> {
        let jobs = self.client.all_jobs(&[]).await?;
        let ids: Vec<JobId> = jobs.iter().map(|j| JobId::new(j.id())).collect();
        let all = self.statuses(&ids).await?;
        Ok(all
            .into_iter()
            .filter_map(|s| s.ok())
            .filter(|s| queues.is_empty() || s.queue.as_ref().is_some_and(|q| queues.contains(q)))
            .collect())
    }
}
