//! [`Datamover`]: the `dt*` commands over any executor.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use hpc_core::{Error, JobState, NotFoundKind, Path, PathAttributes, Result};
use hpc_exec::{Command, Executor};
use serde::Serialize;

use crate::commands::DtCommand;
use crate::config::{DatamoverConfig, program_path};
use crate::handle::DtHandle;
use crate::listing::{LS_OPTIONS, parse_listing};

/// The datamover tools of one login node, reached through an executor (this
/// host, or SSH with jump hosts).
///
/// Every command starts in the background and returns a [`DtHandle`];
/// arguments are those of the tool (`cp`, `ls`, `rsync`, ...) and reach it
/// unchanged: they are quoted only by `hpc-exec` where a shell line is needed.
#[derive(Debug, Clone)]
pub struct Datamover {
    exec: Arc<dyn Executor>,
    config: DatamoverConfig,
}

/// How a job submitted without `--blocking` ended, as `dtqueue` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BatchJobEnd {
    /// Slurm job id.
    pub job_id: u64,
    /// Portable state (completed, failed, cancelled; unknown once Slurm forgot the job).
    pub state: JobState,
    /// Slurm's own state name (`COMPLETED`, `TIMEOUT`, ...), if it still knew the job.
    pub raw_state: Option<String>,
}

