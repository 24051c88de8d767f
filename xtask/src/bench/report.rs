//! `cargo xtask bench` without a name: every benchmark in turn, each as its own
//! `xtask bench <name>` child (so one that fails or leaks cannot spoil the next),
//! its output shown live and kept, its goals collected through [`super::GOALS_ENV`];
//! then one Markdown report in `target/bench/report.md` with the machine it ran on.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use super::{GOALS_ENV, KNOWN};
use crate::cmd;

/// Options of the report run (`--only`, `--skip`, `--update-docs`).
#[derive(Debug, Default)]
pub(crate) struct ReportArgs {
    /// Run only these benchmarks.
    pub(crate) only: Vec<String>,
    /// Leave these out.
    pub(crate) skip: Vec<String>,
    /// Also write the report to `docs/benchmarks.md`.
    pub(crate) update_docs: bool,
}

/// One goal as a benchmark recorded it.
#[derive(Debug, PartialEq, Eq)]
struct Goal {
    what: String,
    wanted: String,
    got: String,
    met: bool,
}

/// What one benchmark did.
#[derive(Debug)]
struct Ran {
    name: String,
    wall: Duration,
    /// `None` when it succeeded, else why not.
    failure: Option<String>,
    output: String,
    goals: Vec<Goal>,
}

/// Runs the selected benchmarks and writes the report.
pub(crate) fn run_all(opts: &ReportArgs, args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("arguments go to one benchmark: `cargo xtask bench <name> {}`", args.join(" "));
    }
    let names = select(opts)?;
    let dir = cmd::workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let machine_before = Machine::now();
    let started = SystemTime::now();
    let mut ran = Vec::new();
    for name in &names {
        println!("\n=== cargo xtask bench {name}");
        ran.push(run_one(name, &dir)?);
    }
    let text = render(&ran, &machine_before, &Machine::now(), started);
    let path = dir.join("report.md");
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    println!("\nreport: {}", path.display());
    if opts.update_docs {
        let docs = cmd::workspace_root().join("docs").join("benchmarks.md");
        std::fs::write(&docs, &text).with_context(|| format!("writing {}", docs.display()))?;
        println!("and {}", docs.display());
    }
    let failed: Vec<&str> =
        ran.iter().filter(|r| r.failure.is_some()).map(|r| r.name.as_str()).collect();
    if !failed.is_empty() {
        bail!("benchmarks failed: {} (see the report)", failed.join(", "));
    }
    Ok(())
}

/// The benchmarks `--only` and `--skip` leave, in [`KNOWN`]'s order.
fn select(opts: &ReportArgs) -> Result<Vec<String>> {
    for name in opts.only.iter().chain(&opts.skip) {
        if !KNOWN.contains(&name.as_str()) {
            bail!("unknown benchmark `{name}` (known: {})", KNOWN.join(", "));
        }
    }
    let names: Vec<String> = KNOWN
        .iter()
        .filter(|n| opts.only.is_empty() || opts.only.iter().any(|o| o == *n))
        .filter(|n| !opts.skip.iter().any(|s| s == *n))
        .map(|n| n.to_string())
        .collect();
    if names.is_empty() {
        bail!("--only and --skip leave no benchmark to run");
    }
    Ok(names)
}

/// Runs `xtask bench <name>` as a child, echoing and keeping its output.
fn run_one(name: &str, dir: &Path) -> Result<Ran> {
    let goals_file = dir.join(format!("goals-{name}.tsv"));
    let _ = std::fs::remove_file(&goals_file);
    let exe = std::env::current_exe().context("cannot find the running xtask")?;
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(["bench", name])
        .env(GOALS_ENV, &goals_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start the {name} benchmark"))?;
    let output = Arc::new(Mutex::new(String::new()));
    let readers: Vec<_> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                println!("{line}");
                let mut all = output.lock().unwrap_or_else(|e| e.into_inner());
                all.push_str(&line);
                all.push('\n');
            }
        })
    })
    .collect();
    let status = child.wait()?;
    for r in readers {
        let _ = r.join();
    }
    let output = std::mem::take(&mut *output.lock().unwrap_or_else(|e| e.into_inner()));
    let goals = match std::fs::read_to_string(&goals_file) {
        Ok(text) => parse_goals(&text),
        Err(_) => Vec::new(),
    };
    let _ = std::fs::remove_file(&goals_file);
    let failure = (!status.success()).then(|| format!("exited with {status}"));
    Ok(Ran { name: name.to_string(), wall: started.elapsed(), failure, output, goals })
}

