//! [`SgeScheduler`]: the thin `Scheduler` implementation over the parsers and
//! the command builder.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use hpc_core::scheduler::{ProgressFn, WaitUntil};
use hpc_core::{
    Error, JobDescription, JobId, JobState, JobStatus, JobUsage, Location, QueueStatus, Result,
    Scheduler, SchedulerCapabilities,
};
use hpc_exec::{Command, Executor, Output};
use tokio::time::Instant;

use super::config::SgeSettings;
use super::parse::{
    self, AcctLookup, AcctRecord, ListKind, QACCT_BEGIN, QACCT_END, QueueEntry, SgeId,
};
use super::script;
use crate::batch::{Poller, StatusSource, submit};

/// What this client knows about a job beyond the last query.
#[derive(Debug, Default)]
struct Memo {
    /// Submitted through this scheduler.
    submitted: bool,
    /// Number of array tasks, if submitted as an array here.
    tasks: Option<usize>,
    /// Seen running (or suspended) at some point.
    seen_running: bool,
    /// Seen in `qstat` at all.
    seen: bool,
    /// Deleted through this scheduler.
    cancelled: bool,
    /// When it was first missing from `qstat` without an accounting record.
    gone_since: Option<Instant>,
    /// Final statuses, per task (`None`: the whole job).
    finals: HashMap<Option<u32>, JobStatus>,
    /// The name as submitted here (Grid Engine shows a sanitized form).
    name: Option<String>,
}

impl Memo {
    /// Report the name this client submitted when Grid Engine shows its
    /// sanitized form of it.
    fn restore_name(&self, s: JobStatus) -> JobStatus {
        crate::batch::restore_name(self.name.as_deref(), script::job_name, s)
    }
}

/// Grid Engine (SGE 6.2, Son of Grid Engine 8.x, and kin) through `qsub`,
/// `qstat -xml`, `qacct` and `qdel`, run by any [`Executor`].
///
/// Status is batched: one `qstat -xml -s prsz` answers for every job asked
/// about, plus one shell running `qacct -j` for the jobs that have just left
/// the queue. Concurrent [`Scheduler::wait`] calls share one poll loop.
#[derive(Clone)]
pub struct SgeScheduler {
    core: Arc<Core>,
    poller: Poller,
}

struct Core {
    exec: Arc<dyn Executor>,
    settings: SgeSettings,
    location: String,
    memo: Mutex<HashMap<u64, Memo>>,
    commands_run: AtomicU64,
}

impl std::fmt::Debug for SgeScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SgeScheduler")
            .field("location", &self.core.location)
            .field("executor", &self.core.exec.target())
            .finish_non_exhaustive()
    }
}

impl SgeScheduler {
    /// A scheduler that runs Grid Engine's commands through `exec`.
    pub fn new(exec: Arc<dyn Executor>, settings: SgeSettings) -> Result<Self> {
        Self::with_location(exec, settings, "sge://".into())
    }

    /// Open `sge://` or `sge+<transport>://...` with `exec` already connected
    /// to the host the location names. Query parameters override `settings`
    /// (see [`SgeSettings::apply_location`]).
    pub fn open(
        location: &Location,
        exec: Arc<dyn Executor>,
        mut settings: SgeSettings,
    ) -> Result<Self> {
        crate::batch::check_location(location, "sge")?;
        settings.apply_location(location)?;
        Self::with_location(exec, settings, location.to_string())
    }

    fn with_location(
        exec: Arc<dyn Executor>,
        settings: SgeSettings,
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
        Ok(SgeScheduler { core, poller })
    }

    /// The settings in use.
    pub fn settings(&self) -> &SgeSettings {
        &self.core.settings
    }

    /// How many Grid Engine commands (remote command executions) this
    /// scheduler has run so far.
    pub fn commands_run(&self) -> u64 {
        self.core.commands_run.load(Ordering::Relaxed)
    }
}

