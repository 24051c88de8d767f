//! [`TorqueScheduler`]: the thin `Scheduler` implementation over the parsers
//! and the command builder.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use hpc_core::scheduler::{ProgressFn, WaitUntil};
use hpc_core::{
    Error, JobDescription, JobId, JobState, JobStatus, JobUsage, Location, NotFoundKind,
    QueueStatus, Result, Scheduler, SchedulerCapabilities,
};
use hpc_exec::{Command, Executor, Output};

use super::config::TorqueSettings;
use super::parse::{self, TorqueJob};
use super::script;
use crate::batch::{Poller, StatusSource, submit};

/// What this client knows about a job beyond the last query.
#[derive(Debug, Default)]
struct Memo {
    submitted: bool,
    seen: bool,
    cancelled: bool,
    /// The final status, once known (also after Torque has forgotten the job).
    done: Option<JobStatus>,
    /// The name as submitted here (Torque shows a sanitized form).
    name: Option<String>,
}

impl Memo {
    /// Report the name this client submitted when Torque shows its sanitized form.
    fn restore_name(&self, s: JobStatus) -> JobStatus {
        crate::batch::restore_name(self.name.as_deref(), script::job_name, s)
    }
}

/// Torque / PBS (classic) through `qsub`, `qstat -x` and `qdel`, run by any
/// [`Executor`].
///
/// Status is batched: one `qstat -x ID...` answers for every job asked about.
/// Concurrent [`Scheduler::wait`] calls share one poll loop. Tested against
/// the Torque stand-in of `hpc-testkit` (Torque itself cannot be installed
/// here), and on fixtures of real output.
#[derive(Clone)]
pub struct TorqueScheduler {
    core: Arc<Core>,
    poller: Poller,
}

struct Core {
    exec: Arc<dyn Executor>,
    settings: TorqueSettings,
    location: String,
    memo: Mutex<HashMap<u64, Memo>>,
    commands_run: AtomicU64,
}

impl std::fmt::Debug for TorqueScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorqueScheduler")
            .field("location", &self.core.location)
            .field("executor", &self.core.exec.target())
            .finish_non_exhaustive()
    }
}

impl TorqueScheduler {
    /// A scheduler that runs Torque's commands through `exec`.
    pub fn new(exec: Arc<dyn Executor>, settings: TorqueSettings) -> Result<Self> {
        Self::with_location(exec, settings, "torque://".into())
    }

    /// Open `torque://` or `torque+<transport>://...` with `exec` already
    /// connected to the host the location names. Query parameters override
    /// `settings` (see [`TorqueSettings::apply_location`]).
    pub fn open(
        location: &Location,
        exec: Arc<dyn Executor>,
        mut settings: TorqueSettings,
    ) -> Result<Self> {
        crate::batch::check_location(location, "torque")?;
        settings.apply_location(location)?;
        Self::with_location(exec, settings, location.to_string())
    }

    fn with_location(
        exec: Arc<dyn Executor>,
        settings: TorqueSettings,
        location: String,
    ) -> Result<Self> {
        settings.validate()?;
        let poll = settings.poll;
        let core = Arc::new(Core {
            exec,
            settings,
            location,
            memo: Mutex::new(HashMap::new()),
            commands_run: AtomicU64::new(0),
        });
        let poller = Poller::new(core.clone(), poll);
        Ok(TorqueScheduler { core, poller })
    }

    /// The settings in use.
    pub fn settings(&self) -> &TorqueSettings {
        &self.core.settings
    }

    /// How many Torque commands (remote command executions) this scheduler has run.
    pub fn commands_run(&self) -> u64 {
        self.core.commands_run.load(Ordering::Relaxed)
    }
}

fn command_failed(cmd: &Command, out: &Output) -> Error {
    let text = if out.stderr.is_empty() { out.stdout_text() } else { out.stderr_text() };
    Error::CommandFailed {
        command: cmd.display(),
        exit_code: out.status.code,
        stderr: text.into_owned(),
    }
}

/// Torque's exit codes for "the job is already gone": unknown id (153,
/// PBSE_UNKJOBID mod 256) and "invalid state: COMPLETE" (170).
fn already_gone(out: &Output) -> bool {
    let text = format!("{}{}", out.stdout_text(), out.stderr_text());
    matches!(out.status.code, Some(153) | Some(170))
        || text.contains("nonexistent job id")
        || text.contains("Unknown Job Id")
        || text.contains("invalid state for job - COMPLETE")
}