fn parse_goals(text: &str) -> Vec<Goal> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            Some(Goal {
                what: f.next()?.to_string(),
                wanted: f.next()?.to_string(),
                got: f.next()?.to_string(),
                met: f.next()? == "met",
            })
        })
        .collect()
}

/// Facts about the machine at one moment.
#[derive(Debug)]
struct Machine {
    cpu: String,
    cores: usize,
    memory_gib: f64,
    os: String,
    kernel: String,
    load: String,
}

impl Machine {
    fn now() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = field(&cpuinfo, "model name").unwrap_or("unknown CPU").to_string();
        let meminfo = read("/proc/meminfo");
        let mem_kib: f64 = field(&meminfo, "MemTotal")
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let os_release = read("/etc/os-release");
        let os = os_release
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| "unknown OS".into());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: mem_kib / (1024.0 * 1024.0),
            os,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            load: read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        }
    }
}

/// The value of `key: value` in a `/proc` file.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// The commit the workspace is at, read from `.git` itself (a worktree's
/// `.git` file points to its git dir; branch refs may live in the common dir,
/// loose or packed), so the report needs no git binary.
fn commit() -> String {
    head_commit(&cmd::workspace_root()).map_or_else(|| "unknown".into(), |c| c[..12].to_string())
}

fn head_commit(root: &Path) -> Option<String> {
    let dot_git = root.join(".git");
    let git_dir = if dot_git.is_dir() {
        dot_git
    } else {
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let dir = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
        if dir.is_absolute() { dir } else { root.join(dir) }
    };
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(rel) => git_dir.join(rel.trim()),
        Err(_) => git_dir.clone(),
    };
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let Some(name) = head.trim().strip_prefix("ref:").map(str::trim) else {
        return Some(head.trim().to_string()).filter(|h| h.len() >= 12);
    };
    for dir in [&git_dir, &common] {
        if let Ok(id) = std::fs::read_to_string(dir.join(name)) {
            return Some(id.trim().to_string()).filter(|h| h.len() >= 12);
        }
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|l| {
        let (id, r) = l.split_once(' ')?;
        (r == name && id.len() >= 12).then(|| id.to_string())
    })
}

