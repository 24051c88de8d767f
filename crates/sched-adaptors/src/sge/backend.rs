//! [`Sge`]: Grid Engine's part of the shared batch backend: `qsub`,
//! `qstat -xml`, `qacct` and `qdel`, and what this client remembers about
//! its jobs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use hpc_core::{
    Error, JobDescription, JobId, JobState, JobStatus, JobUsage, QueueStatus, Result,
    SchedulerCapabilities,
};
use tokio::time::Instant;

use super::config::SgeConfig;
use super::parse::{
    self, AcctLookup, AcctRecord, ListKind, QACCT_BEGIN, QACCT_END, QdelOutcome, QueueEntry, SgeId,
};
use super::script;
use crate::batch::submit::{Chunking, Submission};
use crate::batch::{Backend, BatchAdaptor, Host, Lookup};

/// Grid Engine (SGE 6.2, Son of Grid Engine 8.x, and kin) through `qsub`,
/// `qstat -xml`, `qacct` and `qdel`, run by any [`hpc_exec::Executor`].
///
/// Status is batched: one `qstat -xml -s prsz` answers for every job asked
/// about, plus one shell running `qacct -j` for the jobs that have just left
/// the queue. Concurrent waits share one poll loop.
pub type SgeScheduler = Backend<Sge>;

/// Grid Engine's commands and parsers, and what this client knows about its
/// jobs beyond the last query (see [`SgeScheduler`]).
#[derive(Debug, Default)]
pub struct Sge {
    memo: Mutex<HashMap<u64, Memo>>,
}

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

/// Grid Engine ends its error messages with a line `Exiting.`; the reason is
/// the line before, which is what error messages show.
fn without_exiting(text: &str) -> String {
    text.lines().filter(|l| l.trim() != "Exiting.").collect::<Vec<_>>().join("\n")
}

/// What the Grid Engine adaptor can do (credentials are those of the SSH
/// transport).
pub fn capabilities() -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.submit_batch = true;
    c.submit_array = true;
    c.status_with_accounting = true;
    c.status_after_restart = true;
    c.credentials = hpc_auth::SSH_CREDENTIAL_KINDS;
    c
}

impl Sge {
    /// Remember that `job` (`id`) was deleted here. `before_start`: qdel said
    /// "has deleted job N", so it never ran and no accounting record will
    /// come; "registered the job N for deletion" means it is being killed.
    fn note_cancelled(&self, job: u64, id: &JobId, before_start: bool) {
        let mut memo = self.memo();
        let m = memo.entry(job).or_default();
        m.cancelled = true;
        if before_start {
            let s = JobStatus::new(id.clone(), JobState::Cancelled)
                .with_raw_state("deleted")
                .with_error("deleted before it started");
            m.finals.insert(None, s);
        }
    }

    fn memo(&self) -> MutexGuard<'_, HashMap<u64, Memo>> {
        self.memo.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One `qstat` for every job of this user: pending, running, suspended,
    /// and recently finished (`z`, kept for `finished_jobs` jobs).
    async fn qstat(&self, host: &Host<Self>) -> Result<Vec<QueueEntry>> {
        let cmd = host.command(&[host.config().commands.qstat.as_str(), "-xml", "-s", "prsz"]);
        let out = host.run_checked(&cmd).await?;
        parse::parse_qstat(&cmd.display(), &out.stdout_text())
    }

    /// `qacct -j` for several jobs in one remote shell.
    async fn qacct(&self, host: &Host<Self>, jobs: &[u64]) -> Result<BTreeMap<u64, AcctLookup>> {
        let program = format!(
            "q=$1; shift; for id do printf '\\n{QACCT_BEGIN}%s\\n' \"$id\"; \"$q\" -j \"$id\" 2>&1; printf '{QACCT_END}%s\\n' \"$?\"; done"
        );
        let c = &host.config().commands;
        let cmd = host
            .command(&[c.sh.as_str(), "-c", &program, "sh", &c.qacct])
            .args(jobs.iter().map(u64::to_string));
        let out = host.run_checked(&cmd).await?;
        let label = format!(
            "{} -j {}",
            c.qacct,
            jobs.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        );
        parse::parse_qacct_batch(&label, &out.stdout_text())
    }

    /// A final status remembered for `id`.
    fn remembered(&self, id: &JobId, sid: SgeId) -> Option<JobStatus> {
        let mut s = self.memo().get(&sid.job)?.finals.get(&sid.task)?.clone();
        s.id = id.clone();
        Some(s)
    }

