//! `cargo xtask bench datamover [--count N] [--rounds R]`: N `dtls -l DIR`
//! started at once and waited for, as the test user, against the stand-ins
//! of `services up slurm datamover` (every call is a job of the real Slurm):
//!
//! - hpckit: `zih-datamover`'s example `dtls_many` (N `Datamover::list`
//!   calls joined: typed listings);
//! - taurus-datamover 0.4.0 from PyPI (in a venv the xtask creates): N
//!   `Datamover.dtls(...)` Popen handles, then its `waitfor` on each, as its
//!   README shows; raw text.
//!
//! Processes spawned are counted in a fresh PID namespace (`unshare --pid`):
//! its last pid after the run, minus what the empty wrapper costs. Scheduler
//! commands are counted by logging wrappers first on the PATH of the run.
//! CPU seconds are those of the client and everything it waited for on this
//! side (the jobs' own steps run under slurmstepd, the same for both).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{RemoveOnDrop, Table, flag, measure};
use crate::cmd;
use crate::services::{self, EnvVars};

const DIR: &str = "/tmp/hpckit-bench-datamover";
const VENV: &str = "/var/lib/hpckit/bench-dm-venv";
const WRAPPED: &[&str] = &["srun", "sbatch", "squeue", "scancel", "scontrol", "sinfo"];

const PEER: &str = r#"
import sys
from taurus_datamover import Datamover, waitfor
bin_dir, n, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
dm = Datamover(path_to_exe=bin_dir)
procs = [dm.dtls("-l", d) for _ in range(n)]
codes = [waitfor(p, discard_output=False) for p in procs]
outs = [p.communicate()[0] for p in procs]
assert all(c == 0 for c in codes), codes
print("entries", sum(len(o.decode().splitlines()) - 1 for o in outs))
"#;

fn ensure_venv() -> Result<PathBuf> {
    let py = Path::new(VENV).join("bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import taurus_datamover"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("installing taurus-datamover into {VENV}...");
        crate::system::apt_install(&crate::system::missing_debian_packages(&[
            "python3-venv".to_owned()
        ]))?;
        cmd::run(Command::new("/usr/bin/python3").args(["-m", "venv", VENV]))?;
        cmd::run(Command::new(Path::new(VENV).join("bin/pip")).args([
            "install",
            "-q",
            "taurus-datamover==0.4.0",
        ]))?;
    }
    cmd::run(Command::new("chmod").args(["-R", "a+rX", VENV]))?;
    cmd::run(Command::new("chmod").args(["a+rx", "/var/lib/hpckit"]))?;
    Ok(py)
}

/// Logging wrappers of the Slurm commands in `dir`.
fn wrappers(dir: &Path, log: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    for name in WRAPPED {
        let p = dir.join(name);
        fs::write(
            &p,
            format!("#!/bin/sh\necho {name} >>{}\nexec /usr/bin/{name} \"$@\"\n", log.display()),
        )?;
        cmd::run(Command::new("chmod").arg("755").arg(&p))?;
    }
    Ok(())
}

struct Outcome {
    wall: Duration,
    cpu: Duration,
    processes: u64,
    sched: usize,
}

/// Runs `argv` as `user` in a new PID namespace with the wrappers first on PATH.
fn run_one(user: &str, wrap: &Path, log: &Path, argv: &[String]) -> Result<Outcome> {
    fs::write(log, "")?;
    fs::set_permissions(log, std::os::unix::fs::PermissionsExt::from_mode(0o666))?;
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", wrap.display());
    let out = Path::new(DIR).join("last.out");
    let script = "runuser -u \"$0\" -- env PATH=\"$1\" \"${@:2}\" >\"$OUT\" || exit 1; \
                  echo pids $(cat /proc/sys/kernel/ns_last_pid) >>\"$OUT\"";
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "bash", "-c", script, user, &path])
        .args(argv)
        .env("OUT", &out);
    let m =
        measure(&mut c).with_context(|| format!("{argv:?} failed; output in {}", out.display()))?;
    let text = fs::read_to_string(&out)?;
    let processes = text
        .lines()
        .find_map(|l| l.strip_prefix("pids "))
        .and_then(|p| p.trim().parse().ok())
        .context("no pid count")?;
    Ok(Outcome {
        wall: m.wall,
        cpu: m.cpu,
        processes,
        sched: fs::read_to_string(log)?.lines().count(),
    })
}

