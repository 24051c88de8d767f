//! `cargo xtask bench <name>`: one module per benchmark, plus helpers so all look alike.
//!
//! A benchmark compares hpckit with the peer tools in the same run and prints a table
//! ([`Table`]); wall time, CPU time and peak RSS of a child process come from
//! [`measure`]. Benchmarks are never tests: nothing here asserts a time. Each states
//! its goals through [`goal`], and `cargo xtask bench` without a name runs them all
//! and writes one report ([`report`]).

mod dask;
mod datamover;
mod fs;
mod picas;
mod report;
mod slurm;
mod ssh;
mod uftp;
mod unicore;
mod xenon;

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Every benchmark, in the order `cargo xtask bench` runs them.
pub(crate) const KNOWN: &[&str] =
    &["ssh", "slurm", "fs", "unicore", "uftp", "picas", "datamover", "xenon", "dask"];

/// Dispatches `cargo xtask bench [<name> [args]]`: no name (or `all`) runs every
/// benchmark and writes the report.
pub(crate) fn run(name: Option<&str>, args: &[String], report: &ReportArgs) -> Result<()> {
    match name {
        None | Some("all") => report::run_all(report, args),
        Some("ssh") => ssh::run(args),
        Some("slurm") => slurm::run(args),
        Some("fs") => fs::run(args),
        Some("unicore") => unicore::run(args),
        Some("uftp") => uftp::run(args),
        Some("picas") => picas::run(args),
        Some("datamover") => datamover::run(args),
        Some("xenon") => xenon::run(args),
        Some("dask") => dask::run(args),
        Some(other) => bail!("unknown benchmark `{other}` (known: {})", KNOWN.join(", ")),
    }
}

pub(crate) use report::ReportArgs;

/// The file a benchmark appends its goals to when the report runs it
/// (one tab-separated line each: what, wanted, got, met).
pub(crate) const GOALS_ENV: &str = "HPCKIT_BENCH_GOALS";

/// The value after `name` in a benchmark's arguments (`--rounds 3`).
pub(crate) fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// States one goal of a benchmark and whether this run met it: printed for
/// people, and recorded for the report when [`GOALS_ENV`] names a file.
pub(crate) fn goal(what: &str, wanted: &str, got: &str, met: bool) {
    let verdict = if met { "met" } else { "NOT met" };
    println!("goal {verdict}: {what}: {got} (goal {wanted})");
    if let Some(file) = std::env::var_os(GOALS_ENV) {
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        let line = format!("{}\t{}\t{}\t{}\n", clean(what), clean(wanted), clean(got), verdict);
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
        if let Err(e) = written {
            eprintln!("warning: cannot record the goal in {}: {e}", file.to_string_lossy());
        }
    }
}

/// Directories removed when the bench ends, also on an error.
pub(crate) struct RemoveOnDrop(pub(crate) Vec<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A plain-text table with right-aligned numbers, printed the same way by every benchmark.
#[derive(Debug, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub(crate) fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }

    /// Adds a row (as many cells as columns).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len());
        self.rows.push(cells);
    }

    /// The table as text: first column left-aligned, the others right-aligned.
    pub(crate) fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                let sep = if i == 0 { "" } else { "  " };
                if i == 0 {
                    let _ = write!(out, "{cell:<w$}");
                } else {
                    let _ = write!(out, "{sep}{cell:>w$}");
                }
            }
            out.push('\n');
        };
        line(&mut out, &self.header);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&mut out, &rule);
        for row in &self.rows {
            line(&mut out, row);
        }
        out
    }

    /// Prints [`Table::render`].
    pub(crate) fn print(&self) {
        print!("{}", self.render());
    }
}

/// What one child process cost.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Measured {
    /// Wall time from spawn to exit.
    pub(crate) wall: Duration,
    /// User + system CPU time of the child and of the children it waited for.
    pub(crate) cpu: Duration,
    /// Peak resident set size of the child itself (sampled every few ms), in KiB.
    pub(crate) peak_rss_kib: u64,
}

/// Kernel clock ticks per second for `/proc/<pid>/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: u64 = 100;

/// Runs `command` to completion and measures it; fails if it exits non-zero.
/// CPU time is read from the exited child before it is reaped, so it needs no unsafe
/// getrusage call; peak RSS is `VmHWM` sampled while it runs.
pub(crate) fn measure(command: &mut Command) -> Result<Measured> {
    measure_within(command, None)
}

