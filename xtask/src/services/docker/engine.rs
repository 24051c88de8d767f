//! A Docker engine to talk to: the one running, or `dockerd` started here.
//!
//! Started without touching the host network (no iptables rules, no bridge), as
//! `SERVICES.md` verified; its pid and log live in the machine dir, so `services down`
//! can stop the engine it started once no container is left.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::services::MACHINE_DIR;
use crate::system;

fn pid_file() -> PathBuf {
    PathBuf::from(MACHINE_DIR).join("dockerd.pid")
}

/// The engine's version when one answers.
fn server_version() -> Option<String> {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !version.is_empty()).then_some(version)
}

/// Makes sure an engine answers: the running one, or a `dockerd` started here (root).
pub(crate) fn ensure_engine() -> Result<()> {
    if let Some(version) = server_version() {
        println!("docker engine {version}");
        return Ok(());
    }
    if !system::is_root() {
        bail!(
            "no Docker engine answers (`docker info` failed); start one, or run as root so xtask starts dockerd"
        );
    }
    if !std::path::Path::new("/usr/sbin/dockerd").exists() {
        system::apt_install(&system::missing_debian_packages(&engine_packages()?))?;
        // Where systemd runs, installing docker.io has started its engine already.
        if let Some(version) = server_version() {
            println!("docker engine {version} (started by the package)");
            return Ok(());
        }
    }
    fs::create_dir_all(MACHINE_DIR)?;
    let log = PathBuf::from(MACHINE_DIR).join("dockerd.log");
    let out = fs::File::create(&log)?;
    println!("starting dockerd (log: {})", log.display());
    let mut child = Command::new("/usr/sbin/dockerd")
        // No iptables rules, no bridge, no forwarding: the host network stays as it is;
        // containers use the host network.
        .args([
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--ip-forward=false",
            "--ip-masq=false",
            "--storage-driver=overlay2",
        ])
        .arg(format!("--pidfile={}", pid_file().display()))
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("cannot start /usr/sbin/dockerd")?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Some(version) = server_version() {
            println!(
                "docker engine {version} up in {:.1} s (pid {})",
                started.elapsed().as_secs_f64(),
                child.id()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Not left behind: a later run would find its pid file and a half-started engine.
    let _ = child.kill();
    let _ = child.wait();
    bail!("dockerd did not answer within 30 s; see {}", log.display())
}

/// Stops the `dockerd` this xtask started, once it runs no container at all.
pub(crate) fn stop_engine_if_idle() -> Result<()> {
    let Ok(text) = fs::read_to_string(pid_file()) else { return Ok(()) };
    let Some(pid) = text.trim().parse::<i32>().ok().and_then(rustix::process::Pid::from_raw) else {
        return Ok(());
    };
    let cmdline = crate::services::daemon::command_line(pid).unwrap_or_default();
    if !String::from_utf8_lossy(&cmdline).contains("dockerd") {
        let _ = fs::remove_file(pid_file());
        return Ok(());
    }
    let running = crate::cmd::output(Command::new("docker").args(["ps", "-aq"]))?;
    if !running.trim().is_empty() {
        println!("dockerd keeps running: other containers exist");
        return Ok(());
    }
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::path::Path::new(&format!("/proc/{}", pid.as_raw_nonzero())).exists()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("dockerd stopped");
    Ok(())
}

/// `docker/engine/packages`: installed on demand, never by `doctor`.
pub(crate) fn engine_packages() -> Result<Vec<String>> {
    let file = crate::cmd::workspace_root().join("docker/engine/packages");
    let text =
        fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(crate::doctor::parse_list(&text))
}
