//! The [`Executor`] trait and what it returns.

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;
use hpc_core::{Error, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use hpc_core::scheduler::{BoxRead, BoxWrite};

use crate::command::Command;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ExitStatus {
    /// Exit code, if it exited normally.
    pub code: Option<i32>,
    /// Signal number, if a signal ended it.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The shell's convention: the code, or 128 + signal.
    pub fn shell_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 255,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "signal {s}"),
            (None, None) => f.write_str("unknown exit status"),
        }
    }
}

/// Everything a finished command produced.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Its complete standard output.
    pub stdout: Vec<u8>,
    /// Its complete standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// Standard error as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }

    /// `Ok(self)` if the command exited with 0, else
    /// [`Error::CommandFailed`] carrying the command line, code and stderr.
    pub fn check(self, cmd: &Command) -> Result<Output> {
        if self.status.success() {
            Ok(self)
        } else {
            Err(Error::CommandFailed {
                command: cmd.display(),
                exit_code: self.status.code,
                stderr: self.stderr_text().into_owned(),
            })
        }
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("status", &self.status)
            .field("stdout", &self.stdout_text())
            .field("stderr", &self.stderr_text())
            .finish()
    }
}

/// Wait for and stop a running process.
#[async_trait]
pub trait ProcessControl: Send + Sync {
    /// Wait until the process ends.
    async fn wait(&mut self) -> Result<ExitStatus>;

    /// Send `signal` (`libc` numbering: 15 TERM, 9 KILL, 2 INT) to the
    /// process's whole process group, so its children stop too.
    async fn signal(&mut self, signal: i32) -> Result<()>;

    /// The process id on its host (the process-group leader), once known.
    fn id(&self) -> Option<u32>;
}

/// A running process with its standard streams.
///
/// Take the streams you need; dropping `stdin` sends end-of-file.
pub struct Process {
    /// Standard input.
    pub stdin: Option<BoxWrite>,
    /// Standard output.
    pub stdout: Option<BoxRead>,
    /// Standard error.
    pub stderr: Option<BoxRead>,
    control: Box<dyn ProcessControl>,
}

impl Process {
    /// Assemble a process from its parts (for executor implementations).
    pub fn new(
        stdin: BoxWrite,
        stdout: BoxRead,
        stderr: BoxRead,
        control: Box<dyn ProcessControl>,
    ) -> Self {
        Process { stdin: Some(stdin), stdout: Some(stdout), stderr: Some(stderr), control }
    }

    /// Wait until the process ends.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        self.control.wait().await
    }

    /// Ask the process group to stop (SIGTERM).
    pub async fn terminate(&mut self) -> Result<()> {
        self.control.signal(15).await
    }

    /// Kill the process group (SIGKILL).
    pub async fn kill(&mut self) -> Result<()> {
        self.control.signal(9).await
    }

    /// Send any signal to the process group.
    pub async fn signal(&mut self, signal: i32) -> Result<()> {
        self.control.signal(signal).await
    }

    /// Process id of the group leader on its host.
    pub fn id(&self) -> Option<u32> {
        self.control.id()
    }

    /// Split into streams and control.
    pub fn into_parts(
        self,
    ) -> (Option<BoxWrite>, Option<BoxRead>, Option<BoxRead>, Box<dyn ProcessControl>) {
        (self.stdin, self.stdout, self.stderr, self.control)
    }

    /// Feed `input`, collect both outputs, wait for the exit status.
    pub async fn collect(mut self, input: Option<&[u8]>) -> Result<Output> {
        let mut stdin = self.stdin.take();
        let mut stdout = self.stdout.take();
        let mut stderr = self.stderr.take();
        let feed = async {
            if let Some(mut w) = stdin.take() {
                if let Some(data) = input {
                    // A process that exits without reading its input is not an error.
                    let _ = w.write_all(data).await;
                }
                let _ = w.shutdown().await;
            }
        };
        let read = |r: Option<BoxRead>| async move {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                r.read_to_end(&mut buf)
                    .await
                    .map_err(|e| Error::io("reading command output", e))?;
            }
            Ok::<_, Error>(buf)
        };
        let (_, out, err) = tokio::join!(feed, read(stdout.take()), read(stderr.take()));
        let status = self.control.wait().await?;
        Ok(Output { status, stdout: out?, stderr: err? })
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process").field("id", &self.control.id()).finish_non_exhaustive()
    }
}

/// Runs commands on one host.
///
/// Implementations are cheap to share (`Arc<dyn Executor>`) and safe to use
/// from many tasks at once.
#[async_trait]
pub trait Executor: Send + Sync + fmt::Debug {
    /// Where commands run: `local`, or `user@host:port`.
    fn target(&self) -> &str;

    /// Whether commands run on this host.
    fn is_local(&self) -> bool;

    /// Start a process with its streams connected to the caller.
    async fn spawn(&self, cmd: &Command) -> Result<Process>;

    /// Run to completion and collect the output. A non-zero exit is not an
    /// error here: call [`Output::check`] for that.
    async fn run(&self, cmd: &Command) -> Result<Output> {
        let process = self.spawn(cmd).await?;
        process.collect(cmd.stdin_data().map(|b| &b[..])).await
    }

    /// Run and require exit code 0.
    async fn run_checked(&self, cmd: &Command) -> Result<Output> {
        self.run(cmd).await?.check(cmd)
    }
}
