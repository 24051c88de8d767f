//! `cargo xtask bench slurm [--count N] [--skip pyxenon,psij]`: N `/bin/true`
//! jobs submitted and waited for, on the `slurm` service (no accounting,
//! `batch_sched_delay=0`), by each tool in turn:
//!
//! - raw shell loop on the host, as the test user: `sbatch --parsable` per job,
//!   one `squeue` for all jobs every 0.5 s (Slurm's own floor);
//! - hpckit over SSH to localhost (`sched-adaptors` example `slurm_bench`);
//! - PyXenon 3.0.3 with its slurm adaptor over `ssh://127.0.0.1:<port>`
//!   (password login; protobuf 3.20.3; the `scontrol` output shim of
//!   `shared/reference/PEERS.md`);
//! - PSI/J (`psij-python`) on the host as the test user, with its default
//!   polling (30 s) and with 1 s polling.
//!
//! Scheduler commands are counted by logging wrappers placed in
//! `/usr/local/bin` for the duration of the run (first on every PATH, also
//! over SSH), and as slurmctld RPCs of the test user from `sdiag`. The
//! detection lag is the time from the last job's completion in
//! `slurmctld.log` (millisecond stamps) to the moment the tool reported all done.
//! Peers run in a virtualenv the xtask creates (`/var/lib/hpckit/bench-venv`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Table, measure_within};
use crate::cmd;
use crate::services::{self, EnvVars};

const DIR: &str = "/tmp/hpckit-bench-slurm";
const VENV: &str = "/var/lib/hpckit/bench-venv";
const WRAPPED: &[&str] = &["sbatch", "squeue", "scontrol", "sacct", "scancel", "sinfo", "srun"];
const MARK: &str = "# hpckit bench wrapper";

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// What one tool reported.
struct Outcome {
    tool: String,
    wall: Duration,
    cpu: Duration,
    submit: Option<f64>,
    lag: Option<f64>,
    commands: usize,
    rpcs: Option<u64>,
    note: String,
}

/// Removes the wrappers again, whatever happens.
pub(super) struct Wrappers;