impl Core {
    fn memo(&self) -> MutexGuard<'_, HashMap<u64, Memo>> {
        self.memo.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        for (k, v) in &self.settings.env {
            cmd = cmd.env(k.clone(), v);
        }
        cmd
    }

    async fn run(&self, cmd: &Command) -> Result<Output> {
        self.commands_run.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(command = %cmd.display(), "torque");
        self.exec.run(cmd).await
    }

    async fn run_checked(&self, cmd: &Command) -> Result<Output> {
        let out = self.run(cmd).await?;
        if out.status.success() { Ok(out) } else { Err(command_failed(cmd, &out)) }
    }

    async fn submit(&self, job: &JobDescription) -> Result<JobId> {
        let plan = script::plan(job, &self.settings)?;
        let cmd = self.command(&self.settings.commands.qsub).args(&plan.args).stdin(plan.script);
        let out = self.run_checked(&cmd).await?;
        let id = parse::parse_submit(&cmd.display(), &out.stdout_text())?;
        self.remember_submitted(&id, job);
        Ok(id)
    }

    fn remember_submitted(&self, id: &JobId, job: &JobDescription) {
        if let Some(seq) = parse::seq_of(id.as_str()) {
            let mut memo = self.memo();
            let m = memo.entry(seq).or_default();
            m.submitted = true;
            m.name.clone_from(&job.name);
        }
    }

    /// `qstat -x` for the given sequence numbers. Unknown ids make qstat
    /// exit 153 while it still prints the others.
    async fn qstat(&self, ids: &[&JobId]) -> Result<Vec<TorqueJob>> {
        let cmd = self
            .command(&self.settings.commands.qstat)
            .arg("-x")
            .args(ids.iter().map(|i| i.as_str()));
        let out = self.run(&cmd).await?;
        let only_unknown =
            out.stderr_text().lines().all(|l| l.trim().is_empty() || l.contains("Unknown Job Id"));
        let tolerated = out.status.code == Some(153) && only_unknown;
        if !out.status.success() && !tolerated {
            return Err(command_failed(&cmd, &out));
        }
        parse::parse_qstat(&cmd.display(), &out.stdout_text())
    }

    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        let seqs: Vec<Option<u64>> = ids.iter().map(|i| parse::seq_of(i.as_str())).collect();
        let mut out: Vec<Option<Result<JobStatus>>> = Vec::with_capacity(ids.len());
        {
            let memo = self.memo();
            for (id, seq) in ids.iter().zip(&seqs) {
                out.push(match seq {
                    None => Some(Err(Error::job_not_found(id))),
                    Some(s) => memo.get(s).and_then(|m| m.done.clone()).map(|mut st| {
                        st.id = id.clone();
                        Ok(st)
                    }),
                });
            }
        }
        let ask: Vec<&JobId> =
            ids.iter().zip(&out).filter(|(_, o)| o.is_none()).map(|(i, _)| i).collect();
        if ask.is_empty() {
            return Ok(out.into_iter().flatten().collect());
        }
        let jobs = self.qstat(&ask).await?;
        let mut memo = self.memo();
        for (i, seq) in seqs.iter().enumerate() {
            let Some(seq) = seq else { continue };
            if out[i].is_some() {
                continue;
            }
            let m = memo.entry(*seq).or_default();
            let status = match jobs.iter().find(|j| j.seq == *seq) {
                Some(job) => {
                    m.seen = true;
                    let s = m.restore_name(job_status(&ids[i], job, m.cancelled));
                    if s.is_done() {
                        m.done = Some(s.clone());
                    }
                    s
                }
                None if m.seen || m.submitted => {
                    // Torque forgets finished jobs after keep_completed
                    // seconds (0 by default up to 5.1): finished, exit unknown.
                    let s = vanished(&ids[i], m.cancelled);
                    m.done = Some(s.clone());
                    s
                }
                None => {
                    out[i] = Some(Err(Error::job_not_found(&ids[i])));
                    continue;
                }
            };
            out[i] = Some(Ok(status));
        }
        Ok(out
            .into_iter()
            .map(|s| s.unwrap_or_else(|| Err(Error::Cancelled("no status".into()))))
            .collect())
    }
}

