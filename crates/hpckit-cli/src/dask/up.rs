//! `hpckit dask up`: start, serve requests, tear down on a signal.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use hpckit::core::{Location, Scheduler, SchedulerExt};
use hpckit::dask::{DaskCluster, DaskConfig};
use tokio::net::UnixListener;

use super::control::{self, Answer, Record, Request};
use crate::creds::CredentialArgs;
use crate::output;

/// How often `up` checks that the scheduler job still runs.
const WATCH_EVERY: Duration = Duration::from_secs(15);

pub(super) struct Up {
    pub(super) url: String,
    pub(super) scheduler_on: Option<String>,
    pub(super) workers: u32,
    pub(super) adapt: Option<(u32, u32)>,
    pub(super) config: DaskConfig,
    pub(super) json: bool,
}

pub(super) async fn run(up: Up, up_creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    let name = up.config.name.clone();
    let dir = control::state_dir()?;
    let listener = control::listen(&dir, &name).await?;
    // The first SIGINT, SIGTERM or SIGHUP only asks `up` to stop (crate::signals):
    // it cancels the jobs itself, and only then exits with the signal's code.
    let _graceful = crate::signals::graceful();
    let loc: Location = up.url.parse()?;
    let creds = up_creds.credentials(&loc)?;
    let sched = hpckit::open_scheduler(&up.url, &creds).await?;
    let site = hpckit::open_dask_site(&up.url, &creds).await?;
    let dask_sched = match &up.scheduler_on {
        Some(url) => {
            let loc: Location = url.parse()?;
            Some(hpckit::open_scheduler(url, &up_creds.credentials(&loc)?).await?)
        }
        None => None,
    };
    let initial = up.adapt.map_or(up.workers, |(min, _)| min);
    let startup_timeout = up.config.startup_timeout;
    let interrupted = async {
        crate::signals::requested().await;
    };
    let started = match &dask_sched {
        Some(d) => {
            DaskCluster::start_split(
                sched.clone(),
                d.clone(),
                site,
                up.config,
                initial,
                interrupted,
            )
            .await
        }
        None => {
            DaskCluster::start_until(sched.clone(), site, up.config, initial, interrupted).await
        }
    };
    let cluster = match started {
        Ok(c) => c,
        Err(e) => {
            control::remove_files(&dir, &name);
            // Stopped by a signal: its jobs are cancelled; end with the signal's code.
            if let Some(sig) = futures::FutureExt::now_or_never(crate::signals::requested()) {
                output::note(e.to_string());
                return Ok(crate::signals::exit_code(sig));
            }
            return Err(e.into());
        }
    };
    let serving = Serving {
        url: &up.url,
        scheduler_on: up.scheduler_on.as_deref(),
        initial,
        adapt: up.adapt,
        json: up.json,
        startup_timeout,
    };
    let watched = dask_sched.unwrap_or_else(|| sched.clone());
    let result = serve(&cluster, watched.as_ref(), &serving, listener, &dir).await;
    let closed = cluster.close().await;
    control::remove_files(&dir, &name);
    let code = result?;
    closed.context("cancelling the cluster's jobs")?;
    output::note(format!("cluster {name} is down: every job was cancelled"));
    Ok(code)
}

/// What `serve` needs from the command line.
struct Serving<'a> {
    url: &'a str,
    scheduler_on: Option<&'a str>,
    initial: u32,
    adapt: Option<(u32, u32)>,
    json: bool,
    startup_timeout: Duration,
}

async fn serve(
    cluster: &DaskCluster,
    sched: &dyn Scheduler,
    serving: &Serving<'_>,
    listener: UnixListener,
    dir: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let record = |jobs: Vec<String>| Record {
        name: cluster.config().name.clone(),
        scheduler: serving.url.to_owned(),
        scheduler_on: serving.scheduler_on.map(str::to_owned),
        pid: std::process::id(),
        address: cluster.address().to_owned(),
        dashboard_url: cluster.dashboard_url(),
        run_dir: cluster.run_dir().to_owned(),
        jobs,
    };
    let ids = |v: Vec<hpckit::core::JobId>| v.into_iter().map(|j| j.to_string()).collect();
    control::write_record(dir, &record(ids(cluster.job_ids().await)))?;
    let ready = tokio::select! {
        r = cluster.wait_for_workers(serving.initial as usize, serving.startup_timeout) => r.map(Ok),
        sig = crate::signals::requested() => Ok(Err(sig)),
    };
    let connected = match ready? {
        Ok(connected) => connected,
        Err(sig) => return Ok(crate::signals::exit_code(sig)),
    };
    if let Some((min, max)) = serving.adapt {
        cluster.adapt(min, max)?;
    }
    print_ready(cluster, connected, serving.json).await?;
    let mut watch = tokio::time::interval(WATCH_EVERY);
    watch.tick().await;
    loop {
        tokio::select! {
            sig = crate::signals::requested() => return Ok(crate::signals::exit_code(sig)),
            accepted = listener.accept() => {
                let Ok((mut stream, _)) = accepted else { continue };
                let Ok(req) = control::read_request(&mut stream).await else { continue };
                let down = matches!(req, Request::Down);
                let answer = handle(cluster, req).await;
                control::write_record(dir, &record(ids(cluster.job_ids().await)))?;
                let _ = control::answer(&mut stream, &answer).await;
                if down {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            _ = watch.tick() => {
                let status = sched.status(cluster.scheduler_job()).await;
                if status.is_ok_and(|s| s.is_done()) {
                    anyhow::bail!("the Dask scheduler job {} has ended; stopping the cluster", cluster.scheduler_job());
                }
            }
        }
    }
}

async fn handle(cluster: &DaskCluster, req: Request) -> Answer {
    let value = match req {
        Request::Status => {
            cluster.status().await.map(|s| serde_json::to_value(s).unwrap_or_default())
        }
        Request::Scale { workers } => {
            cluster.scale(workers).await.map(|o| serde_json::to_value(o).unwrap_or_default())
        }
        Request::Adapt { minimum, maximum } => cluster
            .adapt(minimum, maximum)
            .map(|()| serde_json::json!({"adaptive": {"minimum": minimum, "maximum": maximum}})),
        Request::Down => Ok(serde_json::json!({"name": cluster.config().name, "down": true})),
    };
    match value {
        Ok(value) => Answer { ok: true, value, error: String::new() },
        Err(e) => Answer { ok: false, value: serde_json::Value::Null, error: e.to_string() },
    }
}

async fn print_ready(cluster: &DaskCluster, connected: usize, json: bool) -> anyhow::Result<()> {
    let jobs: Vec<String> = cluster.job_ids().await.into_iter().map(|j| j.to_string()).collect();
    if json {
        let v = serde_json::json!({
            "name": cluster.config().name,
            "address": cluster.address(),
            "dashboard_url": cluster.dashboard_url(),
            "remote_address": cluster.remote_address(),
            "run_dir": cluster.run_dir(),
            "workers": connected,
            "jobs": jobs,
        });
        let mut line = serde_json::to_vec(&v)?;
        line.push(b'\n');
        return output::write_stdout(&line);
    }
    let text = format!(
        "scheduler: {}\ndashboard: {}\nworkers:   {connected} connected (jobs: {})\nCtrl-C stops the cluster.\n",
        cluster.address(),
        cluster.dashboard_url().unwrap_or_else(|| "-".into()),
        jobs.join(" "),
    );
    output::write_stdout(text.as_bytes())
}
