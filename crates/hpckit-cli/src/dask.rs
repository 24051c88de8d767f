//! `hpckit dask up|status|scale|down`: a Dask cluster on any scheduler.
//!
//! `up` owns the cluster: it starts it, prints the address for
//! `dask.distributed.Client`, renews the lease and answers the other
//! subcommands over a socket ([`control`]) until Ctrl-C, SIGTERM, SIGHUP or
//! `down`, then cancels every job. If `up` is killed, the jobs stop by
//! themselves one lease later, and `down` cancels them at once from the
//! record `up` left.

mod args;
mod control;
mod up;

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use hpckit::core::{JobId, Location};

use self::args::{ClusterArgs, parse_bounds};
use self::control::{Answer, Request};
use crate::creds::CredentialArgs;
use crate::output;

/// Dask subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum DaskCommand {
    /// Start a Dask cluster: the scheduler and the workers as jobs, tunnels to
    /// here. Prints the scheduler address and dashboard URL once the workers
    /// are connected, then stays until Ctrl-C (which cancels every job).
    ///
    /// Example: hpckit dask up slurm+ssh://me@login --workers 4 --queue batch --venv /opt/venvs/dask
    Up {
        /// Scheduler location, e.g. local://, slurm+ssh://user@login, sge+ssh://user@host.
        url: String,
        /// Dask workers to start (worker processes, not jobs).
        #[arg(long, short = 'w', default_value_t = 1)]
        workers: u32,
        /// Scale adaptively between MIN and MAX workers, following the scheduler's advice.
        #[arg(long, value_name = "MIN:MAX", value_parser = parse_bounds)]
        adapt: Option<(u32, u32)>,
        /// Name of the cluster, for status, scale and down.
        #[arg(long, default_value = "default")]
        name: String,
        /// Run the Dask scheduler as a job of this location instead (e.g.
        /// ssh://user@login for a background process on the login node, as
        /// dask-jobqueue does); the workers stay jobs of URL.
        #[arg(long, value_name = "URL")]
        scheduler_on: Option<String>,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Print one JSON object when ready.
        #[arg(long)]
        json: bool,
    },
    /// Show the cluster's jobs, connected workers and tasks.
    Status {
        /// Name of the cluster.
        #[arg(long, default_value = "default")]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change the number of workers, or scale adaptively.
    Scale {
        /// Dask workers wanted.
        #[arg(required_unless_present = "adapt", conflicts_with = "adapt")]
        workers: Option<u32>,
        /// Scale adaptively between MIN and MAX workers.
        #[arg(long, value_name = "MIN:MAX", value_parser = parse_bounds)]
        adapt: Option<(u32, u32)>,
        /// Name of the cluster.
        #[arg(long, default_value = "default")]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop the cluster: cancel every job (also when `up` was killed).
    Down {
        /// Name of the cluster.
        #[arg(long, default_value = "default")]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run a dask subcommand.
pub(crate) async fn run(cmd: DaskCommand, creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        DaskCommand::Up { url, workers, adapt, name, scheduler_on, cluster, json } => {
            let config = cluster.config(&name)?;
            up::run(up::Up { url, scheduler_on, workers, adapt, config, json }, creds).await
        }
        DaskCommand::Status { name, json } => {
            let value = request(&name, &Request::Status).await?;
            if json {
                output::print_json(&value)?;
            } else {
                print_status(&value)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        DaskCommand::Scale { workers, adapt, name, json } => {
            let req = match (workers, adapt) {
                (_, Some((minimum, maximum))) => Request::Adapt { minimum, maximum },
                (Some(workers), None) => Request::Scale { workers },
                (None, None) => bail!("give a number of workers or --adapt MIN:MAX"),
            };
            let value = request(&name, &req).await?;
            if json {
                output::print_json(&value)?;
            } else if let Some(jobs) = value.get("jobs") {
                println!("{jobs} worker jobs");
            } else {
                println!("adaptive");
            }
            Ok(ExitCode::SUCCESS)
        }
        DaskCommand::Down { name, json } => down(&name, json, creds).await,
    }
}

/// Ask the `up` of cluster `name`; its error becomes ours.
async fn request(name: &str, req: &Request) -> anyhow::Result<serde_json::Value> {
    let dir = control::state_dir()?;
    match control::ask(&dir, name, req).await? {
        Some(Answer { ok: true, value, .. }) => Ok(value),
        Some(Answer { error, .. }) => bail!("{error}"),
        None => match control::read_record(&dir, name)? {
            Some(r) => bail!(
                "the `hpckit dask up` of cluster {name:?} (pid {}) is gone; its jobs stop when the lease runs out, or now with `hpckit dask down --name {name}`",
                r.pid
            ),
            None => bail!("no cluster named {name:?} is up (start one with `hpckit dask up`)"),
        },
    }
}

/// `down`: through `up` when it answers, else from its record.
async fn down(name: &str, json: bool, creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    let dir = control::state_dir()?;
    if let Some(answer) = control::ask(&dir, name, &Request::Down).await? {
        if !answer.ok {
            bail!("{}", answer.error);
        }
        if json {
            output::print_json(&answer.value)?;
        } else {
            println!("cluster {name} is down");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(record) = control::read_record(&dir, name)? else {
        bail!("no cluster named {name:?} (nothing recorded in {})", dir.display());
    };
    let loc: Location = record.scheduler.parse()?;
    let creds = creds.credentials(&loc)?;
    let sched = hpckit::open_scheduler(&record.scheduler, &creds)
        .await
        .with_context(|| format!("opening {}", record.scheduler))?;
    let dask_sched = match &record.scheduler_on {
        Some(url) => {
            hpckit::open_scheduler(url, &creds).await.with_context(|| format!("opening {url}"))?
        }
        None => sched.clone(),
    };
    let ids: Vec<JobId> = record.jobs.iter().map(|j| JobId::from(j.as_str())).collect();
    // One cancel command per scheduler (ADR 0903): the first job is the Dask
    // scheduler's, of `--scheduler-on` when it was given.
    let results = match &record.scheduler_on {
        None => sched.cancel_many(&ids).await,
        Some(_) => {
            let (first, rest) = ids.split_at(ids.len().min(1));
            let (a, b) = tokio::join!(dask_sched.cancel_many(first), sched.cancel_many(rest));
            a.and_then(|mut a| {
                a.extend(b?);
                Ok(a)
            })
        }
    }
    .with_context(|| format!("cancelling the jobs of cluster {name:?}"))?;
    if let Some(e) = results.iter().filter_map(|r| r.as_ref().err()).find(|e| !e.is_not_found()) {
        bail!("cancelling the jobs of cluster {name:?} failed: {e}");
    }
    if let Ok(site) = hpckit::open_dask_site(&record.scheduler, &creds).await {
        let _ = site.remove_dir(&record.run_dir).await;
    }
    control::remove_files(&dir, name);
    let value = serde_json::json!({"name": name, "cancelled": record.jobs});
    if json {
        output::print_json(&value)?;
    } else {
        println!("cluster {name} is down (its `up` was gone; cancelled {})", record.jobs.join(" "));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_status(v: &serde_json::Value) -> anyhow::Result<()> {
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_owned();
    println!("scheduler: {}", text("address"));
    println!("dashboard: {}", text("dashboard_url"));
    if let Some(c) = v.get("counts").filter(|c| !c.is_null()) {
        println!(
            "workers:   {} connected, {} threads; tasks {} ({} processing, {} waiting, {} erred)",
            c["workers"], c["cores"], c["tasks"], c["processing"], c["waiting"], c["erred"]
        );
    }
    let mut table = output::Table::new(["job", "role", "state", "workers"]);
    let row = |j: &serde_json::Value, role: String| {
        let state = j["state"].as_str().unwrap_or("unknown").to_owned();
        [j["id"].as_str().unwrap_or("-").to_owned(), role, state, j["connected"].to_string()]
    };
    table.row(row(&v["scheduler_job"], "scheduler".into()));
    for j in v["worker_jobs"].as_array().into_iter().flatten() {
        table.row(row(j, format!("worker {}", j["tag"].as_str().unwrap_or(""))));
    }
    table.print()
}
