//! `cargo xtask bench ssh [--count N] [--rounds R]`: N sequential `true`
//! commands over one hpckit SSH connection vs. the same over OpenSSH with a
//! warm `ControlMaster` (`ControlPersist`), against the same test sshd in the
//! same run. Each side runs R rounds; the table shows the median round.
//!
//! The hpckit side is `crates/hpc-exec/examples/ssh_bench.rs`, built with
//! `--release` before anything is timed; its connection setup is not timed,
//! just as the OpenSSH master is started (and used once) before timing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Table, ratio};
use crate::cmd;
use crate::services::{self, EnvVars};

struct Target {
    host: String,
    port: String,
    user: String,
    key: String,
    known_hosts: String,
}

fn flag(args: &[String], name: &str, default: usize) -> Result<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .with_context(|| format!("{name} needs a positive number")),
        None => Ok(default),
    }
}

/// Runs the benchmark and prints its table.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let count = flag(args, "--count", 200)?;
    let rounds = flag(args, "--rounds", 3)?;
    let env = EnvVars::read(&services::up(&["sshd".to_string()], services::Backend::Native)?)?;
    let t = Target {
        host: env.require("HPCKIT_SSH_HOST")?.to_string(),
        port: env.require("HPCKIT_SSH_PORT")?.to_string(),
        user: env.require("HPCKIT_SSH_USER")?.to_string(),
        key: env.require("HPCKIT_SSH_KEY")?.to_string(),
        known_hosts: env.require("HPCKIT_SSH_KNOWN_HOSTS")?.to_string(),
    };

    println!("building the hpckit side (release)...");
    let example = build_example()?;

    println!(
        "{count} sequential `true` over one connection, {rounds} rounds each, against {}:{}",
        t.host, t.port
    );
    let hpckit = hpckit_rounds(&example, &t, count, rounds)?;
    let openssh = openssh_rounds(&t, count, rounds)?;
    let (h, o) = (median(&hpckit), median(&openssh));

    let mut table = Table::new(&["client", "total (median)", "per command", "rounds"]);
    for (name, m, all) in [("hpckit (russh)", h, &hpckit), ("OpenSSH ControlMaster", o, &openssh)] {
        let list: Vec<String> = all.iter().map(|d| format!("{:.3}", d.as_secs_f64())).collect();
        table.row(vec![
            name.to_string(),
            format!("{:.3} s", m.as_secs_f64()),
            format!("{:.2} ms", m.as_secs_f64() * 1000.0 / count as f64),
            list.join(" "),
        ]);
    }
    table.print();
    super::goal("wall time hpckit / OpenSSH", "<= 1.00x", &ratio(h, o), h <= o);
    Ok(())
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

/// Builds the example and returns its path (run directly, so that timing
/// never waits for cargo's lock on a shared target dir).
fn build_example() -> Result<String> {
    let out = cmd::output(Command::new("cargo").current_dir(cmd::workspace_root()).args([
        "build",
        "--release",
        "-p",
        "hpc-exec",
        "--example",
        "ssh_bench",
        "--message-format=json",
    ]))?;
    out.lines()
        .filter(|l| l.contains("\"target\":{") && l.contains("\"name\":\"ssh_bench\""))
        .find_map(|l| {
            let rest = &l[l.find("\"executable\":\"")? + "\"executable\":\"".len()..];
            Some(rest[..rest.find('"')?].to_string())
        })
        .context("cargo did not report the ssh_bench executable")
}

fn hpckit_rounds(example: &str, t: &Target, count: usize, rounds: usize) -> Result<Vec<Duration>> {
    let out = cmd::output(
        Command::new(example)
            .args(["--host", &t.host, "--port", &t.port, "--user", &t.user])
            .args(["--key", &t.key, "--known-hosts", &t.known_hosts])
            .args(["--count", &count.to_string(), "--rounds", &rounds.to_string()]),
    )?;
    let times: Vec<Duration> = out
        .lines()
        .filter_map(|l| l.strip_prefix("round "))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .collect();
    if times.len() != rounds {
        bail!("unexpected output from the ssh_bench example: {out}");
    }
    Ok(times)
}

/// `ssh` with the options both the master and its clients use.
fn ssh(t: &Target, control: &Path) -> Command {
    let mut c = Command::new("ssh");
    c.args(["-F", "/dev/null", "-p", &t.port, "-i", &t.key])
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", t.known_hosts))
        .arg("-o")
        .arg(format!("ControlPath={}", control.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

fn openssh_rounds(t: &Target, count: usize, rounds: usize) -> Result<Vec<Duration>> {
    let dir = std::env::temp_dir().join(format!("hpckit-bench-ssh-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let control = dir.join("cm");
    let dest = format!("{}@{}", t.user, t.host);
    // The master: started by the first command, kept by ControlPersist.
    cmd::run(
        ssh(t, &control)
            .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=120"])
            .arg(&dest)
            .arg("true"),
    )?;
    let result = (|| {
        // Warm: one multiplexed command before timing.
        cmd::run(ssh(t, &control).args(["-o", "ControlMaster=no"]).arg(&dest).arg("true"))?;
        let mut times = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            for _ in 0..count {
                cmd::run(ssh(t, &control).args(["-o", "ControlMaster=no"]).arg(&dest).arg("true"))?;
            }
            times.push(started.elapsed());
        }
        Ok(times)
    })();
    let _ = ssh(t, &control).args(["-O", "exit"]).arg(&dest).stderr(Stdio::null()).status();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
