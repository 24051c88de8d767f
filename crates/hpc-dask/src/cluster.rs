//! [`DaskCluster`]: start, inspect and close a cluster.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpc_core::{Error, JobId, JobState, Result, Scheduler};
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::config::DaskConfig;
use crate::monitor::{Counts, Dashboard, SchedulerFile, belongs_to};
use crate::script::{RunDir, scheduler_job, worker_job};
use crate::site::{Site, Tunnel};
use crate::startup;

/// A worker job of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerJob {
    /// Its id in the scheduler.
    pub id: JobId,
    /// The name its workers carry (`tag`, or `tag-N` for several processes).
    pub tag: String,
}

/// A Dask cluster whose scheduler and workers run as jobs of any
/// [`Scheduler`], reached from here through tunnels of its [`Site`].
///
/// [`DaskCluster::start`] submits the scheduler job (and the first workers,
/// in the same round trip), waits for the scheduler's address and opens the
/// tunnels; [`DaskCluster::address`] is what `dask.distributed.Client`
/// connects to. While the value lives, a heartbeat renews the jobs' lease;
/// [`DaskCluster::close`] cancels every job. If the process dies instead,
/// the jobs stop by themselves one lease after the last heartbeat.
#[derive(Debug, Clone)]
pub struct DaskCluster {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) sched: Arc<dyn Scheduler>,
    /// The scheduler of the Dask scheduler's job (often `sched` itself).
    pub(crate) dask_sched: Arc<dyn Scheduler>,
    pub(crate) site: Arc<dyn Site>,
    pub(crate) config: DaskConfig,
    pub(crate) run: RunDir,
    pub(crate) scheduler_job: JobId,
    pub(crate) remote_address: String,
    pub(crate) local_address: String,
    pub(crate) dashboard: Option<Dashboard>,
    pub(crate) workers: tokio::sync::Mutex<Vec<WorkerJob>>,
    next_tag: AtomicU32,
    tunnels: StdMutex<Vec<Tunnel>>,
    heartbeat: AbortOnDrop,
    pub(crate) adaptive: StdMutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
}

/// What [`DaskCluster::status`] reports.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ClusterStatus {
    /// The cluster's name.
    pub name: String,
    /// The address for `dask.distributed.Client` here.
    pub address: String,
    /// The scheduler's address as the nodes see it.
    pub remote_address: String,
    /// The dashboard's URL here.
    pub dashboard_url: Option<String>,
    /// The run directory on the cluster (scheduler file, heartbeat, logs).
    pub run_dir: String,
    /// The scheduler job and its state.
    pub scheduler_job: JobReport,
    /// Each worker job, its state and how many of its workers are connected.
    pub worker_jobs: Vec<JobReport>,
    /// Task and worker counts from the scheduler (none if it did not answer).
    pub counts: Option<Counts>,
}

/// One job in a [`ClusterStatus`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct JobReport {
    /// Job id.
    pub id: JobId,
    /// Worker tag (none for the scheduler job).
    pub tag: Option<String>,
    /// State as the scheduler reports it (none: unknown to it).
    pub state: Option<JobState>,
    /// Connected Dask workers of this job (none: the scheduler did not say).
    pub connected: Option<usize>,
}

impl DaskCluster {
    /// Start a cluster: submit the scheduler job and `workers` workers,
    /// wait (at most the startup timeout) until the scheduler has written
    /// its address, and open the tunnels. Workers may still be connecting
    /// when this returns: see [`DaskCluster::wait_for_workers`].
    ///
    /// On any failure every submitted job is cancelled before the error
    /// returns; a scheduler job that ends early gives its stderr.
    pub async fn start(
        sched: Arc<dyn Scheduler>,
        site: Arc<dyn Site>,
        config: DaskConfig,
        workers: u32,
    ) -> Result<DaskCluster> {
        Self::start_until(sched, site, config, workers, std::future::pending()).await
    }

