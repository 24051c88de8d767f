//! [`SlurmScheduler`]: the `Scheduler` implementation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use hpc_core::scheduler::{InteractiveJob, ProgressFn, WaitUntil};
use hpc_core::{
    Error, JobDescription, JobId, JobStatus, Location, QueueStatus, Result, Scheduler,
    SchedulerCapabilities,
};
use hpc_exec::{Command, Executor, Output};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::config::{Accounting, SlurmSettings};
use super::parse::{self, SACCT_FORMAT, SINFO_FORMAT, SQUEUE_COUNT_FORMAT, SQUEUE_FORMAT};
use super::{script, srun_stderr};
use crate::batch::{Poller, StatusSource, submit};

/// Most statuses remembered for jobs that later leave the controller.
const SEEN_LIMIT: usize = 20_000;

/// Slurm through any [`Executor`]: `slurm://` on the login node itself,
/// `slurm+ssh://user@host` over SSH.
#[derive(Clone)]
pub struct SlurmScheduler {
    core: Arc<Core>,
    poller: Poller,
}

impl std::fmt::Debug for SlurmScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlurmScheduler")
            .field("location", &self.core.location)
            .field("executor", &self.core.exec.target())
            .finish_non_exhaustive()
    }
}

struct Core {
    exec: Arc<dyn Executor>,
    settings: SlurmSettings,
    location: String,
    accounting: OnceCell<bool>,
    /// Last status of every job seen, for the accounting grace period and for
    /// jobs that leave the controller without accounting.
    seen: Mutex<HashMap<JobId, (JobStatus, Instant)>>,
}

impl SlurmScheduler {
    /// A scheduler running Slurm's commands through `exec` with `settings`.
    /// `location` is only shown (it never holds a secret).
    pub fn new(
        exec: Arc<dyn Executor>,
        settings: SlurmSettings,
        location: impl Into<String>,
    ) -> Result<Self> {
        settings.validate()?;
        let poll = settings.poll;
        let core = Arc::new(Core {
            exec,
            settings,
            location: location.into(),
            accounting: OnceCell::new(),
            seen: Mutex::new(HashMap::new()),
        });
        let poller = Poller::new(core.clone(), poll);
        Ok(SlurmScheduler { core, poller })
    }

    /// Open `slurm://[path][?params]` or `slurm+ssh://...` with an executor
    /// for that location (the caller makes it: local, or SSH to its host).
    /// Location parameters override `settings`; see [`SlurmSettings::apply_location`].
    pub fn open(
        loc: &Location,
        exec: Arc<dyn Executor>,
        mut settings: SlurmSettings,
    ) -> Result<Self> {
        if loc.scheme != "slurm" {
            return Err(Error::InvalidLocation {
                location: loc.to_string(),
                reason: "not a slurm:// location".into(),
            });
        }
        settings.apply_location(loc)?;
        Self::new(exec, settings, loc.to_string())
    }

    /// The settings in use.
    pub fn settings(&self) -> &SlurmSettings {
        &self.core.settings
    }

    /// Number of status queries the shared poller has made (for benchmarks).
    pub fn poll_queries(&self) -> u64 {
        self.poller.queries()
    }

    /// Whether `sacct` is used (asks Slurm once when the setting is `auto`).
    pub async fn accounting_enabled(&self) -> bool {
        self.core.accounting().await
    }

