//! `cargo xtask bench unicore`: hpckit's UNICORE client against the real
//! PyUNICORE 2.0.2, both talking to the same test server in the same run:
//! 50 jobs submitted and waited for, 500 directory listings, 100 small-file
//! downloads, a 1 GiB download and a 1 GiB upload through the REST file
//! endpoints. Each side is its own process (wall, CPU and peak RSS measured
//! alike); requests are counted by the server. Goals: ≥3x on jobs and
//! listings, ≥1.0x on the 1 GiB transfers with hpckit's RSS ≤ 64 MiB.
//!
//! The hpckit side is `crates/unicore-rest/examples/unicore_bench.rs` (release
//! build); the PyUNICORE side is `unicore_peer.py` beside this file.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{Measured, RemoveOnDrop, Table, measure};
use crate::cmd;
use crate::services::{self, EnvVars};

const PEER: &str = include_str!("unicore_peer.py");
const GIB: u64 = 1 << 30;

struct Side<'a> {
    env: &'a EnvVars,
    program: PathBuf,
    prefix: Vec<String>,
}

impl Side<'_> {
    fn command(&self, args: &[&str]) -> Result<Command> {
        let mut c = Command::new(&self.program);
        c.args(&self.prefix).args(args);
        c.env("UC_URL", self.env.require("HPCKIT_UNICORE_URL")?)
            .env("UC_USER", self.env.require("HPCKIT_UNICORE_USER")?)
            .env("UC_PASSWORD", self.env.require("HPCKIT_UNICORE_PASSWORD")?)
            .env("UC_CA", self.env.require("HPCKIT_UNICORE_CA")?)
            .stdout(std::process::Stdio::null());
        Ok(c)
    }
}

/// Runs the benchmark and prints its table.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let skip_big = args.iter().any(|a| a == "--no-big");
    let env = EnvVars::read(&services::up(&["unicore".to_string()], services::Backend::Native)?)?;
    println!("building the hpckit side (release)...");
    let example = build_example()?;
    let data = PathBuf::from(env.require("HPCKIT_UNICORE_DATA")?).join("storages/HOME");
    let work = tempfile_dir()?;
    let _cleanup = RemoveOnDrop(vec![work.clone(), data.join("bench")]);
    prepare(&data.join("bench"), !skip_big)?;
    std::fs::write(work.join("peer.py"), PEER)?;

    let hpckit = Side { env: &env, program: example.clone(), prefix: Vec::new() };
    let peer = Side {
        env: &env,
        program: PathBuf::from(env.require("HPCKIT_UNICORE_PYTHON")?),
        prefix: vec![work.join("peer.py").to_string_lossy().into_owned()],
    };
    let stats = Side { env: &env, program: example, prefix: Vec::new() };
    let requests = || -> Result<u64> {
        let out = cmd::output(stats.command(&["stats"])?.stdout(std::process::Stdio::piped()))?;
        out.trim().parse().context("server request count")
    };

    let big_local = work.join("big-local.bin");
    let mut workloads: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "50 jobs, submit + wait",
            vec!["jobs".into(), "50".into()],
            vec!["jobs".into(), "50".into()],
        ),
        (
            "500 listings (20 entries)",
            vec!["list".into(), "500".into(), "bench/list".into()],
            vec!["list".into(), "500".into(), "bench/list".into()],
        ),
        (
            "100 small downloads (1 KiB)",
            vec!["small".into(), "100".into(), "bench/small".into()],
            vec!["small".into(), "100".into(), "bench/small".into()],
        ),
    ];
    if !skip_big {
        let dl = work.join("dl.bin").to_string_lossy().into_owned();
        workloads.push((
            "1 GiB download",
            vec!["download".into(), "bench/big.bin".into(), dl.clone()],
            vec!["download".into(), "bench/big.bin".into(), dl],
        ));
        make_file(&big_local, GIB)?;
        let src = big_local.to_string_lossy().into_owned();
        workloads.push((
            "1 GiB upload",
            vec!["upload".into(), src.clone(), "bench/up-hpckit.bin".into()],
            vec!["upload".into(), src, "bench/up-peer.bin".into()],
        ));
    }

    let mut table = Table::new(&[
        "workload",
        "hpckit",
        "PyUNICORE",
        "speed-up",
        "requests h/p",
        "peak RSS h/p MiB",
        "CPU s h/p",
    ]);
    let mut goals = Vec::new();
    for (name, h_args, p_args) in &workloads {
        println!("running: {name}");
        let (h, h_req) = timed(&hpckit, h_args, &requests)?;
        let _ = std::fs::remove_file(work.join("dl.bin"));
        let (p, p_req) = timed(&peer, p_args, &requests)?;
        let _ = std::fs::remove_file(work.join("dl.bin"));
        table.row(vec![
            (*name).to_string(),
            format!("{:.2} s", h.wall.as_secs_f64()),
            format!("{:.2} s", p.wall.as_secs_f64()),
            super::ratio(p.wall, h.wall),
            format!("{h_req}/{p_req}"),
            format!("{:.1}/{:.1}", h.peak_rss_kib as f64 / 1024.0, p.peak_rss_kib as f64 / 1024.0),
            format!("{:.2}/{:.2}", h.cpu.as_secs_f64(), p.cpu.as_secs_f64()),
        ]);
        goals.push((*name, p.wall.as_secs_f64() / h.wall.as_secs_f64(), h.peak_rss_kib));
    }
    table.print();
    println!("speed-up = PyUNICORE wall / hpckit wall");
    for (name, speedup, rss_kib) in goals {
        let big = name.contains("GiB");
        let wanted = if big { 1.0 } else { 3.0 };
        super::goal(
            &format!("{name}: speed-up over PyUNICORE"),
            &format!(">= {wanted:.1}x"),
            &format!("{speedup:.2}x"),
            speedup >= wanted,
        );
        if big {
            super::goal(
                &format!("{name}: hpckit peak RSS"),
                "<= 64 MiB",
                &format!("{:.1} MiB", rss_kib as f64 / 1024.0),
                rss_kib <= 64 * 1024,
            );
        }
    }
    Ok(())
}

