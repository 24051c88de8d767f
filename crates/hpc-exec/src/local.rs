//! [`LocalExecutor`]: processes on this host.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use async_trait::async_trait;
use hpc_core::error::NotFoundKind;
use hpc_core::{Error, Result};
use rustix::process::{Pid, Signal};

use crate::command::Command;
use crate::executor::{Executor, ExitStatus, Process, ProcessControl};

/// Runs commands on this host, each in its own process group so that
/// [`Process::kill`] stops the whole tree.
#[derive(Debug, Clone, Default)]
pub struct LocalExecutor {
    user: Option<(u32, u32)>,
}

impl LocalExecutor {
    /// Run as the current user.
    pub fn new() -> Self {
        LocalExecutor::default()
    }

    /// Run every command as `uid`/`gid` (needs root). Used where a tool
    /// refuses root, such as Grid Engine's `qsub`.
    pub fn as_user(uid: u32, gid: u32) -> Self {
        LocalExecutor { user: Some((uid, gid)) }
    }
}

#[async_trait]
impl Executor for LocalExecutor {
    fn target(&self) -> &str {
        "local"
    }

    fn is_local(&self) -> bool {
        true
    }

    async fn spawn(&self, cmd: &Command) -> Result<Process> {
        cmd.validate()?;
        let program = OsStr::from_bytes(cmd.program());
        #[allow(
            clippy::disallowed_methods,
            reason = "hpc-exec is the one place that spawns processes"
        )]
        let mut c = tokio::process::Command::new(program);
        c.args(cmd.argv()[1..].iter().map(|a| OsStr::from_bytes(a)))
            .envs(cmd.envs().iter().map(|(k, v)| (k.as_str(), OsStr::from_bytes(v))))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(dir) = cmd.cwd() {
            let dir = std::path::Path::new(OsStr::from_bytes(dir));
            if !dir.is_dir() {
                return Err(Error::path_not_found(dir.display()));
            }
            c.current_dir(dir);
        }
        if let Some((uid, gid)) = self.user {
            c.uid(uid).gid(gid);
        }
        let mut child = c.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                kind: NotFoundKind::Executable,
                name: String::from_utf8_lossy(cmd.program()).into_owned(),
            },
            std::io::ErrorKind::PermissionDenied => Error::PermissionDenied {
                what: format!("execute {}", String::from_utf8_lossy(cmd.program())),
                message: e.to_string(),
            },
            _ => Error::io(format!("starting {}", cmd.display()), e),
        })?;
        let pid = child.id();
        let stdin = child.stdin.take().map(|s| Box::pin(ClosingStdin(Some(s))) as _);
        let stdout = child.stdout.take().map(|s| Box::pin(s) as _);
        let stderr = child.stderr.take().map(|s| Box::pin(s) as _);
        let (Some(stdin), Some(stdout), Some(stderr)) = (stdin, stdout, stderr) else {
            return Err(Error::io("starting process", std::io::Error::other("missing pipe")));
        };
        tracing::debug!(command = %cmd.display(), pid, "spawned local process");
        Ok(Process::new(stdin, stdout, stderr, Box::new(LocalControl { child, pid, exited: None })))
    }
}

/// A child's stdin whose `shutdown` closes the pipe. Tokio's `ChildStdin`
/// only flushes on shutdown, so the child would see end-of-file only when the
/// handle is dropped; the `Executor` contract promises it on shutdown too.
struct ClosingStdin(Option<tokio::process::ChildStdin>);

impl tokio::io::AsyncWrite for ClosingStdin {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.0.as_mut() {
            Some(w) => std::pin::Pin::new(w).poll_write(cx, buf),
            None => std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.0.as_mut() {
            Some(w) => std::pin::Pin::new(w).poll_flush(cx),
            None => std::task::Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Some(w) = self.0.as_mut() {
            std::task::ready!(std::pin::Pin::new(w).poll_flush(cx))?;
        }
        self.0 = None;
        std::task::Poll::Ready(Ok(()))
    }
}

struct LocalControl {
    child: tokio::process::Child,
    pid: Option<u32>,
    exited: Option<ExitStatus>,
}

fn signal_group(pid: u32, signal: i32) -> Result<()> {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return Err(Error::InvalidInput(format!("invalid process id {pid}")));
    };
    let Some(sig) = Signal::from_named_raw(signal) else {
        return Err(Error::InvalidInput(format!("unknown signal {signal}")));
    };
    match rustix::process::kill_process_group(pid, sig) {
        Ok(()) => Ok(()),
        // The group is already gone: nothing left to stop.
        Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(Error::io(format!("signalling process group {pid:?}"), e.into())),
    }
}