/// The portable status of one `qstat -x` entry.
pub(crate) fn job_status(id: &JobId, job: &TorqueJob, cancelled: bool) -> JobStatus {
    let state = match job.state {
        'Q' | 'H' | 'W' | 'T' => JobState::Pending,
        // E: the job ran and is ending (staging out): not an error.
        'R' | 'E' | 'B' => JobState::Running,
        'S' => JobState::Suspended,
        'C' => match job.exit_status {
            Some(0) => JobState::Completed,
            None if cancelled => JobState::Cancelled,
            Some(c) if c > 256 && cancelled => JobState::Cancelled,
            _ => JobState::Failed,
        },
        _ => JobState::Unknown,
    };
    let mut s = JobStatus::new(id.clone(), state)
        .with_name(job.name.clone())
        .with_raw_state(job.state.to_string())
        .with_queue(job.queue.clone());
    if job.state == 'C' {
        match job.exit_status {
            Some(code) if code > 256 => {
                s = s.with_exit_code(Some(code)).with_signal(Some(code - 256));
                s = s.with_error(format!("killed by signal {}", code - 256));
            }
            Some(code) if code < 0 => {
                s = s.with_exit_code(Some(code)).with_error(torque_failure(code));
            }
            Some(code) => s = s.with_exit_code(Some(code)),
            None => {
                s = s.with_error(if cancelled {
                    "deleted before it started".to_owned()
                } else {
                    "complete without an exit status (deleted before it ran?)".to_owned()
                });
            }
        }
    }
    let mut usage = JobUsage::default();
    usage.elapsed = job.fields.get("resources_used.walltime").and_then(|w| parse::parse_hms(w));
    usage.cpu_time = job.fields.get("resources_used.cput").and_then(|w| parse::parse_hms(w));
    if usage.elapsed.is_some() || usage.cpu_time.is_some() {
        s.usage = Some(usage);
    }
    for key in [
        "Job_Owner",
        "exec_host",
        "start_time",
        "comp_time",
        "ctime",
        "Resource_List.walltime",
        "resources_used.mem",
    ] {
        if let Some(v) = job.fields.get(key) {
            s.info.insert(key.to_owned(), v.clone());
        }
    }
    s.info.insert("job_id".into(), job.id.clone());
    s
}

/// Torque's own negative exit codes (TORQUE admin guide, "Job Exit Status").
fn torque_failure(code: i32) -> String {
    let what = match code {
        -1 => "job exec failed, before files, no retry",
        -2 => "job exec failed, after files, no retry",
        -3 => "job execution failed, do retry",
        -4 => "job aborted on MOM initialization",
        -5 => "job aborted on MOM init, checkpoint, no migrate",
        -6 => "job aborted on MOM init, checkpoint, ok migrate",
        -7 => "job restart failed",
        -8 => "exec() of user command failed",
        -9 => "could not create/open stdout/stderr files",
        -10 => "job exceeded a memory limit",
        -11 => "job exceeded a walltime limit",
        -12 => "job exceeded a CPU time limit",
        _ => "Torque could not run or finish the job",
    };
    format!("Torque exit status {code}: {what}")
}

fn vanished(id: &JobId, cancelled: bool) -> JobStatus {
    if cancelled {
        return JobStatus::new(id.clone(), JobState::Cancelled)
            .with_raw_state("gone")
            .with_error("cancelled; the server no longer reports the job");
    }
    JobStatus::new(id.clone(), JobState::Failed).with_raw_state("gone").with_error(
        "finished, but the server no longer reports it (keep_completed expired); exit code unknown",
    )
}

#[async_trait]
impl StatusSource for Core {
    async fn query(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        self.statuses(ids).await
    }
}

/// What the Torque adaptor can do (credentials are those of the SSH transport).
pub fn capabilities() -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.supports_batch = true;
    c.uses_file_system = true;
    c.survives_client_restart = true;
    c.credentials = hpc_auth::SSH_CREDENTIAL_KINDS;
    c
}

#[async_trait]
impl Scheduler for TorqueScheduler {
    fn adaptor(&self) -> &str {
        "torque"
    }

    fn location(&self) -> &str {
        &self.core.location
    }

    fn capabilities(&self) -> SchedulerCapabilities {
        capabilities()
    }

    async fn submit_batch(&self, job: &JobDescription) -> Result<JobId> {
        self.core.submit(job).await
    }