impl Drop for Wrappers {
    fn drop(&mut self) {
        for name in WRAPPED {
            let path = Path::new("/usr/local/bin").join(name);
            if fs::read_to_string(&path).is_ok_and(|t| t.contains(MARK)) {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Puts the logging wrappers in place. Each wrapper logs and filters only
/// while this process lives and the log can be written: a run that is killed
/// (SIGTERM skips `Drop`) leaves plain pass-throughs behind, never commands
/// that fail or hide lines from everyone else (a filtering `scontrol` once
/// broke Slurm's health checks for the whole machine), and the next run
/// replaces them.
pub(super) fn install_wrappers(log: &Path) -> Result<Wrappers> {
    for name in WRAPPED {
        let path = Path::new("/usr/local/bin").join(name);
        if path.exists() && !fs::read_to_string(&path).unwrap_or_default().contains(MARK) {
            bail!("{} exists and is not ours; remove it first", path.display());
        }
        let real = Path::new("/usr/bin").join(name);
        fs::write(&path, wrapper(name, &real, log, std::process::id()))?;
        cmd::run(Command::new("chmod").arg("755").arg(&path))?;
    }
    Ok(Wrappers)
}

/// The wrapper script of command `name` (the program `real`), logging to
/// `log` while process `owner` lives.
fn wrapper(name: &str, real: &Path, log: &Path, owner: u32) -> String {
    let live = format!("[ -d /proc/{owner} ] && [ -w {log} ]", log = log.display());
    if name == "scontrol" {
        // PyXenon's parser chokes on 22.05's status and blank lines of
        // `scontrol show` (PEERS.md); `scontrol ping` and the rest pass as they are.
        format!(
            "#!/bin/bash\n{MARK} (pid {owner})\n\
             if {live}; then\n  echo {name} >>{log}\n  if [ \"$1\" = show ]; then\n    \
             {real} \"$@\" | grep -v -e '^Slurmctld(' -e '^Configuration data as of' -e '^[[:space:]]*$'\n    \
             exit ${{PIPESTATUS[0]}}\n  fi\nfi\nexec {real} \"$@\"\n",
            log = log.display(),
            real = real.display()
        )
    } else {
        format!(
            "#!/bin/sh\n{MARK} (pid {owner})\nif {live}; then echo {name} >>{log}; fi\nexec {real} \"$@\"\n",
            log = log.display(),
            real = real.display()
        )
    }
}

/// The Python the peers' venv is built from: Debian's, because PSI/J runs as
/// the test user, who cannot read a Python under root's home (pyenv).
const BASE_PYTHON: &str = "/usr/bin/python3";

pub(super) fn ensure_venv() -> Result<PathBuf> {
    crate::system::apt_install(&crate::system::missing_debian_packages(&[
        "python3-venv".to_owned()
    ]))?;
    let py = Path::new(VENV).join("bin/python");
    let base_ok = std::fs::canonicalize(&py).is_ok_and(|p| !p.starts_with("/root"));
    if py.exists() && !base_ok {
        println!("rebuilding {VENV}: its Python lives under /root, unreadable by the test user");
        std::fs::remove_dir_all(VENV)?;
    }
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", "import google.protobuf, xenon, psij"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        println!("installing peers into {VENV} (pyxenon 3.0.3, protobuf 3.20.3, psij-python)...");
        cmd::run(Command::new(BASE_PYTHON).args(["-m", "venv", VENV]))?;
        let pip = Path::new(VENV).join("bin/pip");
        // pyxenon's setup.py needs pkg_resources; its grpcio-tools pin has no
        // wheel for current Pythons and fails to build, and is only needed to
        // regenerate the gRPC stubs it ships: install it without that dependency.
        cmd::run(Command::new(&pip).args(["install", "-q", "setuptools<70", "wheel"]))?;
        cmd::run(Command::new(&pip).args([
            "install",
            "-q",
            "--no-build-isolation",
            "--no-deps",
            "pyxenon==3.0.3",
        ]))?;
        cmd::run(Command::new(&pip).args([
            "install",
            "-q",
            "grpcio",
            "protobuf==3.20.3",
            "pyxdg",
            "pyopenssl",
            "psij-python",
        ]))?;
    }
    // The PSI/J runs use it as the test user.
    cmd::run(Command::new("chmod").args(["-R", "a+rX", VENV]))?;
    cmd::run(Command::new("chmod").args(["a+rx", "/var/lib/hpckit"]))?;
    Ok(py)
}

/// Seconds since the epoch of a `[YYYY-MM-DDTHH:MM:SS.mmm]` slurmctld stamp (UTC).
fn stamp(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.len() < 23 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, se, ms) = (n(11..13)?, n(14..16)?, n(17..19)?, n(20..23)?);
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + se) as f64 + ms as f64 / 1000.0)
}

/// Completion time of the last of `ids` in slurmctld.log.
fn last_completion(log: &Path, ids: &[String]) -> Option<f64> {
    let text = fs::read_to_string(log).ok()?;
    let mut last: Option<f64> = None;
    let mut seen = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix('[') else { continue };
        let Some((ts, msg)) = rest.split_once("] ") else { continue };
        let Some(id) =
            msg.strip_prefix("_job_complete: JobId=").and_then(|m| m.strip_suffix(" done"))
        else {
            continue;
        };
        if ids.iter().any(|i| i == id) {
            seen += 1;
            let t = stamp(ts)?;
            last = Some(last.map_or(t, |l: f64| l.max(t)));
        }
    }
    (seen == ids.len()).then_some(last).flatten()
}

pub(super) fn queue_empty(user: &str) -> Result<()> {
    for _ in 0..600 {
        let out =
            cmd::output(Command::new("/usr/bin/squeue").args(["-h", "-u", user, "-t", "PD,R,CG"]))?;
        if out.trim().is_empty() {
            std::thread::sleep(Duration::from_secs(3));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    bail!("the queue of {user} did not drain")
}

fn sdiag_user_rpcs(user: &str) -> Option<u64> {
    let out = cmd::output(&mut Command::new("sdiag")).ok()?;
    let section = out.split("Remote Procedure Call statistics by user").nth(1)?;
    // `hpctest         (    1002) count:123  ave_time:...`
    section
        .lines()
        .find(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w == user || w.starts_with(&format!("{user}(")))
        })
        .and_then(|l| {
            l.split_whitespace().find_map(|w| w.strip_prefix("count:")).and_then(|c| c.parse().ok())
        })
}

