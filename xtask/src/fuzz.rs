//! `cargo xtask fuzz`: every fuzz target of `crates/hpc-fuzz` (or the named
//! ones) for a fixed time each, on stable Rust, with a table of executions
//! and findings. Each target runs in its own `hpc-fuzz run` process, so an
//! abort (an allocation above the runner's cap) ends one target, and the
//! input it was running is kept.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cmd::{self, cargo};

/// Options of `cargo xtask fuzz`.
#[derive(Debug, clap::Args)]
pub(crate) struct FuzzArgs {
    /// Seconds per target.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Only these targets (repeatable; default: all). `cargo xtask fuzz --list` names them.
    #[arg(long)]
    target: Vec<String>,
    /// Seed of the mutation loop (default: the runner's fixed seed, so runs repeat).
    #[arg(long)]
    seed: Option<u64>,
    /// Print the targets and stop.
    #[arg(long)]
    list: bool,
}

/// One target's run.
struct Row {
    name: String,
    execs: u64,
    seconds: f64,
    finding: Option<String>,
}

pub(crate) fn run(args: &FuzzArgs) -> Result<()> {
    cmd::run(cargo().args(["build", "-q", "-p", "hpc-fuzz", "--bin", "hpc-fuzz"]))?;
    let target_dir = cmd::target_dir()?;
    let bin = target_dir.join("debug/hpc-fuzz");
    let listing = cmd::output(Command::new(&bin).arg("list"))?;
    if args.list {
        print!("{listing}");
        return Ok(());
    }
    let all: Vec<&str> = listing.lines().filter_map(|l| l.split('\t').next()).collect();
    for name in &args.target {
        if !all.contains(&name.as_str()) {
            bail!("no fuzz target {name:?} (targets: {})", all.join(", "));
        }
    }
    let chosen: Vec<&str> = if args.target.is_empty() {
        all
    } else {
        all.into_iter().filter(|n| args.target.iter().any(|t| t == n)).collect()
    };
    let out = target_dir.join("fuzz");
    let mut rows = Vec::new();
    for name in chosen {
        println!("==> {name} ({} s)", args.seconds);
        let mut child = Command::new(&bin);
        child.args(["run", name, "--seconds", &args.seconds.to_string(), "--out"]).arg(&out);
        if let Some(seed) = args.seed {
            child.args(["--seed", &seed.to_string()]);
        }
        let started = Instant::now();
        let result =
            child.output().with_context(|| format!("cannot start `{}`", cmd::display(&child)))?;
        let seconds = started.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&result.stdout);
        print!("{stdout}");
        eprint!("{}", String::from_utf8_lossy(&result.stderr));
        let execs = stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(&format!("{name} execs=")))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let finding = match result.status.code() {
            Some(0) => None,
            Some(1) => Some(format!("panics (see {}/crashes/{name}/)", out.display())),
            _ => {
                // Died without reporting: the input it was running is on disk.
                let current = out.join(format!("{name}.current"));
                let dir = out.join("crashes").join(name);
                std::fs::create_dir_all(&dir)?;
                let kept = dir.join("abort.bin");
                std::fs::copy(&current, &kept)
                    .with_context(|| format!("keeping {}", current.display()))?;
                Some(format!("died ({}); its input: {}", result.status, kept.display()))
            }
        };
        rows.push(Row { name: name.to_owned(), execs, seconds, finding });
    }
    println!("\ntarget                   execs     execs/s   result");
    for r in &rows {
        println!(
            "{:<22} {:>9} {:>10.0}   {}",
            r.name,
            r.execs,
            r.execs as f64 / r.seconds.max(0.001),
            r.finding.as_deref().unwrap_or("ok")
        );
    }
    let total: u64 = rows.iter().map(|r| r.execs).sum();
    let bad: Vec<&str> =
        rows.iter().filter(|r| r.finding.is_some()).map(|r| r.name.as_str()).collect();
    println!("{} targets, {total} executions, {} with findings", rows.len(), bad.len());
    if !bad.is_empty() {
        bail!("findings in: {}", bad.join(", "));
    }
    Ok(())
}
