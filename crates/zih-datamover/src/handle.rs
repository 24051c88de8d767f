//! [`DtHandle`]: one datamover command running in the background.
//!
//! A task per command reads standard output to its end and standard error
//! line by line (sorting scheduler messages into [`DtEvent`]s as they come)
//! and waits for the exit status. The handle only looks at what that task
//! has published, so `poll` never blocks and any number of clones may wait.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use hpc_core::{Error, Result};
use hpc_exec::{Command, Executor, ExitStatus, Process};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::{mpsc, watch};

use crate::events::{DtEvent, Line, classify};

/// How long a killed command may take to end after SIGTERM before SIGKILL
/// (Slurm's own `KillWait` default is 30 s; srun ends its job within it).
const KILL_GRACE: Duration = Duration::from_secs(10);

/// A datamover command started in the background.
///
/// Cheap to clone; every clone sees the same command. Dropping all clones
/// does not stop the command: call [`DtHandle::kill`] for that.
#[derive(Clone)]
pub struct DtHandle {
    inner: Arc<Inner>,
}

struct Inner {
    command: String,
    time_limit: Duration,
    state: watch::Sender<State>,
    signals: mpsc::UnboundedSender<i32>,
    exec: Arc<dyn Executor>,
    cancel: Option<Command>,
}

#[derive(Default)]
struct State {
    events: Vec<DtEvent>,
    job_id: Option<u64>,
    ended: Option<Ended>,
}

#[derive(Clone)]
enum Ended {
    Exited(Arc<DtOutput>),
    Lost(String),
}

/// Everything a finished datamover command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DtOutput {
    /// The command line that ran (quoted as the shell would need it).
    pub command: String,
    /// How the command ended.
    #[serde(skip)]
    pub status: ExitStatus,
    /// Exit code in the shell's convention (128 + signal after a signal).
    pub exit_code: i32,
    /// The tool's standard output.
    #[serde(skip)]
    pub stdout: Bytes,
    /// Standard error without the scheduler's queue messages and the
    /// harmless pty warnings.
    pub stderr: String,
    /// Standard error exactly as it came.
    pub raw_stderr: String,
    /// The Slurm job id, if the scheduler named it.
    pub job_id: Option<u64>,
    /// The scheduler events, in order.
    pub events: Vec<DtEvent>,
}

impl DtOutput {
    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Whether Slurm killed the job at its time limit.
    pub fn hit_time_limit(&self) -> bool {
        self.events.iter().any(|e| matches!(e, DtEvent::TimeLimit { .. }))
    }
}

impl std::fmt::Debug for DtHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.state.borrow();
        f.debug_struct("DtHandle")
            .field("command", &self.inner.command)
            .field("job_id", &st.job_id)
            .field("finished", &st.ended.is_some())
            .finish()
    }
}

impl DtHandle {
    /// Starts `cmd` on `exec` and returns at once. `cancel` is the command
    /// that cancels a job (`dtcancel`), given the job id as its last argument.
    pub(crate) async fn start(
        exec: Arc<dyn Executor>,
        cmd: &Command,
        cancel: Option<Command>,
        time_limit: Duration,
    ) -> Result<DtHandle> {
        let process = exec.spawn(cmd).await?;
        let (state, _) = watch::channel(State::default());
        let (signals, signal_rx) = mpsc::unbounded_channel();
        let inner =
            Arc::new(Inner { command: cmd.display(), time_limit, state, signals, exec, cancel });
        tracing::debug!(command = %inner.command, "datamover command started");
        tokio::spawn(drive(process, inner.clone(), signal_rx));
        Ok(DtHandle { inner })
    }

    /// The command line (quoted as the shell would need it).
    pub fn command(&self) -> &str {
        &self.inner.command
    }

    /// The Slurm job id, once the scheduler named it (queued, allocated,
    /// submitted, or in a kill message). A job that got its node at once is
    /// never named by srun.
    pub fn job_id(&self) -> Option<u64> {
        self.inner.state.borrow().job_id
    }