/// Grid Engine ends its error messages with a line `Exiting.`; the reason is
/// the line before, which is what error messages show.
fn clean_stderr(out: &Output) -> String {
    let text = if out.stderr.is_empty() { out.stdout_text() } else { out.stderr_text() };
    text.lines().filter(|l| l.trim() != "Exiting.").collect::<Vec<_>>().join("\n")
}

fn command_failed(cmd: &Command, out: &Output) -> Error {
    Error::CommandFailed {
        command: cmd.display(),
        exit_code: out.status.code,
        stderr: clean_stderr(out),
    }
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
        let span = tracing::debug_span!("sge", command = %cmd.display());
        let _ = span.enter();
        self.exec.run(cmd).await
    }

    async fn run_checked(&self, cmd: &Command) -> Result<Output> {
        let out = self.run(cmd).await?;
        if out.status.success() { Ok(out) } else { Err(command_failed(cmd, &out)) }
    }

    /// One `qstat` for every job of this user: pending, running, suspended,
    /// and recently finished (`z`, kept for `finished_jobs` jobs).
    async fn qstat(&self) -> Result<Vec<QueueEntry>> {
        let cmd = self.command(&self.settings.commands.qstat).args(["-xml", "-s", "prsz"]);
        let out = self.run_checked(&cmd).await?;
        parse::parse_qstat(&cmd.display(), &out.stdout_text())
    }

    /// `qacct -j` for several jobs in one remote shell.
    async fn qacct(&self, jobs: &[u64]) -> Result<BTreeMap<u64, AcctLookup>> {
        let program = format!(
            "q=$1; shift; for id do printf '\\n{QACCT_BEGIN}%s\\n' \"$id\"; \"$q\" -j \"$id\" 2>&1; printf '{QACCT_END}%s\\n' \"$?\"; done"
        );
        let cmd = self
            .command(&self.settings.commands.sh)
            .args(["-c", &program, "sh", &self.settings.commands.qacct])
            .args(jobs.iter().map(u64::to_string));
        let out = self.run_checked(&cmd).await?;
        let label = format!(
            "{} -j {}",
            self.settings.commands.qacct,
            jobs.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        );
        parse::parse_qacct_batch(&label, &out.stdout_text())
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
        if let Some(sid) = SgeId::parse(id.as_str()) {
            let mut memo = self.memo();
            let m = memo.entry(sid.job).or_default();
            m.submitted = true;
            m.tasks = job.array.map(|a| a.task_ids().count());
            m.name.clone_from(&job.name);
        }
    }

    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        let parsed: Vec<Option<SgeId>> = ids.iter().map(|i| SgeId::parse(i.as_str())).collect();
        let mut out: Vec<Option<Result<JobStatus>>> = Vec::with_capacity(ids.len());
        {
            let memo = self.memo();
            for (id, p) in ids.iter().zip(&parsed) {
                out.push(match p {
                    None => Some(Err(Error::job_not_found(id))),
                    Some(p) => memo.get(&p.job).and_then(|m| m.finals.get(&p.task)).cloned().map(
                        |mut s| {
                            s.id = id.clone();
                            Ok(s)
                        },
                    ),
                });
            }
        }
        if out.iter().all(Option::is_some) {
            return Ok(out.into_iter().flatten().collect());
        }
        let entries = self.qstat().await?;
        let now = Instant::now();
        // Jobs no longer (or never) in the active lists go to the accounting.
        let mut gone: Vec<u64> = Vec::new();
        for (i, p) in parsed.iter().enumerate() {
            let Some(p) = p else { continue };
            if out[i].is_some() {
                continue;
            }
            let active: Vec<&QueueEntry> = entries
                .iter()
                .filter(|e| e.job == p.job && e.list != ListKind::Zombie && e.covers(p.task))
                .collect();
            if active.is_empty() {
                if !gone.contains(&p.job) {
                    gone.push(p.job);
                }
                continue;
            }
            let status = active_status(&ids[i], &active);
            let mut memo = self.memo();
            let m = memo.entry(p.job).or_default();
            m.seen = true;
            m.seen_running |= matches!(status.state, JobState::Running | JobState::Suspended);
            m.gone_since = None;
            out[i] = Some(Ok(m.restore_name(status)));
        }
        let accounting = if gone.is_empty() { BTreeMap::new() } else { self.qacct(&gone).await? };
        let grace = self.settings.poll.accounting_grace;
        let mut memo = self.memo();
        for (i, p) in parsed.iter().enumerate() {
            let Some(p) = p else { continue };
            if out[i].is_some() {
                continue;
            }
            let zombie = entries
                .iter()
                .any(|e| e.job == p.job && e.list == ListKind::Zombie && e.covers(p.task));
            let records: Vec<&AcctRecord> = match accounting.get(&p.job) {
                Some(AcctLookup::Found(r)) => {
                    r.iter().filter(|r| p.task.is_none() || r.task == p.task).collect()
                }
                _ => Vec::new(),
            };
            let known = zombie || memo.get(&p.job).is_some_and(|m| m.submitted || m.seen);
            if records.is_empty() && !known {
                out[i] = Some(Err(Error::job_not_found(&ids[i])));
                continue;
            }
            let m = memo.entry(p.job).or_default();
            let complete = !records.is_empty()
                && match (p.task, m.tasks) {
                    (None, Some(n)) => records.len() >= n,
                    _ => true,
                };
            let status = if complete {
                let s = m.restore_name(final_status(&ids[i], &records, m.cancelled));
                m.finals.insert(p.task, s.clone());
                s
            } else {
                let since = *m.gone_since.get_or_insert(now);
                if now.duration_since(since) < grace {
                    // Finished (or deleted), but the qmaster has not written
                    // the accounting record yet.
                    JobStatus::new(ids[i].clone(), JobState::Running)
                        .with_raw_state("z")
                        .with_error("left the queue; waiting for its accounting record")
                } else {
                    let s = vanished_status(&ids[i], m, grace);
                    m.finals.insert(p.task, s.clone());
                    s
                }
            };
            out[i] = Some(Ok(status));
        }
        Ok(out
            .into_iter()
            .map(|s| s.unwrap_or_else(|| Err(Error::Cancelled("no status".into()))))
            .collect())
    }

    async fn cancel(&self, id: &JobId) -> Result<()> {
        let Some(sid) = SgeId::parse(id.as_str()) else {
            return Err(Error::job_not_found(id));
        };
        let mut cmd = self.command(&self.settings.commands.qdel).arg(sid.job.to_string());
        if let Some(t) = sid.task {
            cmd = cmd.args(["-t".to_owned(), t.to_string()]);
        }
        let out = self.run(&cmd).await?;
        let text = format!("{}\n{}", out.stdout_text(), out.stderr_text());
        if out.status.success() {
            let mut memo = self.memo();
            let m = memo.entry(sid.job).or_default();
            m.cancelled = true;
            // "has deleted job N": it never ran, so no accounting record will
            // come. "registered the job N for deletion": it is being killed.
            if sid.task.is_none() && text.contains(&format!("has deleted job {}", sid.job)) {
                let s = JobStatus::new(id.clone(), JobState::Cancelled)
                    .with_raw_state("deleted")
                    .with_error("deleted before it started");
                m.finals.insert(None, s);
            }
            return Ok(());
        }
        if text.contains("does not exist") {
            // Already finished (or never existed): `status` tells which.
            return Ok(());
        }
        Err(command_failed(&cmd, &out))
    }
}