/// Runs one tool, whose stdout has `ids a,b,..`, `submitted S`, `done T`.
fn run_tool(
    tool: &str,
    jobs: usize,
    mut command: Command,
    log: &Path,
    ctld_log: &Path,
    user: &str,
    note: &str,
) -> Result<Outcome> {
    queue_empty(user)?;
    fs::write(log, "")?;
    let _ = cmd::output(Command::new("sdiag").arg("-r"));
    let out_path = Path::new(DIR).join(format!("{}.out", tool.replace([' ', '/', '(', ')'], "_")));
    let out_file = fs::File::create(&out_path)?;
    command.stdout(out_file);
    println!("running {tool}...");
    // Four times what the slowest peer needs for 100 jobs, and more for more.
    let per_job = Duration::from_secs(3).saturating_mul(u32::try_from(jobs).unwrap_or(u32::MAX));
    let limit = per_job.max(Duration::from_secs(300));
    let m = measure_within(&mut command, Some(limit))
        .with_context(|| format!("{tool} failed; its output: {}", out_path.display()))?;
    let text = fs::read_to_string(&out_path)?;
    let field =
        |name: &str| text.lines().find_map(|l| l.strip_prefix(name).map(|r| r.trim().to_owned()));
    let ids: Vec<String> = field("ids ")
        .map(|l| l.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    let submit = field("submitted ").and_then(|s| s.parse::<f64>().ok());
    let done = field("done ").and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok());
    // slurmctld writes the completion line a moment after the job ends.
    std::thread::sleep(Duration::from_millis(200));
    let lag = match (done, last_completion(ctld_log, &ids)) {
        (Some(d), Some(l)) => Some(d - l),
        _ => None,
    };
    let commands = fs::read_to_string(log)?.lines().count();
    Ok(Outcome {
        tool: tool.into(),
        wall: m.wall,
        cpu: m.cpu,
        submit,
        lag,
        commands,
        rpcs: sdiag_user_rpcs(user),
        note: note.into(),
    })
}

const RAW: &str = r#"
n=$1; ids=""
t0=$(date +%s.%N)
for i in $(seq "$n"); do
  id=$(sbatch --parsable -o /dev/null -e /dev/null --wrap /bin/true) || exit 1
  ids="$ids${ids:+,}$id"
done
t1=$(date +%s.%N)
echo "ids $ids"
echo "submitted $(echo "$t1 - $t0" | bc)"
while [ -n "$(squeue -h -j "$ids" -t PD,R,CG -o %i)" ]; do sleep 0.5; done
echo "done $(date +%s.%N)"
"#;

const PYXENON: &str = r#"
import os, sys, time, xenon
port, n = int(sys.argv[1]), int(sys.argv[2])
password = os.environ['XENON_BENCH_PASSWORD']
xenon.init()
t0 = time.time()
cred = xenon.PasswordCredential(username=sys.argv[3], password=password)
props = {"xenon.adaptors.schedulers.ssh.strictHostKeyChecking": "false"}
with xenon.Scheduler.create(adaptor="slurm", location="ssh://127.0.0.1:%d" % port,
                            password_credential=cred, properties=props) as s:
    jobs = [s.submit_batch_job(xenon.JobDescription(executable="/bin/true")) for _ in range(n)]
    print("ids", ",".join(j.id for j in jobs))
    print("submitted", time.time() - t0, flush=True)
    for j in jobs:
        s.wait_until_done(j, 0)
    print("done", time.time(), flush=True)
"#;

/// Ends PyXenon's Java server once the measured work is done. At exit
/// PyXenon sends it SIGINT and waits, and the server, whose output pipes
/// nobody reads, can then block for good (twice in three 100-job runs): the
/// process wall time would count that wait, or the run would hit its limit.
pub(super) const END_XENON_SERVER: &str = r#"
srv = xenon.server.__server__
if srv.process:
    srv.process.kill()
    srv.process.wait()
    srv.process = None
"#;

const PSIJ: &str = r#"
import sys, time
from psij import Job, JobSpec, JobExecutor
from psij.executors.batch.slurm import SlurmExecutorConfig
n, poll = int(sys.argv[1]), sys.argv[2]
cfg = SlurmExecutorConfig() if poll == "default" else SlurmExecutorConfig(
    queue_polling_interval=float(poll), initial_queue_polling_delay=float(poll))
ex = JobExecutor.get_instance("slurm", config=cfg)
t0 = time.time()
jobs = []
for _ in range(n):
    j = Job(JobSpec(executable="/bin/true"))
    ex.submit(j)
    jobs.append(j)
print("ids", ",".join(j.native_id for j in jobs))
print("submitted", time.time() - t0, flush=True)
for j in jobs:
    j.wait()
print("done", time.time())
"#;

