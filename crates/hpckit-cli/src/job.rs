//! `hpckit job submit|run|status|list|cancel|wait|queues <scheduler-url>`.
//!
//! [`args`] turns options (or a JSON file) into job descriptions, [`submit`]
//! submits and runs jobs, [`show`] waits and prints statuses and queues.

mod args;
mod show;
mod submit;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use hpckit::core::{Error, JobId, Location, Scheduler};

pub(crate) use self::args::JobArgs;
pub(crate) use self::args::parse_duration;
#[cfg(feature = "picas")]
pub(crate) use self::args::parse_memory_mb;
use crate::creds::CredentialArgs;
use crate::output;

/// Job subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum JobCommand {
    /// Submit a batch job; prints its id.
    ///
    /// Example: hpckit job submit slurm+ssh://me@login --queue batch --stdout out.txt -- ./run.sh 1
    Submit {
        /// Scheduler location, e.g. local://, ssh://user@host/workdir, slurm+ssh://user@login.
        url: String,
        #[command(flatten)]
        job: JobArgs,
        /// Print the id as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a job with its output streamed here and its input forwarded;
    /// exits with the job's exit code (128+N when signal N ended it).
    ///
    /// Example: hpckit job run local:// -- echo hello
    Run {
        /// Scheduler location.
        url: String,
        #[command(flatten)]
        job: JobArgs,
    },
    /// Show the status of jobs.
    Status {
        /// Scheduler location.
        url: String,
        /// Job ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Print JSON (an array of job statuses).
        #[arg(long)]
        json: bool,
    },
    /// List the jobs the scheduler shows you.
    List {
        /// Scheduler location.
        url: String,
        /// Only these queues (repeatable).
        #[arg(long = "queue", short = 'q', value_name = "QUEUE")]
        queues: Vec<String>,
        /// Print JSON (an array of job statuses).
        #[arg(long)]
        json: bool,
    },
    /// Cancel jobs; prints their status afterwards.
    Cancel {
        /// Scheduler location.
        url: String,
        /// Job ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Print JSON (an array of job statuses).
        #[arg(long)]
        json: bool,
    },
    /// Wait until jobs have finished (or run); exits 124 on timeout and 1
    /// when a job did not complete successfully.
    Wait {
        /// Scheduler location.
        url: String,
        /// Job ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Give up after this long (seconds, or 90s, 15m, 2h, HH:MM:SS).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// What to wait for.
        #[arg(long, value_enum, default_value_t = Until::Done)]
        until: Until,
        /// Print JSON (an array of job statuses).
        #[arg(long)]
        json: bool,
    },
    /// Show the scheduler's queues (partitions).
    Queues {
        /// Scheduler location.
        url: String,
        /// Print JSON (an array of queue statuses).
        #[arg(long)]
        json: bool,
    },
}

/// What `wait` waits for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Until {
    /// Until each job runs (or has finished).
    Running,
    /// Until each job has finished.
    Done,
}

/// Run one job subcommand.
pub(crate) async fn run(cmd: JobCommand, creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        JobCommand::Submit { url, job, json } => {
            let jobs = job.descriptions()?;
            submit::submit(&open(&url, creds).await?, jobs, json).await
        }
        JobCommand::Run { url, job } => {
            let mut jobs = job.descriptions()?;
            if jobs.len() != 1 {
                bail!(Error::InvalidInput("`run` takes one job, not a JSON array".into()));
            }
            submit::run_interactive(&open(&url, creds).await?, jobs.remove(0)).await
        }
        JobCommand::Status { url, ids, json } => {
            let sched = open(&url, creds).await?;
            let ids = job_ids(ids);
            let answers = sched.statuses(&ids).await?;
            show::print_statuses(&*sched, answers, json)
        }
        JobCommand::List { url, queues, json } => {
            let sched = open(&url, creds).await?;
            let jobs = sched.list_jobs(&queues).await?;
            show::print_statuses(&*sched, jobs.into_iter().map(Ok).collect(), json)
        }
        JobCommand::Cancel { url, ids, json } => {
            let sched = open(&url, creds).await?;
            let mut answers = Vec::new();
            for id in job_ids(ids) {
                answers.push(sched.cancel(&id).await);
            }
            show::print_statuses(&*sched, answers, json)
        }
        JobCommand::Wait { url, ids, timeout, until, json } => {
            let sched = open(&url, creds).await?;
            show::wait(&*sched, job_ids(ids), until, timeout, json).await
        }
        JobCommand::Queues { url, json } => {
            let sched = open(&url, creds).await?;
            let queues = sched.queue_statuses(&[]).await?;
            if json {
                output::print_json(&queues)?;
            } else {
                show::queue_table(&queues).print()?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn open(url: &str, creds: &CredentialArgs) -> anyhow::Result<Arc<dyn Scheduler>> {
    let loc: Location = url.parse()?;
    let map = creds.credentials(&loc)?;
    Ok(hpckit::open_scheduler(url, &map).await?)
}

fn job_ids(ids: Vec<String>) -> Vec<JobId> {
    ids.into_iter().map(JobId::from).collect()
}

/// Whether jobs of this scheduler vanish with this process.
pub(crate) fn lives_in_process(sched: &dyn Scheduler) -> bool {
    let caps = &sched.info().capabilities;
    !caps.status_after_restart && caps.embedded
}
