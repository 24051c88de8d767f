//! [`Torque`]: Torque's part of the shared batch backend: `qsub`,
//! `qstat -x` and `qdel`, and what this client remembers about its jobs.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use hpc_core::{
    Error, JobDescription, JobId, JobState, JobStatus, JobUsage, QueueStatus, Result,
    SchedulerCapabilities,
};
use hpc_exec::Output;

use super::config::TorqueConfig;
use super::parse::{self, TorqueJob};
use super::script;
use crate::batch::submit::{Chunking, Submission};
use crate::batch::{Backend, BatchAdaptor, Host, Lookup};

/// Torque / PBS (classic) through `qsub`, `qstat -x` and `qdel`, run by any
/// [`hpc_exec::Executor`].
///
/// Status is batched: one `qstat -x ID...` answers for every job asked about.
/// Concurrent waits share one poll loop. Tested against the Torque stand-in
/// of `hpc-testkit` (Torque itself cannot be installed here), and on
/// recorded output (`testdata/torque/`).
pub type TorqueScheduler = Backend<Torque>;

/// Torque's commands and parsers, and what this client knows about its jobs
/// beyond the last query (see [`TorqueScheduler`]).
#[derive(Debug, Default)]
pub struct Torque {
    memo: Mutex<HashMap<u64, Memo>>,
}

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

/// Torque's exit codes for "the job is already gone": unknown id (153,
/// PBSE_UNKJOBID mod 256) and "invalid state: COMPLETE" (170).
fn already_gone(out: &Output) -> bool {
    let text = format!("{}{}", out.stdout_text(), out.stderr_text());
    matches!(out.status.code, Some(153) | Some(170)) || line_says_gone(&text)
}

/// Whether qdel's words say the job has finished or is unknown.
fn line_says_gone(text: &str) -> bool {
    text.contains("nonexistent job id")
        || text.contains("Unknown Job Id")
        || text.contains("invalid state for job - COMPLETE")
}

/// What the Torque adaptor can do (credentials are those of the SSH transport).
pub fn capabilities() -> SchedulerCapabilities {
    let mut c = SchedulerCapabilities::default();
    c.submit_batch = true;
    c.status_after_restart = true;
    c.credentials = hpc_auth::SSH_CREDENTIAL_KINDS;
    c
}

impl Torque {
    fn memo(&self) -> MutexGuard<'_, HashMap<u64, Memo>> {
        self.memo.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `qstat -x` for the given ids (all jobs for none). Unknown ids make
    /// qstat exit 153 while it still prints the others.
    async fn qstat(&self, host: &Host<Self>, ids: &[&JobId]) -> Result<Vec<TorqueJob>> {
        let cmd = host
            .command(&[host.config().commands.qstat.as_str(), "-x"])
            .args(ids.iter().map(|i| i.as_str()));
        let out = host.run(&cmd).await?;
        let only_unknown =
            out.stderr_text().lines().all(|l| l.trim().is_empty() || l.contains("Unknown Job Id"));
        let tolerated = out.status.code == Some(153) && only_unknown;
        if !out.status.success() && !tolerated {
            return Err(host.failed(&cmd.display(), &out));
        }
        parse::parse_qstat(&cmd.display(), &out.stdout_text())
    }

    /// The final status remembered for `id`.
    fn remembered(&self, id: &JobId, seq: u64) -> Option<JobStatus> {
        let mut st = self.memo().get(&seq)?.done.clone()?;
        st.id = id.clone();
        Some(st)
    }

    /// What `qstat` says about one job without a final status yet.
    fn lookup(&self, id: &JobId, seq: u64, jobs: &[TorqueJob]) -> Lookup {
        let mut memo = self.memo();
        let m = memo.entry(seq).or_default();
        match jobs.iter().find(|j| j.seq == seq) {
            Some(job) => {
                m.seen = true;
                let s = m.restore_name(job_status(id, job, m.cancelled));
                if s.is_done() {
                    m.done = Some(s.clone());
                }
                Some(s)
            }
            None if m.seen || m.submitted => {
                // Torque forgets finished jobs after keep_completed seconds (0
                // by default up to 5.1): finished, exit code unknown.
                let s = vanished(id, m.cancelled);
                m.done = Some(s.clone());
                Some(s)
            }
            None => None,
        }
    }
}

#[async_trait]
impl BatchAdaptor for Torque {
    const NAME: &'static str = "torque";
    type Config = TorqueConfig;

    fn capabilities() -> SchedulerCapabilities {
        capabilities()
    }

    /// What Torque's and PBS's commands say while pbs_server is unreachable.
    fn controller_unreachable(output: &str) -> bool {
        let output = output.to_ascii_lowercase();
        ["cannot connect to specified server host", "cannot connect to server"]
            .iter()
            .any(|said| output.contains(said))
    }

    fn chunking(config: &TorqueConfig) -> Chunking {
        Chunking { size: config.submit_chunk, parallel: config.submit_parallel, spread: false }
    }