/// `YYYY-MM-DD HH:MM UTC` of a moment (civil date from days since 1970).
fn utc(at: SystemTime) -> String {
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days_from_civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

/// The report as Markdown.
fn render(ran: &[Ran], before: &Machine, after: &Machine, started: SystemTime) -> String {
    let mut out = String::from("# hpckit benchmark report\n\n");
    out += "Written by `cargo xtask bench`: each benchmark runs hpckit and its peers in the \
            same run, on the same services, and states its goals. Ratios count, not \
            absolute times: the machine below is shared by the client and the servers.\n\n";
    out += &format!("- run: {}, commit {}\n", utc(started), commit());
    out += &format!(
        "- machine: {}, {} cores, {:.0} GiB, {}, kernel {}\n",
        before.cpu, before.cores, before.memory_gib, before.os, before.kernel
    );
    out += &format!("- load average: {} before, {} after\n\n", before.load, after.load);
    out += "## Goals\n\n| benchmark | goal | this run | met |\n|---|---|---|---|\n";
    for r in ran {
        if let Some(why) = &r.failure {
            out += &format!("| {} | (the benchmark failed) | {} | no |\n", r.name, cell(why));
        }
        if r.goals.is_empty() && r.failure.is_none() {
            out += &format!("| {} | (no goal recorded) | | |\n", r.name);
        }
        for g in &r.goals {
            let met = if g.met { "yes" } else { "**no**" };
            out += &format!(
                "| {} | {} | {} | {met} |\n",
                r.name,
                cell(&format!("{}: {}", g.what, g.wanted)),
                cell(&g.got)
            );
        }
    }
    for r in ran {
        out += &format!(
            "\n## {}\n\n`cargo xtask bench {}`: {:.0} s, {}.\n\n```text\n{}```\n",
            r.name,
            r.name,
            r.wall.as_secs_f64(),
            r.failure.as_deref().unwrap_or("succeeded"),
            r.output
        );
    }
    out
}

/// Text that is safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(only: &[&str], skip: &[&str]) -> ReportArgs {
        ReportArgs {
            only: only.iter().map(|s| s.to_string()).collect(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
            update_docs: false,
        }
    }

    #[test]
    fn only_and_skip_pick_known_benchmarks_in_order() {
        assert_eq!(select(&opts(&[], &[])).unwrap().len(), KNOWN.len());
        assert_eq!(select(&opts(&["picas", "ssh"], &[])).unwrap(), ["ssh", "picas"]);
        let rest = select(&opts(&[], &["ssh"])).unwrap();
        assert!(!rest.contains(&"ssh".to_string()) && rest.len() == KNOWN.len() - 1);
        assert!(select(&opts(&["nope"], &[])).unwrap_err().to_string().contains("nope"));
        assert!(select(&opts(&["ssh"], &["ssh"])).is_err());
    }

    #[test]
    fn goals_round_trip_through_the_file_format() {
        let text = "ratio\t<= 1.00x\t0.93x\tmet\nrss\t<= 64 MiB\t80 MiB\tNOT met\nbroken line\n";
        let goals = parse_goals(text);
        assert_eq!(goals.len(), 2);
        assert!(goals[0].met && !goals[1].met);
        assert_eq!(goals[1].got, "80 MiB");
    }

    #[test]
    fn the_commit_is_read_from_a_worktree_and_from_packed_refs() {
        let dir = tempfile::tempdir().unwrap();
        let (root, git) = (dir.path().join("wt"), dir.path().join("repo.git"));
        let wt_git = git.join("worktrees/wt");
        std::fs::create_dir_all(&wt_git).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join(".git"), format!("gitdir: {}\n", wt_git.display())).unwrap();
        std::fs::write(wt_git.join("commondir"), "../..\n").unwrap();
        std::fs::write(wt_git.join("HEAD"), "ref: refs/heads/topic\n").unwrap();
        let id = "0123456789abcdef0123456789abcdef01234567";
        std::fs::write(git.join("packed-refs"), format!("# pack-refs\n{id} refs/heads/topic\n"))
            .unwrap();
        assert_eq!(head_commit(&root).as_deref(), Some(id));
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        let loose = "fedcba9876543210fedcba9876543210fedcba98";
        std::fs::write(git.join("refs/heads/topic"), format!("{loose}\n")).unwrap();
        assert_eq!(head_commit(&root).as_deref(), Some(loose));
        assert_eq!(head_commit(dir.path()), None);
    }

    #[test]
    fn utc_dates_are_civil_dates() {
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(utc(at(0)), "1970-01-01 00:00 UTC");
        assert_eq!(utc(at(951_782_400)), "2000-02-29 00:00 UTC");
        assert_eq!(utc(at(1_796_559_000)), "2026-12-06 12:10 UTC");
    }

    #[test]
    fn the_report_names_unmet_goals_and_failures() {
        let m = Machine::now();
        let ran = [
            Ran {
                name: "ssh".into(),
                wall: Duration::from_secs(3),
                failure: None,
                output: "table\n".into(),
                goals: parse_goals("ratio\t<= 1.00x\t1.20x\tNOT met\n"),
            },
            Ran {
                name: "fs".into(),
                wall: Duration::from_secs(1),
                failure: Some("exited with 1 | x".into()),
                output: String::new(),
                goals: Vec::new(),
            },
        ];
        let text = render(&ran, &m, &m, SystemTime::UNIX_EPOCH);
        assert!(text.contains("| ssh | ratio: <= 1.00x | 1.20x | **no** |"), "{text}");
        assert!(text.contains("| fs | (the benchmark failed) | exited with 1 \\| x | no |"));
        assert!(text.contains("```text\ntable\n```"));
        assert!(text.contains(&format!("{} cores", m.cores)));
    }
}