/// Status from the job's entries in `qstat` (several for an array job).
fn active_status(id: &JobId, entries: &[&QueueEntry]) -> JobStatus {
    let states: Vec<JobState> = entries.iter().map(|e| parse::portable_state(&e.state)).collect();
    let state = [JobState::Running, JobState::Suspended, JobState::Pending, JobState::Failed]
        .into_iter()
        .find(|s| states.contains(s))
        .unwrap_or(JobState::Unknown);
    let first = entries[0];
    let mut raw: Vec<&str> = entries.iter().map(|e| e.state.as_str()).collect();
    raw.dedup();
    let mut s = JobStatus::new(id.clone(), state)
        .with_name(Some(first.name.clone()))
        .with_raw_state(raw.join(","))
        .with_queue(entries.iter().find_map(|e| e.queue.clone()));
    if state == JobState::Failed {
        s = s.with_error(format!(
            "job is in error state ({}); `qstat -j {}` shows the reason",
            first.state, first.job
        ));
    }
    if let Some(o) = &first.owner {
        s.info.insert("owner".into(), o.clone());
    }
    if let Some(q) = &first.queue_instance {
        s.info.insert("queue_instance".into(), q.clone());
    }
    if let Some(n) = first.slots {
        s.info.insert("slots".into(), n.to_string());
    }
    if let Some(t) = &first.time {
        let key = if first.list == ListKind::Running { "start_time" } else { "submission_time" };
        s.info.insert(key.into(), t.clone());
    }
    s
}

