//! `cargo xtask bench uftp`: a 1 GiB download and upload through the UFTPD
//! test server (after authentication at its auth server), side by side in one
//! run: hpckit with 1 and 4 streams and with 4 streams + AES, PyUNICORE
//! 2.0.2's `uftp` module, `pyuftp cp` (1 and 4 streams), and a plain local
//! `cp` of the same file (the physical ceiling on one machine). Wall time,
//! GiB/s, CPU seconds of the client and of the UFTPD server, and the client's
//! peak RSS. Goals: hpckit ≥1.0x the better Python client both ways, ≥0.8x
//! local `cp` on downloads, ≥0.5 GiB/s with AES and 4 streams, RSS ≤64 MiB.
//!
//! The hpckit side is `crates/uftp-proto/examples/uftp_bench.rs` (release
//! build, on a multi-threaded runtime like the CLI's); PyUNICORE's side is
//! `uftp_peer.py` beside this file. The UFTPD test server runs as a release
//! build too (the `uftp` service restarted with `HPCKIT_UFTP_BUILD=release`
//! if needed), so that it serves every client as fast as it can.
//! `--size MIB` changes the file size (default 1024).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{Measured, RemoveOnDrop, Table, measure};
use crate::cmd;
use crate::services::{self, EnvVars};

const PEER: &str = include_str!("uftp_peer.py");