/// Entry point.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let count: usize = flag(args, "--count").map_or(Ok(20), |c| c.parse()).context("--count")?;
    let rounds: usize = flag(args, "--rounds").map_or(Ok(3), |c| c.parse()).context("--rounds")?;
    let env = EnvVars::read(&services::up(
        &["slurm".to_string(), "datamover".to_string()],
        services::Backend::Native,
    )?)?;
    let bin = env.require("HPCKIT_DM_BIN")?.to_string();
    let user = env.require("HPCKIT_DM_USER")?.to_string();
    let py = ensure_venv()?;
    println!("building the hpckit side (release)...");
    let built = cmd::output(Command::new("cargo").current_dir(cmd::workspace_root()).args([
        "build",
        "--release",
        "-q",
        "-p",
        "zih-datamover",
        "--example",
        "dtls_many",
        "--message-format",
        "json",
    ]))?;
    let example = built
        .lines()
        .filter(|l| l.contains("\"executable\"") && l.contains("dtls_many"))
        .find_map(|l| {
            let rest = &l[l.find("\"executable\":\"")? + 14..];
            Some(rest[..rest.find('"')?].to_string())
        })
        .context("cargo did not report the dtls_many example")?;
    let _cleanup = RemoveOnDrop(vec![PathBuf::from(DIR)]);
    let dir = Path::new(DIR);
    let listed = dir.join("listed");
    fs::create_dir_all(&listed)?;
    for i in 0..10 {
        fs::write(listed.join(format!("file {i}")), b"x")?;
    }
    cmd::run(Command::new("chmod").args(["-R", "a+rwX", DIR]))?;
    let wrap = dir.join("wrap");
    let log = dir.join("sched.log");
    wrappers(&wrap, &log)?;
    let peer = dir.join("peer.py");
    fs::write(&peer, PEER)?;
    let listed = listed.to_string_lossy().into_owned();
    let n = count.to_string();
    let base = run_one(&user, &wrap, &log, &["true".into()])?.processes;
    let sides: [(&str, Vec<String>); 2] = [
        ("hpckit (zih-datamover)", vec![example, bin.clone(), n.clone(), listed.clone()]),
        (
            "taurus-datamover 0.4.0",
            vec![
                py.to_string_lossy().into_owned(),
                peer.to_string_lossy().into_owned(),
                bin,
                n,
                listed,
            ],
        ),
    ];
    let mut results: Vec<Vec<Outcome>> = vec![Vec::new(), Vec::new()];
    for r in 0..rounds {
        // Alternate the order so neither side always runs on a warm cluster.
        let order: Vec<usize> = if r % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
        for i in order {
            println!("round {}: {}...", r + 1, sides[i].0);
            results[i].push(run_one(&user, &wrap, &log, &sides[i].1)?);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut t = Table::new(&[
        "client",
        "wall s (median)",
        "spread s",
        "processes",
        "scheduler cmds",
        "cpu s",
    ]);
    let mut walls = Vec::new();
    for (i, (name, _)) in sides.iter().enumerate() {
        let mut w: Vec<f64> = results[i].iter().map(|o| o.wall.as_secs_f64()).collect();
        let (lo, hi) =
            (w.iter().copied().fold(f64::MAX, f64::min), w.iter().copied().fold(0.0, f64::max));
        let wall = median(&mut w);
        walls.push(wall);
        let mut cpu: Vec<f64> = results[i].iter().map(|o| o.cpu.as_secs_f64()).collect();
        let last = results[i].last().context("no rounds")?;
        t.row(vec![
            (*name).to_owned(),
            format!("{wall:.2}"),
            format!("{lo:.2}-{hi:.2}"),
            last.processes.saturating_sub(base).to_string(),
            last.sched.to_string(),
            format!("{:.2}", median(&mut cpu)),
        ]);
    }
    println!(
        "\n{count} dtls -l at once, {rounds} rounds, as {user}, through Slurm's datamover partition:\n"
    );
    t.print();
    if walls[1] > 0.0 {
        let ratio = walls[0] / walls[1];
        println!();
        super::goal(
            "wall time hpckit / taurus-datamover",
            "<= 1.05x",
            &format!("{ratio:.2}x"),
            ratio <= 1.05,
        );
    } else {
        bail!("the peer took no time");
    }
    Ok(())
}