    /// [`DaskCluster::start_until`] with the Dask scheduler as a job of
    /// `scheduler_sched` (for example `ssh://` background jobs on the login
    /// node, as dask-jobqueue runs its scheduler beside the client) and the
    /// workers as jobs of `sched`. Both must see the same run directory.
    pub async fn start_split(
        sched: Arc<dyn Scheduler>,
        scheduler_sched: Arc<dyn Scheduler>,
        site: Arc<dyn Site>,
        config: DaskConfig,
        workers: u32,
        interrupted: impl std::future::Future<Output = ()> + Send,
    ) -> Result<DaskCluster> {
        Self::launch(sched, Some(scheduler_sched), site, config, workers, interrupted).await
    }

    /// [`DaskCluster::start`], given up when `interrupted` completes first
    /// (Ctrl-C): every job submitted so far is cancelled and the result is
    /// [`Error::Cancelled`]. Dropping the future of `start` instead would
    /// leave the jobs to the lease.
    pub async fn start_until(
        sched: Arc<dyn Scheduler>,
        site: Arc<dyn Site>,
        config: DaskConfig,
        workers: u32,
        interrupted: impl std::future::Future<Output = ()> + Send,
    ) -> Result<DaskCluster> {
        Self::launch(sched, None, site, config, workers, interrupted).await
    }

