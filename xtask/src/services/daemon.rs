//! Long-running service processes: spawn detached, record the pid, stop safely.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustix::process::{Pid, Signal, kill_process};

use crate::cmd;

pub(crate) fn spawn(state_dir: &Path, label: &str, command: &mut Command) -> Result<u32> {
    let out = fs::File::create(state_dir.join(format!("{label}.out")))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        // Own process group: a Ctrl-C in the terminal that ran `services up` must not
        // reach the daemons, which outlive xtask on purpose.
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start `{}`", cmd::display(command)))?;
    let pid = child.id();
    fs::write(state_dir.join(format!("{label}.pid")), format!("{pid}\n"))?;
    // Until the child has exec'd, /proc shows xtask's own command line and `is_ours`
    // would call the daemon dead; wait for the exec (or an early exit).
    let deadline = Instant::now() + Duration::from_secs(5);
    if let Some(raw) = Pid::from_raw(pid as i32) {
        while !is_ours(raw, state_dir) && Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                bail!(
                    "`{}` exited at once; see {}",
                    cmd::display(command),
                    state_dir.join(format!("{label}.out")).display()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(pid)
}

/// Pids recorded in `<state_dir>/*.pid` that still belong to our daemons.
fn recorded(state_dir: &Path) -> Vec<(std::path::PathBuf, Option<Pid>)> {
    let Ok(entries) = fs::read_dir(state_dir) else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "pid") {
            let pid = fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .and_then(Pid::from_raw)
                .filter(|pid| is_ours(*pid, state_dir));
            found.push((path, pid));
        }
    }
    found
}

/// A pid is ours while its command line still names our state dir (pids get recycled).
fn is_ours(pid: Pid, state_dir: &Path) -> bool {
    // In the middle of an `execve` (the kernel loading the new program and its
    // interpreter, milliseconds on a cold cache) a live process shows an empty
    // command line: that is a daemon about to show its new one, not a dead one.
    let deadline = Instant::now() + EXEC_WINDOW;
    loop {
        let Some(cmdline) = command_line(pid) else { return false };
        if is_zombie(pid) {
            return false;
        }
        if !cmdline.is_empty() {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            return text.contains(&*state_dir.to_string_lossy());
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How long a process may show an empty command line before it counts as not ours
/// (a kernel thread that got a recycled pid, a process on its way out).
const EXEC_WINDOW: Duration = Duration::from_millis(500);

/// `/proc/<pid>/cmdline` (NUL-separated) in one `read`, `None` once the process is
/// gone: `fs::read` takes a small first bite and then more, and a process that
/// `exec`s between the bites yields the start of its old command line glued to the
/// end of its new one.
pub(crate) fn command_line(pid: Pid) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0u8; 64 << 10];
    let path = format!("/proc/{}/cmdline", pid.as_raw_nonzero());
    let n = fs::File::open(path).ok()?.read(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn is_zombie(pid: Pid) -> bool {
    fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()))
        .map(|s| s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

pub(crate) fn all_alive(state_dir: &Path) -> bool {
    let daemons = recorded(state_dir);
    !daemons.is_empty() && daemons.iter().all(|(_, pid)| pid.is_some())
}

pub(crate) fn stop_all(state_dir: &Path) -> Result<()> {
    let daemons = recorded(state_dir);
    for (_, pid) in &daemons {
        if let Some(pid) = pid {
            let _ = kill_process(*pid, Signal::TERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stubborn = Vec::new();
    for (path, pid) in daemons {
        if let Some(pid) = pid {
            while is_ours(pid, state_dir) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if is_ours(pid, state_dir) {
                let _ = kill_process(pid, Signal::KILL);
                std::thread::sleep(Duration::from_millis(100));
                if is_ours(pid, state_dir) {
                    stubborn.push(pid.as_raw_nonzero().to_string());
                }
            }
        }
        let _ = fs::remove_file(path);
    }
    if !stubborn.is_empty() {
        bail!("processes {} survived SIGKILL", stubborn.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A daemon whose wrapper shell `exec`s it passes through a moment with an
    /// empty command line; polled through that moment, it stays ours.
    #[test]
    fn a_daemon_in_the_middle_of_exec_is_still_ours() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().to_string_lossy().into_owned();
        for _ in 0..20 {
            let mut child = Command::new("/bin/sh")
                .args(["-c", r#"exec /bin/sh -c 'sleep 0.2; :' daemon "$0""#, &marker])
                .spawn()
                .unwrap();
            let pid = Pid::from_raw(child.id() as i32).unwrap();
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(100) {
                assert!(is_ours(pid, dir.path()), "lost the daemon {pid:?} while it exec'd");
            }
            child.kill().unwrap();
            child.wait().unwrap();
            assert!(!is_ours(pid, dir.path()), "a reaped pid is nobody's");
        }
    }

    #[test]
    fn a_process_of_another_state_dir_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!is_ours(pid, dir.path()));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
