//! Running external programs with readable errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

/// The workspace root: the parent of xtask's manifest dir, which `cargo run` sets at run
/// time. Read at run time, not compile time: git worktrees sharing one target dir may run
/// an xtask binary that was compiled in another worktree.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    manifest_dir.parent().map(Path::to_path_buf).unwrap_or(manifest_dir)
}

/// Whether [`cargo`] builds without incremental state (see [`build_lean`]).
static LEAN: AtomicBool = AtomicBool::new(false);

/// From now on, every cargo of this process builds without incremental state
/// (unless `CARGO_INCREMENTAL` says otherwise): `cargo xtask test` builds the
/// workspace once per profile and feature set, where incremental state only
/// costs time and, in a cold run, more than a third of the target directory.
pub(crate) fn build_lean() {
    LEAN.store(true, Ordering::Relaxed);
}

/// `cargo` (the one running xtask), in the workspace root.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    if LEAN.load(Ordering::Relaxed) && std::env::var_os("CARGO_INCREMENTAL").is_none() {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR` and cargo's config,
/// so a stale `target/` in the checkout is never picked up).
pub(crate) fn target_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let json = output(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let dir = json
        .split("\"target_directory\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("cargo metadata names no target_directory")?;
    Ok(PathBuf::from(dir))
}

/// `program arg...` as one line for messages (not for a shell).
pub(crate) fn display(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs `cmd` with inherited stdio; fails on a non-zero exit.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot start `{}`", display(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", display(cmd));
    }
    Ok(())
}

/// Runs `cmd` like [`run`], its standard error passed through line by line; a
/// failure also carries the last `keep` lines of it, so a summary printed long
/// after (CI shows the head and tail of a log) still says why.
pub(crate) fn run_telling_why(cmd: &mut Command, keep: usize) -> Result<()> {
    use std::collections::VecDeque;
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    let mut tail: VecDeque<String> = VecDeque::with_capacity(keep + 1);
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).split(b'\n') {
            let line = String::from_utf8_lossy(&line?).into_owned();
            eprintln!("{line}");
            tail.push_back(line);
            if tail.len() > keep {
                tail.pop_front();
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("`{}` failed ({status}):\n{}", display(cmd), Vec::from(tail).join("\n"));
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its stdout; on failure the error carries stderr.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            display(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_carries_the_last_lines_of_standard_error() {
        let script = "for w in one two three; do echo line-$w >&2; done; exit 3";
        let err = run_telling_why(Command::new("sh").args(["-c", script]), 2).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("line-two\nline-three"), "{text}");
        assert!(!text.contains("line-one"), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");
        run_telling_why(Command::new("sh").args(["-c", "echo fine >&2"]), 2).unwrap();
    }
}
