//! `cargo xtask bench xenon [--count N]`: the same PyXenon 3.0.3 script against the
//! Java xenon-grpc 3.0.1 that PyXenon ships (PyXenon starts it itself, with TLS)
//! and against `hpckit xenon-grpc` (started first; `xenon.init(port=P,
//! disable_tls=True)`): `xenon.init()` time, then N `/bin/true` jobs on Slurm over
//! SSH to 127.0.0.1 (password login), submitted one by one and then polled with
//! `get_job_statuses` for all of them once a second until all are done; then a copy
//! of a `--copy-mib` MiB file (1024 by default, 0 skips it) from the local file
//! system to SFTP on the same sshd, waited for with `wait_until_done`.
//!
//! Scheduler commands are counted by the logging wrappers of `bench slurm` (which
//! also carry the `scontrol` output shim PyXenon's Java adaptor needs on Slurm 22.05,
//! see `shared/reference/PEERS.md`).
//!
//! Seen (100 jobs, shared 2-core machine under load): init Java 5.48 s, hpckit
//! 0.38 s; jobs end to end 60.56 s vs 45.20 s; 463 vs 142 scheduler commands;
//! 1 GiB copy hpckit 9.48 s, Java's copy failed at once ("Stream copy failed").

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::slurm::{ensure_venv, install_wrappers, queue_empty};
use super::{Table, measure_within};
use crate::cmd;
use crate::services::{self, EnvVars};

const DIR: &str = "/tmp/hpckit-bench-xenon";

const SCRIPT: &str = r#"
import os, sys, time
t0 = time.time()
import xenon
mode, port, n, location, user, sftp, src, dst = sys.argv[1:9]
password = os.environ['XENON_BENCH_PASSWORD']
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
if src:
    fprops = {'xenon.adaptors.filesystems.sftp.strictHostKeyChecking': 'false'}
    t2 = time.time()
    with xenon.FileSystem.create(adaptor='file') as local, \
            xenon.FileSystem.create(adaptor='sftp', location=sftp, password_credential=cred,
                                    properties=fprops) as remote:
        op = local.copy(xenon.Path(src), remote, xenon.Path(dst), xenon.CopyMode.REPLACE, False)
        st = local.wait_until_done(op, 3600 * 1000)
        print('copy', time.time() - t2, 'bytes', st.bytes_copied, 'error', repr(st.error_message),
              flush=True)
        try:
            remote.delete(xenon.Path(dst))
        except xenon.exceptions.NoSuchPathException:
            pass