    /// What `qstat` and the accounting say about one job that has no final
    /// status yet.
    fn lookup(
        &self,
        id: &JobId,
        sid: SgeId,
        entries: &[QueueEntry],
        accounting: &BTreeMap<u64, AcctLookup>,
        grace: Duration,
        now: Instant,
    ) -> Lookup {
        let active: Vec<&QueueEntry> = entries
            .iter()
            .filter(|e| e.job == sid.job && e.list != ListKind::Zombie && e.covers(sid.task))
            .collect();
        let mut memo = self.memo();
        if !active.is_empty() {
            let status = active_status(id, &active);
            let m = memo.entry(sid.job).or_default();
            m.seen = true;
            m.seen_running |= matches!(status.state, JobState::Running | JobState::Suspended);
            m.gone_since = None;
            return Some(m.restore_name(status));
        }
        let zombie = entries
            .iter()
            .any(|e| e.job == sid.job && e.list == ListKind::Zombie && e.covers(sid.task));
        let records: Vec<&AcctRecord> = match accounting.get(&sid.job) {
            Some(AcctLookup::Found(r)) => {
                r.iter().filter(|r| sid.task.is_none() || r.task == sid.task).collect()
            }
            _ => Vec::new(),
        };
        let known = zombie || memo.get(&sid.job).is_some_and(|m| m.submitted || m.seen);
        if records.is_empty() && !known {
            return None;
        }
        let m = memo.entry(sid.job).or_default();
        let complete = !records.is_empty()
            && match (sid.task, m.tasks) {
                (None, Some(n)) => records.len() >= n,
                _ => true,
            };
        if complete {
            let s = m.restore_name(final_status(id, &records, m.cancelled));
            m.finals.insert(sid.task, s.clone());
            return Some(s);
        }
        let since = *m.gone_since.get_or_insert(now);
        if now.duration_since(since) < grace {
            // Finished (or deleted), but the qmaster has not written the
            // accounting record yet.
            return Some(
                JobStatus::new(id.clone(), JobState::Running)
                    .with_raw_state("z")
                    .with_error("left the queue; waiting for its accounting record"),
            );
        }
        let s = vanished_status(id, m, grace);
        m.finals.insert(sid.task, s.clone());
        Some(s)
    }
}

#[async_trait]
impl BatchAdaptor for Sge {
    const NAME: &'static str = "sge";
    type Config = SgeConfig;

    fn capabilities() -> SchedulerCapabilities {
        capabilities()
    }

    fn chunking(config: &SgeConfig) -> Chunking {
        Chunking { size: config.submit_chunk, parallel: config.submit_parallel, spread: false }
    }

    fn plan(&self, config: &SgeConfig, job: &JobDescription) -> Result<Submission> {
        script::plan(job, config)
    }

    fn submitted(&self, job: &JobDescription, shown: &str, output: &str) -> Result<JobId> {
        let id = parse::parse_submit(shown, output)?;
        if let Some(sid) = SgeId::parse(id.as_str()) {
            let mut memo = self.memo();
            let m = memo.entry(sid.job).or_default();
            m.submitted = true;
            m.tasks = job.array.map(|a| a.task_ids().count());
            m.name.clone_from(&job.name);
        }
        Ok(id)
    }

    fn error_text(output: &str) -> String {
        without_exiting(output)
    }

    /// What Grid Engine's commands say while sge_qmaster is down or unreachable.
    fn controller_unreachable(output: &str) -> bool {
        ["unable to contact qmaster", "unable to send message to qmaster", "commlib error"]
            .iter()
            .any(|said| output.contains(said))
    }