/// [`measure`], and a command still running after `limit` is killed with
/// every process under it and reported as an error: one hung peer (a Java
/// server behind a Python client once sat silent for 20 minutes) must not
/// stall the whole benchmark.
pub(crate) fn measure_within(command: &mut Command, limit: Option<Duration>) -> Result<Measured> {
    let started = Instant::now();
    let mut child =
        command.spawn().with_context(|| format!("cannot start `{}`", cmd::display(command)))?;
    let pid = child.id();
    let mut peak_rss_kib = 0;
    let mut cpu = Duration::ZERO;
    while let Some((used, exited)) = proc_cpu(pid) {
        cpu = used;
        if exited {
            break;
        }
        if let Some(kib) = vm_hwm_kib(pid) {
            peak_rss_kib = peak_rss_kib.max(kib);
        }
        if limit.is_some_and(|l| started.elapsed() > l) {
            kill_tree(pid);
            let _ = child.wait();
            bail!(
                "`{}` was stopped after {:.0} s, its time limit",
                cmd::display(command),
                started.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = child.wait()?;
    let wall = started.elapsed();
    if !status.success() {
        bail!("`{}` failed ({status})", cmd::display(command));
    }
    Ok(Measured { wall, cpu, peak_rss_kib })
}

/// The fields of `/proc/<pid>/stat` after the command name: the state is
/// field 0, the parent's pid 1, utime 11, stime 12, cutime 13, cstime 14.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(')')?.1.split_whitespace().map(str::to_owned).collect())
}

/// CPU time (user + system, its own and its waited-for children's) of a
/// process that has not been reaped, and whether it has exited (a zombie).
fn proc_cpu(pid: u32) -> Option<(Duration, bool)> {
    let fields = stat_fields(pid)?;
    let ticks: u64 =
        [11, 12, 13, 14].iter().filter_map(|i| fields.get(*i)?.parse::<u64>().ok()).sum();
    Some((
        Duration::from_millis(ticks * 1000 / TICKS_PER_SEC),
        fields.first().is_some_and(|s| s == "Z"),
    ))
}

/// Kills `pid` and every process descended from it (children first found,
/// all killed at once, so none can start another in between that is missed
/// for long: the walk repeats until nothing is left).
fn kill_tree(pid: u32) {
    use rustix::process::{Pid, Signal, kill_process};
    for _ in 0..10 {
        let procs = processes();
        let mut tree = vec![pid];
        let mut i = 0;
        while i < tree.len() {
            let p = tree[i];
            tree.extend(procs.iter().filter(|q| q.parent == p).map(|q| q.pid));
            i += 1;
        }
        let live: Vec<u32> =
            procs.iter().filter(|q| q.live && tree.contains(&q.pid)).map(|q| q.pid).collect();
        if live.is_empty() {
            return;
        }
        for p in live {
            if let Some(p) = i32::try_from(p).ok().and_then(Pid::from_raw) {
                let _ = kill_process(p, Signal::KILL);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A process as `/proc` shows it.
struct Proc {
    pid: u32,
    parent: u32,
    /// Not a zombie.
    live: bool,
}

/// Every process, from `/proc`.
fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let fields = stat_fields(pid)?;
        Some(Proc { pid, parent: fields.get(1)?.parse().ok()?, live: fields.first()? != "Z" })
    })
    .collect()
}

/// Wait for `child` to exit and return its status and CPU time (as
/// [`measure`] counts it), for a child whose output the caller reads itself.
pub(crate) fn wait_with_cpu(
    child: &mut std::process::Child,
) -> Result<(std::process::ExitStatus, Duration)> {
    let mut cpu = Duration::ZERO;
    while let Some((used, exited)) = proc_cpu(child.id()) {
        cpu = used;
        if exited {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok((child.wait()?, cpu))
}

/// Peak RSS (`VmHWM`) of a live process in KiB.
pub(crate) fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Touches `bytes` of fresh memory and frees it, right before a run that
/// will fill about that much page cache.
///
/// Our machines are VMs that hand free memory back to their host (virtio
/// balloon free page reporting, about 2 s after it was freed). The first
/// write into such a page costs a fault on the host, which the guest
/// counts as its own system time: measured, 1 GiB written into it took
/// 3.3 s of a transfer that took 0.5 s in memory just freed by the bench.
/// That cost fell on whichever run met it (say, after a `sync` long enough
/// for the output deleted before it to be reported). Called before every
/// measured run, it gives every tool the same memory.
pub(crate) fn warm_free_memory(bytes: usize) {
    const PAGE: usize = 4096;
    // vec! of zeros maps pages without touching them; one write a page backs each.
    let mut pages = vec![0u8; bytes];
    for i in (0..bytes).step_by(PAGE) {
        pages[i] = 1;
    }
    std::hint::black_box(&pages);
}

/// `a / b` formatted as a ratio like `0.87x`.
pub(crate) fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "n/a".into();
    }
    format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["tool", "wall"]);
        t.row(vec!["hpckit".into(), "1.5 s".into()]);
        t.row(vec!["openssh".into(), "12.25 s".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "tool        wall");
        assert_eq!(lines[2], "hpckit     1.5 s");
        assert_eq!(lines[3], "openssh  12.25 s");
    }

    #[test]
    fn measure_sees_cpu_time_and_memory_of_a_busy_child() {
        let m = measure(
            Command::new("sh").args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"]),
        )
        .unwrap();
        assert!(m.cpu > Duration::ZERO, "{m:?}");
        assert!(m.peak_rss_kib > 0, "{m:?}");
        assert!(measure(Command::new("false").arg("x")).is_err());
    }

    #[test]
    fn a_command_over_its_limit_is_stopped_with_everything_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild");
        let started = Instant::now();
        // The grandchild would outlive a kill of the shell alone.
        let e = measure_within(
            Command::new("sh").arg("-c").arg("sleep 600 & echo $! >\"$0\"; wait").arg(&pid_file),
            Some(Duration::from_millis(300)),
        )
        .unwrap_err();
        assert!(e.to_string().contains("its time limit"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(60));
        let grandchild: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        // Killed; reaped by init, or a zombie until it is.
        let gone = (0..100).any(|_| {
            let done = proc_cpu(grandchild).is_none_or(|(_, zombie)| zombie);
            if !done {
                std::thread::sleep(Duration::from_millis(20));
            }
            done
        });
        assert!(gone, "the grandchild {grandchild} still runs");
        assert!(measure_within(&mut Command::new("true"), Some(Duration::from_secs(60))).is_ok());
    }
}