    /// Status of every task of an array job `id` (as `A_T` ids), in one query.
    pub async fn array_task_statuses(&self, id: &JobId) -> Result<Vec<JobStatus>> {
        if !parse::valid_job_id(id.as_str()) || id.as_str().contains('_') {
            return Err(Error::job_not_found(id));
        }
        let rows = self.core.squeue(std::slice::from_ref(id)).await?;
        let tasks: Vec<JobStatus> = rows
            .iter()
            .filter(|r| r.array_job == id.as_str() && r.array_task != parse::ArrayTask::None)
            .map(|r| r.to_status(&JobId::new(r.job_id())))
            .collect();
        if tasks.is_empty() && self.core.accounting().await {
            let recs = self.core.sacct(std::slice::from_ref(id)).await?;
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

impl Core {
    fn command<S: AsRef<str>>(&self, argv: &[S]) -> Command {
        let mut c = Command::new(argv[0].as_ref()).args(argv[1..].iter().map(AsRef::as_ref));
        // Timestamps without a zone are read as UTC.
        c = c.env("TZ", "UTC");
        for (k, v) in &self.settings.env {
            c = c.env(k.clone(), v);
        }
        c
    }

    async fn run(&self, cmd: &Command) -> Result<Output> {
        let span =
            tracing::debug_span!("slurm", target = self.exec.target(), command = %cmd.display());
        let _g = span.enter();
        self.exec.run(cmd).await
    }

    async fn accounting(&self) -> bool {
        match self.settings.accounting {
            Accounting::On => true,
            Accounting::Off => false,
            Accounting::Auto => *self
                .accounting
                .get_or_init(|| async {
                    let c = &self.settings.commands;
                    let cmd = self.command(&[&c.sacct, "-P", "-n", "-X", "-j", "1", "--format=JobIDRaw"]);
                    match self.run(&cmd).await {
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

    async fn squeue(&self, ids: &[JobId]) -> Result<Vec<parse::QueueRow>> {
        let list: Vec<&str> = ids.iter().map(JobId::as_str).collect();
        let c = &self.settings.commands;
        let cmd = self.command(&[
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
        let out = self.run(&cmd).await?;
        if !out.status.success() {
            // Every listed id unknown: squeue says so and exits 1.
            if out.stderr_text().contains("Invalid job id specified") {
                return Ok(Vec::new());
            }
            return Err(out.check(&cmd).unwrap_err());
        }
        parse::parse_squeue(&out.stdout_text())
    }

    async fn sacct(&self, ids: &[JobId]) -> Result<Vec<parse::AcctRecord>> {
        let list: Vec<&str> = ids.iter().map(JobId::as_str).collect();
        let format = format!("--format={SACCT_FORMAT}");
        let c = &self.settings.commands;
        let cmd = self.command(&[c.sacct.as_str(), "-P", "-n", &format, "-j", &list.join(",")]);
        let out = self.run(&cmd).await?.check(&cmd)?;
        parse::parse_sacct(&out.stdout_text())
    }

    async fn scontrol_all(&self) -> Result<Vec<std::collections::BTreeMap<String, String>>> {
        let c = &self.settings.commands;
        let cmd = self.command(&[c.scontrol.as_str(), "-o", "show", "job"]);
        let out = self.run(&cmd).await?.check(&cmd)?;
        out.stdout_text()
            .lines()
            .filter(|l| l.starts_with("JobId="))
            .map(parse::parse_scontrol_line)
            .collect()
    }

    fn remember(&self, st: &JobStatus) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= SEEN_LIMIT
            && !seen.contains_key(&st.id)
            && let Some(oldest) = seen.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| k.clone())
        {
            seen.remove(&oldest);
        }
        seen.insert(st.id.clone(), (st.clone(), Instant::now()));
    }

    /// A job the scheduler no longer lists: its last final status if we saw
    /// one, its last status during the grace period, else not found.
    fn vanished(&self, id: &JobId) -> Result<JobStatus> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(id) {
            Some((st, _)) if st.is_done() => Ok(st.clone()),
            Some((st, t)) if t.elapsed() < self.settings.poll.accounting_grace => Ok(st.clone()),
            _ => Err(Error::job_not_found(id)),
        }
    }

    /// One `squeue` for all ids, plus at most one `sacct` (or, without
    /// accounting, one `scontrol`) for the ids `squeue` no longer lists.
    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        let valid: Vec<JobId> =
            ids.iter().filter(|id| parse::valid_job_id(id.as_str())).cloned().collect();
        let rows = if valid.is_empty() { Vec::new() } else { self.squeue(&valid).await? };
        let mut found: HashMap<&JobId, JobStatus> = HashMap::new();
        for id in &valid {
            if let Some(st) = parse::status_from_rows(&rows, id) {
                found.insert(id, st);
            }
        }
        let missing: Vec<JobId> =
            valid.iter().filter(|id| !found.contains_key(id)).cloned().collect();
        if !missing.is_empty() {
            if self.accounting().await {
                let recs = self.sacct(&missing).await?;
                for id in &valid {
                    if !found.contains_key(id)
                        && let Some(st) = parse::status_from_acct(&recs, id)
                    {
                        found.insert(id, st);
                    }
                }
            } else if missing.iter().any(|id| {
                !self
                    .seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(id)
                    .is_some_and(|(s, _)| s.is_done())
            }) {
                let all = self.scontrol_all().await?;
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
                    Ok(st.clone())
                }
                None if parse::valid_job_id(id.as_str()) => self.vanished(id),
                None => Err(Error::job_not_found(id)),
            })
            .collect())
    }

    fn submit_error(argv: &[String], code: Option<i32>, text: String) -> Error {
        let cmd = Command::new(&argv[0]).args(&argv[1..]);
        Error::CommandFailed { command: cmd.display(), exit_code: code, stderr: text }
    }

    async fn submit_one(&self, job: &JobDescription) -> Result<JobId> {
        let (argv, script) = script::batch_submission(job, &self.settings)?;
        let cmd = self.command(&argv).stdin(script);
        let out = self.run(&cmd).await?;
        if !out.status.success() {
            return Err(Self::submit_error(&argv, out.status.code, out.stderr_text().into_owned()));
        }
        parse::parse_sbatch(&out.stdout_text())
    }

    /// Submit a chunk of prepared jobs through one `sh -s`.
    async fn submit_chunk(
        &self,
        items: Vec<(usize, Vec<String>, Vec<u8>)>,
    ) -> Vec<(usize, Result<JobId>)> {
        let subs: Vec<submit::Submission> = items
            .iter()
            .map(|(_, argv, script)| submit::Submission {
                argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
                script: script.clone(),
            })
            .collect();
        let program = match submit::program(&subs) {
            Ok(p) => p,
            Err(e) => {
                return items
                    .into_iter()
                    .map(|(i, _, _)| (i, Err(crate::batch::dup_error(&e))))
                    .collect();
            }
        };
        let cmd = self.command(&[self.settings.commands.sh.as_str(), "-s"]).stdin(program);
        let out = match self.run(&cmd).await {
            Ok(o) => o,
            Err(e) => {
                return items
                    .into_iter()
                    .map(|(i, _, _)| (i, Err(crate::batch::dup_error(&e))))
                    .collect();
            }
        };
        let results = submit::parse(&out.stdout, items.len(), &cmd.display());
        items
            .into_iter()
            .zip(results)
            .map(|((i, argv, _), r)| {
                let r = r.and_then(|o| {
                    if o.exit_code == 0 {
                        parse::parse_sbatch(&o.output)
                    } else {
                        Err(Self::submit_error(&argv, Some(o.exit_code), o.output))
                    }
                });
                (i, r)
            })
            .collect()
    }
}

#[async_trait]
impl StatusSource for Core {
    async fn query(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        self.statuses(ids).await
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
                return Err(Error::Parse {
                    command: "srun".into(),
                    reason: "expected a job id".into(),
                    line: text.into_owned(),
                });
            }
            return Ok((JobId::new(id), before));
        }
        before.extend_from_slice(&line);
    }
}

/// What the slurm adaptor can do.
pub(crate) fn capabilities() -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.supports_batch = true;
    c.supports_interactive = true;
    c.supports_arrays = true;
    c.supports_accounting = true;
    c.survives_client_restart = true;
    c.uses_file_system = true;
    c.credentials = hpc_auth::SSH_CREDENTIAL_KINDS;
    c
}

#[async_trait]
impl Scheduler for SlurmScheduler {
    fn adaptor(&self) -> &str {
        "slurm"
    }

