//! One container per daemon, started with testcontainers.
//!
//! A container runs one command of a service's `start` (what the native backend spawns
//! as a process) in the service's image, with the host's network and pid namespace and
//! the instance's state dir, the temp dir and the service's shared dirs mounted at the
//! same paths. A shell wrapper writes the daemon's host pid into `<label>.pid` and
//! its output into `<label>.out`, as the native backend does, so the health checks and
//! `services down` keep working on pids; `<label>.container` holds the container id.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use testcontainers::core::Mount;
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

use crate::cmd;

/// Label on every container: the workspace that started it.
const WORKTREE_LABEL: &str = "org.hpckit.worktree";

/// Starts `command` in a container of `image` as daemon `label` of the service whose
/// state is in `state_dir`; returns the daemon's (host) pid.
pub(crate) fn spawn(
    image: &str,
    service: &str,
    state_dir: &Path,
    shares: &[&Path],
    label: &str,
    command: &Command,
) -> Result<u32> {
    let pid_file = state_dir.join(format!("{label}.pid"));
    let out_file = state_dir.join(format!("{label}.out"));
    let _ = fs::remove_file(&pid_file);
    // `$$` of this shell is the daemon's pid after `exec`: the host's pid, since the
    // container shares the host's pid namespace.
    let mut argv: Vec<String> = vec![
        "/bin/sh".into(),
        "-c".into(),
        r#"echo $$ >"$HPCKIT_PID_FILE.tmp" && mv "$HPCKIT_PID_FILE.tmp" "$HPCKIT_PID_FILE" && exec "$@" >"$HPCKIT_OUT_FILE" 2>&1"#.into(),
        "hpckit-daemon".into(),
        command.get_program().to_string_lossy().into_owned(),
    ];
    argv.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));

    let name = container_name(state_dir, label);
    remove_by_name(&name)?;
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let mut request = GenericImage::new(repo, tag)
        .with_cmd(argv)
        .with_container_name(&name)
        // No bridge on our machines, and services bind 127.0.0.1 on ports picked here.
        .with_network("host")
        .with_label(WORKTREE_LABEL, cmd::workspace_root().to_string_lossy())
        .with_label("org.hpckit.service", service)
        .with_env_var("HPCKIT_PID_FILE", pid_file.to_string_lossy())
        .with_env_var("HPCKIT_OUT_FILE", out_file.to_string_lossy())
        .with_host_config_modifier(|host| {
            // The host's pids: the native health checks and `stop` work unchanged.
            host.pid_mode = Some("host".into());
            // An init reaps what daemons leave behind (Slurm's job steps).
            host.init = Some(true);
        });
    let mut mounted: Vec<&Path> = vec![state_dir];
    let temp = std::env::temp_dir();
    mounted.push(&temp);
    mounted.extend(shares);
    for dir in mounted {
        let dir = dir.to_string_lossy();
        request = request.with_mount(Mount::bind_mount(dir.clone(), dir));
    }
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            request = request.with_env_var(key.to_string_lossy(), value.to_string_lossy());
        }
    }
    if let Some(dir) = command.get_current_dir() {
        request = request.with_working_dir(dir.to_string_lossy());
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    let container = runtime
        .block_on(request.start())
        .with_context(|| format!("cannot start a container of {image} for {label}"))?;
    let id = container.id().to_owned();
    // The container outlives xtask on purpose (`services down` removes it): its
    // handle must not remove it on drop.
    std::mem::forget(container);
    fs::write(state_dir.join(format!("{label}.container")), format!("{id}\n"))?;

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(pid) = fs::read_to_string(&pid_file)
            && let Ok(pid) = pid.trim().parse::<u32>()
        {
            return Ok(pid);
        }
        if Instant::now() > deadline || !is_running(&id) {
            bail!(
                "the container {name} of {image} exited at once (docker logs {name}); see {}",
                out_file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `hpckit-<worktree id>-<service dir name>-<label>`: one name per daemon and worktree.
fn container_name(state_dir: &Path, label: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in state_dir.to_string_lossy().bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    let service =
        state_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("hpckit-{:06x}-{service}-{label}", hash & 0xff_ffff)
}

fn is_running(id: &str) -> bool {
    Command::new("docker")
        .args(["inspect", "--format", "{{.State.Running}}", id])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
}

fn remove_by_name(name: &str) -> Result<()> {
    let out = Command::new("docker")
        .args(["rm", "--force", name])
        .stdin(Stdio::null())
        .output()
        .context("cannot run `docker rm`")?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && !err.contains("No such container") {
        bail!("`docker rm --force {name}` failed: {}", err.trim());
    }
    Ok(())
}

/// The files that record the containers of `state_dir` (`*.container`, each
/// holding a container id).
fn recorded(state_dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = fs::read_dir(state_dir) else { return Vec::new() };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "container"))
        .collect()
}

/// How the containers recorded in `state_dir` stand (state, exit code, the
/// engine's error, OOM kill), for a message about a daemon that died without
/// a word: its output file is empty then, and the container has the reason.
pub(crate) fn describe_containers(state_dir: &Path) -> String {
    let format = "{{.Name}}: {{.State.Status}}, exit {{.State.ExitCode}}, OOM killed {{.State.OOMKilled}} {{.State.Error}}";
    let mut found = Vec::new();
    for path in recorded(state_dir) {
        let Ok(id) = fs::read_to_string(&path) else { continue };
        let state = Command::new("docker")
            .args(["inspect", "--format", format, id.trim()])
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        found.push(if state.is_empty() { format!("{}: gone", id.trim()) } else { state });
    }
    found.join("; ")
}

/// Removes the containers recorded in `state_dir` (`*.container`).
pub(crate) fn remove_containers(state_dir: &Path) -> Result<()> {
    for path in recorded(state_dir) {
        let id = fs::read_to_string(&path)?;
        remove_by_name(id.trim())?;
        fs::remove_file(&path)?;
    }
    Ok(())
}

/// Removes every container this worktree started, recorded or not (a run that died
/// between starting a container and recording it).
pub(crate) fn remove_worktree_containers() -> Result<()> {
    let filter = format!("label={WORKTREE_LABEL}={}", cmd::workspace_root().to_string_lossy());
    let ids = cmd::output(Command::new("docker").args(["ps", "-aq", "--filter", &filter]))?;
    for id in ids.split_whitespace() {
        remove_by_name(id)?;
    }
    Ok(())
}