/// One run of a workload, with the server's request count around it (the
/// second count's own request is taken off).
fn timed(
    side: &Side<'_>,
    args: &[String],
    requests: &dyn Fn() -> Result<u64>,
) -> Result<(Measured, u64)> {
    let before = requests()?;
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let m = measure(&mut side.command(&a)?)?;
    let after = requests()?;
    Ok((m, after.saturating_sub(before + 1)))
}

fn build_example() -> Result<PathBuf> {
    let out = cmd::output(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(cmd::workspace_root())
            .args(["build", "--release", "--quiet", "-p", "unicore-rest", "--no-default-features"])
            .args(["--example", "unicore_bench", "--message-format", "json"]),
    )?;
    out.lines()
        .filter(|l| l.contains("\"executable\"") && l.contains("unicore_bench"))
        .find_map(|l| {
            let rest = &l[l.find("\"executable\":\"")? + 14..];
            Some(PathBuf::from(&rest[..rest.find('"')?]))
        })
        .context("cargo did not report the unicore_bench executable")
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("hpckit-bench-unicore-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The server-side files: 20 entries to list, 100 small files, 1 GiB.
fn prepare(dir: &Path, big: bool) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    for sub in ["list", "small"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    for i in 0..20 {
        std::fs::write(dir.join(format!("list/entry-{i:02}.txt")), format!("entry {i}\n"))?;
    }
    for i in 0..100 {
        std::fs::write(dir.join(format!("small/f{i}.txt")), vec![b'a' + (i % 26) as u8; 1024])?;
    }
    if big {
        make_file(&dir.join("big.bin"), GIB)?;
    }
    Ok(())
}

/// A file of `len` bytes of a repeating, not-all-zero pattern.
pub(super) fn make_file(path: &Path, len: u64) -> Result<()> {
    use std::io::Write as _;
    let block: Vec<u8> =
        (0..(1u32 << 20)).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    if std::fs::metadata(path)?.len() != len {
        bail!("{} has the wrong size", path.display());
    }
    Ok(())
}