    /// `None` while the command runs, else its exit code (128 + signal when
    /// a signal ended it, 255 when the connection to the host was lost).
    pub fn poll(&self) -> Option<i32> {
        match &self.inner.state.borrow().ended {
            None => None,
            Some(Ended::Exited(out)) => Some(out.exit_code),
            Some(Ended::Lost(_)) => Some(255),
        }
    }

    /// Waits until the command ends (at most `timeout`, if given) and
    /// returns its exit code. A timeout leaves the command running and
    /// returns [`Error::Timeout`].
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<i32> {
        Ok(self.finished(timeout).await?.exit_code)
    }

    /// Waits for the end and returns everything the command produced,
    /// whatever its exit code.
    pub async fn output(&self) -> Result<DtOutput> {
        Ok((*self.finished(None).await?).clone())
    }

    /// Waits for the end and returns the output if the command succeeded;
    /// else [`Error::Timeout`] when Slurm killed the job at its time limit,
    /// or [`Error::CommandFailed`] with the exit code and standard error.
    pub async fn success(&self) -> Result<DtOutput> {
        let out = self.finished(None).await?;
        if out.hit_time_limit() {
            let job = out.job_id.map(|j| format!(" {j}")).unwrap_or_default();
            return Err(Error::Timeout {
                what: format!("Slurm job{job} of `{}` (killed at its time limit)", out.command),
                after: self.inner.time_limit,
            });
        }
        if out.status.success() {
            return Ok((*out).clone());
        }
        Err(Error::CommandFailed {
            command: out.command.clone(),
            exit_code: Some(out.exit_code),
            stderr: out.stderr.clone(),
        })
    }

    /// Stops the command and the Slurm job behind it: SIGTERM to the
    /// command's process group (srun then cancels its job, queued or
    /// running), `dtcancel` for a job id that is known, SIGKILL if the
    /// command has not ended after a grace period. Returns once it ended.
    pub async fn kill(&self) -> Result<()> {
        if self.poll().is_some() {
            return self.cancel_job().await;
        }
        let _ = self.inner.signals.send(15);
        let cancelled = self.cancel_job().await;
        if self.finished(Some(KILL_GRACE)).await.is_err() && self.poll().is_none() {
            let _ = self.inner.signals.send(9);
            let _ = self.finished(Some(KILL_GRACE)).await;
        }
        cancelled
    }

    /// A submitted (non-blocking) job outlives its command: cancel it by id.
    async fn cancel_job(&self) -> Result<()> {
        let (Some(job), Some(cancel)) = (self.job_id(), &self.inner.cancel) else {
            return Ok(());
        };
        let cmd = cancel.clone().arg(job.to_string());
        let out = self.inner.exec.run(&cmd).await?;
        // A job that already ended is fine: the goal is that it does not run.
        if !out.status.success() && !out.stderr_text().contains("already completing or completed") {
            tracing::debug!(job, stderr = %out.stderr_text(), "dtcancel did not succeed");
        }
        Ok(())
    }

