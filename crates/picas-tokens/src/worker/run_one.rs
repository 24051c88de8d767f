//! Run one held token's command: time limit, lease heartbeat, stop request.

use std::time::{Duration, Instant};

use hpc_core::Result;
use hpc_exec::{BoxRead, Command, Executor, ExitStatus, LocalExecutor, ProcessControl};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use super::config::{Task, WorkerConfig};
use crate::claim::{Held, LeaseState};
use crate::pool::TokenPool;

/// How a token's command ended.
#[derive(Debug)]
pub enum Outcome {
    /// It exited (or a signal ended it).
    Exited {
        /// Its status.
        status: ExitStatus,
        /// Its output.
        logs: Logs,
    },
    /// It ran past the time limit and was stopped.
    TimedOut {
        /// The limit.
        limit: Duration,
        /// Its output until then.
        logs: Logs,
    },
    /// The token was taken away (lease lost): the command was stopped and
    /// nothing may be recorded.
    LeaseLost,
    /// The worker was asked to stop; the command was stopped.
    Cancelled,
    /// The command could not start.
    NotStarted(hpc_core::Error),
}

/// Captured output.
#[derive(Debug, Default)]
pub struct Logs {
    /// Standard output (cut at the configured size).
    pub stdout: Vec<u8>,
    /// Standard error (cut at the configured size).
    pub stderr: Vec<u8>,
}

/// Run `held`'s command. The token's command must have been checked already.
pub(crate) async fn run(
    pool: &TokenPool,
    held: &mut Held,
    command: &str,
    config: &WorkerConfig,
    stop: &mut watch::Receiver<bool>,
) -> Result<Outcome> {
    let id = held.id().to_owned();
    let mut cmd = match &config.task {
        Task::Shell => Command::new("bash").arg("-c").arg(command),
        Task::Script(script) => Command::new(script).arg(command).arg(&id),
    };
    cmd = cmd.env("PICAS_TOKEN_ID", &id);
    if let Some(dir) = &config.workdir {
        cmd = cmd.current_dir(dir);
    }
    let process = match LocalExecutor::new().spawn(&cmd).await {
        Ok(p) => p,
        Err(e) => return Ok(Outcome::NotStarted(e)),
    };
    let (stdin, stdout, stderr, mut control) = process.into_parts();
    drop(stdin);
    let cap = config.max_log_bytes;
    let out_task = tokio::spawn(read_capped(stdout, cap));
    let err_task = tokio::spawn(read_capped(stderr, cap));

    let started = Instant::now();
    let deadline = config.token_time_limit.map(|l| tokio::time::Instant::now() + l);
    let beat = (pool.lease() / 3).max(Duration::from_secs(1));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    enum End {
        Exited(ExitStatus),
        TimedOut,
        Lost,
        Cancelled,
    }
    let end = loop {
        tokio::select! {
            status = control.wait() => break End::Exited(status?),
            () = sleep_until(deadline) => break End::TimedOut,
            _ = heartbeat.tick() => match pool.renew(held).await {
                Ok(LeaseState::Held) => {}
                Ok(LeaseState::Lost) => break End::Lost,
                // The server is away: keep working, try again at the next beat;
                // the final write tells whether the token is still ours.
                Err(e) => tracing::warn!(token = %id, error = %e, "cannot renew the lease"),
            },
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break End::Cancelled;
                }
            }
        }
    };
    if !matches!(end, End::Exited(_)) {
        terminate(&mut *control, config.kill_grace).await;
    }
    let logs = Logs {
        stdout: out_task.await.unwrap_or_default(),
        stderr: err_task.await.unwrap_or_default(),
    };
    tracing::debug!(token = %id, elapsed = ?started.elapsed(), "command ended");
    Ok(match end {
        End::Exited(status) => Outcome::Exited { status, logs },
        End::TimedOut => {
            Outcome::TimedOut { limit: config.token_time_limit.unwrap_or_default(), logs }
        }
        End::Lost => Outcome::LeaseLost,
        End::Cancelled => Outcome::Cancelled,
    })
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// SIGTERM to the command's process group, SIGKILL after the grace time.
async fn terminate(control: &mut dyn ProcessControl, grace: Duration) {
    let _ = control.signal(15).await;
    if tokio::time::timeout(grace, control.wait()).await.is_err() {
        let _ = control.signal(9).await;
        let _ = control.wait().await;
    }
}

/// Read a stream to its end, keeping the first `cap` bytes and noting the rest.
async fn read_capped(stream: Option<BoxRead>, cap: usize) -> Vec<u8> {
    let Some(mut stream) = stream else { return Vec::new() };
    let mut kept = Vec::new();
    let mut dropped: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                dropped += (n - n.min(room)) as u64;
            }
        }
    }
    if dropped > 0 {
        kept.extend_from_slice(format!("\n[hpckit: {dropped} more bytes not kept]\n").as_bytes());
    }
    kept
}
