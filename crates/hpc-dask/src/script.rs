//! The jobs a cluster submits: the Dask scheduler and the workers, each run
//! by [`LEASE_WRAPPER`], which stops it when the client's heartbeat stops.
//!
//! Jobs are plain argv (`/bin/sh -c <wrapper> <params> <command>...`): the
//! adaptor quotes them with hpc-exec's one quoting function, and nothing of
//! the user's input becomes shell code except the Python environment lines,
//! which are shell code by definition.

use hpc_core::{JobDescription, JobPath};

use crate::config::DaskConfig;

/// The wrapper every job runs: `$1` heartbeat file, `$2` lease seconds, `$3`
/// check interval, `$4` environment lines; the rest is the Dask command.
///
/// It starts the command in the background and looks at the heartbeat's
/// modification time every `$3` seconds. When the time has not changed for
/// `$2` seconds (counted on this node's clock, so clock skew between the
/// client's host and the node does not matter) the client is gone: it
/// stops the command with SIGTERM and ends the job. SIGTERM from the
/// batch system (a cancel) is passed on the same way. A failing command
/// leaves its exit status in the job's stderr.
pub const LEASE_WRAPPER: &str = r#"hb=$1 lease=$2 every=$3 prologue=$4
shift 4
prog=$1
eval "$prologue"
"$@" &
child=$!
stop() { kill -TERM "$child" 2>/dev/null; wait "$child"; exit "$1"; }
trap 'stop 143' TERM INT HUP
last=$(stat -c %Y "$hb" 2>/dev/null)
quiet=0
while kill -0 "$child" 2>/dev/null; do
  sleep "$every" &
  wait $!
  now=$(stat -c %Y "$hb" 2>/dev/null)
  if [ "$now" != "$last" ]; then last=$now; quiet=0; else quiet=$((quiet + every)); fi
  if [ "$quiet" -ge "$lease" ]; then
    echo "hpc-dask: no heartbeat in $hb for ${lease}s: the client is gone, stopping $prog" >&2
    stop 0
  fi
done
wait "$child"
rc=$?
if [ "$rc" -ne 0 ]; then echo "hpc-dask: $prog exited with status $rc" >&2; fi
exit "$rc"
"#;

/// The files of one cluster in its run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    /// The directory itself (absolute, as the jobs see it).
    pub dir: String,
}

impl RunDir {
    /// The scheduler file Dask writes (`address`, `services.dashboard`).
    pub fn scheduler_file(&self) -> String {
        format!("{}/scheduler.json", self.dir)
    }

    /// The heartbeat file the client touches.
    pub fn heartbeat(&self) -> String {
        format!("{}/heartbeat", self.dir)
    }

    /// Standard output and error of the scheduler job, or of worker job `tag`.
    pub fn logs(&self, tag: Option<&str>) -> (String, String) {
        let stem = tag.map_or_else(|| "scheduler".to_owned(), |t| format!("worker-{t}"));
        (format!("{}/{stem}.out", self.dir), format!("{}/{stem}.err", self.dir))
    }
}

/// The scheduler job. `batch`: it goes to the workers' batch system (with
/// their queue, account, walltime and submit options); otherwise it runs
/// beside it (a login node), where those mean nothing.
pub fn scheduler_job(config: &DaskConfig, run: &RunDir, batch: bool) -> JobDescription {
    let mut cmd = config.scheduler_command.clone();
    cmd.extend([
        "--scheduler-file".into(),
        run.scheduler_file(),
        "--port".into(),
        "0".into(),
        "--dashboard-address".into(),
        ":0".into(),
    ]);
    cmd.extend(config.scheduler_args.iter().cloned());
    let mut job = wrapped(config, run, cmd, None);
    job.name = Some(format!("dask-scheduler-{}", config.name));
    if batch {
        job.cores_per_task = Some(1);
    } else {
        job.queue = None;
        job.account = None;
        job.max_runtime = None;
        job.scheduler_arguments.clear();
    }
    job
}

/// The variable and value that make Dask start a worker job's processes by
/// forkserver: they are forked from one process that imported Dask once,
/// where Dask's default (spawn) imports it again in each. Seen: 4 workers in
/// 2 jobs on 2 cores ready in 0.8-1.6 s instead of 1.7-2.5 s. A value in
/// [`DaskConfig::environment`] wins.
pub const WORKER_START_METHOD: (&str, &str) =
    ("DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD", "forkserver");