    fn location(&self) -> &str {
        &self.core.location
    }

    fn capabilities(&self) -> SchedulerCapabilities {
        capabilities()
    }

    async fn submit_batch(&self, job: &JobDescription) -> Result<JobId> {
        self.core.submit_one(job).await
    }

    async fn submit_many(&self, jobs: &[JobDescription]) -> Result<Vec<Result<JobId>>> {
        if jobs.len() == 1 {
            return Ok(vec![self.core.submit_one(&jobs[0]).await]);
        }
        let mut results: Vec<Option<Result<JobId>>> = (0..jobs.len()).map(|_| None).collect();
        let mut prepared = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            match script::batch_submission(job, &self.core.settings) {
                Ok((argv, script)) => prepared.push((i, argv, script)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        // Spread the jobs evenly over up to `submit_parallel` shells, each at
        // most `submit_chunk` jobs.
        let s = &self.core.settings;
        let shells = prepared
            .len()
            .div_ceil(s.submit_chunk)
            .max(s.submit_parallel.min(prepared.len()))
            .max(1);
        let per = prepared.len().div_ceil(shells).max(1);
        let mut chunks = Vec::new();
        let mut it = prepared.into_iter().peekable();
        while it.peek().is_some() {
            chunks.push(it.by_ref().take(per).collect::<Vec<_>>());
        }
        let core = &self.core;
        let mut stream = futures::stream::iter(chunks.into_iter().map(|c| core.submit_chunk(c)))
            .buffer_unordered(s.submit_parallel);
        while let Some(done) = stream.next().await {
            for (i, r) in done {
                results[i] = Some(r);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Cancelled("not submitted".into()))))
            .collect())
    }