"#;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// Runs `cargo xtask bench xenon`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let count: usize = flag(args, "--count").map_or(Ok(100), |c| c.parse()).context("--count")?;
    let copy_mib: u64 =
        flag(args, "--copy-mib").map_or(Ok(1024), |c| c.parse()).context("--copy-mib")?;
    let env = EnvVars::read(&services::up(
        &["sshd".to_string(), "slurm".to_string()],
        services::Backend::Native,
    )?)?;
    let user = env.require("HPCKIT_SSH_USER")?.to_string();
    let password = env.require("HPCKIT_SSH_PASSWORD")?.to_string();
    let authority =
        format!("{}:{}", env.require("HPCKIT_SSH_HOST")?, env.require("HPCKIT_SSH_PORT")?);
    let location = format!("ssh://{authority}");
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
    fs::write(&script, format!("{SCRIPT}{}", super::slurm::END_XENON_SERVER))?;
    let source = Path::new(DIR).join("copy-source.bin");
    if copy_mib > 0 {
        write_copy_source(&source, copy_mib)?;
    }
    // Relative: lands in the test user's home on the SFTP side.
    let target = "hpckit-bench-xenon-copy.bin";
    let log = Path::new(DIR).join("commands.log");
    fs::write(&log, "")?;
    cmd::run(Command::new("chmod").arg("666").arg(&log))?;
    let _wrappers = install_wrappers(&log)?;
    // The hpckit server's home knows the test sshd's host key (no accept-new write).
    let home = Path::new(DIR).join("home");
    fs::create_dir_all(home.join(".ssh"))?;
    fs::copy(&known_hosts, home.join(".ssh/known_hosts"))?;

    let copy_column = format!("{copy_mib} MiB SFTP copy s");
    let mut table = Table::new(&[
        "server",
        "init s",
        "submit s",
        "jobs end to end s",
        "commands",
        "failed",
        &copy_column,
    ]);
    // Per server: init s, end-to-end s, commands.
    let mut got: Vec<(f64, f64, usize)> = Vec::new();
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
            &authority,
        ]);
        // Not on the command line: error messages print it.
        c.env("XENON_BENCH_PASSWORD", &password);
        if copy_mib > 0 {
            c.arg(&source).arg(target);
        } else {
            c.args(["", ""]);
        }
        c.stdout(fs::File::create(&out_path)?);
        println!("running PyXenon against {mode}...");
        // Ten times its usual minute: past that, PyXenon or its Java server hangs.
        let result = measure_within(&mut c, Some(std::time::Duration::from_secs(600)));
        if let Some(s) = server.as_mut() {
            let _ = s.kill();
            let _ = s.wait();
        }
        let m = result.with_context(|| format!("{mode} run failed; see {}", out_path.display()))?;
        let text = fs::read_to_string(&out_path)?;
        // The number after `name` on the script's line that starts with it.
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        let field = |name: &str| value(name).map_or("-".to_string(), |v| format!("{v:.2}"));
        let number = |name: &str| value(name).unwrap_or(f64::NAN);
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
            format!("{:.2} (process {:.2})", number("done "), m.wall.as_secs_f64()),
            commands.to_string(),
            failed,
            copy_cell(&text, copy_mib),
        ]);
        got.push((number("init "), number("done "), commands));
    }
    println!(
        "\n{count} `/bin/true` jobs on Slurm over SSH, submitted then polled with get_job_statuses\n"
    );
    println!("{}", table.render());
    if let [(java_init, java_done, _), (init, done, commands)] = got[..] {
        let (r_init, r_done) = (java_init / init, java_done / done);
        super::goal(
            "init, Java xenon-grpc / hpckit",
            ">= 10x",
            &format!("{r_init:.1}x ({java_init:.2} s vs {init:.2} s)"),
            r_init >= 10.0,
        );
        super::goal(
            "jobs end to end, Java xenon-grpc / hpckit",
            ">= 1.05x",
            &format!("{r_done:.2}x ({java_done:.2} s vs {done:.2} s)"),
            r_done >= 1.05,
        );
        super::goal("hpckit scheduler commands", "<= 150", &commands.to_string(), commands <= 150);
    }
    Ok(())
}

/// A `mib` MiB file of varied bytes (not all zeros, so no layer can shortcut it).
fn write_copy_source(path: &Path, mib: u64) -> Result<()> {
    use std::io::Write as _;
    if fs::metadata(path).is_ok_and(|m| m.len() == mib << 20) {
        return Ok(());
    }
    let mut block = vec![0u8; 1 << 20];
    let mut f = std::io::BufWriter::new(fs::File::create(path)?);
    for i in 0..mib {
        for (j, b) in block.iter_mut().enumerate() {
            *b = (j as u64).wrapping_mul(31).wrapping_add(i) as u8;
        }
        f.write_all(&block)?;
    }
    f.flush()?;
    Ok(())
}

/// "seconds (MiB/s)" from the script's `copy` line, or what went wrong.
fn copy_cell(text: &str, mib: u64) -> String {
    if mib == 0 {
        return "-".into();
    }
    let Some(line) = text.lines().find_map(|l| l.strip_prefix("copy ")) else {
        return "no result".into();
    };
    let mut words = line.split_whitespace();
    let secs = words.next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    let bytes = words.nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    if bytes != mib << 20 {
        return format!(
            "failed after {secs:.2} s: {}",
            line.split(" error ").nth(1).unwrap_or(line)
        );
    }
    format!("{secs:.2} ({:.0} MiB/s)", mib as f64 / secs)
}
