//! `cargo xtask bench xenon [--count N]`: the same PyXenon 3.0.3 script against the
//! Java xenon-grpc 3.0.1 that PyXenon ships (PyXenon starts it itself, with TLS)
//! and against `hpckit xenon-grpc` (started first; `xenon.init(port=P,
//! disable_tls=True)`): `xenon.init()` time, then N `/bin/true` jobs on Slurm over
//! SSH to 127.0.0.1 (password login), submitted one by one and then polled with
//! `get_job_statuses` for all of them once a second until all are done.
//!
//! Scheduler commands are counted by the logging wrappers of `bench slurm` (which
//! also carry the `scontrol` output shim PyXenon's Java adaptor needs on Slurm 22.05,
//! see `shared/reference/PEERS.md`). Not measured yet: the 1 GiB SFTP copy of issue 17.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::slurm::{ensure_venv, install_wrappers, queue_empty};
use super::{Table, measure};
use crate::cmd;
use crate::services::{self, EnvVars};

const DIR: &str = "/tmp/hpckit-bench-xenon";

const SCRIPT: &str = r#"
import sys, time
t0 = time.time()
import xenon
mode, port, n, location, user, password = sys.argv[1:7]
if mode == 'java':
    xenon.init()
else:
    xenon.init(port=int(port), disable_tls=True)
t1 = time.time()
print('init', t1 - t0, flush=True)
cred = xenon.PasswordCredential(username=user, password=password)
props = {'xenon.adaptors.schedulers.ssh.strictHostKeyChecking': 'false'}
with xenon.Scheduler.create(adaptor='slurm', location=location,
                            password_credential=cred, properties=props) as s:
    jobs = [s.submit_batch_job(xenon.JobDescription(executable='/bin/true'))
            for _ in range(int(n))]
    print('submitted', time.time() - t1, flush=True)
    while True:
        statuses = s.get_job_statuses([j.__wrapped__ for j in jobs])
        if all(st.done for st in statuses):
            break
        time.sleep(1)
    bad = [st for st in statuses if st.exit_code != 0 or st.error_message]
    print('done', time.time() - t1, 'failed', len(bad), flush=True)
"#;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// Runs `cargo xtask bench xenon`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let count: usize = flag(args, "--count").map_or(Ok(100), |c| c.parse()).context("--count")?;
    let env = EnvVars::read(&services::up(&["sshd".to_string(), "slurm".to_string()])?)?;
    let user = env.require("HPCKIT_SSH_USER")?.to_string();
    let password = env.require("HPCKIT_SSH_PASSWORD")?.to_string();
    let location =
        format!("ssh://{}:{}", env.require("HPCKIT_SSH_HOST")?, env.require("HPCKIT_SSH_PORT")?);
    let known_hosts = env.require("HPCKIT_SSH_KNOWN_HOSTS")?.to_string();
    println!("building hpckit (release)...");
    cmd::run(Command::new("cargo").current_dir(cmd::workspace_root()).args([
        "build",
        "--release",
        "-q",
        "-p",
        "hpckit-cli",
        "--bin",
        "hpckit",
    ]))?;
    let hpckit = cmd::workspace_root().join("target/release/hpckit");
    let py = ensure_venv()?;

    fs::create_dir_all(DIR)?;
    let _cleanup = super::RemoveOnDrop(vec![Path::new(DIR).to_path_buf()]);
    let script = Path::new(DIR).join("xenon_bench.py");
    fs::write(&script, SCRIPT)?;
    let log = Path::new(DIR).join("commands.log");
    fs::write(&log, "")?;
    cmd::run(Command::new("chmod").arg("666").arg(&log))?;
    let _wrappers = install_wrappers(&log)?;
    // The hpckit server's home knows the test sshd's host key (no accept-new write).
    let home = Path::new(DIR).join("home");
    fs::create_dir_all(home.join(".ssh"))?;
    fs::copy(&known_hosts, home.join(".ssh/known_hosts"))?;

    let mut table =
        Table::new(&["server", "init s", "submit s", "end to end s", "commands", "failed"]);
    for mode in ["java", "hpckit"] {
        queue_empty(&user)?;
        fs::write(&log, "")?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = if mode == "hpckit" {
            let mut c = Command::new(&hpckit);
            c.args(["xenon-grpc", "-p", &port.to_string(), "--disable-tls"]).env("HOME", &home);
            c.stderr(std::process::Stdio::null());
            let child = c.spawn().context("starting hpckit xenon-grpc")?;
            std::thread::sleep(std::time::Duration::from_millis(300));
            Some(child)
        } else {
            None
        };
        let out_path = Path::new(DIR).join(format!("{mode}.out"));
        let mut c = Command::new(&py);
        c.arg(&script).args([
            mode,
            &port.to_string(),
            &count.to_string(),
            &location,
            &user,
            &password,
        ]);
        c.stdout(fs::File::create(&out_path)?);
        println!("running PyXenon against {mode}...");
        let result = measure(&mut c);
        if let Some(s) = server.as_mut() {
            let _ = s.kill();
            let _ = s.wait();
        }
        let m = result.with_context(|| format!("{mode} run failed; see {}", out_path.display()))?;
        let text = fs::read_to_string(&out_path)?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .map_or("-".to_string(), |v| format!("{v:.2}"))
        };
        let failed =
            text.lines().find_map(|l| l.split("failed ").nth(1)).unwrap_or("-").trim().to_owned();
        let commands = fs::read_to_string(&log)?.lines().count();
        table.row(vec![
            if mode == "java" {
                "Java xenon-grpc 3.0.1 (+ scontrol shim)".into()
            } else {
                "hpckit xenon-grpc".into()
            },
            field("init "),
            field("submitted "),
            format!(
                "{:.2} (process {:.2})",
                text.lines()
                    .find_map(|l| l.strip_prefix("done "))
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(f64::NAN),
                m.wall.as_secs_f64()
            ),
            commands.to_string(),
            failed,
        ]);
    }
    println!(
        "\n{count} `/bin/true` jobs on Slurm over SSH, submitted then polled with get_job_statuses\n"
    );
    println!("{}", table.render());
    println!("goals for hpckit: init >= 10x faster, end to end >= 1.05x faster, <= 150 commands");
    Ok(())
}