    async fn submit_interactive(&self, job: &JobDescription) -> Result<InteractiveJob> {
        let argv = script::interactive_argv(job, &self.core.settings)?;
        let cmd = self.core.command(&argv);
        let process = self.core.exec.spawn(&cmd).await?;
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

    async fn statuses(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
        self.core.statuses(ids).await
    }

    async fn status(&self, id: &JobId) -> Result<JobStatus> {
        let mut all = self.core.statuses(std::slice::from_ref(id)).await?;
        let mut st = all.pop().unwrap_or_else(|| Err(Error::job_not_found(id)))?;
        // A single finished job: add accounting data (max RSS, CPU time) if there is any.
        if st.is_done()
            && st.usage.as_ref().is_none_or(|u| u.max_rss_bytes.is_none())
            && self.core.accounting().await
            && let Ok(recs) = self.core.sacct(std::slice::from_ref(id)).await
            && let Some(acct) = parse::status_from_acct(&recs, id)
        {
            st.usage = acct.usage.or(st.usage);
        }
        Ok(st)
    }

    async fn cancel(&self, id: &JobId) -> Result<JobStatus> {
        if !parse::valid_job_id(id.as_str()) {
            return Err(Error::job_not_found(id));
        }
        let c = &self.core.settings.commands;
        let cmd = self.core.command(&[c.scancel.as_str(), id.as_str()]);
        self.core.run(&cmd).await?.check(&cmd)?;
        // scancel is silent about unknown ids: the status query tells.
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
        Ok(self.queue_statuses(&[]).await?.into_iter().find(|q| q.is_default).map(|q| q.name))
    }

    async fn queue_statuses(&self, names: &[String]) -> Result<Vec<QueueStatus>> {
        let c = &self.core.settings.commands;
        let sinfo = self.core.command(&[c.sinfo.as_str(), "-h", "-a", "-o", SINFO_FORMAT]);
        let squeue = self.core.command(&[
            c.squeue.as_str(),
            "-h",
            "-a",
            "-t",
            "PENDING,RUNNING,SUSPENDED",
            "-O",
            SQUEUE_COUNT_FORMAT,
        ]);
        let (a, b) = tokio::join!(self.core.run(&sinfo), self.core.run(&squeue));
        let mut queues = parse::parse_sinfo(&a?.check(&sinfo)?.stdout_text())?;
        parse::add_job_counts(&mut queues, &b?.check(&squeue)?.stdout_text())?;
        if names.is_empty() {
            return Ok(queues);
        }
        names
            .iter()
            .map(|n| {
                queues.iter().find(|q| &q.name == n).cloned().ok_or_else(|| Error::NotFound {
                    kind: hpc_core::NotFoundKind::Queue,
                    name: n.clone(),
                })
            })
            .collect()
    }

    async fn list_jobs(&self, queues: &[String]) -> Result<Vec<JobStatus>> {
        let c = &self.core.settings.commands;
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
        let cmd = self.core.command(&argv);
        let out = self.core.run(&cmd).await?.check(&cmd)?;
        let rows = parse::parse_squeue(&out.stdout_text())?;
        Ok(rows.iter().map(|r| r.to_status(&JobId::new(r.job_id()))).collect())
    }
}