    async fn statuses(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Lookup>> {
        let parsed: Vec<Option<SgeId>> = ids.iter().map(|i| SgeId::parse(i.as_str())).collect();
        let open: Vec<SgeId> = ids
            .iter()
            .zip(&parsed)
            .filter_map(|(id, p)| p.filter(|p| self.remembered(id, *p).is_none()))
            .collect();
        let (entries, accounting) = if open.is_empty() {
            (Vec::new(), BTreeMap::new())
        } else {
            let entries = self.qstat(host).await?;
            // Jobs no longer (or never) in the active lists go to the accounting.
            let mut gone: Vec<u64> = open
                .iter()
                .filter(|p| {
                    !entries
                        .iter()
                        .any(|e| e.job == p.job && e.list != ListKind::Zombie && e.covers(p.task))
                })
                .map(|p| p.job)
                .collect();
            gone.sort_unstable();
            gone.dedup();
            let accounting =
                if gone.is_empty() { BTreeMap::new() } else { self.qacct(host, &gone).await? };
            (entries, accounting)
        };
        let grace = host.config().poll.accounting_grace;
        let now = Instant::now();
        Ok(ids
            .iter()
            .zip(parsed)
            .map(|(id, p)| {
                let sid = p?;
                self.remembered(id, sid)
                    .or_else(|| self.lookup(id, sid, &entries, &accounting, grace, now))
            })
            .collect())
    }

    async fn cancel(&self, host: &Host<Self>, id: &JobId) -> Result<()> {
        let Some(sid) = SgeId::parse(id.as_str()) else {
            return Err(Error::job_not_found(id));
        };
        let job = sid.job.to_string();
        let mut cmd = host.command(&[host.config().commands.qdel.as_str(), &job]);
        if let Some(t) = sid.task {
            cmd = cmd.args(["-t".to_owned(), t.to_string()]);
        }
        let out = host.run(&cmd).await?;
        let text = format!("{}\n{}", out.stdout_text(), out.stderr_text());
        if out.status.success() {
            let deleted = sid.task.is_none()
                && parse::qdel_outcomes(&text).get(&sid.job) == Some(&QdelOutcome::Deleted);
            self.note_cancelled(sid.job, id, deleted);
            return Ok(());
        }
        if text.contains("does not exist") {
            // Already finished (or never existed): the status tells which.
            return Ok(());
        }
        Err(host.failed(&cmd.display(), &out))
    }

    async fn cancel_many(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Result<()>>> {
        let mut results: Vec<Option<Result<()>>> = vec![None; ids.len()];
        let mut whole = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match SgeId::parse(id.as_str()) {
                None => results[i] = Some(Err(Error::job_not_found(id))),
                // qdel's `-t` would apply to every job of the command line.
                Some(SgeId { task: Some(_), .. }) => results[i] = Some(self.cancel(host, id).await),
                Some(sid) => whole.push((i, sid.job)),
            }
        }
        if !whole.is_empty() {
            let mut argv = vec![host.config().commands.qdel.clone()];
            argv.extend(whole.iter().map(|(_, job)| job.to_string()));
            let cmd = host.command(&argv);
            let out = host.run(&cmd).await?;
            let text = format!("{}\n{}", out.stdout_text(), out.stderr_text());
            let outcomes = parse::qdel_outcomes(&text);
            for (i, job) in whole {
                let outcome = outcomes.get(&job);
                results[i] = Some(match outcome {
                    // Already finished (or never existed): the status tells which.
                    Some(QdelOutcome::Missing) => Ok(()),
                    Some(QdelOutcome::Deleted | QdelOutcome::Registered) => {
                        self.note_cancelled(job, &ids[i], outcome == Some(&QdelOutcome::Deleted));
                        Ok(())
                    }
                    None if out.status.success() => {
                        self.note_cancelled(job, &ids[i], false);
                        Ok(())
                    }
                    None => Err(host.failed(&cmd.display(), &out)),
                });
            }
        }
        Ok(results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect())
    }

    async fn queues(&self, host: &Host<Self>) -> Result<Vec<QueueStatus>> {
        let cmd = host.command(&[host.config().commands.qstat.as_str(), "-g", "c", "-xml"]);
        let out = host.run_checked(&cmd).await?;
        parse::parse_queue_summary(&cmd.display(), &out.stdout_text())
    }

    async fn queue_names(&self, host: &Host<Self>) -> Result<Vec<String>> {
        let cmd = host.command(&[host.config().commands.qconf.as_str(), "-sql"]);
        let out = host.run_checked(&cmd).await?;
        Ok(out
            .stdout_text()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    async fn default_queue(&self, _host: &Host<Self>) -> Result<Option<String>> {
        // Grid Engine picks a queue instance per job from its requests; there
        // is no default queue.
        Ok(None)
    }

    async fn list_jobs(&self, host: &Host<Self>, queues: &[String]) -> Result<Vec<JobStatus>> {
        let cmd = host.command(&[host.config().commands.qstat.as_str(), "-xml"]);
        let out = host.run_checked(&cmd).await?;
        let entries = parse::parse_qstat(&cmd.display(), &out.stdout_text())?;
        let mut jobs: Vec<u64> = entries.iter().map(|e| e.job).collect();
        jobs.sort_unstable();
        jobs.dedup();
        let memo = self.memo();
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