    async fn submit_many(&self, jobs: &[JobDescription]) -> Result<Vec<Result<JobId>>> {
        let core = &self.core;
        let settings = &core.settings;
        let mut results: Vec<Option<Result<JobId>>> = Vec::with_capacity(jobs.len());
        let mut planned = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            match script::plan(job, settings) {
                Ok(plan) => {
                    let mut argv = vec![settings.commands.qsub.as_bytes().to_vec()];
                    argv.extend(plan.args.iter().map(|a| a.as_bytes().to_vec()));
                    planned
                        .push((i, submit::Submission { argv, script: plan.script.into_bytes() }));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let chunks: Vec<Vec<(usize, submit::Submission)>> =
            planned.chunks(settings.submit_chunk).map(<[_]>::to_vec).collect();
        let runs = futures::stream::iter(chunks.into_iter().map(|chunk| async move {
            let items: Vec<submit::Submission> = chunk.iter().map(|(_, s)| s.clone()).collect();
            let program = submit::program(&items)?;
            let cmd = core.command(&settings.commands.sh).arg("-s").stdin(program);
            let out = core.run_checked(&cmd).await?;
            let label = format!("{} (batch of {})", settings.commands.qsub, items.len());
            Ok::<_, Error>((chunk, submit::parse(&out.stdout, items.len(), &label), label))
        }))
        .buffer_unordered(settings.submit_parallel)
        .collect::<Vec<_>>()
        .await;
        for run in runs {
            let (chunk, outputs, label) = run?;
            for ((i, _), o) in chunk.into_iter().zip(outputs) {
                results[i] = Some(o.and_then(|o| {
                    if o.exit_code != 0 {
                        return Err(Error::CommandFailed {
                            command: label.clone(),
                            exit_code: Some(o.exit_code),
                            stderr: o.output,
                        });
                    }
                    let id = parse::parse_submit(&label, &o.output)?;
                    core.remember_submitted(&id, &jobs[i]);
                    Ok(id)
                }));
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
        let Some(seq) = parse::seq_of(id.as_str()) else {
            return Err(Error::job_not_found(id));
        };
        let cmd = self.core.command(&self.core.settings.commands.qdel).arg(id.as_str());
        let out = self.core.run(&cmd).await?;
        if out.status.success() {
            self.core.memo().entry(seq).or_default().cancelled = true;
        } else if !already_gone(&out) {
            return Err(command_failed(&cmd, &out));
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
        Ok(self.queue_statuses(&[]).await?.into_iter().map(|q| q.name).collect())
    }

    async fn default_queue(&self) -> Result<Option<String>> {
        if let Some(q) = &self.core.settings.default_queue {
            return Ok(Some(q.clone()));
        }
        let cmd = self.core.command(&self.core.settings.commands.qstat).args(["-B", "-f"]);
        let out = self.core.run_checked(&cmd).await?;
        let servers = parse::parse_full(&cmd.display(), &out.stdout_text(), "Server:")?;
        Ok(servers.into_iter().find_map(|(_, f)| f.get("default_queue").cloned()))
    }

    async fn queue_statuses(&self, names: &[String]) -> Result<Vec<QueueStatus>> {
        let cmd = self.core.command(&self.core.settings.commands.qstat).arg("-Qf");
        let out = self.core.run_checked(&cmd).await?;
        let mut all = parse::parse_queues(&cmd.display(), &out.stdout_text())?;
        let default = self.default_queue().await.ok().flatten();
        for q in &mut all {
            q.is_default = default.as_deref() == Some(q.name.as_str());
        }
        if names.is_empty() {
            return Ok(all);
        }
        names
            .iter()
            .map(|n| {
                all.iter()
                    .find(|q| &q.name == n)
                    .cloned()
                    .ok_or_else(|| Error::NotFound { kind: NotFoundKind::Queue, name: n.clone() })
            })
            .collect()
    }

    async fn list_jobs(&self, queues: &[String]) -> Result<Vec<JobStatus>> {
        let jobs = self.core.qstat(&[]).await?;
        let memo = self.core.memo();
        Ok(jobs
            .iter()
            .filter(|j| queues.is_empty() || j.queue.as_ref().is_some_and(|q| queues.contains(q)))
            .map(|j| {
                let s = job_status(&JobId::new(j.id.clone()), j, false);
                match memo.get(&j.seq) {
                    Some(m) => m.restore_name(s),
                    None => s,
                }
            })
            .collect())
    }
}
