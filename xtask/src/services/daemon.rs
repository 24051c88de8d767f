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
    let Ok(cmdline) = fs::read(format!("/proc/{}/cmdline", pid.as_raw_nonzero())) else {
        return false;
    };
    let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let is_zombie = fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()))
        .map(|s| s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
        .unwrap_or(true);
    !is_zombie && text.contains(&*state_dir.to_string_lossy())
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
