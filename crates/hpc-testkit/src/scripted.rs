//! An [`Executor`] that runs nothing: every command gets the answer a
//! closure gives for it. Adaptors then meet a refused login, a broken
//! connection, a failing command or odd output without a host, so a test
//! can follow such an error through an adaptor's real code.

use std::fmt;

use async_trait::async_trait;
use hpc_core::{Error, Result};
use hpc_exec::{Command, Executor, ExitStatus, Output, Process};

type Answer = dyn Fn(&Command) -> Result<Output> + Send + Sync;

/// Answers each command with what `answer` returns for it.
///
/// [`Executor::run`] (and so `run_checked`) returns the answer;
/// [`Executor::spawn`] returns an error answer as it is, and cannot start a
/// process for an output answer ([`Error::Unsupported`]).
pub struct ScriptedExecutor {
    answer: Box<Answer>,
}

impl ScriptedExecutor {
    /// Answer every command with `answer(command)`.
    pub fn new(answer: impl Fn(&Command) -> Result<Output> + Send + Sync + 'static) -> Self {
        ScriptedExecutor { answer: Box::new(answer) }
    }

    /// A fake set of commands (a scheduler's `sinfo`, `squeue`, `sbatch`, ...):
    /// each program named in `table` prints its text and exits 0, wherever
    /// it is called from; any other program is "command not found" (127).
    pub fn programs<P: Into<String>, T: Into<String>>(
        table: impl IntoIterator<Item = (P, T)>,
    ) -> Self {
        let table: Vec<(String, String)> =
            table.into_iter().map(|(p, t)| (p.into(), t.into())).collect();
        Self::new(move |cmd| {
            let name = program_name(cmd);
            Ok(match table.iter().find(|(p, _)| *p == name) {
                Some((_, text)) => output(0, text, ""),
                None => output(127, "", &format!("sh: {name}: command not found\n")),
            })
        })
    }

    /// Fail every command with `error` (a transport failure, say).
    pub fn failing(error: Error) -> Self {
        Self::new(move |_| Err(error.clone()))
    }
}

impl fmt::Debug for ScriptedExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedExecutor").finish_non_exhaustive()
    }
}

/// What a command that exited with `code` printed.
pub fn output(code: i32, stdout: &str, stderr: &str) -> Output {
    Output {
        status: ExitStatus { code: Some(code), signal: None },
        stdout: stdout.as_bytes().to_vec(),
        stderr: stderr.as_bytes().to_vec(),
    }
}

/// The program a command runs, without its directory (`/opt/bin/squeue` is `squeue`).
pub fn program_name(cmd: &Command) -> String {
    let program = String::from_utf8_lossy(cmd.program());
    program.rsplit('/').next().unwrap_or_default().to_owned()
}

#[async_trait]
impl Executor for ScriptedExecutor {
    fn target(&self) -> &str {
        "scripted"
    }

    fn is_local(&self) -> bool {
        false
    }

    async fn spawn(&self, cmd: &Command) -> Result<Process> {
        (self.answer)(cmd)?;
        Err(Error::unsupported("scripted executor", "starting a process"))
    }

    async fn run(&self, cmd: &Command) -> Result<Output> {
        (self.answer)(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_by_program_and_fails_as_told() {
        let exec = ScriptedExecutor::new(|cmd| match program_name(cmd).as_str() {
            "squeue" => Ok(output(1, "", "no such job")),
            other => Err(Error::InvalidInput(other.to_owned())),
        });
        let out = exec.run(&Command::new("/opt/slurm/bin/squeue")).await.unwrap();
        assert_eq!((out.status.code, out.stderr_text().as_ref()), (Some(1), "no such job"));
        let e = exec.run_checked(&Command::new("squeue")).await.unwrap_err();
        assert!(matches!(e, Error::CommandFailed { exit_code: Some(1), .. }), "{e:?}");
        let e = exec.spawn(&Command::new("sbatch")).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput(ref p) if p == "sbatch"), "{e:?}");
        let failing = ScriptedExecutor::failing(Error::job_not_found("7"));
        assert!(failing.run(&Command::new("true")).await.unwrap_err().is_not_found());
    }
}
