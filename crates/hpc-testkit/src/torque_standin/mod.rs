//! A Torque stand-in: `qsub`, `qstat`, `qdel` and `pbsnodes` that print
//! exactly Torque's formats (facts in `shared/reference/SCHEDULERS.md`) while
//! really running the jobs as background processes on this host.
//!
//! Torque cannot be installed on our machines (not in Debian 12, not in any
//! reachable registry), so the torque adaptor is tested against this program.
//! Design and limits: `docs/adr/0452-torque-stand-in.md`. In short:
//!
//! * one binary, multi-call by `argv[0]` (`qsub`, `qstat`, `qdel`,
//!   `pbsnodes`), or `torque-standin qsub ...`;
//! * state is a directory (`$TORQUE_STANDIN_HOME`, else `../` of the
//!   directory holding the invoked `qsub` link): `config.json`, `spool/seq`,
//!   one `spool/jobs/<seq>/` per job, world-writable (sticky) so any user
//!   submits, and each job directory owned by its submitter;
//! * `qsub` parses its options and the script's `#PBS` lines (`-N -o -e -j -d
//!   -v -V -l walltime=... -q`), writes the job and starts a detached runner
//!   (`torque-standin __run <jobdir>`) that waits for a free slot (`np`),
//!   runs the script in its own process group, enforces the walltime, shows
//!   `E` for `exiting_seconds`, then records `exit_status` (256 + signal when
//!   killed) and `comp_time`;
//! * finished jobs stay visible as `C` for `keep_completed` seconds, then
//!   vanish, as in Torque;
//! * `qstat -x` prints the one-line XML of Torque 6.1+ (`version = "6.1"`) or
//!   of 6.0 and older (`"6.0"`: no declaration, empty stdout without jobs).
//!
//! Deliberate differences from Torque: one node (this host); output files are
//! written while the job runs instead of being staged out at the end; no job
//! arrays, holds, dependencies or `qsub -I`.
//!
//! The stand-in's parts: `qsub.rs`, `qstat.rs`, `qdel.rs`, `pbsnodes.rs`
//! (one command each), `job.rs` (a job's record and its detached runner),
//! `config.rs`, and small helpers for the host (`host.rs`) and for
//! Torque's text formats (`text.rs`).
#![allow(clippy::disallowed_methods, reason = "a stand-in for daemons spawns its own processes")]

mod config;
mod host;
mod job;
mod pbsnodes;
mod qdel;
mod qstat;
mod qsub;
mod text;

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use self::config::load_config;
pub use self::config::{Config, QueueConfig};
use self::host::{home_dir, now, write_atomic};
use self::job::{JobSpec, read_num, run_job};

/// Entry point: dispatch on `argv[0]` (or the first argument after
/// `torque-standin`). Returns the process exit code.
pub fn main_with(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = args.into_iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let invoked = args.first().cloned().unwrap_or_default();
    let base = Path::new(&invoked)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (cmd, rest) = if matches!(base.as_str(), "qsub" | "qstat" | "qdel" | "pbsnodes") {
        (base.clone(), args[1..].to_vec())
    } else if args.len() >= 2 {
        (args[1].clone(), args[2..].to_vec())
    } else {
        eprintln!("usage: torque-standin qsub|qstat|qdel|pbsnodes [args]");
        return 2;
    };
    if cmd == "__install" {
        let Some(home) = rest.first() else {
            eprintln!("usage: torque-standin __install HOME");
            return 2;
        };
        let me = std::env::current_exe().unwrap_or_default();
        return match install(Path::new(home), &me, &Config::default()) {
            Ok(bin) => {
                println!("{}", bin.display());
                0
            }
            Err(e) => {
                eprintln!("torque-standin: cannot install into {home}: {e}");
                1
            }
        };
    }
    if cmd == "__run" {
        return match rest.first() {
            Some(dir) => run_job(Path::new(dir)),
            None => 2,
        };
    }
    let home = match home_dir(&invoked) {
        Some(h) => h,
        None => {
            eprintln!(
                "{cmd}: cannot find the stand-in's state directory (set TORQUE_STANDIN_HOME)"
            );
            return 2;
        }
    };
    let config = match load_config(&home) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{cmd}: {e}");
            return 2;
        }
    };
    let st = Standin { home, config };
    match cmd.as_str() {
        "qsub" => st.qsub(&rest),
        "qstat" => st.qstat(&rest),
        "qdel" => st.qdel(&rest),
        "pbsnodes" => st.pbsnodes(&rest),
        other => {
            eprintln!("torque-standin: unknown command {other:?}");
            2
        }
    }
}