/// Worker job `tag`: its workers are named `tag` (one process) or
/// `tag-0`, `tag-1`, ... (Dask appends the index for several).
pub fn worker_job(config: &DaskConfig, run: &RunDir, tag: &str) -> JobDescription {
    let mut cmd = config.worker_command.clone();
    cmd.extend([
        "--scheduler-file".into(),
        run.scheduler_file(),
        "--name".into(),
        tag.into(),
        "--nthreads".into(),
        config.threads.to_string(),
    ]);
    if config.processes > 1 {
        cmd.extend(["--nworkers".into(), config.processes.to_string()]);
    }
    if let Some(mb) = config.memory_mb {
        let per_process = (mb / u64::from(config.processes)).max(1);
        cmd.extend(["--memory-limit".into(), format!("{per_process}MiB")]);
    }
    // A worker that never reaches its scheduler gives up on its own.
    cmd.extend(["--death-timeout".into(), config.startup_timeout.as_secs().max(1).to_string()]);
    cmd.extend(config.worker_args.iter().cloned());
    let mut job = wrapped(config, run, cmd, Some(tag));
    let (var, method) = WORKER_START_METHOD;
    job.environment.entry(var.to_owned()).or_insert_with(|| method.to_owned());
    job.name = Some(format!("dask-worker-{}", config.name));
    job.cores_per_task = Some(config.cores_per_job());
    job.memory_mb = config.memory_mb;
    job
}