    /// The scheduler events so far and those still to come, ending when the
    /// command ends. Every call starts from the first event.
    pub fn events(&self) -> BoxStream<'static, DtEvent> {
        let rx = self.inner.state.subscribe();
        futures::stream::unfold((rx, 0usize), |(mut rx, next)| async move {
            loop {
                let (event, ended) = {
                    let st = rx.borrow_and_update();
                    (st.events.get(next).cloned(), st.ended.is_some())
                };
                if let Some(e) = event {
                    return Some((e, (rx, next + 1)));
                }
                if ended {
                    return None;
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        })
        .boxed()
    }

    async fn finished(&self, timeout: Option<Duration>) -> Result<Arc<DtOutput>> {
        let mut rx = self.inner.state.subscribe();
        let ended = async {
            // The sender lives in `inner`, which we hold: this cannot fail.
            let st = rx.wait_for(|s| s.ended.is_some()).await;
            st.ok().and_then(|s| s.ended.clone())
        };
        let ended = match timeout {
            Some(t) => tokio::time::timeout(t, ended).await.map_err(|_| Error::Timeout {
                what: format!("waiting for `{}`", self.inner.command),
                after: t,
            })?,
            None => ended.await,
        };
        match ended {
            Some(Ended::Exited(out)) => Ok(out),
            Some(Ended::Lost(reason)) => {
                let host = self.inner.exec.target().to_owned();
                Err(Error::ConnectionLost { host, reason, source: None })
            }
            None => Err(Error::ConnectionLost {
                host: self.inner.exec.target().to_owned(),
                reason: "the command's reader stopped".into(),
                source: None,
            }),
        }
    }
}

/// Waits for every handle (at most `timeout` each, counted from the call)
/// and returns their exit codes in order.
pub async fn wait_all(handles: &[DtHandle], timeout: Option<Duration>) -> Vec<Result<i32>> {
    let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
    futures::future::join_all(handles.iter().map(|h| async move {
        let left = deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
        h.wait(left).await
    }))
    .await
}

/// Reads both streams, waits for the status, forwards signal requests.
async fn drive(process: Process, inner: Arc<Inner>, mut signals: mpsc::UnboundedReceiver<i32>) {
    let (stdin, stdout, stderr, mut control) = process.into_parts();
    drop(stdin);
    let read_out = async {
        let mut buf = Vec::new();
        if let Some(mut r) = stdout {
            let _ = r.read_to_end(&mut buf).await;
        }
        buf
    };
    let read_err = async {
        let (mut raw, mut kept) = (Vec::new(), Vec::new());
        if let Some(r) = stderr {
            let mut r = BufReader::new(r);
            let mut line = Vec::new();
            while matches!(r.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
                raw.extend_from_slice(&line);
                let text = String::from_utf8_lossy(&line);
                match classify(text.trim_end_matches('\n')) {
                    Line::Event(e) => publish(&inner, e),
                    Line::EventAndText(e) => {
                        publish(&inner, e);
                        kept.extend_from_slice(&line);
                    }
                    Line::Hidden => {}
                    Line::Text => kept.extend_from_slice(&line),
                }
                line.clear();
            }
        }
        (raw, kept)
    };
    let status = async {
        loop {
            tokio::select! {
                st = control.wait() => break st,
                Some(sig) = signals.recv() => {
                    if let Err(e) = control.signal(sig).await {
                        tracing::debug!(error = %e, sig, "signalling the datamover command failed");
                    }
                }
            }
        }
    };
    let (stdout, (raw, kept), status) = tokio::join!(read_out, read_err, status);
    // sbatch says "Submitted batch job N" on standard output.
    if let Some(first) = stdout.split(|b| *b == b'\n').next()
        && let Line::Event(e @ DtEvent::Submitted { .. }) =
            classify(&String::from_utf8_lossy(first))
    {
        publish(&inner, e);
    }
    let ended = match status {
        Ok(status) => {
            let st = inner.state.borrow();
            Ended::Exited(Arc::new(DtOutput {
                command: inner.command.clone(),
                status,
                exit_code: status.shell_code(),
                stdout: Bytes::from(stdout),
                stderr: String::from_utf8_lossy(&kept).into_owned(),
                raw_stderr: String::from_utf8_lossy(&raw).into_owned(),
                job_id: st.job_id,
                events: st.events.clone(),
            }))
        }
        Err(e) => Ended::Lost(e.to_string()),
    };
    tracing::debug!(command = %inner.command, "datamover command ended");
    inner.state.send_modify(|s| s.ended = Some(ended));
}

fn publish(inner: &Inner, event: DtEvent) {
    tracing::debug!(command = %inner.command, ?event, "datamover event");
    inner.state.send_modify(|s| {
        if s.job_id.is_none() {
            s.job_id = event.job_id();
        }
        s.events.push(event);
    });
}