/// Status from accounting records (one, or one per array task).
fn final_status(id: &JobId, records: &[&AcctRecord], cancelled: bool) -> JobStatus {
    let outcome = |r: &AcctRecord| -> (JobState, Option<i32>, Option<i32>, Option<String>) {
        match (r.failed, r.exit_status) {
            (0, 0) => (JobState::Completed, Some(0), None, None),
            (0, code) => (JobState::Failed, Some(code), None, None),
            // 100: the shepherd saw the job die; exit_status is 128 + signal.
            (100, code) if code > 128 => {
                let state = if cancelled { JobState::Cancelled } else { JobState::Failed };
                (
                    state,
                    Some(code),
                    Some(code - 128),
                    Some(format!("killed by signal {}", code - 128)),
                )
            }
            (f, code) => (
                if cancelled { JobState::Cancelled } else { JobState::Failed },
                (code != 0).then_some(code),
                None,
                Some(format!("failed {f}: {}", r.failed_reason)),
            ),
        }
    };
    let results: Vec<_> = records.iter().map(|r| (r, outcome(r))).collect();
    // The worst outcome speaks for the job: failed over cancelled over completed.
    let rank = |s: JobState| match s {
        JobState::Failed => 2,
        JobState::Cancelled => 1,
        _ => 0,
    };
    let Some((worst, (state, code, signal, error))) =
        results.iter().max_by_key(|(_, o)| rank(o.0)).cloned()
    else {
        return JobStatus::new(id.clone(), JobState::Unknown);
    };
    let mut s = JobStatus::new(id.clone(), state)
        .with_exit_code(code)
        .with_signal(signal)
        .with_raw_state(format!("failed={} exit_status={}", worst.failed, worst.exit_status))
        .with_name(worst.fields.get("jobname").cloned())
        .with_queue(worst.fields.get("qname").cloned());
    if let Some(e) = error {
        let e = match worst.task {
            Some(t) if records.len() > 1 => format!("task {t}: {e}"),
            _ => e,
        };
        s = s.with_error(e);
    }
    let wall = records.iter().filter_map(|r| r.usage().0).max();
    let cpu = records
        .iter()
        .filter_map(|r| r.usage().1)
        .fold(None, |acc: Option<Duration>, c| Some(acc.unwrap_or_default() + c));
    let mut usage = JobUsage::default();
    usage.elapsed = wall;
    usage.cpu_time = cpu;
    s.usage = Some(usage);
    for key in
        ["hostname", "owner", "granted_pe", "slots", "start_time", "end_time", "maxvmem", "failed"]
    {
        if let Some(v) = worst.fields.get(key) {
            s.info.insert(key.into(), v.clone());
        }
    }
    if records.len() > 1 {
        s.info.insert("tasks".into(), records.len().to_string());
    }
    s
}

