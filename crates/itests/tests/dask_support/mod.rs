//! Shared cases of the `dask_*` integration tests: `hpckit dask up` against a
//! real scheduler, a real `dask.distributed.Client` through its tunnel, and
//! checks on the scheduler that no job is left.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hpc_core::{JobId, Scheduler};
use hpc_exec::{Command, Executor, LocalExecutor, Process};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

#[path = "../support/hpckit.rs"]
mod cli;

/// Where a cluster goes, and how to look at its jobs from the test.
pub struct Target {
    /// `hpckit dask up` location of the workers (and the scheduler job).
    pub url: String,
    /// `--scheduler-on` location, if the Dask scheduler runs elsewhere.
    pub scheduler_on: Option<String>,
    /// Extra global options (credentials).
    pub global: Vec<String>,
    /// Extra `up` options (resources that fit the test cluster).
    pub options: Vec<String>,
    /// The scheduler the workers' jobs are checked on.
    pub sched: Arc<dyn Scheduler>,
    /// The scheduler the Dask scheduler's job is checked on.
    pub dask_sched: Arc<dyn Scheduler>,
    /// How long jobs may take to start on this scheduler.
    pub startup: Duration,
    /// Environment of `hpckit` (a password for `--password-env`).
    pub env: Vec<(String, String)>,
}

/// The dask service: its virtualenv.
pub fn dask_env() -> hpc_testkit::services::ServiceEnv {
    hpc_testkit::services::require("dask")
}

/// A cluster name unique in this test run.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}x{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// A running `hpckit dask up`.
pub struct Up {
    pub process: Process,
    /// The JSON line `up --json` printed when ready.
    pub info: serde_json::Value,
    pub name: String,
    pub state: std::path::PathBuf,
    stderr: tokio::task::JoinHandle<String>,
}

impl Up {
    pub fn address(&self) -> String {
        self.info["address"].as_str().expect("address").to_owned()
    }