/// Runs the benchmark and prints its table.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mib: u64 = match args.iter().position(|a| a == "--size") {
        Some(i) => args
            .get(i + 1)
            .context("--size needs a number of MiB")?
            .parse()
            .context("--size MIB")?,
        None => 1024,
    };
    let size = mib << 20;
    let env = release_service()?;
    println!("load average before the runs: {}", load_average());
    println!("building the hpckit side (release)...");
    let example = build_example()?;
    let root = PathBuf::from(env.require("HPCKIT_UFTP_ROOT")?);
    let server_dir = root.join("data/bench");
    let work = std::env::temp_dir().join(format!("hpckit-bench-uftp-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(vec![work.clone(), server_dir.clone()]);
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&server_dir)?;
    super::unicore::make_file(&server_dir.join("big.bin"), size)?;
    super::unicore::make_file(&work.join("big-local.bin"), size)?;
    std::fs::write(work.join("peer.py"), PEER)?;
    let server_pid =
        std::fs::read_to_string(services::services_dir().join("uftp/uftpd-testserver.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());

    let remote_big = "/data/bench/big.bin";
    let local_big = work.join("big-local.bin");
    let dl = work.join("dl.bin");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let auth = env.require("HPCKIT_UFTP_AUTH_URL")?.to_owned();
    let python = env.require("HPCKIT_UFTP_PYTHON")?.to_owned();
    let pyuftp = env.require("HPCKIT_UFTP_PYUFTP")?.to_owned();
    let url = |p: &str| format!("{auth}:{p}");
    let hp = |op: &str, r: &str, l: &Path, n: &str, extra: &[&str]| -> Vec<String> {
        let mut v = vec![s(&example), op.into(), r.into(), s(l), n.into()];
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    // pyuftp's `cp` as the bench user, over `streams` data streams.
    let pyuftp_cp = |streams: &str, from: String, to: String| -> Vec<String> {
        let mut v = vec![pyuftp.clone(), "cp".into(), "-u".into(), "demouser".into(), "-P".into()];
        if streams != "1" {
            v.extend(["-n".into(), streams.into()]);
        }
        v.extend([from, to]);
        v
    };
    let peer = |op: &str, remote: &str, local: &Path| -> Vec<String> {
        vec![python.clone(), s(&work.join("peer.py")), op.into(), remote.into(), s(local)]
    };
    type Run = (&'static str, &'static str, Vec<String>);
    let runs: Vec<Run> = vec![
        ("download", "hpckit 1 stream", hp("download", remote_big, &dl, "1", &[])),
        ("download", "hpckit 4 streams", hp("download", remote_big, &dl, "4", &[])),
        ("download", "hpckit 4 streams AES", hp("download", remote_big, &dl, "4", &["aes"])),
        ("download", "PyUNICORE uftp", peer("download", remote_big, &dl)),
        ("download", "pyuftp cp", pyuftp_cp("1", url(remote_big), s(&dl))),
        ("download", "pyuftp cp -n 4", pyuftp_cp("4", url(remote_big), s(&dl))),
        ("download", "local cp", vec!["cp".into(), s(&server_dir.join("big.bin")), s(&dl)]),
        ("upload", "hpckit 1 stream", hp("upload", "/data/bench/up.bin", &local_big, "1", &[])),
        ("upload", "hpckit 4 streams", hp("upload", "/data/bench/up.bin", &local_big, "4", &[])),
        (
            "upload",
            "hpckit 4 streams AES",
            hp("upload", "/data/bench/up.bin", &local_big, "4", &["aes"]),
        ),
        ("upload", "PyUNICORE uftp", peer("upload", "/data/bench/up.bin", &local_big)),
        ("upload", "pyuftp cp", pyuftp_cp("1", s(&local_big), url("/data/bench/up.bin"))),
        ("upload", "pyuftp cp -n 4", pyuftp_cp("4", s(&local_big), url("/data/bench/up.bin"))),
        ("upload", "local cp", vec!["cp".into(), s(&local_big), s(&server_dir.join("up.bin"))]),
    ];

    let mut table = Table::new(&[
        "direction",
        "client",
        "wall",
        "GiB/s",
        "CPU s client/server",
        "peak RSS MiB",
    ]);
    let mut results = Vec::new();
    for (dir, who, argv) in &runs {
        println!("running: {dir} with {who}");
        let _ = std::fs::remove_file(&dl);
        let _ = std::fs::remove_file(server_dir.join("up.bin"));
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..])
            .env("UFTP_AUTH_URL", &auth)
            .env("UFTP_USER", env.require("HPCKIT_UFTP_USER")?)
            .env("UFTP_PASSWORD", env.require("HPCKIT_UFTP_PASSWORD")?)
            .env("UFTP_CA", env.require("HPCKIT_UFTP_CA")?)
            .env("REQUESTS_CA_BUNDLE", env.require("HPCKIT_UFTP_CA")?)
            .stdout(std::process::Stdio::null());
        let before = server_pid.map(cpu_of).unwrap_or_default();
        let m: Measured = match measure(&mut c) {
            Ok(m) => m,
            Err(e) => {
                // One failing client (a full disk, a peer's bug) must not hide the other rows.
                table.row(vec![
                    (*dir).to_string(),
                    format!("{who} (FAILED: {e:#})"),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ]);
                continue;
            }
        };
        let server_cpu = server_pid.map(cpu_of).unwrap_or_default().saturating_sub(before);
        let written = if *dir == "download" { dl.clone() } else { server_dir.join("up.bin") };
        let ok = std::fs::metadata(&written).map(|m| m.len() == size).unwrap_or(false);
        let gib = size as f64 / (1u64 << 30) as f64;
        if ok {
            results.push(Outcome {
                direction: dir,
                who,
                gib_s: gib / m.wall.as_secs_f64().max(1e-9),
                peak_rss_mib: m.peak_rss_kib as f64 / 1024.0,
            });
        }
        table.row(vec![
            (*dir).to_string(),
            format!("{who}{}", if ok { "" } else { " (WRONG SIZE)" }),
            format!("{:.2} s", m.wall.as_secs_f64()),
            format!("{:.2}", gib / m.wall.as_secs_f64().max(1e-9)),
            format!("{:.2}/{:.2}", m.cpu.as_secs_f64(), server_cpu.as_secs_f64()),
            format!("{:.1}", m.peak_rss_kib as f64 / 1024.0),
        ]);
    }
    table.print();
    println!("{mib} MiB each way; load average after the runs: {}", load_average());
    state_goals(&results);
    Ok(())
}

/// One measured row, for the goals.
struct Outcome {
    direction: &'static str,
    who: &'static str,
    gib_s: f64,
    peak_rss_mib: f64,
}

/// States every goal of the issue against this run's rows.
fn state_goals(results: &[Outcome]) {
    let best = |dir: &str, pick: &dyn Fn(&str) -> bool| {
        results
            .iter()
            .filter(|o| o.direction == dir && pick(o.who))
            .max_by(|a, b| a.gib_s.total_cmp(&b.gib_s))
    };
    let hpckit_plain = |w: &str| w.starts_with("hpckit") && !w.ends_with("AES");
    let python = |w: &str| w.starts_with("PyUNICORE") || w.starts_with("pyuftp");
    for dir in ["download", "upload"] {
        let (Some(h), Some(p)) = (best(dir, &hpckit_plain), best(dir, &python)) else {
            super::goal(
                &format!("{dir}: hpckit vs the better Python client"),
                ">= 1.0x",
                "a row failed",
                false,
            );
            continue;
        };
        let r = h.gib_s / p.gib_s.max(1e-9);
        super::goal(
            &format!("{dir}: hpckit vs the better Python client"),
            ">= 1.0x",
            &format!("{r:.2}x ({} {:.2} vs {} {:.2} GiB/s)", h.who, h.gib_s, p.who, p.gib_s),
            r >= 1.0,
        );
    }
    match (best("download", &hpckit_plain), best("download", &|w| w == "local cp")) {
        (Some(h), Some(c)) => {
            let r = h.gib_s / c.gib_s.max(1e-9);
            super::goal(
                "download: hpckit vs local cp",
                ">= 0.8x",
                &format!("{r:.2}x ({} {:.2} vs cp {:.2} GiB/s)", h.who, h.gib_s, c.gib_s),
                r >= 0.8,
            );
        }
        _ => super::goal("download: hpckit vs local cp", ">= 0.8x", "a row failed", false),
    }
    for dir in ["download", "upload"] {
        let what = format!("{dir}: hpckit 4 streams AES");
        match best(dir, &|w| w == "hpckit 4 streams AES") {
            Some(a) => {
                super::goal(&what, ">= 0.5 GiB/s", &format!("{:.2} GiB/s", a.gib_s), a.gib_s >= 0.5)
            }
            None => super::goal(&what, ">= 0.5 GiB/s", "the row failed", false),
        }
    }
    let hpckit: Vec<&Outcome> = results.iter().filter(|o| o.who.starts_with("hpckit")).collect();
    let worst = hpckit.iter().max_by(|a, b| a.peak_rss_mib.total_cmp(&b.peak_rss_mib));
    match worst {
        Some(w) if hpckit.len() == 6 => super::goal(
            "hpckit peak RSS, every row",
            "<= 64 MiB",
            &format!("{:.1} MiB at most ({} {})", w.peak_rss_mib, w.direction, w.who),
            w.peak_rss_mib <= 64.0,
        ),
        _ => super::goal("hpckit peak RSS, every row", "<= 64 MiB", "a row failed", false),
    }
}

/// The `uftp` service with its servers built in release: `services up uftp`
/// in a child xtask that reads [`services::UFTP_BUILD_ENV`] (it reuses a
/// healthy release instance and replaces one built in the dev profile).
fn release_service() -> Result<EnvVars> {
    // A running release instance is used as it is: `services up` would wait
    // for the machine-wide lock just to find it healthy.
    if let Ok(env) = EnvVars::read(&services::services_dir().join("uftp/service.env"))
        && env.get(services::UFTP_BUILD_ENV) == Some("release")
        && env
            .get("HPCKIT_UFTP_PORT")
            .is_some_and(|p| std::net::TcpStream::connect(format!("127.0.0.1:{p}")).is_ok())
    {
        return Ok(env);
    }
    let status = Command::new(std::env::current_exe()?)
        .args(["services", "up", "uftp"])
        .env(services::UFTP_BUILD_ENV, "release")
        .status()
        .context("running `xtask services up uftp`")?;
    if !status.success() {
        anyhow::bail!("`xtask services up uftp` with release servers failed ({status})");
    }
    EnvVars::read(&services::env_file_path())
}

/// `/proc/loadavg`'s three averages: other work on the machine skews every row.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// User + system CPU time of a running process so far.
fn cpu_of(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return Duration::ZERO };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    // Linux reports in USER_HZ, 100 on every platform we run.
    Duration::from_millis(ticks * 10)
}

fn build_example() -> Result<PathBuf> {
    let out = cmd::output(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(cmd::workspace_root())
            .args(["build", "--release", "--quiet", "-p", "uftp-proto", "--no-default-features"])
            .args(["--example", "uftp_bench", "--message-format", "json"]),
    )?;
    out.lines()
        .filter(|l| l.contains("\"executable\"") && l.contains("uftp_bench"))
        .find_map(|l| {
            let rest = &l[l.find("\"executable\":\"")? + 14..];
            Some(PathBuf::from(&rest[..rest.find('"')?]))
        })
        .context("cargo did not report the uftp_bench executable")
}