#[async_trait]
impl ProcessControl for LocalControl {
    async fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(s) = self.exited {
            return Ok(s);
        }
        let status = self.child.wait().await.map_err(|e| Error::io("waiting for process", e))?;
        let s = ExitStatus { code: status.code(), signal: status.signal() };
        self.exited = Some(s);
        Ok(s)
    }

    async fn signal(&mut self, signal: i32) -> Result<()> {
        if self.exited.is_some() {
            return Ok(());
        }
        match self.pid {
            Some(pid) => signal_group(pid, signal),
            None => Ok(()),
        }
    }

    fn id(&self) -> Option<u32> {
        self.pid
    }
}

impl Drop for LocalControl {
    fn drop(&mut self) {
        // A handle dropped before its process ended (a cancelled future, a
        // closed scheduler) must not leave the process tree running.
        if self.exited.is_none()
            && matches!(self.child.try_wait(), Ok(None))
            && let Some(pid) = self.pid
        {
            let _ = signal_group(pid, 9);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;

    #[tokio::test]
    async fn run_collects_output_and_code() {
        let ex = LocalExecutor::new();
        let out = ex
            .run(&Command::new("sh").arg("-c").arg("cat; echo err >&2; exit 3").stdin(&b"in\n"[..]))
            .await
            .unwrap();
        assert_eq!(out.stdout, b"in\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code, Some(3));
        let e = out.check(&Command::new("sh")).unwrap_err();
        assert!(e.to_string().contains("exit code 3"), "{e}");
    }

    #[tokio::test]
    async fn env_and_cwd() {
        let dir = std::env::temp_dir();
        let out = LocalExecutor::new()
            .run(
                &Command::new("sh")
                    .arg("-c")
                    .arg("printf '%s|' \"$V\"; pwd")
                    .env("V", "a 'b' $c")
                    .current_dir(&dir),
            )
            .await
            .unwrap();
        let text = out.stdout_text();
        assert!(text.starts_with("a 'b' $c|"), "{text}");
    }

    #[tokio::test]
    async fn missing_things_are_typed() {
        let ex = LocalExecutor::new();
        let e = ex.run(&Command::new("/nonexistent/program")).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { kind: NotFoundKind::Executable, .. }), "{e}");
        let e = ex.run(&Command::new("true").current_dir("/nonexistent/dir")).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { kind: NotFoundKind::Path, .. }), "{e}");
    }

    #[tokio::test]
    async fn kill_stops_the_whole_group() {
        let ex = LocalExecutor::new();
        // The shell starts a grandchild and reports its pid.
        let mut p =
            ex.spawn(&Command::new("sh").arg("-c").arg("sleep 30 & echo $!; wait")).await.unwrap();
        let mut lines = BufReader::new(p.stdout.take().unwrap()).lines();
        let child: i32 = lines.next_line().await.unwrap().unwrap().trim().parse().unwrap();
        p.kill().await.unwrap();
        let status = p.wait().await.unwrap();
        assert_eq!(status.signal, Some(9));
        // The grandchild is gone too (give the kernel a moment to reap it).
        let mut gone = false;
        for _ in 0..50 {
            let alive = std::path::Path::new(&format!("/proc/{child}")).exists()
                && !std::fs::read_to_string(format!("/proc/{child}/stat"))
                    .unwrap_or_default()
                    .contains(") Z ");
            if !alive {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "grandchild {child} survived the kill");
    }

    #[tokio::test]
    async fn streaming_round_trip() {
        let mut p = LocalExecutor::new().spawn(&Command::new("cat")).await.unwrap();
        let mut stdin = p.stdin.take().unwrap();
        let mut out = BufReader::new(p.stdout.take().unwrap()).lines();
        stdin.write_all(b"ping\n").await.unwrap();
        stdin.flush().await.unwrap();
        assert_eq!(out.next_line().await.unwrap().unwrap(), "ping");
        // shutdown (not drop) must deliver end-of-file: cat exits while the handle lives.
        stdin.shutdown().await.unwrap();
        assert!(p.wait().await.unwrap().success());
        assert!(stdin.write_all(b"late").await.is_err());
    }
}