    async fn launch(
        sched: Arc<dyn Scheduler>,
        scheduler_sched: Option<Arc<dyn Scheduler>>,
        site: Arc<dyn Site>,
        config: DaskConfig,
        workers: u32,
        interrupted: impl std::future::Future<Output = ()> + Send,
    ) -> Result<DaskCluster> {
        config.validate()?;
        let dir = site.create_run_dir(config.base_dir.as_deref(), &run_name(&config.name)).await?;
        let run = RunDir { dir };
        let tags: Vec<String> = (0..config.jobs_for(workers)).map(|k| format!("w{k}")).collect();
        let mut jobs = vec![scheduler_job(&config, &run, scheduler_sched.is_none())];
        jobs.extend(tags.iter().map(|t| worker_job(&config, &run, t)));
        let results = match &scheduler_sched {
            // One round trip for all when one scheduler takes every job.
            None => sched.submit_many(&jobs).await,
            Some(other) => {
                let (first, rest) =
                    tokio::join!(other.submit_batch(&jobs[0]), sched.submit_many(&jobs[1..]));
                rest.map(|mut rest| {
                    rest.insert(0, first);
                    rest
                })
            }
        };
        let dask_sched = scheduler_sched.unwrap_or_else(|| sched.clone());
        let heartbeat = AbortOnDrop(spawn_heartbeat(
            site.clone(),
            run.heartbeat(),
            config.heartbeat_interval(),
        ));
        let stop_heartbeat = heartbeat.0.abort_handle();
        let mut submitted = Vec::new();
        let mut first_error = None;
        match results {
            Ok(results) => {
                for (i, r) in results.into_iter().enumerate() {
                    match r {
                        Ok(id) => submitted.push((i, id)),
                        Err(e) => first_error = first_error.or(Some(e)),
                    }
                }
            }
            Err(e) => first_error = Some(e),
        }
        let abandon = |ids: Vec<(usize, JobId)>, e: Error| {
            let (sched, site, run, debug) =
                (sched.clone(), site.clone(), run.clone(), config.debug);
            let dask_sched = dask_sched.clone();
            let stop_heartbeat = stop_heartbeat.clone();
            async move {
                stop_heartbeat.abort();
                let (first, rest): (Vec<_>, Vec<_>) = ids.into_iter().partition(|(i, _)| *i == 0);
                let ids =
                    |v: Vec<(usize, JobId)>| v.into_iter().map(|(_, id)| id).collect::<Vec<_>>();
                let (first, rest) = (ids(first), ids(rest));
                let _ = cancel_cluster(&dask_sched, &sched, &first, &rest).await;
                if !debug {
                    let _ = site.remove_dir(&run.dir).await;
                }
                e
            }
        };
        let all_ids = submitted.clone();
        if let Some(e) = first_error {
            return Err(abandon(all_ids, e).await);
        }
        let scheduler_id = submitted[0].1.clone();
        let worker_jobs: Vec<WorkerJob> = submitted[1..]
            .iter()
            .map(|(i, id)| WorkerJob { id: id.clone(), tag: tags[i - 1].clone() })
            .collect();
        let opened = async {
            let file = startup::await_scheduler(&*dask_sched, &*site, &config, &run, &scheduler_id)
                .await?;
            open_tunnels(&*site, &config, &file, &scheduler_id).await
        };
        let opened = tokio::select! {
            opened = opened => opened,
            () = interrupted => Err(Error::Cancelled(format!(
                "interrupted while the Dask scheduler (job {scheduler_id}) was starting; its jobs were cancelled"
            ))),
        };
        let (local_address, remote_address, tunnels, dashboard) = match opened {
            Ok(t) => t,
            Err(e) => return Err(abandon(all_ids, e).await),
        };
        tracing::info!(scheduler = %scheduler_id, %remote_address, %local_address, "dask scheduler up");
        Ok(DaskCluster {
            inner: Arc::new(Inner {
                sched,
                dask_sched,
                site,
                next_tag: AtomicU32::new(tags.len() as u32),
                config,
                run,
                scheduler_job: scheduler_id,
                remote_address,
                local_address,
                dashboard,
                workers: tokio::sync::Mutex::new(worker_jobs),
                tunnels: StdMutex::new(tunnels),
                heartbeat,
                adaptive: StdMutex::new(None),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The scheduler's address here, for `dask.distributed.Client`
    /// (`tcp://127.0.0.1:PORT` through a tunnel).
    pub fn address(&self) -> &str {
        &self.inner.local_address
    }

    /// The scheduler's address as the nodes see it.
    pub fn remote_address(&self) -> &str {
        &self.inner.remote_address
    }

    /// The dashboard's URL here, if the scheduler runs one.
    pub fn dashboard_url(&self) -> Option<String> {
        self.inner.dashboard.as_ref().map(Dashboard::url)
    }

    /// The run directory on the cluster.
    pub fn run_dir(&self) -> &str {
        &self.inner.run.dir
    }

    /// The options the cluster was started with.
    pub fn config(&self) -> &DaskConfig {
        &self.inner.config
    }

    /// The scheduler job's id.
    pub fn scheduler_job(&self) -> &JobId {
        &self.inner.scheduler_job
    }

    /// The worker jobs submitted and not yet cancelled or seen finished.
    pub async fn worker_jobs(&self) -> Vec<WorkerJob> {
        self.inner.workers.lock().await.clone()
    }

    /// Every job of the cluster: the scheduler's first, then the workers'.
    pub async fn job_ids(&self) -> Vec<JobId> {
        let mut ids = vec![self.inner.scheduler_job.clone()];
        ids.extend(self.inner.workers.lock().await.iter().map(|w| w.id.clone()));
        ids
    }

    /// The scheduler's task and worker counts.
    pub async fn counts(&self) -> Result<Counts> {
        self.inner.dashboard()?.counts().await
    }

    /// Wait until at least `n` Dask workers are connected, or fail: with
    /// the stderr of a worker job that ended before its workers connected,
    /// or with a timeout error naming the jobs still missing. Returns the
    /// number connected.
    pub async fn wait_for_workers(&self, n: usize, timeout: Duration) -> Result<usize> {
        startup::await_workers(&self.inner, n, timeout).await
    }

    /// The state of every job and the scheduler's counts, in one status
    /// query and two requests to the scheduler.
    pub async fn status(&self) -> Result<ClusterStatus> {
        let inner = &self.inner;
        let workers = inner.workers.lock().await.clone();
        let ids: Vec<JobId> = workers.iter().map(|w| w.id.clone()).collect();
        let (first, rest) = tokio::join!(
            inner.dask_sched.statuses(std::slice::from_ref(&inner.scheduler_job)),
            inner.sched.statuses(&ids)
        );
        let mut states = first?;
        states.extend(rest?);
        let state_of = |i: usize| states.get(i).and_then(|s| s.as_ref().ok()).map(|s| s.state);
        let (names, counts) = match &inner.dashboard {
            // counts.json always answers; identity.json (names, so workers per
            // job) fails with a 500 in distributed 2026.8 once tasks have run
            // (a value JSON cannot encode): per-job counts are then unknown.
            Some(d) => {
                let (workers, counts) = tokio::join!(d.workers(), d.counts());
                (workers.ok(), Some(counts?))
            }
            None => (None, None),
        };
        let connected = |tag: &str| {
            names.as_ref().map(|n| n.iter().filter(|w| belongs_to(&w.name, tag)).count())
        };
        Ok(ClusterStatus {
            name: inner.config.name.clone(),
            address: inner.local_address.clone(),
            remote_address: inner.remote_address.clone(),
            dashboard_url: self.dashboard_url(),
            run_dir: inner.run.dir.clone(),
            scheduler_job: JobReport {
                id: inner.scheduler_job.clone(),
                tag: None,
                state: state_of(0),
                connected: None,
            },
            worker_jobs: workers
                .iter()
                .enumerate()
                .map(|(i, w)| JobReport {
                    id: w.id.clone(),
                    tag: Some(w.tag.clone()),
                    state: state_of(i + 1),
                    connected: connected(&w.tag),
                })
                .collect(),
            counts,
        })
    }

    /// Cancel every job (all at once), stop the heartbeat, close the
    /// tunnels and remove the run directory (kept with `debug`). Closing
    /// twice is a no-op. Every job is cancelled even if one cancel fails;
    /// the first failure is returned.
    pub async fn close(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(task) = inner.adaptive.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
        let ids: Vec<JobId> = inner.workers.lock().await.iter().map(|w| w.id.clone()).collect();
        let result = cancel_cluster(
            &inner.dask_sched,
            &inner.sched,
            std::slice::from_ref(&inner.scheduler_job),
            &ids,
        )
        .await;
        inner.heartbeat.0.abort();
        inner.tunnels.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if !inner.config.debug {
            inner.site.remove_dir(&inner.run.dir).await?;
        }
        result
    }

    pub(crate) fn new_tag(&self) -> String {
        format!("w{}", self.inner.next_tag.fetch_add(1, Ordering::SeqCst))
    }
}

impl Inner {
    pub(crate) fn dashboard(&self) -> Result<&Dashboard> {
        self.dashboard.as_ref().ok_or_else(|| Error::Unsupported {
            adaptor: "dask".into(),
            operation: "watching workers without the scheduler's dashboard port".into(),
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without a heartbeat the lease runs out: the jobs end by themselves
        // even if the cancels below never get to run.
        self.heartbeat.0.abort();
        if let Some(task) = self.adaptive.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (sched, dask_sched) = (self.sched.clone(), self.dask_sched.clone());
            let first = self.scheduler_job.clone();
            let ids: Vec<JobId> = match self.workers.try_lock() {
                Ok(w) => w.iter().map(|w| w.id.clone()).collect(),
                Err(_) => Vec::new(),
            };
            rt.spawn(async move {
                let _ = cancel_cluster(&dask_sched, &sched, &[first], &ids).await;
            });
        }
    }
}

/// Cancel all `ids` with one `cancel_many` (one scheduler command where the
/// adaptor can, ADR 0903); a job the scheduler no longer knows is not an
/// error. Returns the first other error.
pub(crate) async fn cancel_all(sched: &dyn Scheduler, ids: &[JobId]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let results = sched.cancel_many(ids).await?;
    results.into_iter().filter_map(|r| r.err()).find(|e| !e.is_not_found()).map_or(Ok(()), Err)
}

/// Cancel the Dask scheduler's jobs (`first`, of `dask_sched`) and the
/// workers' (`rest`, of `sched`): in one `cancel_many` when both are the same
/// scheduler, else one each, at once.
pub(crate) async fn cancel_cluster(
    dask_sched: &Arc<dyn Scheduler>,
    sched: &Arc<dyn Scheduler>,
    first: &[JobId],
    rest: &[JobId],
) -> Result<()> {
    if Arc::ptr_eq(dask_sched, sched) {
        let all: Vec<JobId> = first.iter().chain(rest).cloned().collect();
        return cancel_all(sched.as_ref(), &all).await;
    }
    let (first, rest) =
        tokio::join!(cancel_all(dask_sched.as_ref(), first), cancel_all(sched.as_ref(), rest));
    first.and(rest)
}

/// A unique run directory name for cluster `name`.
fn run_name(name: &str) -> String {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let n = COUNT.fetch_add(1, Ordering::SeqCst);
    format!("{name}-{secs}-{}-{n}", std::process::id())
}

/// A task that ends when its handle is dropped: a heartbeat must never
/// outlive the cluster (or a start given up half-way), or the lease would
/// never run out.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn spawn_heartbeat(site: Arc<dyn Site>, path: String, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = site.touch(&path).await {
                tracing::warn!(error = %e, "renewing the dask lease failed; retrying");
            }
        }
    })
}

type Opened = (String, String, Vec<Tunnel>, Option<Dashboard>);

async fn open_tunnels(
    site: &dyn Site,
    config: &DaskConfig,
    file: &SchedulerFile,
    job: &JobId,
) -> Result<Opened> {
    let (proto, host, port) = file.endpoint()?;
    let tunnel = site.forward(job, &host, port, config.local_port).await?;
    let local = tunnel.local_addr();
    let mut tunnels = vec![tunnel];
    let mut dashboard = None;
    if let Some(dport) = file.dashboard_port() {
        let t = site.forward(job, &host, dport, config.local_dashboard_port).await?;
        dashboard = Some(Dashboard::new(t.local_addr())?);
        tunnels.push(t);
    }
    Ok((format!("{proto}://{local}"), file.address.clone(), tunnels, dashboard))
}

/// Whether a job that is not (or no longer) known counts as gone.
pub(crate) fn gone(status: &Result<hpc_core::JobStatus>) -> bool {
    match status {
        Ok(s) => s.is_done(),
        Err(e) => e.is_not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_are_unique_in_a_process() {
        let a = run_name("c");
        let b = run_name("c");
        assert_ne!(a, b);
        assert!(a.starts_with("c-"));
    }

    /// Every argv a fake scheduler ran.
    type Seen = Arc<std::sync::Mutex<Vec<Vec<String>>>>;

    /// Slurm whose commands all succeed silently, and what it ran.
    fn slurm_recording() -> (Arc<dyn Scheduler>, Seen) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let exec = hpc_testkit::scripted::ScriptedExecutor::new(move |cmd| {
            let argv = cmd.argv().iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            log.lock().unwrap().push(argv);
            Ok(hpc_testkit::scripted::output(0, "", ""))
        });
        let sched = sched_adaptors::slurm::SlurmScheduler::new(
            Arc::new(exec) as Arc<dyn hpc_exec::Executor>,
            Default::default(),
        )
        .unwrap();
        (Arc::new(sched), seen)
    }

    #[tokio::test]
    async fn a_cluster_on_one_scheduler_is_cancelled_with_one_command() {
        let (sched, seen) = slurm_recording();
        let workers = [JobId::from("11"), JobId::from("12")];
        cancel_cluster(&sched, &sched, &[JobId::from("10")], &workers).await.unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![vec!["scancel", "10", "11", "12"]]);
    }

    #[tokio::test]
    async fn a_split_cluster_is_one_command_per_scheduler() {
        let (dask_sched, on_dask) = slurm_recording();
        let (sched, on_workers) = slurm_recording();
        cancel_cluster(&dask_sched, &sched, &[JobId::from("10")], &[JobId::from("11")])
            .await
            .unwrap();
        assert_eq!(*on_dask.lock().unwrap(), vec![vec!["scancel", "10"]]);
        assert_eq!(*on_workers.lock().unwrap(), vec![vec!["scancel", "11"]]);
    }

    #[tokio::test]
    async fn cancel_all_tolerates_unknown_jobs() {
        let sched = sched_adaptors::local::LocalScheduler::new(Default::default()).unwrap();
        let e = cancel_all(&sched, &[JobId::from("local-999")]).await;
        assert!(e.is_ok(), "{e:?}");
    }
}
