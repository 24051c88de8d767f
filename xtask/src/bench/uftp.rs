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
//! `--size MIB` changes the file size (default 1024), `--rounds R` the
//! number of rounds (default 3), `--rows A,B` keeps the rows whose
//! "direction client" contains A or B. Each round runs every row once, starting
//! one row further on than the round before, and every run starts after a
//! `sync` with the previous output deleted, so that no client pays for
//! writing back another's data or for the files the benchmark made, and
//! right after memory for its output was touched and freed
//! ([`super::warm_free_memory`]: our VMs give free memory back to their
//! host, and the first write into it costs several times the transfer).
//! The table shows each row's median and the spread of its rounds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{Measured, RemoveOnDrop, Table, measure_within};
use crate::cmd;
use crate::services::{self, EnvVars};

const PEER: &str = include_str!("uftp_peer.py");

/// Runs the benchmark and prints its table.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mib: u64 =
        super::flag(args, "--size").map_or(Ok(1024), |v| v.parse()).context("--size MIB")?;
    let rounds: usize =
        super::flag(args, "--rounds").map_or(Ok(3), |v| v.parse()).context("--rounds R")?.max(1);
    let size = mib << 20;
    let env = release_service()?;
    println!("load average before the runs: {}", load_average());
    free_page_cache();
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

    // `--rows A,B` keeps the rows whose "direction client" contains A or B
    // (to look into some rows under the bench's own conditions); the goals
    // then say which rows are missing.
    let rows = super::flag(args, "--rows");
    let wanted = |row: &str| rows.as_ref().is_none_or(|r| r.split(',').any(|w| row.contains(w)));
    let runs: Vec<Run> =
        runs.into_iter().filter(|(dir, who, _)| wanted(&format!("{dir} {who}"))).collect();
    if runs.is_empty() {
        anyhow::bail!("--rows {rows:?} matches no row");
    }

    // A client's command, with the bench user and the test CA for every kind.
    let client = |argv: &[String]| -> Result<Command> {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..])
            .env("UFTP_AUTH_URL", &auth)
            .env("UFTP_USER", env.require("HPCKIT_UFTP_USER")?)
            .env("UFTP_PASSWORD", env.require("HPCKIT_UFTP_PASSWORD")?)
            .env("UFTP_CA", env.require("HPCKIT_UFTP_CA")?)
            .env("REQUESTS_CA_BUNDLE", env.require("HPCKIT_UFTP_CA")?)
            .stdout(std::process::Stdio::null());
        Ok(c)
    };
    // The page cache a run fills (its output) and some room for the rest.
    let warm = usize::try_from(size + size / 4).unwrap_or(usize::MAX);
    // The first big write after the files were made pays for the memory
    // they took (seen: 2-4x the system time of the runs after it), so one
    // unmeasured run each way comes first, and no row meets that cost.
    let first_of_each = ["download", "upload"].map(|d| runs.iter().find(|r| r.0 == d));
    for (dir, who, argv) in first_of_each.into_iter().flatten() {
        println!("warm-up (not measured): {dir} with {who}");
        super::warm_free_memory(warm);
        cmd::run(&mut client(argv)?)?;
    }
    let mut measured: Vec<Vec<Run1>> = runs.iter().map(|_| Vec::new()).collect();
    let mut failed: Vec<Option<String>> = vec![None; runs.len()];
    for round in 0..rounds {
        for k in 0..runs.len() {
            let i = (round + k) % runs.len();
            let (dir, who, argv) = &runs[i];
            if failed[i].is_some() {
                continue;
            }
            println!("round {}/{rounds}: {dir} with {who}", round + 1);
            let _ = std::fs::remove_file(&dl);
            let _ = std::fs::remove_file(server_dir.join("up.bin"));
            cmd::run(&mut Command::new("sync"))?;
            super::warm_free_memory(warm);
            let mut c = client(argv)?;
            let before = server_pid.map(cpu_of).unwrap_or_default();
            // A 1 GiB transfer takes seconds; a peer still busy after two minutes hangs.
            match measure_within(&mut c, Some(Duration::from_secs(120))) {
                Ok(m) => {
                    let server_cpu =
                        server_pid.map(cpu_of).unwrap_or_default().saturating_sub(before);
                    let written =
                        if *dir == "download" { dl.clone() } else { server_dir.join("up.bin") };
                    let ok = std::fs::metadata(&written).is_ok_and(|m| m.len() == size);
                    if ok {
                        measured[i].push(Run1 { m, server_cpu });
                    } else {
                        failed[i] = Some("WRONG SIZE".into());
                    }
                }
                // One failing client (a full disk, a peer's bug) must not hide the other rows.
                Err(e) => failed[i] = Some(format!("FAILED: {e:#}")),
            }
        }
    }
    let _ = std::fs::remove_file(&dl);

    let mut table = Table::new(&[
        "direction",
        "client",
        "wall (median)",
        "GiB/s",
        "spread GiB/s",
        "CPU s client/server",
        "peak RSS MiB",
    ]);
    let gib = size as f64 / (1u64 << 30) as f64;
    let mut results = Vec::new();
    for (i, (dir, who, _)) in runs.iter().enumerate() {
        let mut done = std::mem::take(&mut measured[i]);
        if let Some(why) = &failed[i] {
            let mut row = vec![(*dir).to_string(), format!("{who} ({why})")];
            row.extend(std::iter::repeat_n("-".to_string(), 5));
            table.row(row);
            continue;
        }
        done.sort_by_key(|r| r.m.wall);
        let rate = |r: &Run1| gib / r.m.wall.as_secs_f64().max(1e-9);
        let (Some(slow), Some(fast)) = (done.first().map(rate), done.last().map(rate)) else {
            continue;
        };
        let med = &done[(done.len() - 1) / 2];
        // The goal is on every transfer: the highest peak of all rounds.
        let rss = done.iter().map(|r| r.m.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
        results.push(Outcome { direction: dir, who, gib_s: rate(med), peak_rss_mib: rss });
        table.row(vec![
            (*dir).to_string(),
            (*who).to_string(),
            format!("{:.2} s", med.m.wall.as_secs_f64()),
            format!("{:.2}", rate(med)),
            format!("{fast:.2}-{slow:.2}"),
            format!("{:.2}/{:.2}", med.m.cpu.as_secs_f64(), med.server_cpu.as_secs_f64()),
            format!("{rss:.1}"),
        ]);
    }
    table.print();
    println!(
        "{mib} MiB each way, {rounds} rounds (median; spread: fastest-slowest round); load average after the runs: {}",
        load_average()
    );
    state_goals(&results);
    Ok(())
}

