//! Submitting batch jobs, and running a job with its streams connected here.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use hpckit::core::{JobDescription, JobState, JobStatus, Scheduler, SchedulerExt, WaitUntil};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::lives_in_process;
use crate::output::{self, EXIT_FAILURE};

pub(super) async fn submit(
    sched: &Arc<dyn Scheduler>,
    jobs: Vec<JobDescription>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let results = if jobs.len() == 1 {
        vec![sched.submit_batch(&jobs[0]).await]
    } else {
        sched.submit_many(&jobs).await?
    };
    let mut ids = Vec::new();
    let mut first_error = None;
    for r in results {
        match r {
            Ok(id) => ids.push(id),
            Err(e) if first_error.is_none() => first_error = Some(e),
            Err(e) => output::note(format!("error: {e}")),
        }
    }
    if json {
        let objects: Vec<_> = ids.iter().map(|id| serde_json::json!({ "id": id })).collect();
        if jobs.len() == 1 && objects.len() == 1 {
            output::print_json(&objects[0])?;
        } else {
            output::print_json(&objects)?;
        }
    } else {
        let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
        output::write_stdout(text.as_bytes())?;
    }
    if !ids.is_empty() && lives_in_process(&**sched) {
        // The embedded queue ends with this process: keep the jobs alive.
        output::note(format!(
            "{} jobs run inside this hpckit process; waiting for them to finish \
             (use ssh:// or a batch system for detached jobs)",
            sched.info().adaptor
        ));
        sched.wait(&ids, WaitUntil::Done, None, None).await?;
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

pub(super) async fn run_interactive(
    sched: &Arc<dyn Scheduler>,
    job: JobDescription,
) -> anyhow::Result<ExitCode> {
    let started = sched.submit_interactive(&job).await?;
    let id = started.id.clone();
    tracing::debug!(%id, "interactive job started");
    let mut job_stdin = started.stdin;
    // Forward our stdin until it ends; then the job sees end-of-file.
    tokio::spawn(async move {
        let mut input = tokio::io::stdin();
        let _ = tokio::io::copy(&mut input, &mut job_stdin).await;
        let _ = job_stdin.shutdown().await;
    });
    let streams = async {
        let (out, err) = tokio::join!(
            pump(started.stdout, tokio::io::stdout()),
            pump(started.stderr, tokio::io::stderr()),
        );
        out.and(err)
    };
    let _graceful = crate::signals::graceful();
    tokio::select! {
        r = streams => r.context("copying the job's output")?,
        sig = crate::signals::requested() => {
            output::note(format!("interrupted: cancelling job {id}"));
            sched.cancel(&id).await?;
            return Ok(crate::signals::exit_code(sig));
        }
    }
    let status = sched.wait_until_done(&id, None).await?;
    Ok(ExitCode::from(job_exit_code(&status)))
}

/// Copy one output stream, flushing as data comes so output appears live.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.flush().await;
        }
        if let Err(e) = to.write_all(&buf[..n]).await {
            // A closed pipe (`| head`) is not the job's failure: keep draining.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                continue;
            }
            return Err(e);
        }
        to.flush().await?;
    }
}

/// The shell's convention for a finished job: its code, 128 + signal, 130
/// when cancelled, 1 for a failure without a code.
pub(super) fn job_exit_code(status: &JobStatus) -> u8 {
    match (status.exit_code, status.signal) {
        (Some(c), _) => u8::try_from(c.rem_euclid(256)).unwrap_or(EXIT_FAILURE),
        (None, Some(s)) => u8::try_from(128 + s).unwrap_or(EXIT_FAILURE),
        (None, None) => match status.state {
            JobState::Completed => 0,
            JobState::Cancelled => 130,
            _ => EXIT_FAILURE,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        let st = |state, code, sig| {
            JobStatus::new("1".into(), state).with_exit_code(code).with_signal(sig)
        };
        assert_eq!(job_exit_code(&st(JobState::Completed, Some(0), None)), 0);
        assert_eq!(job_exit_code(&st(JobState::Failed, Some(3), None)), 3);
        assert_eq!(job_exit_code(&st(JobState::Failed, None, Some(9))), 137);
        assert_eq!(job_exit_code(&st(JobState::Cancelled, None, None)), 130);
        assert_eq!(job_exit_code(&st(JobState::Failed, None, None)), 1);
    }
}