/// Entry point.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let count: usize = flag(args, "--count").map_or(Ok(100), |c| c.parse()).context("--count")?;
    let skip = flag(args, "--skip").unwrap_or_default();
    let env = EnvVars::read(&services::up(
        &["sshd".to_string(), "slurm".to_string()],
        services::Backend::Native,
    )?)?;
    let user = env.require("HPCKIT_SSH_USER")?.to_string();
    // Env files written before the key existed: the provision script's default.
    let log_dir = env.get("HPCKIT_SLURM_LOG_DIR").unwrap_or("/var/lib/hpckit/slurm/log");
    let ctld_log = PathBuf::from(log_dir).join("slurmctld.log");

    println!("building the hpckit side (release)...");
    cmd::run(Command::new("cargo").current_dir(cmd::workspace_root()).args([
        "build",
        "--release",
        "-q",
        "-p",
        "sched-adaptors",
        "--example",
        "slurm_bench",
    ]))?;
    // Where cargo put it: honours CARGO_TARGET_DIR and ~/.cargo/config.toml,
    // so a stale `target/` in the checkout is never picked up.
    let bin = {
        let out = cmd::output(
            Command::new("cargo")
                .args(["metadata", "--format-version", "1", "--no-deps"])
                .current_dir(cmd::workspace_root()),
        )?;
        let dir = out
            .split("\"target_directory\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("target");
        PathBuf::from(dir).join("release/examples/slurm_bench")
    };
    let py =
        if skip.contains("pyxenon") && skip.contains("psij") { None } else { Some(ensure_venv()?) };

    fs::create_dir_all(DIR)?;
    cmd::run(Command::new("chmod").args(["777", DIR]))?;
    let log = Path::new(DIR).join("commands.log");
    fs::write(&log, "")?;
    cmd::run(Command::new("chmod").arg("666").arg(&log))?;
    let _wrappers = install_wrappers(&log)?;
    let script = |name: &str, text: &str| -> Result<PathBuf> {
        let p = Path::new(DIR).join(name);
        fs::write(&p, text)?;
        Ok(p)
    };
    let as_user = |program: &str| {
        let mut c = Command::new("runuser");
        c.args(["-u", &user, "--", "env", &format!("HOME=/home/{user}")]).arg(program);
        c.current_dir(DIR);
        c
    };

    println!(
        "{count} `/bin/true` jobs per tool on Slurm 22.05 (batch_sched_delay=0), one tool at a time"
    );
    let mut results = Vec::new();
    let mut raw = as_user("bash");
    raw.arg(script("raw.sh", RAW)?).arg(count.to_string());
    results.push(run_tool(
        "raw loop (host)",
        count,
        raw,
        &log,
        &ctld_log,
        &user,
        "sbatch per job, squeue every 0.5 s",
    )?);

    let mut hp = Command::new(&bin);
    hp.args(["--host", env.require("HPCKIT_SSH_HOST")?, "--port", env.require("HPCKIT_SSH_PORT")?])
        .args(["--user", &user, "--key", env.require("HPCKIT_SSH_KEY")?])
        .args([
            "--known-hosts",
            env.require("HPCKIT_SSH_KNOWN_HOSTS")?,
            "--count",
            &count.to_string(),
        ])
        .args(["--workdir", DIR]);
    results.push(run_tool(
        "hpckit (ssh)",
        count,
        hp,
        &log,
        &ctld_log,
        &user,
        "submit_many + shared adaptive poller",
    )?);

    if let Some(py) = &py {
        if !skip.contains("pyxenon") {
            let mut px = Command::new(py);
            px.arg(script("pyxenon.py", &format!("{PYXENON}{END_XENON_SERVER}"))?)
                .args([env.require("HPCKIT_SSH_PORT")?, &count.to_string(), &user])
                // Not on the command line: error messages print it.
                .env("XENON_BENCH_PASSWORD", env.require("HPCKIT_SSH_PASSWORD")?);
            match run_tool(
                "PyXenon 3.0.3 (ssh)",
                count,
                px,
                &log,
                &ctld_log,
                &user,
                "plus scontrol output shim",
            ) {
                Ok(o) => results.push(o),
                Err(e) => println!("PyXenon failed: {e:#}"),
            }
        }
        if !skip.contains("psij") {
            let py = py.to_string_lossy().into_owned();
            for (poll, label) in
                [("default", "PSI/J (host, default poll)"), ("1", "PSI/J (host, 1 s poll)")]
            {
                let mut c = as_user(&py);
                // Not `psij.py`: the script's own dir comes first on sys.path and would shadow the package.
                c.arg(script("psij_bench.py", PSIJ)?).args([&count.to_string(), poll]);
                match run_tool(label, count, c, &log, &ctld_log, &user, "") {
                    Ok(o) => results.push(o),
                    Err(e) => println!("{label} failed: {e:#}"),
                }
            }
        }
    }

    let raw_wall = results[0].wall.as_secs_f64();
    let mut table = Table::new(&[
        "tool",
        "end to end",
        "vs raw",
        "submit",
        "detect lag",
        "commands",
        "ctld RPCs",
        "client CPU",
        "note",
    ]);
    for r in &results {
        table.row(vec![
            r.tool.clone(),
            format!("{:.2} s", r.wall.as_secs_f64()),
            format!("{:.3}x", r.wall.as_secs_f64() / raw_wall),
            r.submit.map_or("?".into(), |s| format!("{s:.2} s")),
            r.lag.map_or("?".into(), |l| format!("{l:.2} s")),
            r.commands.to_string(),
            r.rpcs.map_or("?".into(), |n| n.to_string()),
            format!("{:.2} s", r.cpu.as_secs_f64()),
            r.note.clone(),
        ]);
    }
    table.print();
    let h = &results[1];
    let vs_raw = h.wall.as_secs_f64() / raw_wall;
    super::goal(
        "hpckit end to end / raw loop",
        "<= 1.03x",
        &format!("{vs_raw:.3}x"),
        vs_raw <= 1.03,
    );
    let opt = |v: Option<f64>| v.map_or("?".to_string(), |s| format!("{s:.2} s"));
    super::goal(
        "hpckit submit time",
        "<= 1.0 s",
        &opt(h.submit),
        h.submit.is_some_and(|s| s <= 1.0),
    );
    super::goal("hpckit detection lag", "<= 0.5 s", &opt(h.lag), h.lag.is_some_and(|l| l <= 0.5));
    super::goal("hpckit scheduler commands", "< 150", &h.commands.to_string(), h.commands < 150);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in `scontrol` printing 22.05's awkward lines, and its wrapper.
    fn wrapped(dir: &Path, owner: u32) -> (PathBuf, PathBuf) {
        let real = dir.join("real-scontrol");
        fs::write(
            &real,
            "#!/bin/sh\necho \"Slurmctld(primary) at h is UP\"\necho ' '\necho \"args $*\"\nexit 3\n",
        )
        .unwrap();
        let log = dir.join("commands.log");
        fs::write(&log, "").unwrap();
        let w = dir.join("scontrol");
        fs::write(&w, wrapper("scontrol", &real, &log, owner)).unwrap();
        for p in [&real, &w] {
            cmd::run(Command::new("chmod").arg("755").arg(p)).unwrap();
        }
        (w, log)
    }

    fn run(w: &Path, args: &[&str]) -> (String, Option<i32>) {
        let out = Command::new(w).args(args).output().unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
    }

    #[test]
    fn a_live_run_logs_and_shims_only_scontrol_show() {
        let dir = tempfile::tempdir().unwrap();
        let (w, log) = wrapped(dir.path(), std::process::id());
        assert_eq!(run(&w, &["show", "job", "7"]), ("args show job 7\n".into(), Some(3)));
        let (out, code) = run(&w, &["ping"]);
        assert!(out.starts_with("Slurmctld(primary) at h is UP\n"), "{out}");
        assert_eq!(code, Some(3));
        assert_eq!(fs::read_to_string(&log).unwrap(), "scontrol\nscontrol\n");
    }

    #[test]
    fn wrappers_left_by_a_killed_run_pass_everything_through() {
        let dir = tempfile::tempdir().unwrap();
        let mut gone = Command::new("true").spawn().unwrap();
        let gone_pid = gone.id();
        gone.wait().unwrap();
        let (w, log) = wrapped(dir.path(), gone_pid);
        let (out, code) = run(&w, &["show", "config"]);
        assert!(out.starts_with("Slurmctld(primary) at h is UP\n \nargs show config"), "{out}");
        assert_eq!(code, Some(3));
        assert_eq!(fs::read_to_string(&log).unwrap(), "", "nothing logged for a dead run");
        // A live owner whose log is gone: passed through as well.
        let (w, log) = wrapped(dir.path(), std::process::id());
        fs::remove_file(&log).unwrap();
        assert!(run(&w, &["show", "config"]).0.starts_with("Slurmctld("));
    }
}
