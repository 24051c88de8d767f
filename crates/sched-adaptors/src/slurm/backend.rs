//! [`Slurm`]: Slurm's part of the shared batch backend: `sbatch`, `squeue`,
//! `sacct`, `scontrol`, `scancel`, `sinfo` and `srun`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use hpc_core::scheduler::InteractiveJob;
use hpc_core::{
    Error, JobDescription, JobId, JobStatus, QueueStatus, Result, SchedulerCapabilities,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::config::{Accounting, SlurmConfig};
use super::parse::{self, SACCT_FORMAT, SINFO_FORMAT, SQUEUE_COUNT_FORMAT, SQUEUE_FORMAT};
use super::{script, srun_stderr};
use crate::batch::submit::{Chunking, Submission};
use crate::batch::{Backend, BatchAdaptor, Host, Lookup};

/// Most statuses remembered for jobs that later leave the controller.
const SEEN_LIMIT: usize = 20_000;
/// Most job ids on one `scancel` command line.
const SCANCEL_IDS: usize = 500;

/// Slurm through any [`hpc_exec::Executor`]: `slurm://` on the login node
/// itself, `slurm+ssh://user@host` over SSH.
pub type SlurmScheduler = Backend<Slurm>;

/// Slurm's commands and parsers, whether accounting is on, and the last
/// status of every job seen (see [`SlurmScheduler`]).
#[derive(Debug, Default)]
pub struct Slurm {
    accounting: OnceCell<bool>,
    /// Last status of every job seen, for the accounting grace period and for
    /// jobs that leave the controller without accounting.
    seen: Mutex<HashMap<JobId, (JobStatus, Instant)>>,
}

/// What the slurm adaptor can do.
pub fn capabilities() -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.submit_batch = true;
    c.submit_interactive = true;
    c.submit_array = true;
    c.status_with_accounting = true;
    c.status_after_restart = true;
    c.credentials = hpc_auth::SSH_CREDENTIAL_KINDS;
    c
}

impl Backend<Slurm> {
    /// Whether `sacct` is used (asks Slurm once when the setting is `auto`).
    pub async fn accounting_enabled(&self) -> bool {
        self.adaptor().accounting(self.host()).await
    }

    /// Status of every task of an array job `id` (as `A_T` ids), in one query.
    pub async fn array_task_statuses(&self, id: &JobId) -> Result<Vec<JobStatus>> {
        let (slurm, host) = (self.adaptor(), self.host());
        if !parse::valid_job_id(id.as_str()) || id.as_str().contains('_') {
            return Err(Error::job_not_found(id));
        }
        let rows = slurm.squeue(host, std::slice::from_ref(id)).await?;
        let tasks: Vec<JobStatus> = rows
            .iter()
            .filter(|r| r.array_job == id.as_str() && r.array_task != parse::ArrayTask::None)
            .map(|r| r.to_status(&JobId::new(r.job_id())))
            .collect();
        if tasks.is_empty() && slurm.accounting(host).await {
            let recs = slurm.sacct(host, std::slice::from_ref(id)).await?;
            let prefix = format!("{id}_");
            return Ok(recs
                .iter()
                .filter(|r| r.job_id.starts_with(&prefix))
                .map(|r| r.to_status(&JobId::new(r.job_id.clone())))
                .collect());
        }
        if tasks.is_empty() {
            return Err(Error::job_not_found(id));
        }
        Ok(tasks)
    }
}

