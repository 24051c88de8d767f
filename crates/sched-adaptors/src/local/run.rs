//! How a local job runs: the process, its files, and being killed on cancel.

use std::path::PathBuf;
use std::time::Duration;

use hpc_core::{JobDescription, JobPath, Result};
use hpc_exec::{Command, Executor, ExitStatus, LocalExecutor, Process, ProcessControl};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

/// Shell step that connects the job's files and then becomes the job, so
/// the job writes straight to its files and keeps the process-group leader's
/// pid. Arguments: stdin, stdout, stderr, `merge` (stderr into stdout) or
/// `split`, then the program and its arguments. Errors before the final
/// `exec` (a missing output directory) go to the pipe the scheduler reads.
const REDIRECT: &str = r#"exec <"$1" >"$2" || exit 126
if [ "$4" = merge ]; then exec 2>&1; else exec 2>"$3" || exit 126; fi
shift 4
exec "$@""#;

/// The command of a batch job: [`REDIRECT`] connecting its files, then the
/// program, in `dir`.
pub(crate) fn batch_command(job: &JobDescription, dir: PathBuf) -> Command {
    let file = |f: &Option<JobPath>| f.as_ref().map_or("/dev/null", JobPath::as_str).to_owned();
    let merge = job.stdout.is_some() && job.stdout == job.stderr;
    let mut cmd = Command::new("/bin/sh")
        .arg("-c")
        .arg(REDIRECT)
        .arg("hpckit-job")
        .arg(file(&job.stdin))
        .arg(file(&job.stdout))
        .arg(file(&job.stderr))
        .arg(if merge { "merge" } else { "split" })
        .arg(&job.executable)
        .args(&job.arguments)
        .current_dir(dir);
    for (k, v) in &job.environment {
        cmd = cmd.env(k, v);
    }
    cmd
}

/// Run one batch job to its end: how it ended (no exit status when it was
/// killed before it started), and the reason when it failed.
pub(crate) async fn run_batch(
    executor: &LocalExecutor,
    cmd: Command,
    mut kill: oneshot::Receiver<()>,
    grace: Duration,
) -> (Option<ExitStatus>, Option<String>) {
    let process = tokio::select! {
        p = executor.spawn(&cmd) => p,
        _ = &mut kill => return (None, None),
    };
    let mut process = match process {
        Ok(p) => p,
        Err(e) => return (None, Some(e.to_string())),
    };
    drop(process.stdin.take());
    let (stdout, stderr) = (process.stdout.take(), process.stderr.take());
    let (status, _, errors) = tokio::join!(
        wait_or_kill(&mut process, kill, grace),
        drain(stdout, 0),
        drain(stderr, 4096),
    );
    let error = match &status {
        Ok(s) if s.success() => None,
        Ok(_) => last_line(&errors),
        Err(e) => Some(e.to_string()),
    };
    (status.ok(), error)
}

/// Wait for the process; on a kill request, SIGTERM its group, then SIGKILL
/// after `grace`.
async fn wait_or_kill(
    process: &mut Process,
    kill: oneshot::Receiver<()>,
    grace: Duration,
) -> Result<ExitStatus> {
    tokio::select! {
        s = process.wait() => return s,
        r = kill => if r.is_err() {
            // The scheduler forgot the job without cancelling it; let it run.
            return process.wait().await;
        },
    }
    process.terminate().await?;
    if let Ok(s) = tokio::time::timeout(grace, process.wait()).await {
        return s;
    }
    process.kill().await?;
    process.wait().await
}

/// The same for an interactive job, whose streams belong to the caller.
pub(crate) async fn control_or_kill(
    control: &mut Box<dyn ProcessControl>,
    kill: oneshot::Receiver<()>,
    grace: Duration,
) -> Result<ExitStatus> {
    tokio::select! {
        s = control.wait() => return s,
        r = kill => if r.is_err() {
            return control.wait().await;
        },
    }
    control.signal(15).await?;
    if let Ok(s) = tokio::time::timeout(grace, control.wait()).await {
        return s;
    }
    control.signal(9).await?;
    control.wait().await
}

/// Read a stream to its end, keeping at most `keep` bytes.
async fn drain(stream: Option<hpc_exec::BoxRead>, keep: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut stream) = stream else { return kept };
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = keep.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    kept
}

fn last_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines().rev().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned)
}