    pub fn jobs(&self) -> Vec<JobId> {
        self.info["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .map(|j| JobId::from(j.as_str().expect("job id")))
            .collect()
    }

    /// Wait for `up` to exit; its exit code and stderr.
    pub async fn finish(&mut self) -> (Option<i32>, String) {
        let status = tokio::time::timeout(Duration::from_secs(120), self.process.wait())
            .await
            .expect("hpckit dask up did not exit within 120 s")
            .expect("waiting for hpckit dask up");
        (status.code, (&mut self.stderr).await.unwrap_or_default())
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // A failed test must not leave `up` renewing its lease: SIGTERM makes
        // it cancel its jobs (a finished process ignores it).
        if let Some(pid) = self.process.id().and_then(|p| rustix::process::Pid::from_raw(p as i32))
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

/// `hpckit [global] dask <args>` with the state dir `state`.
pub fn hpckit(target: &Target, state: &std::path::Path, args: &[&str]) -> Command {
    let argv = target.global.iter().map(String::as_str).chain(["dask"]).chain(args.iter().copied());
    let mut cmd = cli::command(argv).env("HPCKIT_DASK_STATE", state.as_os_str());
    for (k, v) in &target.env {
        cmd = cmd.env(k, v);
    }
    cmd
}

/// Start `hpckit dask up --json`; `Err((exit code, stderr))` when it exits
/// before printing its ready line.
pub async fn up(
    target: &Target,
    state: &std::path::Path,
    name: &str,
    extra: &[&str],
) -> Result<Up, (Option<i32>, String)> {
    let venv = dask_env().var("HPCKIT_DASK_VENV").to_owned();
    let startup = format!("{}s", target.startup.as_secs());
    let mut args = vec!["up", &target.url, "--json", "--name", name, "--venv", &venv];
    args.extend(["--startup-timeout", &startup]);
    if let Some(on) = &target.scheduler_on {
        args.extend(["--scheduler-on", on]);
    }
    args.extend(target.options.iter().map(String::as_str));
    args.extend(extra);
    let cmd = hpckit(target, state, &args);
    let mut process = LocalExecutor::new().spawn(&cmd).await.expect("spawn hpckit dask up");
    let mut err = process.stderr.take().expect("stderr");
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(process.stdout.take().expect("stdout")).lines();
    let limit = target.startup * 2 + Duration::from_secs(60);
    let first = tokio::time::timeout(limit, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("hpckit dask up printed nothing within {limit:?}"))
        .expect("reading up's stdout");
    match first {
        Some(line) => {
            let info = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            // Keep draining stdout so up never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok(Up { process, info, name: name.to_owned(), state: state.to_owned(), stderr })
        }
        None => {
            let status = process.wait().await.expect("waiting for up");
            Err((status.code, stderr.await.unwrap_or_default()))
        }
    }
}

/// Connect `dask.distributed.Client` to `address`, compute a sum of squares
/// of 0..n spread over the workers; returns (sum, workers seen, workers that ran tasks).
pub async fn client_sum(address: &str, n: u32) -> (u64, usize, usize) {
    let python = dask_env().var("HPCKIT_DASK_PYTHON").to_owned();
    let script = r#"
import json, sys
from dask.distributed import Client
client = Client(sys.argv[1], timeout=60)
n = int(sys.argv[2])
squares = client.map(lambda x: x * x, range(n), pure=False)
total = client.submit(sum, squares).result()
ran = set()
for f in squares:
    ran.update(client.who_has([f])[f.key])
print(json.dumps({"sum": total, "workers": len(client.scheduler_info()["workers"]), "ran_on": len(ran)}))
client.close()
"#;
    let cmd = Command::new(python).args(["-c", script, address, &n.to_string()]);
    let out = tokio::time::timeout(Duration::from_secs(180), LocalExecutor::new().run(&cmd))
        .await
        .expect("the dask client did not finish within 180 s")
        .expect("running the dask client");
    assert!(out.status.success(), "dask client failed: {}", out.stderr_text());
    let v: serde_json::Value = serde_json::from_str(out.stdout_text().trim())
        .unwrap_or_else(|e| panic!("{e}: {}", out.stdout_text()));
    (
        v["sum"].as_u64().expect("sum"),
        v["workers"].as_u64().expect("workers") as usize,
        v["ran_on"].as_u64().expect("ran_on") as usize,
    )
}

/// Poll until every job is finished or unknown to its scheduler (the first
/// on `dask_sched`, the rest on `sched`), at most `limit`; returns the ones
/// still alive at the end.
pub async fn alive_after(target: &Target, jobs: &[JobId], limit: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (first, rest) = jobs.split_first().expect("at least the scheduler job");
        let mut states =
            target.dask_sched.statuses(std::slice::from_ref(first)).await.expect("status");
        states.extend(target.sched.statuses(rest).await.expect("statuses"));
        let alive: Vec<String> = jobs
            .iter()
            .zip(states)
            .filter_map(|(id, s)| match s {
                Ok(s) if !s.is_done() => Some(format!("{id} {}", s.state)),
                _ => None,
            })
            .collect();
        if alive.is_empty() || tokio::time::Instant::now() >= deadline {
            return alive;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Jobs of cluster `name` the schedulers still list (by job name).
pub async fn listed(target: &Target, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut scheds = vec![&target.sched];
    if !Arc::ptr_eq(&target.sched, &target.dask_sched) {
        scheds.push(&target.dask_sched);
    }
    for sched in scheds {
        for j in sched.list_jobs(&[]).await.expect("list_jobs") {
            let job_name = j.name.clone().unwrap_or_default();
            if job_name.ends_with(&format!("-{name}")) && !j.is_done() {
                found.push(format!("{} {job_name} {}", j.id, j.state));
            }
        }
    }
    found
}

/// [`listed`], polled until empty or `limit` passes (a cancelled job may
/// show as completing for a moment).
pub async fn listed_after(target: &Target, name: &str, limit: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = listed(target, name).await;
        if left.is_empty() || tokio::time::Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The scenario of the issue: up with 2 workers, a sum through the tunnel,
/// status, down; then no job of the cluster is left in any queue.
pub async fn sum_on_two_workers_then_down(target: &Target, up_args: &[&str]) {
    let state = tempfile::tempdir().expect("state dir");
    let name = unique_name("sum");
    let mut up = match up(target, state.path(), &name, up_args).await {
        Ok(up) => up,
        Err((code, stderr)) => panic!("hpckit dask up failed ({code:?}): {stderr}"),
    };
    assert_eq!(up.info["workers"], 2, "{}", up.info);
    let address = up.address();
    assert!(address.starts_with("tcp://127.0.0.1:") || target.scheduler_on.is_none(), "{address}");
    let (sum, workers, ran_on) = client_sum(&address, 40).await;
    assert_eq!(sum, (0..40u64).map(|x| x * x).sum::<u64>());
    assert_eq!(workers, 2);
    assert!((1..=2).contains(&ran_on), "{ran_on}");

    let status = LocalExecutor::new()
        .run(&hpckit(target, state.path(), &["status", "--name", &name, "--json"]))
        .await
        .expect("hpckit dask status");
    assert!(status.status.success(), "{}", status.stderr_text());
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(v["counts"]["workers"], 2, "{v}");
    for job in v["worker_jobs"].as_array().expect("worker_jobs") {
        assert_eq!(job["state"], "running", "{v}");
    }

    let jobs = up.jobs();
    let down = LocalExecutor::new()
        .run(&hpckit(target, state.path(), &["down", "--name", &name]))
        .await
        .expect("hpckit dask down");
    assert!(down.status.success(), "{}", down.stderr_text());
    let (code, stderr) = up.finish().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("every job was cancelled"), "{stderr}");
    let alive = alive_after(target, &jobs, Duration::from_secs(60)).await;
    assert!(alive.is_empty(), "jobs alive after down: {alive:?}");
    assert_eq!(listed_after(target, &name, Duration::from_secs(60)).await, Vec::<String>::new());
    assert!(state.path().read_dir().expect("state dir").next().is_none(), "state files left");
}

/// A worker that cannot start: `up` fails within the startup timeout with
/// the worker's stderr, and cancels everything.
pub async fn failing_worker_gives_its_stderr(target: &Target) {
    let state = tempfile::tempdir().expect("state dir");
    let name = unique_name("bad");
    let result = up(
        target,
        state.path(),
        &name,
        &["--workers", "1", "--worker-command", "/nonexistent/dask-worker --x"],
    )
    .await;
    let Err((code, stderr)) = result else { panic!("up started with a missing worker command") };
    assert_ne!(code, Some(0));
    assert!(stderr.contains("Dask worker w0 (job"), "{stderr}");
    assert!(stderr.contains("/nonexistent/dask-worker"), "{stderr}");
    assert!(stderr.contains("not found") || stderr.contains("No such file"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one error line: {stderr}");
    assert_eq!(listed_after(target, &name, Duration::from_secs(60)).await, Vec::<String>::new());
}

/// `up` killed with SIGKILL: its jobs stop by themselves after the lease.
pub async fn sigkill_leaves_no_job_after_the_lease(target: &Target, up_args: &[&str]) {
    let state = tempfile::tempdir().expect("state dir");
    let name = unique_name("kill");
    let lease = 8u64;
    let lease_arg = lease.to_string();
    let mut args = vec!["--lease", &lease_arg];
    args.extend(up_args);
    let mut up = match up(target, state.path(), &name, &args).await {
        Ok(up) => up,
        Err((code, stderr)) => panic!("hpckit dask up failed ({code:?}): {stderr}"),
    };
    let jobs = up.jobs();
    let alive = alive_after(target, &jobs, Duration::ZERO).await;
    assert_eq!(alive.len(), jobs.len(), "all jobs run before the kill: {alive:?}");
    up.process.signal(9).await.expect("SIGKILL");
    let _ = up.process.wait().await;
    // Generous bound: the lease, the wrapper's check interval, Dask's shutdown
    // and the batch system noticing the end.
    let alive = alive_after(target, &jobs, Duration::from_secs(lease + 90)).await;
    assert!(alive.is_empty(), "jobs alive long after the lease: {alive:?}");
    // The record lets `down` finish the bookkeeping.
    let status = LocalExecutor::new()
        .run(&hpckit(target, state.path(), &["status", "--name", &name]))
        .await
        .expect("hpckit dask status");
    assert!(!status.status.success());
    assert!(status.stderr_text().contains("is gone"), "{}", status.stderr_text());
    let down = LocalExecutor::new()
        .run(&hpckit(target, state.path(), &["down", "--name", &name]))
        .await
        .expect("hpckit dask down");
    assert!(down.status.success(), "{}", down.stderr_text());
}

/// `up` stopped by SIGTERM (or Ctrl-C) cancels every job itself, well within
/// a long lease, and exits with the shell's code for the signal (143).
pub async fn sigterm_of_up_cancels_every_job(target: &Target, up_args: &[&str]) {
    let state = tempfile::tempdir().expect("state dir");
    let name = unique_name("term");
    let mut args = vec!["--lease", "600"];
    args.extend(up_args);
    let mut up = match up(target, state.path(), &name, &args).await {
        Ok(up) => up,
        Err((code, stderr)) => panic!("hpckit dask up failed ({code:?}): {stderr}"),
    };
    let jobs = up.jobs();
    up.process.signal(15).await.expect("SIGTERM");
    let (code, stderr) = up.finish().await;
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("every job was cancelled"), "{stderr}");
    // The lease is 10 minutes: jobs gone within a minute were cancelled by `up`.
    let alive = alive_after(target, &jobs, Duration::from_secs(60)).await;
    assert!(alive.is_empty(), "jobs alive after up's SIGTERM: {alive:?}");
}