impl Slurm {
    fn seen(&self) -> MutexGuard<'_, HashMap<JobId, (JobStatus, Instant)>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn accounting(&self, host: &Host<Self>) -> bool {
        match host.config().accounting {
            Accounting::On => true,
            Accounting::Off => false,
            Accounting::Auto => *self
                .accounting
                .get_or_init(|| async {
                    let c = &host.config().commands;
                    let cmd = host.command(&[&c.sacct, "-P", "-n", "-X", "-j", "1", "--format=JobIDRaw"]);
                    match host.run(&cmd).await {
                        Ok(out) => out.status.success(),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot tell whether Slurm accounting is on; assuming off");
                            false
                        }
                    }
                })
                .await,
        }
    }

    async fn squeue(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<parse::QueueRow>> {
        let list: Vec<&str> = ids.iter().map(JobId::as_str).collect();
        let c = &host.config().commands;
        let cmd = host.command(&[
            c.squeue.as_str(),
            "-h",
            "-a",
            "-t",
            "all",
            "-O",
            SQUEUE_FORMAT,
            "-j",
            &list.join(","),
        ]);
        let out = host.run(&cmd).await?;
        if !out.status.success() {
            // Every listed id unknown: squeue says so and exits 1.
            if out.stderr_text().contains("Invalid job id specified") {
                return Ok(Vec::new());
            }
            return Err(host.failed(&cmd.display(), &out));
        }
        parse::parse_squeue(&out.stdout_text())
    }

    async fn sacct(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<parse::AcctRecord>> {
        let list: Vec<&str> = ids.iter().map(JobId::as_str).collect();
        let format = format!("--format={SACCT_FORMAT}");
        let c = &host.config().commands;
        let cmd = host.command(&[c.sacct.as_str(), "-P", "-n", &format, "-j", &list.join(",")]);
        let out = host.run_checked(&cmd).await?;
        parse::parse_sacct(&out.stdout_text())
    }

    async fn scontrol_all(&self, host: &Host<Self>) -> Result<Vec<BTreeMap<String, String>>> {
        let c = &host.config().commands;
        let cmd = host.command(&[c.scontrol.as_str(), "-o", "show", "job"]);
        let out = host.run_checked(&cmd).await?;
        out.stdout_text()
            .lines()
            .filter(|l| l.starts_with("JobId="))
            .map(parse::parse_scontrol_line)
            .collect()
    }

    fn remember(&self, st: &JobStatus) {
        let mut seen = self.seen();
        if seen.len() >= SEEN_LIMIT
            && !seen.contains_key(&st.id)
            && let Some(oldest) = seen.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| k.clone())
        {
            seen.remove(&oldest);
        }
        seen.insert(st.id.clone(), (st.clone(), Instant::now()));
    }

    /// A job the scheduler no longer lists: its last final status if we saw
    /// one, its last status during the grace period, else unknown.
    fn vanished(&self, host: &Host<Self>, id: &JobId) -> Lookup {
        let seen = self.seen();
        match seen.get(id) {
            Some((st, _)) if st.is_done() => Some(st.clone()),
            Some((st, t)) if t.elapsed() < host.config().poll.accounting_grace => Some(st.clone()),
            _ => None,
        }
    }
}

#[async_trait]
impl BatchAdaptor for Slurm {
    const NAME: &'static str = "slurm";
    /// Timestamps without a zone are read as UTC.
    const ENV: &'static [(&'static str, &'static str)] = &[("TZ", "UTC")];
    type Config = SlurmConfig;

    fn capabilities() -> SchedulerCapabilities {
        capabilities()
    }

    /// What Slurm's commands say while slurmctld is down, restarting or
    /// too busy to answer in time.
    fn controller_unreachable(output: &str) -> bool {
        ["Unable to contact slurm controller", "Socket timed out on send/recv operation"]
            .iter()
            .any(|said| output.contains(said))
    }

    /// Spread the jobs evenly over up to `submit_parallel` shells, each at
    /// most `submit_chunk` jobs.
    fn chunking(config: &SlurmConfig) -> Chunking {
        Chunking { size: config.submit_chunk, parallel: config.submit_parallel, spread: true }
    }

    fn plan(&self, config: &SlurmConfig, job: &JobDescription) -> Result<Submission> {
        let (argv, script) = script::batch_submission(job, config)?;
        Ok(Submission::new(argv, script))
    }

    fn submitted(&self, _job: &JobDescription, _shown: &str, output: &str) -> Result<JobId> {
        parse::parse_sbatch(output)
    }