struct Standin {
    home: PathBuf,
    config: Config,
}

impl Standin {
    pub(super) fn spool(&self) -> PathBuf {
        self.home.join("spool")
    }

    pub(super) fn jobs_dir(&self) -> PathBuf {
        self.spool().join("jobs")
    }

    pub(super) fn next_seq(&self) -> std::io::Result<u64> {
        let path = self.spool().join("seq");
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        f.lock()?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let seq = text.trim().parse::<u64>().unwrap_or(0) + 1;
        f.set_len(0)?;
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(0))?;
        f.write_all(seq.to_string().as_bytes())?;
        f.sync_all()?;
        Ok(seq)
    }

    pub(super) fn job_id(&self, seq: u64) -> String {
        format!("{seq}.{}", self.config.server_name)
    }

    /// Every job directory, oldest first; finished jobs past
    /// `keep_completed` are purged on the way.
    pub(super) fn jobs(&self) -> Vec<(u64, PathBuf, JobSpec)> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(self.jobs_dir()) else { return out };
        for e in entries.flatten() {
            let Ok(seq) = e.file_name().to_string_lossy().parse::<u64>() else { continue };
            let dir = e.path();
            let Some(spec) = fs::read_to_string(dir.join("job.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<JobSpec>(&t).ok())
            else {
                continue;
            };
            if let Some(done) = read_num(&dir.join("comp_time"))
                && now().saturating_sub(done as u64) >= self.config.keep_completed
            {
                // Whoever may remove it (owner or root) does; others just skip it.
                if fs::remove_dir_all(&dir).is_ok() || !dir.exists() {
                    continue;
                }
                continue;
            }
            out.push((seq, dir, spec));
        }
        out.sort_by_key(|(s, _, _)| *s);
        out
    }

    /// The sequence number in a job id (`12`, `12.server`, `12.short`).
    pub(super) fn seq_of(id: &str) -> Option<u64> {
        let num = id.split('.').next()?;
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        num.parse().ok()
    }
}

/// Prepare a stand-in home: `bin/` with the binary and its command links,
/// `spool/` writable by every user, and `config.json`. Used by the xtask
/// service and by tests.
pub fn install(home: &Path, binary: &Path, config: &Config) -> std::io::Result<PathBuf> {
    let bin = home.join("bin");
    fs::create_dir_all(&bin)?;
    let target = bin.join("torque-standin");
    let tmp = bin.join("torque-standin.tmp");
    fs::copy(binary, &tmp)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
    fs::rename(&tmp, &target)?;
    for cmd in ["qsub", "qstat", "qdel", "pbsnodes"] {
        let link = bin.join(cmd);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink("torque-standin", &link)?;
    }
    for d in ["spool", "spool/jobs", "spool/slots"] {
        let p = home.join(d);
        fs::create_dir_all(&p)?;
        // Sticky and world-writable, like /tmp: every user queues jobs, and
        // only a job's owner (or root) removes its directory.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o1777))?;
    }
    let seq = home.join("spool/seq");
    if !seq.exists() {
        fs::write(&seq, "0")?;
    }
    fs::set_permissions(&seq, fs::Permissions::from_mode(0o666))?;
    for d in [home.to_path_buf(), bin.clone()] {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755))?;
    }
    write_atomic(
        &home.join("config.json"),
        &serde_json::to_string_pretty(config).unwrap_or_default(),
    )?;
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(Standin::seq_of("12.server.example"), Some(12));
        assert_eq!(Standin::seq_of("12"), Some(12));
        assert_eq!(Standin::seq_of("x12"), None);
        assert_eq!(Standin::seq_of(""), None);
    }
}
