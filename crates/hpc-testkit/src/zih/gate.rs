//! `libexec/dtexec`: the only way into the project space.
//!
//! Installed setgid to the project group, it runs the tool with that group
//! (so it may write where the test user alone may not) but only inside a
//! running job of the datamover partition: the job's environment must name
//! the partition and a `slurmstepd` of that job must be an ancestor.

use std::os::unix::process::CommandExt;
use std::process::Command;

use super::config::StandinConfig;

/// The tools a transfer job may run.
const TOOLS: [&str; 7] = ["cp", "ls", "mv", "rm", "rsync", "tar", "wget"];

pub(super) fn main(args: &[String]) -> i32 {
    let Some((tool, rest)) = args.split_first() else {
        eprintln!("dtexec: usage: dtexec TOOL [ARGS...]");
        return 2;
    };
    if !TOOLS.contains(&tool.as_str()) {
        eprintln!("dtexec: {tool:?} is not a datamover tool");
        return 2;
    }
    let partition = super::home_dir()
        .ok()
        .and_then(|h| StandinConfig::load(&h).ok())
        .map(|c| c.partition)
        .unwrap_or_else(|| "datamover".into());
    if let Err(why) = inside_datamover_job(&partition) {
        eprintln!("dtexec: refusing to run outside a job of the {partition} partition: {why}");
        return 126;
    }
    // The system's tools, whatever PATH the job brought along.
    let e = Command::new(tool).env("PATH", "/usr/local/bin:/usr/bin:/bin").args(rest).exec();
    eprintln!("dtexec: cannot run {tool}: {e}");
    127
}

fn inside_datamover_job(partition: &str) -> Result<(), String> {
    let job = std::env::var("SLURM_JOB_ID").map_err(|_| "SLURM_JOB_ID is not set".to_owned())?;
    match std::env::var("SLURM_JOB_PARTITION") {
        Ok(p) if p == partition => {}
        Ok(p) => return Err(format!("the job runs in partition {p:?}")),
        Err(_) => return Err("SLURM_JOB_PARTITION is not set".into()),
    }
    // slurmstepd names itself `slurmstepd: [JOB.STEP]`.
    let mut pid = std::process::id();
    for _ in 0..64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { break };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.starts_with("slurmstepd") && cmdline.contains(&format!("[{job}.")) {
            return Ok(());
        }
        // Field 4 of /proc/PID/stat, after the parenthesised name.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { break };
        match after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            Some(0) | None => break,
            Some(ppid) => pid = ppid,
        }
    }
    Err(format!("no slurmstepd of job {job} among its ancestors"))
}
