//! Scaling: a fixed number of workers, or adaptive bounds that follow the
//! scheduler's own advice (`desired_workers`, what Dask's `Adaptive` uses).

use std::sync::{Arc, Weak};
use std::time::Duration;

use hpc_core::{Error, JobId, Result};
use serde::Serialize;

use crate::cluster::{DaskCluster, Inner, WorkerJob, cancel_all, gone};
use crate::monitor::belongs_to;
use crate::script::worker_job;

/// How often adaptive scaling asks the scheduler.
const ADAPT_EVERY: Duration = Duration::from_secs(2);
/// Consecutive lower advice needed before workers are removed (Dask's
/// `Adaptive` waits the same way, so a short lull does not drop workers).
const DOWN_AFTER: u32 = 3;

/// What [`DaskCluster::scale`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ScaleOutcome {
    /// Worker jobs submitted.
    pub submitted: Vec<JobId>,
    /// Worker jobs cancelled.
    pub cancelled: Vec<JobId>,
    /// Worker jobs now (not finished).
    pub jobs: usize,
}

impl DaskCluster {
    /// Have `workers` Dask workers: submit the missing worker jobs (all in
    /// one `submit_many`) or cancel surplus ones, those whose workers have
    /// not connected first, then the newest. Jobs that have ended are
    /// forgotten first. Stops adaptive scaling.
    pub async fn scale(&self, workers: u32) -> Result<ScaleOutcome> {
        self.stop_adapting();
        scale_to(&self.inner, self, workers).await
    }

    /// Follow the scheduler's advice on the number of workers, kept within
    /// `minimum..=maximum`, until [`DaskCluster::scale`] or
    /// [`DaskCluster::close`]. More workers are asked for at once; fewer
    /// only after the advice stayed lower for three looks in a row.
    pub fn adapt(&self, minimum: u32, maximum: u32) -> Result<()> {
        if minimum > maximum {
            return Err(Error::InvalidInput(format!(
                "adaptive minimum {minimum} is above the maximum {maximum}"
            )));
        }
        self.inner.dashboard()?;
        let weak = Arc::downgrade(&self.inner);
        let task = tokio::spawn(adapt_loop(weak, minimum, maximum));
        if let Some(old) =
            self.inner.adaptive.lock().unwrap_or_else(|p| p.into_inner()).replace(task)
        {
            old.abort();
        }
        Ok(())
    }

    /// Stop adaptive scaling (the workers stay as they are).
    pub fn stop_adapting(&self) {
        if let Some(task) = self.inner.adaptive.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

async fn scale_to(inner: &Inner, cluster: &DaskCluster, workers: u32) -> Result<ScaleOutcome> {
    let config = &inner.config;
    let want = config.jobs_for(workers) as usize;
    let mut jobs = inner.workers.lock().await;
    forget_finished(inner, &mut jobs).await?;
    let mut outcome = ScaleOutcome::default();
    if want > jobs.len() {
        let tags: Vec<String> = (jobs.len()..want).map(|_| cluster.new_tag()).collect();
        let descs: Vec<_> = tags.iter().map(|t| worker_job(config, &inner.run, t)).collect();
        let results = inner.sched.submit_many(&descs).await?;
        let mut first_error = None;
        for (tag, r) in tags.into_iter().zip(results) {
            match r {
                Ok(id) => {
                    outcome.submitted.push(id.clone());
                    jobs.push(WorkerJob { id, tag });
                }
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
    } else if want < jobs.len() {
        let connected: Vec<String> = match &inner.dashboard {
            Some(d) => d.workers().await.map(|w| w.into_iter().map(|w| w.name).collect()),
            None => Ok(Vec::new()),
        }
        .unwrap_or_default();
        let is_connected = |j: &WorkerJob| connected.iter().any(|n| belongs_to(n, &j.tag));
        // Victims: jobs without connected workers first, newest first.
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_by_key(|&i| (is_connected(&jobs[i]), std::cmp::Reverse(i)));
        let mut victims: Vec<usize> = order.into_iter().take(jobs.len() - want).collect();
        victims.sort_unstable_by(|a, b| b.cmp(a));
        let removed: Vec<WorkerJob> = victims.into_iter().map(|i| jobs.remove(i)).collect();
        let ids: Vec<JobId> = removed.iter().map(|j| j.id.clone()).collect();
        cancel_all(inner.sched.as_ref(), &ids).await?;
        outcome.cancelled = ids;
    }
    outcome.jobs = jobs.len();
    Ok(outcome)
}

async fn forget_finished(inner: &Inner, jobs: &mut Vec<WorkerJob>) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id.clone()).collect();
    let states = inner.sched.statuses(&ids).await?;
    let mut states = states.iter();
    jobs.retain(|_| states.next().is_none_or(|s| !gone(s)));
    Ok(())
}

async fn adapt_loop(inner: Weak<Inner>, minimum: u32, maximum: u32) {
    let mut lower = 0u32;
    loop {
        tokio::time::sleep(ADAPT_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        let cluster = DaskCluster { inner };
        let advice = match cluster.counts().await {
            Ok(c) => c.desired_workers,
            Err(e) => {
                tracing::warn!(error = %e, "adaptive scaling: the scheduler did not answer");
                continue;
            }
        };
        let target = advice.clamp(minimum, maximum);
        let have = cluster.inner.workers.lock().await.len() as u32 * cluster.config().processes;
        if target > have || have > maximum {
            lower = 0;
        } else if target < have {
            lower += 1;
            if lower < DOWN_AFTER {
                continue;
            }
            lower = 0;
        } else {
            lower = 0;
            continue;
        }
        if let Err(e) = scale_to(&cluster.inner, &cluster, target).await {
            tracing::warn!(error = %e, target, "adaptive scaling failed");
        }
    }
}