/// A job that left the queue and got no accounting record within the grace
/// period.
fn vanished_status(id: &JobId, m: &Memo, grace: Duration) -> JobStatus {
    if m.cancelled || !m.seen_running {
        // Jobs deleted before they start get no accounting record at all.
        return JobStatus::new(id.clone(), JobState::Cancelled)
            .with_raw_state("deleted")
            .with_error("left the queue before it started, without an accounting record");
    }
    JobStatus::new(id.clone(), JobState::Failed).with_raw_state("gone").with_error(format!(
        "finished, but no accounting record appeared within {}s (poll.accounting_grace); exit code unknown",
        grace.as_secs_f64()
    ))
}

#[async_trait]
impl StatusSource for Core {
    async fn query(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        self.statuses(ids).await
    }
}

/// What the Grid Engine adaptor can do (credentials are those of the SSH
/// transport).
pub fn capabilities() -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.supports_batch = true;
    c.uses_file_system = true;
    c.supports_arrays = true;
    c.supports_accounting = true;
    c.survives_client_restart = true;
    c.credentials = hpc_auth::SSH_CREDENTIAL_KINDS;
    c
}

#[async_trait]
impl Scheduler for SgeScheduler {
    fn adaptor(&self) -> &str {
        "sge"
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
        // Plan every job first: bad descriptions fail alone, without a round trip.
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
                        let text: Vec<&str> =
                            o.output.lines().filter(|l| l.trim() != "Exiting.").collect();
                        return Err(Error::CommandFailed {
                            command: label.clone(),
                            exit_code: Some(o.exit_code),
                            stderr: text.join("\n"),
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
        self.core.cancel(id).await?;
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
        let cmd = self.core.command(&self.core.settings.commands.qconf).arg("-sql");
        let out = self.core.run_checked(&cmd).await?;
        Ok(out
            .stdout_text()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    async fn default_queue(&self) -> Result<Option<String>> {
        // Grid Engine picks a queue instance per job from its requests; there
        // is no default queue.
        Ok(None)
    }

    async fn queue_statuses(&self, names: &[String]) -> Result<Vec<QueueStatus>> {
        let cmd = self.core.command(&self.core.settings.commands.qstat).args(["-g", "c", "-xml"]);
        let out = self.core.run_checked(&cmd).await?;
        let all = parse::parse_queue_summary(&cmd.display(), &out.stdout_text())?;
        if names.is_empty() {
            return Ok(all);
        }
        names
            .iter()
            .map(|n| {
                all.iter().find(|q| &q.name == n).cloned().ok_or_else(|| Error::NotFound {
                    kind: hpc_core::NotFoundKind::Queue,
                    name: n.clone(),
                })
            })
            .collect()
    }

    async fn list_jobs(&self, queues: &[String]) -> Result<Vec<JobStatus>> {
        let cmd = self.core.command(&self.core.settings.commands.qstat).arg("-xml");
        let out = self.core.run_checked(&cmd).await?;
        let entries = parse::parse_qstat(&cmd.display(), &out.stdout_text())?;
        let mut jobs: Vec<u64> = entries.iter().map(|e| e.job).collect();
        jobs.sort_unstable();
        jobs.dedup();
        let memo = self.core.memo();
        Ok(jobs
            .into_iter()
            .filter_map(|job| {
                let mine: Vec<&QueueEntry> = entries.iter().filter(|e| e.job == job).collect();
                let in_queue = queues.is_empty()
                    || mine.iter().any(|e| e.queue.as_ref().is_some_and(|q| queues.contains(q)));
                in_queue.then(|| {
                    let s = active_status(&JobId::new(job.to_string()), &mine);
                    match memo.get(&job) {
                        Some(m) => m.restore_name(s),
                        None => s,
                    }
                })
            })
            .collect())
    }
}