    fn plan(&self, config: &TorqueConfig, job: &JobDescription) -> Result<Submission> {
        script::plan(job, config)
    }

    fn submitted(&self, job: &JobDescription, shown: &str, output: &str) -> Result<JobId> {
        let id = parse::parse_submit(shown, output)?;
        if let Some(seq) = parse::seq_of(id.as_str()) {
            let mut memo = self.memo();
            let m = memo.entry(seq).or_default();
            m.submitted = true;
            m.name.clone_from(&job.name);
        }
        Ok(id)
    }

    async fn statuses(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Lookup>> {
        let seqs: Vec<Option<u64>> = ids.iter().map(|i| parse::seq_of(i.as_str())).collect();
        let ask: Vec<&JobId> = ids
            .iter()
            .zip(&seqs)
            .filter(|(id, seq)| seq.is_some_and(|s| self.remembered(id, s).is_none()))
            .map(|(id, _)| id)
            .collect();
        let jobs = if ask.is_empty() { Vec::new() } else { self.qstat(host, &ask).await? };
        Ok(ids
            .iter()
            .zip(seqs)
            .map(|(id, seq)| {
                let seq = seq?;
                self.remembered(id, seq).or_else(|| self.lookup(id, seq, &jobs))
            })
            .collect())
    }

    async fn cancel(&self, host: &Host<Self>, id: &JobId) -> Result<()> {
        let Some(seq) = parse::seq_of(id.as_str()) else {
            return Err(Error::job_not_found(id));
        };
        let cmd = host.command(&[host.config().commands.qdel.as_str(), id.as_str()]);
        let out = host.run(&cmd).await?;
        if out.status.success() {
            self.memo().entry(seq).or_default().cancelled = true;
        } else if !already_gone(&out) {
            return Err(host.failed(&cmd.display(), &out));
        }
        Ok(())
    }

    async fn cancel_many(&self, host: &Host<Self>, ids: &[JobId]) -> Result<Vec<Result<()>>> {
        let seqs: Vec<Option<u64>> = ids.iter().map(|id| parse::seq_of(id.as_str())).collect();
        let valid: Vec<usize> = (0..ids.len()).filter(|&i| seqs[i].is_some()).collect();
        let mut results: Vec<Result<()>> =
            ids.iter().map(|id| Err(Error::job_not_found(id))).collect();
        if valid.is_empty() {
            return Ok(results);
        }
        let mut argv = vec![host.config().commands.qdel.clone()];
        argv.extend(valid.iter().map(|&i| ids[i].to_string()));
        let cmd = host.command(&argv);
        let out = host.run(&cmd).await?;
        let text = format!("{}\n{}", out.stdout_text(), out.stderr_text());
        // qdel goes on after a job it cannot delete and names it in a line.
        let line_of = |id: &str| {
            text.lines().find(|l| l.split_whitespace().any(|w| w.trim_end_matches(':') == id))
        };
        let any_named = valid.iter().any(|&i| line_of(ids[i].as_str()).is_some());
        if !out.status.success() && !any_named && !already_gone(&out) {
            return Err(host.failed(&cmd.display(), &out));
        }
        for &i in &valid {
            results[i] = match line_of(ids[i].as_str()) {
                Some(line) if !line_says_gone(line) => Err(Error::CommandFailed {
                    command: cmd.display(),
                    exit_code: out.status.code,
                    stderr: line.trim().to_owned(),
                }),
                // Already finished: the status tells how.
                Some(_) => Ok(()),
                None => {
                    if let Some(seq) = seqs[i] {
                        self.memo().entry(seq).or_default().cancelled = true;
                    }
                    Ok(())
                }
            };
        }
        Ok(results)
    }

    async fn default_queue(&self, host: &Host<Self>) -> Result<Option<String>> {
        if let Some(q) = &host.config().default_queue {
            return Ok(Some(q.clone()));
        }
        let cmd = host.command(&[host.config().commands.qstat.as_str(), "-B", "-f"]);
        let out = host.run_checked(&cmd).await?;
        let servers = parse::parse_full(&cmd.display(), &out.stdout_text(), "Server:")?;
        Ok(servers.into_iter().find_map(|(_, f)| f.get("default_queue").cloned()))
    }

    async fn queues(&self, host: &Host<Self>) -> Result<Vec<QueueStatus>> {
        let cmd = host.command(&[host.config().commands.qstat.as_str(), "-Qf"]);
        let out = host.run_checked(&cmd).await?;
        let mut all = parse::parse_queues(&cmd.display(), &out.stdout_text())?;
        let default = self.default_queue(host).await.ok().flatten();
        for q in &mut all {
            q.is_default = default.as_deref() == Some(q.name.as_str());
        }
        Ok(all)
    }

    async fn list_jobs(&self, host: &Host<Self>, queues: &[String]) -> Result<Vec<JobStatus>> {
        let jobs = self.qstat(host, &[]).await?;
        let memo = self.memo();
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