/// One run of one row.
struct Run1 {
    m: Measured,
    server_cpu: Duration,
}

/// One measured row (its median), for the goals.
struct Outcome {
    direction: &'static str,
    who: &'static str,
    gib_s: f64,
    peak_rss_mib: f64,
}

/// What a goal says when a row it needs has no result.
const NO_ROW: &str = "a row failed or was left out (--rows)";

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
                NO_ROW,
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
        _ => super::goal("download: hpckit vs local cp", ">= 0.8x", NO_ROW, false),
    }
    for dir in ["download", "upload"] {
        let what = format!("{dir}: hpckit 4 streams AES");
        match best(dir, &|w| w == "hpckit 4 streams AES") {
            Some(a) => {
                super::goal(&what, ">= 0.5 GiB/s", &format!("{:.2} GiB/s", a.gib_s), a.gib_s >= 0.5)
            }
            None => super::goal(&what, ">= 0.5 GiB/s", NO_ROW, false),
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
        _ => super::goal("hpckit peak RSS, every row", "<= 64 MiB", NO_ROW, false),
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

/// Writes back and drops the clean page cache before the files are made,
/// so that no run has to reclaim memory for what it writes (on a machine
/// whose memory is full of cached build output, that reclaim can double a
/// run's system time, and it falls on whichever run happens to meet it).
/// Needs root; otherwise says so and goes on.
fn free_page_cache() {
    let _ = cmd::run(&mut Command::new("sync"));
    match std::fs::write("/proc/sys/vm/drop_caches", "1\n") {
        Ok(()) => println!("page cache dropped before the runs"),
        Err(e) => println!("page cache not dropped ({e}); rows may pay for memory reclaim"),
    }
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