macro_rules! dt_methods {
    ($($(#[$doc:meta])* $name:ident => $cmd:ident;)*) => {$(
        $(#[$doc])*
        pub async fn $name<I, S>(&self, args: I) -> Result<DtHandle>
        where
            I: IntoIterator<Item = S>,
            S: AsRef<OsStr>,
        {
            self.start(DtCommand::$cmd, args).await
        }
    )*};
}

impl Datamover {
    /// The datamover of the host `exec` runs commands on.
    pub fn new(exec: Arc<dyn Executor>, config: DatamoverConfig) -> Result<Self> {
        config.validate()?;
        Ok(Datamover { exec, config })
    }

    /// The settings in use.
    pub fn config(&self) -> &DatamoverConfig {
        &self.config
    }

    /// The executor commands run through.
    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.exec
    }

    /// The [`Command`] a call would run, without running it.
    pub fn command<I, S>(&self, cmd: DtCommand, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c =
            Command::new(program_path(self.config.bin_dir.as_deref(), cmd.program())).args(args);
        if cmd.is_transfer() {
            // After the tool's own arguments, as taurus-datamover did.
            c = c.args(self.config.dt_options());
        }
        for (k, v) in &self.config.env {
            c = c.env(k.clone(), v);
        }
        if let Some(d) = &self.config.working_dir {
            c = c.current_dir(d);
        }
        c
    }

    /// Starts any datamover command in the background.
    pub async fn start<I, S>(&self, cmd: DtCommand, args: I) -> Result<DtHandle>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let command = self.command(cmd, args);
        let cancel = Command::new(program_path(self.config.bin_dir.as_deref(), "dtcancel"));
        DtHandle::start(
            self.exec.clone(),
            &command,
            Some(cancel),
            self.config.effective_time_limit(),
        )
        .await
    }

    dt_methods! {
        /// `dtcp`: copy like `cp`.
        dtcp => Cp;
        /// `dtls`: list like `ls`.
        dtls => Ls;
        /// `dtmv`: move like `mv`.
        dtmv => Mv;
        /// `dtrm`: remove like `rm`.
        dtrm => Rm;
        /// `dtrsync`: synchronise like `rsync`.
        dtrsync => Rsync;
        /// `dttar`: archive like `tar`.
        dttar => Tar;
        /// `dtwget`: download like `wget`.
        dtwget => Wget;
        /// `dtinfo`: the transfer nodes (like `sinfo`).
        dtinfo => Info;
        /// `dtqueue`: your transfer jobs (like `squeue -u $USER`).
        dtqueue => Queue;
        /// `dtq`: the same as `dtqueue`.
        dtq => Q;
        /// `dtcancel`: cancel transfer jobs (like `scancel`).
        dtcancel => Cancel;
    }

    /// The entries of directory `dir` (dot files included), typed: one
    /// `dtls -l` job.
    pub async fn list(&self, dir: &Path) -> Result<Vec<PathAttributes>> {
        let mut args: Vec<String> = LS_OPTIONS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("{}/", dir.to_string().trim_end_matches('/')));
        let out = self.run_ls(args, dir).await?;
        parse_listing(&out, dir, "dtls -l")
    }

    /// The attributes of `path` itself (`dtls -ld`).
    pub async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        let mut args: Vec<String> = LS_OPTIONS.iter().map(|s| (*s).to_owned()).collect();
        args.push("-d".into());
        args.push(path.to_string());
        let out = self.run_ls(args, path).await?;
        let parent = path.parent().unwrap_or_else(Path::root);
        parse_listing(&out, &parent, "dtls -ld")?
            .into_iter()
            .next()
            .ok_or_else(|| Error::parse("dtls -ld", "no entry in the listing", out.clone()))
    }

    async fn run_ls(&self, args: Vec<String>, path: &Path) -> Result<String> {
        if !path.is_absolute() {
            return Err(Error::InvalidInput(format!("datamover paths must be absolute: {path}")));
        }
        let mut cmd = self.command(DtCommand::Ls, &args).env("LC_ALL", "C");
        if !self.config.blocking {
            // The typed calls need the listing itself, not a submitted job.
            cmd = cmd.arg("--blocking");
        }
        let handle =
            DtHandle::start(self.exec.clone(), &cmd, None, self.config.effective_time_limit())
                .await?;
        let out = handle.output().await?;
        if out.exit_code == 2 && out.stderr.contains("No such file or directory") {
            return Err(Error::NotFound { kind: NotFoundKind::Path, name: path.to_string() });
        }
        handle.success().await.map(|o| o.stdout_text())
    }

    /// Waits until a job submitted without `--blocking` (see
    /// [`crate::DtEvent::Submitted`]) has ended, asking `dtqueue` every
    /// `interval`; at most `timeout`, if given.
    pub async fn wait_job(
        &self,
        job_id: u64,
        interval: Duration,
        timeout: Option<Duration>,
    ) -> Result<BatchJobEnd> {
        let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
        let mut seen = false;
        loop {
            match self.job_state(job_id).await? {
                Some(raw) => {
                    seen = true;
                    if let Some(state) = final_state(&raw) {
                        return Ok(BatchJobEnd { job_id, state, raw_state: Some(raw) });
                    }
                }
                None if seen => {
                    return Ok(BatchJobEnd { job_id, state: JobState::Unknown, raw_state: None });
                }
                None => {
                    return Err(Error::NotFound {
                        kind: NotFoundKind::Job,
                        name: job_id.to_string(),
                    });
                }
            }
            if let Some(d) = deadline
                && tokio::time::Instant::now() + interval > d
            {
                return Err(Error::Timeout {
                    what: format!("waiting for datamover job {job_id}"),
                    after: timeout.unwrap_or_default(),
                });
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Slurm's state name of a job, `None` when Slurm does not know it.
    async fn job_state(&self, job_id: u64) -> Result<Option<String>> {
        let cmd = self.command(
            DtCommand::Queue,
            ["--noheader", "--states=all", "--format=%T", &format!("--jobs={job_id}")],
        );
        let out = self.exec.run(&cmd).await?;
        if !out.status.success() && out.stderr_text().contains("Invalid job id") {
            return Ok(None);
        }
        let out = out.check(&cmd)?;
        Ok(out.stdout_text().lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned))
    }
}

/// The portable end state of a Slurm state name; `None` while not final.
fn final_state(raw: &str) -> Option<JobState> {
    Some(match raw {
        "COMPLETED" => JobState::Completed,
        "CANCELLED" => JobState::Cancelled,
        "FAILED" | "TIMEOUT" | "NODE_FAIL" | "OUT_OF_MEMORY" | "PREEMPTED" | "BOOT_FAIL"
        | "DEADLINE" => JobState::Failed,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpc_exec::LocalExecutor;

    #[test]
    fn dt_options_follow_the_tools_arguments() {
        let mut cfg = DatamoverConfig::with_bin_dir("/sw/dt/bin");
        cfg.time_limit = Some(Duration::from_secs(600));
        let dm = Datamover::new(Arc::new(LocalExecutor::new()), cfg).unwrap();
        let c = dm.command(DtCommand::Cp, ["-r", "a b", "$(x)"]);
        assert_eq!(c.display(), "/sw/dt/bin/dtcp -r 'a b' '$(x)' '--time=00:10:00' --blocking");
        let q = dm.command(DtCommand::Queue, ["-h"]);
        assert_eq!(q.display(), "/sw/dt/bin/dtqueue -h");
        assert_eq!(final_state("TIMEOUT"), Some(JobState::Failed));
        assert_eq!(final_state("RUNNING"), None);
    }
}
