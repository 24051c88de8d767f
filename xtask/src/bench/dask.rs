//! `cargo xtask bench dask [--rounds R] [--workers N]`: a Dask cluster of N
//! workers (default 4) on the `slurm` service, by hpckit and by dask-jobqueue
//! 0.9.0's `SLURMCluster`, alternating, R rounds (default 3).
//!
//! Same resources for both: the Dask scheduler on this host (dask-jobqueue
//! runs it in the client process; hpckit as a background process,
//! `--scheduler-on nohup://`), workers in Slurm jobs of 2 processes x 1 thread
//! booking 1 CPU and 3000 MiB each (the node has 2 CPUs), Python from the
//! `dask` service's virtualenv. Both run here as root with `slurm://`.
//!
//! Times: "ready" is from the start of the tool's process to N workers
//! connected (hpckit: `dask up --json` prints its line; dask-jobqueue: the
//! script prints a line when `Client.wait_for_workers` returns; both read by
//! the bench, so both include their start-up: Rust's, and Python's with its imports);
//! "empty" is from "close" (`hpckit dask down`; `cluster.close()`) until the
//! workers' jobs are gone from `squeue`. Scheduler commands are counted by
//! logging wrappers first on the PATH of each tool only (other users of the
//! machine are not counted); the bench's own `squeue` calls go to the real one.
//!
//! Goals (`bench::goal`): time to N workers at most dask-jobqueue's, and
//! fewer scheduler commands. "client CPU s" is `hpckit dask up` + `down`
//! against the Python process of `SLURMCluster`, which also runs the Dask
//! scheduler (hpckit's runs as a `nohup://` job, not counted).
//!
//! dask-jobqueue runs twice per round: at its defaults, and at its best
//! settings, its workers started by forkserver as hpckit starts them.
//!
//! Seen (5 rounds, 4 workers, 2-core machine): hpckit ready 0.88 s, close to
//! empty 0.25 s, 3 commands (sbatch x2, scancel x1: one `cancel_many`, ADR
//! 0903), 0.04 CPU s; SLURMCluster 1.98 s (1.59 s with forkserver workers),
//! 0.04 s, 4 commands (sbatch x2, scancel x2), 0.37 CPU s. Every goal met.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{RemoveOnDrop, Table, flag};
use crate::cmd;
use crate::services::{self, EnvVars};

const DIR: &str = "/tmp/hpckit-bench-dask";
const WRAPPED: &[&str] = &["sbatch", "squeue", "scancel", "scontrol", "sacct", "sinfo", "srun"];

/// One tool's round.
struct Round {
    ready: Duration,
    empty: Duration,
    commands: Vec<String>,
    jobs: usize,
    /// CPU time of the client: `hpckit dask up` and `down`; the Python
    /// process of `SLURMCluster`, which also runs the Dask scheduler.
    cpu: Duration,
}

