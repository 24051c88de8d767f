//! Waiting for the scheduler's address and for workers to connect, and the
//! errors when a job ends first: they carry the end of the job's stderr.

use std::collections::BTreeSet;
use std::time::Duration;

use hpc_core::{Error, JobId, JobStatus, Result, Scheduler};
use tokio::time::Instant;

use crate::cluster::{Inner, gone};
use crate::config::DaskConfig;
use crate::monitor::{SchedulerFile, belongs_to};
use crate::script::RunDir;
use crate::site::Site;

/// Pause between two looks at the scheduler file or the worker list: the
/// cluster is ready at most this long before `up` says so (each look is
/// one small read or one local HTTP request, about a millisecond of CPU on
/// either side: 2 % of a core, while start-up is seconds of Python imports).
const LOOK: Duration = Duration::from_millis(50);
/// Look at the jobs' states every this many looks (one status query, every
/// 4 s: a failed job is reported that much later, at a fraction of the queries).
const STATUS_EVERY: u32 = 80;
/// Lines of a job's stderr quoted in an error.
const TAIL_LINES: usize = 6;

/// Wait until the scheduler file can be read, or the scheduler job ends,
/// or the startup timeout passes.
pub(crate) async fn await_scheduler(
    sched: &dyn Scheduler,
    site: &dyn Site,
    config: &DaskConfig,
    run: &RunDir,
    id: &JobId,
) -> Result<SchedulerFile> {
    let path = run.scheduler_file();
    let deadline = Instant::now() + config.startup_timeout;
    let mut looks = 0u32;
    loop {
        if let Some(bytes) = site.read_file(&path).await? {
            // A file read while Dask writes it does not parse yet: look again.
            if let Ok(file) = SchedulerFile::parse(&bytes, &path) {
                return Ok(file);
            }
        }
        looks += 1;
        let late = Instant::now() >= deadline;
        if late || looks.is_multiple_of(STATUS_EVERY) {
            let status = one_status(sched, id).await?;
            if gone(&status) {
                return Err(ended_early(site, run, "the Dask scheduler", id, None, &status).await);
            }
            if late {
                let state = status.map(|s| s.state.to_string()).unwrap_or_default();
                let tail = stderr_tail(site, run, None).await;
                return Err(Error::Timeout {
                    what: format!(
                        "waiting for the Dask scheduler (job {id}, {state}) to write {path}{}",
                        quoted(&tail)
                    ),
                    after: config.startup_timeout,
                });
            }
        }
        tokio::time::sleep(LOOK).await;
    }
}

/// Wait until `n` workers are connected; fail with the stderr of a worker
/// job that ended before its workers connected, or at the timeout.
pub(crate) async fn await_workers(inner: &Inner, n: usize, timeout: Duration) -> Result<usize> {
    let dashboard = inner.dashboard()?;
    let deadline = Instant::now() + timeout;
    let mut looks = 0u32;
    loop {
        // The count from counts.json, which always answers (see `status`).
        let connected = dashboard.counts().await?.workers as usize;
        if connected >= n {
            return Ok(connected);
        }
        looks += 1;
        let late = Instant::now() >= deadline;
        if late || looks.is_multiple_of(STATUS_EVERY) {
            let names: Vec<String> = match dashboard.workers().await {
                Ok(w) => w.into_iter().map(|w| w.name).collect(),
                Err(_) => Vec::new(),
            };
            let jobs = inner.workers.lock().await.clone();
            let waiting: Vec<_> = jobs
                .into_iter()
                .filter(|j| !names.iter().any(|name| belongs_to(name, &j.tag)))
                .collect();
            let ids: Vec<JobId> = waiting.iter().map(|j| j.id.clone()).collect();
            let mut states = inner.sched.statuses(&ids).await?.into_iter();
            let mut summary = BTreeSet::new();
            for job in &waiting {
                let status = states.next().unwrap_or_else(|| Err(Error::job_not_found(&job.id)));
                if gone(&status) {
                    let what = format!("Dask worker {}", job.tag);
                    return Err(ended_early(
                        inner.site.as_ref(),
                        &inner.run,
                        &what,
                        &job.id,
                        Some(&job.tag),
                        &status,
                    )
                    .await);
                }
                if let Ok(s) = &status {
                    summary.insert(format!("{} {}", job.id, s.state));
                }
            }
            if late {
                let detail: Vec<String> = summary.into_iter().collect();
                return Err(Error::Timeout {
                    what: format!(
                        "waiting for {n} Dask workers ({} connected; not connected: {})",
                        connected,
                        if detail.is_empty() { "none submitted".into() } else { detail.join(", ") }
                    ),
                    after: timeout,
                });
            }
        }
        tokio::time::sleep(LOOK).await;
    }
}

async fn one_status(sched: &dyn Scheduler, id: &JobId) -> Result<Result<JobStatus>> {
    let mut all = sched.statuses(std::slice::from_ref(id)).await?;
    Ok(if all.is_empty() { Err(Error::job_not_found(id)) } else { all.remove(0) })
}

/// The error for a job that ended before doing its part.
async fn ended_early(
    site: &dyn Site,
    run: &RunDir,
    what: &str,
    id: &JobId,
    tag: Option<&str>,
    status: &Result<JobStatus>,
) -> Error {
    let how = match status {
        Ok(s) => match s.exit_code {
            Some(code) => format!("{} with exit code {code}", s.state),
            None => s.state.to_string(),
        },
        Err(_) => "gone from the queue".to_owned(),
    };
    let tail = stderr_tail(site, run, tag).await;
    let (_, err_file) = run.logs(tag);
    let detail = if tail.is_empty() {
        format!("; its stderr ({err_file}) is empty")
    } else {
        format!("; stderr: {tail}")
    };
    Error::remote(
        "dask",
        None,
        format!("{what} (job {id}) ended ({how}) before it was ready{detail}"),
    )
}

/// The last lines of a job's stderr, joined into one line.
async fn stderr_tail(site: &dyn Site, run: &RunDir, tag: Option<&str>) -> String {
    let (_, err) = run.logs(tag);
    match site.read_file(&err).await {
        Ok(Some(bytes)) => tail(&String::from_utf8_lossy(&bytes), TAIL_LINES),
        _ => String::new(),
    }
}

/// The last `n` non-empty lines of `text`, joined by ` | `.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

fn quoted(tail: &str) -> String {
    if tail.is_empty() { String::new() } else { format!("; stderr: {tail}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_keep_the_last_lines_on_one_line() {
        assert_eq!(tail("a\n\nb\n  c  \n", 2), "b | c");
        assert_eq!(tail("", 3), "");
        assert_eq!(tail("x", 3), "x");
    }
}