    /// One `squeue` for all ids, plus at most one `sacct` (or, without
    /// accounting, one `scontrol`) for the ids `squeue` no longer lists.
    async fn statuses(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Lookup>> {
        let valid: Vec<JobId> =
            ids.iter().filter(|id| parse::valid_job_id(id.as_str())).cloned().collect();
        let rows = if valid.is_empty() { Vec::new() } else { self.squeue(host, &valid).await? };
        let mut found: HashMap<&JobId, JobStatus> = HashMap::new();
        for id in &valid {
            if let Some(st) = parse::status_from_rows(&rows, id) {
                found.insert(id, st);
            }
        }
        let missing: Vec<JobId> =
            valid.iter().filter(|id| !found.contains_key(id)).cloned().collect();
        if !missing.is_empty() {
            if self.accounting(host).await {
                let recs = self.sacct(host, &missing).await?;
                for id in &valid {
                    if !found.contains_key(id)
                        && let Some(st) = parse::status_from_acct(&recs, id)
                    {
                        found.insert(id, st);
                    }
                }
            } else if missing
                .iter()
                .any(|id| !self.seen().get(id).is_some_and(|(s, _)| s.is_done()))
            {
                let all = self.scontrol_all(host).await?;
                for id in &valid {
                    if found.contains_key(id) {
                        continue;
                    }
                    if let Some(map) = all.iter().find(|m| {
                        m.get("JobId").map(String::as_str) == Some(id.as_str())
                            || m.get("ArrayJobId")
                                .zip(m.get("ArrayTaskId"))
                                .is_some_and(|(a, t)| format!("{a}_{t}") == id.as_str())
                    }) {
                        found.insert(id, parse::status_from_scontrol(map, id));
                    }
                }
            }
        }
        Ok(ids
            .iter()
            .map(|id| match found.get(id) {
                Some(st) => {
                    self.remember(st);
                    Some(st.clone())
                }
                None if parse::valid_job_id(id.as_str()) => self.vanished(host, id),
                None => None,
            })
            .collect())
    }

    /// The statuses, and for finished jobs the accounting's figures (peak
    /// memory, CPU time), from one more `sacct`, where there is accounting.
    async fn detailed_statuses(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Lookup>> {
        let mut all = self.statuses(host, ids).await?;
        let lacking: Vec<JobId> = all
            .iter()
            .flatten()
            .filter(|st| {
                st.is_done() && st.usage.as_ref().is_none_or(|u| u.max_rss_bytes.is_none())
            })
            .map(|st| st.id.clone())
            .collect();
        if lacking.is_empty() || !self.accounting(host).await {
            return Ok(all);
        }
        // Extra figures only: without them the statuses are still right.
        let Ok(recs) = self.sacct(host, &lacking).await else { return Ok(all) };
        for st in all.iter_mut().flatten() {
            if lacking.contains(&st.id)
                && let Some(acct) = parse::status_from_acct(&recs, &st.id)
            {
                st.usage = match (acct.usage, st.usage.take()) {
                    (Some(a), Some(q)) => Some(a.or(q)),
                    (a, q) => a.or(q),
                };
            }
        }
        Ok(all)
    }

    async fn cancel(&self, host: &Host<Self>, id: &JobId) -> Result<()> {
        if !parse::valid_job_id(id.as_str()) {
            return Err(Error::job_not_found(id));
        }
        let cmd = host.command(&[host.config().commands.scancel.as_str(), id.as_str()]);
        // scancel is silent about unknown ids: the status query tells.
        host.run_checked(&cmd).await.map(drop)
    }

    async fn cancel_many(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Result<()>>> {
        let mut results: Vec<Result<()>> = ids
            .iter()
            .map(|id| {
                if parse::valid_job_id(id.as_str()) {
                    Ok(())
                } else {
                    Err(Error::job_not_found(id))
                }
            })
            .collect();
        let valid: Vec<usize> = (0..ids.len()).filter(|&i| results[i].is_ok()).collect();
        // One scancel for many ids; a few hundred at most keep its command line short.
        for chunk in valid.chunks(SCANCEL_IDS) {
            let mut argv = vec![host.config().commands.scancel.as_str()];
            argv.extend(chunk.iter().map(|&i| ids[i].as_str()));
            let cmd = host.command(&argv);
            let out = host.run(&cmd).await?;
            if out.status.success() {
                continue;
            }
            // scancel goes on after a job it cannot cancel and names it in a
            // line of its own; a failure that names no job is the command's.
            let refused = parse::scancel_refusals(&out.stderr_text());
            if refused.is_empty() {
                return Err(host.failed(&cmd.display(), &out));
            }
            for &i in chunk {
                let Some(reason) = refused.get(ids[i].as_str()) else { continue };
                results[i] = Err(if reason.contains("Invalid job id") {
                    Error::job_not_found(&ids[i])
                } else {
                    Error::CommandFailed {
                        command: cmd.display(),
                        exit_code: out.status.code,
                        stderr: format!("job {}: {reason}", ids[i]),
                    }
                });
            }
        }
        Ok(results)
    }

    async fn queues(&self, host: &Host<Self>) -> Result<Vec<QueueStatus>> {
        let c = &host.config().commands;
        let sinfo = host.command(&[c.sinfo.as_str(), "-h", "-a", "-o", SINFO_FORMAT]);
        let squeue = host.command(&[
            c.squeue.as_str(),
            "-h",
            "-a",
            "-t",
            "PENDING,RUNNING,SUSPENDED",
            "-O",
            SQUEUE_COUNT_FORMAT,
        ]);
        let (a, b) = tokio::join!(host.run(&sinfo), host.run(&squeue));
        let (a, b) = (a?, b?);
        if !a.status.success() {
            return Err(host.failed(&sinfo.display(), &a));
        }
        if !b.status.success() {
            return Err(host.failed(&squeue.display(), &b));
        }
        let mut queues = parse::parse_sinfo(&a.stdout_text())?;
        parse::add_job_counts(&mut queues, &b.stdout_text())?;
        Ok(queues)
    }

    async fn list_jobs(&self, host: &Host<Self>, queues: &[String]) -> Result<Vec<JobStatus>> {
        let c = &host.config().commands;
        let mut argv = vec![
            c.squeue.clone(),
            "-h".into(),
            "-a".into(),
            "--me".into(),
            "-O".into(),
            SQUEUE_FORMAT.into(),
        ];
        if !queues.is_empty() {
            argv.push("-p".into());
            argv.push(queues.join(","));
        }
        let cmd = host.command(&argv);
        let out = host.run_checked(&cmd).await?;
        let rows = parse::parse_squeue(&out.stdout_text())?;
        Ok(rows.iter().map(|r| r.to_status(&JobId::new(r.job_id()))).collect())
    }

    async fn submit_interactive(
        &self,
        host: &Host<Self>,
        job: &JobDescription,
    ) -> Result<InteractiveJob> {
        let argv = script::interactive_argv(job, host.config())?;
        let cmd = host.command(&argv);
        let process = host.executor().spawn(&cmd).await?;
        let (stdin, stdout, stderr, mut control) = process.into_parts();
        let (Some(stdin), Some(stdout), Some(stderr)) = (stdin, stdout, stderr) else {
            return Err(Error::io("starting srun", std::io::Error::other("missing pipe")));
        };
        let mut reader = BufReader::new(stderr);
        let (id, before) = match read_marker(&mut reader).await {
            Ok(x) => x,
            Err(e) => {
                let status = control.wait().await.ok();
                return Err(match e {
                    Error::CommandFailed { stderr, .. } => Error::CommandFailed {
                        command: cmd.display(),
                        exit_code: status.and_then(|s| s.code),
                        stderr,
                    },
                    other => other,
                });
            }
        };
        // Keep srun alive until it ends by itself: dropping its handle would
        // kill it.
        tokio::spawn(async move {
            let _ = control.wait().await;
        });
        let rest = BufReader::new(std::io::Cursor::new(before).chain(reader));
        let (stderr, filtered) = tokio::io::duplex(64 * 1024);
        tokio::spawn(srun_stderr::forward(rest, filtered));
        Ok(InteractiveJob { id, stdin, stdout, stderr: Box::pin(stderr) })
    }
}

/// Read stderr up to the job-id marker; return the id and the bytes before it.
async fn read_marker(stderr: &mut BufReader<hpc_exec::BoxRead>) -> Result<(JobId, Vec<u8>)> {
    let mut before = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = stderr
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| Error::io("reading srun output", e))?;
        if n == 0 {
            let text = String::from_utf8_lossy(&before).into_owned();
            return Err(Error::CommandFailed {
                command: "srun".into(),
                exit_code: None,
                stderr: text,
            });
        }
        let text = String::from_utf8_lossy(&line);
        if let Some(id) = text.strip_prefix(script::INTERACTIVE_MARK) {
            let id = id.trim();
            if !parse::valid_job_id(id) {
                return Err(Error::parse("srun", "expected a job id", text.into_owned()));
            }
            return Ok((JobId::new(id), before));
        }
        before.extend_from_slice(&line);
    }
}