fn wrapped(
    config: &DaskConfig,
    run: &RunDir,
    cmd: Vec<String>,
    tag: Option<&str>,
) -> JobDescription {
    let (out, err) = run.logs(tag);
    let mut job = JobDescription::new("/bin/sh")
        .args([
            "-c".to_owned(),
            LEASE_WRAPPER.to_owned(),
            "hpc-dask-lease".to_owned(),
            run.heartbeat(),
            config.lease_secs().to_string(),
            config.check_secs().to_string(),
            config.python_env.join("\n"),
        ])
        .args(cmd)
        .working_directory(JobPath::new(run.dir.clone()))
        .stdout(JobPath::new(out))
        .stderr(JobPath::new(err));
    job.queue = config.queue.clone();
    job.account = config.account.clone();
    job.max_runtime = config.walltime;
    job.scheduler_arguments = config.job_options.clone();
    job.environment = config.environment.clone();
    job
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn run() -> RunDir {
        RunDir { dir: "/home/u/.hpckit/dask/c-1".into() }
    }

    #[test]
    fn scheduler_job_writes_its_file_and_picks_free_ports() {
        let config = DaskConfig { queue: Some("batch".into()), ..DaskConfig::new("c") };
        let job = scheduler_job(&config, &run(), true);
        assert!(job.validate().is_ok());
        let beside = scheduler_job(&config, &run(), false);
        assert_eq!((beside.queue, beside.cores_per_task), (None, None));
        assert_eq!(job.executable, "/bin/sh");
        assert_eq!(job.arguments[1], LEASE_WRAPPER);
        assert_eq!(job.arguments[3], "/home/u/.hpckit/dask/c-1/heartbeat");
        assert_eq!(job.arguments[4], "60");
        assert_eq!(job.arguments[5], "12");
        let cmd = &job.arguments[7..];
        assert_eq!(
            cmd.join(" "),
            "dask scheduler --scheduler-file /home/u/.hpckit/dask/c-1/scheduler.json --port 0 --dashboard-address :0"
        );
        assert_eq!(job.queue.as_deref(), Some("batch"));
        assert_eq!(job.stderr.unwrap().as_str(), "/home/u/.hpckit/dask/c-1/scheduler.err");
        assert_eq!(job.working_directory.unwrap().as_str(), "/home/u/.hpckit/dask/c-1");
    }

    #[test]
    fn worker_job_carries_resources_and_options() {
        let config = DaskConfig {
            processes: 2,
            threads: 3,
            memory_mb: Some(4000),
            account: Some("proj".into()),
            walltime: Some(Duration::from_secs(600)),
            job_options: vec!["--constraint=fat".into()],
            python_env: vec!["module load python".into(), ". /opt/v/bin/activate".into()],
            worker_args: vec!["--resources".into(), "GPU=1".into()],
            ..DaskConfig::new("c")
        };
        let job = worker_job(&config, &run(), "w3");
        assert!(job.validate().is_ok());
        assert_eq!(job.arguments[6], "module load python\n. /opt/v/bin/activate");
        let cmd = job.arguments[7..].join(" ");
        assert_eq!(
            cmd,
            "dask worker --scheduler-file /home/u/.hpckit/dask/c-1/scheduler.json --name w3 \
             --nthreads 3 --nworkers 2 --memory-limit 2000MiB --death-timeout 120 --resources GPU=1"
        );
        assert_eq!(job.cores_per_task, Some(6));
        assert_eq!(job.memory_mb, Some(4000));
        assert_eq!(job.account.as_deref(), Some("proj"));
        assert_eq!(job.max_runtime, Some(Duration::from_secs(600)));
        assert_eq!(job.scheduler_arguments, vec!["--constraint=fat"]);
        assert_eq!(job.stdout.unwrap().as_str(), "/home/u/.hpckit/dask/c-1/worker-w3.out");
    }

    #[test]
    fn workers_start_by_forkserver_unless_the_environment_says_otherwise() {
        let (var, _) = WORKER_START_METHOD;
        let job = worker_job(&DaskConfig::new("c"), &run(), "w0");
        assert_eq!(job.environment.get(var).map(String::as_str), Some("forkserver"));
        // The scheduler starts no worker processes.
        let sched = scheduler_job(&DaskConfig::new("c"), &run(), true);
        assert!(!sched.environment.contains_key(var));
        let mut config = DaskConfig::new("c");
        config.environment.insert(var.into(), "spawn".into());
        let job = worker_job(&config, &run(), "w0");
        assert_eq!(job.environment.get(var).map(String::as_str), Some("spawn"));
    }

    /// Run the wrapper here with `cmd`; lease `lease` s, checked every second.
    async fn wrapper(dir: &std::path::Path, lease: u64, cmd: &[&str]) -> hpc_exec::Output {
        use hpc_exec::{Command, Executor, LocalExecutor};
        let hb = dir.join("heartbeat");
        std::fs::write(&hb, b"").unwrap();
        let c = Command::new("/bin/sh")
            .args(["-c", LEASE_WRAPPER, "hpc-dask-lease"])
            .arg(&hb)
            .args([lease.to_string(), "1".into(), "export X=from-env-lines".into()])
            .args(cmd);
        LocalExecutor::new().run(&c).await.unwrap()
    }

    #[tokio::test]
    async fn wrapper_runs_the_env_lines_and_reports_a_failing_command() {
        let tmp = tempfile::tempdir().unwrap();
        let out = wrapper(tmp.path(), 30, &["sh", "-c", "echo $X; exit 7"]).await;
        assert_eq!(out.status.code, Some(7));
        assert_eq!(out.stdout_text().trim(), "from-env-lines");
        assert!(out.stderr_text().contains("hpc-dask: sh exited with status 7"), "{out:?}");
        let out = wrapper(tmp.path(), 30, &["no-such-dask-command"]).await;
        assert_eq!(out.status.code, Some(127));
        assert!(out.stderr_text().contains("not found"), "{out:?}");
    }

    #[tokio::test]
    async fn wrapper_stops_the_command_when_the_heartbeat_stops() {
        let tmp = tempfile::tempdir().unwrap();
        // Nobody touches the heartbeat: after the 4 s lease the wrapper ends
        // the hour-long command and exits 0 with its reason on stderr.
        let out = wrapper(tmp.path(), 4, &["sleep", "3600"]).await;
        assert_eq!(out.status.code, Some(0), "{out:?}");
        assert!(out.stderr_text().contains("the client is gone, stopping sleep"), "{out:?}");
    }

    #[tokio::test]
    async fn wrapper_keeps_running_while_the_heartbeat_moves() {
        let tmp = tempfile::tempdir().unwrap();
        let hb = tmp.path().join("heartbeat");
        let toucher = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(700)).await;
                let f = std::fs::File::options().write(true).open(&hb).unwrap();
                f.set_modified(std::time::SystemTime::now()).unwrap();
            }
        });
        // The command outlives two leases and still ends on its own.
        let out = wrapper(tmp.path(), 4, &["sh", "-c", "sleep 9; echo done"]).await;
        toucher.abort();
        assert_eq!(out.status.code, Some(0), "{out:?}");
        assert_eq!(out.stdout_text().trim(), "done");
        assert!(!out.stderr_text().contains("client is gone"), "{out:?}");
    }
}