/// Entry point.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let rounds: usize = flag(args, "--rounds").map_or(Ok(3), |v| v.parse())?;
    let workers: u32 = flag(args, "--workers").map_or(Ok(4), |v| v.parse())?;
    let wanted = ["slurm".to_owned(), "dask".to_owned()];
    let env = EnvVars::read(&services::up(&wanted, services::Backend::Native)?)?;
    let venv = env.require("HPCKIT_DASK_VENV")?.to_owned();
    cmd::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(cmd::workspace_root())
            // Release, as users run it and as the other benchmarks build it.
            .args(["build", "--release", "--quiet", "-p", "hpckit-cli", "--bin", "hpckit"]),
    )
    .context("building hpckit")?;
    let hpckit = cmd::workspace_root().join("target/release/hpckit");
    let _cleanup = RemoveOnDrop(vec![PathBuf::from(DIR)]);
    let bin = Path::new(DIR).join("bin");
    fs::create_dir_all(&bin)?;
    let log = Path::new(DIR).join("commands.log");
    for name in WRAPPED {
        let path = bin.join(name);
        fs::write(
            &path,
            format!("#!/bin/sh\necho {name} >>{}\nexec /usr/bin/{name} \"$@\"\n", log.display()),
        )?;
        cmd::run(Command::new("chmod").arg("755").arg(&path))?;
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    // dask-jobqueue at its defaults, and at its best: its workers started
    // by forkserver, as hpckit starts them (hpc_dask::script::WORKER_START_METHOD).
    let (var, method) = hpc_dask_start_method();
    let best = [(var, method)];
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    let mut peer_best = Vec::new();
    for round in 0..rounds {
        // Each starts on a machine the others have left (their Python
        // processes gone, not only their jobs), in an order that turns
        // each round, so none always meets another's shutdown.
        for k in 0..3 {
            wait_quiet(&venv)?;
            match (round + k) % 3 {
                0 => {
                    println!("round {}/{rounds}: hpckit", round + 1);
                    ours.push(hpckit_round(&hpckit, &venv, workers, &path, &log)?);
                }
                1 => {
                    println!("round {}/{rounds}: dask-jobqueue", round + 1);
                    peer.push(jobqueue_round(&venv, workers, &path, &log, &[])?);
                }
                _ => {
                    println!("round {}/{rounds}: dask-jobqueue ({var}={method})", round + 1);
                    peer_best.push(jobqueue_round(&venv, workers, &path, &log, &best)?);
                }
            }
        }
    }
    let mut table = Table::new(&[
        "tool",
        "ready s (median)",
        "close->empty s",
        "Slurm jobs",
        "scheduler commands",
        "client CPU s",
    ]);
    let mut summary = Vec::new();
    let best_name = format!("dask-jobqueue SLURMCluster, {method} workers");
    for (tool, runs) in [
        ("hpckit dask", &ours),
        ("dask-jobqueue SLURMCluster", &peer),
        (best_name.as_str(), &peer_best),
    ] {
        let ready = median(runs.iter().map(|r| r.ready).collect());
        let empty = median(runs.iter().map(|r| r.empty).collect());
        let cpu = median(runs.iter().map(|r| r.cpu).collect());
        let last = runs.last().context("no rounds")?;
        // The most any round used: a status poll in one round counts.
        let commands = runs.iter().map(|r| r.commands.len()).max().unwrap_or(0);
        table.row(vec![
            tool.to_owned(),
            format!("{:.2}", ready.as_secs_f64()),
            format!("{:.2}", empty.as_secs_f64()),
            last.jobs.to_string(),
            summarize(&last.commands),
            format!("{:.2}", cpu.as_secs_f64()),
        ]);
        summary.push((ready, commands));
    }
    println!("\n{workers} Dask workers on Slurm (2 CPUs), {rounds} rounds, median:");
    table.print();
    let [(our_ready, our_commands), (peer_ready, peer_commands), (best_ready, _)] = summary[..]
    else {
        bail!("three rows");
    };
    println!();
    for (what, theirs) in [("at its defaults", peer_ready), ("at its best", best_ready)] {
        let times = our_ready.as_secs_f64() / theirs.as_secs_f64().max(f64::EPSILON);
        super::goal(
            &format!("time to {workers} workers, hpckit / dask-jobqueue {what}"),
            "<= 1.0x",
            &format!("{times:.2}x"),
            times <= 1.0,
        );
    }
    super::goal(
        "scheduler commands to start and close (most in any round)",
        &format!("fewer than dask-jobqueue's {peer_commands}"),
        &our_commands.to_string(),
        our_commands < peer_commands,
    );
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// `sbatch x2, scancel x2` from the logged names.
fn summarize(commands: &[String]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in commands {
        match counts.iter_mut().find(|(n, _)| n == c) {
            Some((_, k)) => *k += 1,
            None => counts.push((c.clone(), 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(n, k)| format!("{n} x{k}")).collect();
    format!("{} ({})", commands.len(), parts.join(", "))
}

fn take_log(log: &Path) -> Vec<String> {
    let text = fs::read_to_string(log).unwrap_or_default();
    let _ = fs::remove_file(log);
    text.lines().map(str::to_owned).collect()
}

/// hpckit's worker start method (the variable its worker jobs get).
fn hpc_dask_start_method() -> (&'static str, &'static str) {
    ("DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD", "forkserver")
}

/// Wait until no process runs from `venv` (a Dask scheduler or worker of
/// the last round still exiting), at most 60 s.
fn wait_quiet(venv: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let busy = || {
        fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
            e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                && fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(venv))
        })
    };
    while busy() {
        if Instant::now() > deadline {
            bail!("processes from {venv} still run 60 s after the last round");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Poll the real `squeue` until none of `ids` is listed.
fn wait_empty(ids: &[String]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = cmd::output(Command::new("/usr/bin/squeue").args([
            "-h",
            "-o",
            "%i",
            "-j",
            &ids.join(","),
        ]))
        .unwrap_or_default();
        if out.trim().is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("jobs still queued 120 s after close: {}", out.trim());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn hpckit_round(hpckit: &Path, venv: &str, workers: u32, path: &str, log: &Path) -> Result<Round> {
    let state = Path::new(DIR).join("state");
    let _ = take_log(log);
    let start = Instant::now();
    let mut up = Command::new(hpckit)
        .args(["dask", "up", "slurm://", "--scheduler-on", "nohup://", "--json", "--name", "bench"])
        .args(["--workers", &workers.to_string(), "--processes", "2", "--threads", "1"])
        .args(["--job-cpus", "1", "--memory", "3000", "--venv", venv, "--startup-timeout", "300"])
        .env("PATH", path)
        .env("HPCKIT_DASK_STATE", &state)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting hpckit dask up")?;
    let mut line = String::new();
    BufReader::new(up.stdout.take().context("stdout")?).read_line(&mut line)?;
    let ready = start.elapsed();
    if line.trim().is_empty() {
        let _ = up.wait();
        bail!("hpckit dask up ended before it was ready");
    }
    let info: serde_json::Value = serde_json::from_str(&line).context("up's JSON line")?;
    let ids: Vec<String> = info["jobs"]
        .as_array()
        .context("jobs")?
        .iter()
        .skip(1) // the scheduler's nohup job is not in squeue
        .filter_map(|j| j.as_str().map(str::to_owned))
        .collect();
    let close = Instant::now();
    let down = super::measure(
        Command::new(hpckit)
            .args(["dask", "down", "--name", "bench"])
            .env("PATH", path)
            .env("HPCKIT_DASK_STATE", &state)
            .stdout(Stdio::null()),
    )?;
    wait_empty(&ids)?;
    let empty = close.elapsed();
    let (status, up_cpu) = super::wait_with_cpu(&mut up)?;
    if !status.success() {
        bail!("hpckit dask up ended with {status}");
    }
    let cpu = up_cpu + down.cpu;
    Ok(Round { ready, empty, commands: take_log(log), jobs: ids.len(), cpu })
}

const JOBQUEUE: &str = r#"
import json, sys, time
from dask_jobqueue import SLURMCluster
from dask.distributed import Client
n = int(sys.argv[1])
cluster = SLURMCluster(cores=2, processes=2, job_cpu=1, memory="3000MiB", python=sys.executable,
                       walltime=None, scheduler_options={"dashboard_address": ":0"})
cluster.scale(n)
client = Client(cluster)
client.wait_for_workers(n, timeout=300)
print("ready", flush=True)
ids = [w.job_id for w in cluster.workers.values()]
t1 = time.monotonic()
client.close()
cluster.close()
closed = time.monotonic() - t1
print(json.dumps({"ids": ids, "closed": closed}), flush=True)
"#;

fn jobqueue_round(
    venv: &str,
    workers: u32,
    path: &str,
    log: &Path,
    env: &[(&str, &str)],
) -> Result<Round> {
    let _ = take_log(log);
    let python = format!("{venv}/bin/python");
    let start = Instant::now();
    let mut child = Command::new(&python)
        .args(["-c", JOBQUEUE, &workers.to_string()])
        .envs(env.iter().copied())
        .env("PATH", path)
        .current_dir(DIR)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("running SLURMCluster")?;
    let mut out = BufReader::new(child.stdout.take().context("stdout")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    let ready = start.elapsed();
    let mut stdout = Vec::new();
    std::io::Read::read_to_end(&mut out, &mut stdout)?;
    let (status, cpu) = super::wait_with_cpu(&mut child)?;
    if !status.success() {
        bail!("SLURMCluster run failed ({status})");
    }
    let v: serde_json::Value = serde_json::from_slice(&stdout).context("peer JSON")?;
    let ids: Vec<String> = v["ids"]
        .as_array()
        .context("ids")?
        .iter()
        .filter_map(|j| j.as_str().map(str::to_owned))
        .collect();
    if line.trim() != "ready" {
        bail!("SLURMCluster script: expected its ready line, got {line:?}");
    }
    // The close began inside the script; the queue is checked after it returned.
    let closed = Duration::from_secs_f64(v["closed"].as_f64().context("closed")?);
    let after = Instant::now();
    wait_empty(&ids)?;
    let empty = closed + after.elapsed();
    Ok(Round { ready, empty, commands: take_log(log), jobs: ids.len(), cpu })
}
