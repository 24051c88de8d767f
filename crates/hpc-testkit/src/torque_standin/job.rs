//! One job: its record (written once by `qsub`), its state files, and the
//! detached runner (`torque-standin __run <jobdir>`) that waits for a slot,
//! runs it and records how it ended.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::load_config;
use super::host::*;

/// What a job is, written once by `qsub` (`<jobdir>/job.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct JobSpec {
    pub(super) seq: u64,
    pub(super) name: String,
    pub(super) owner: String,
    pub(super) uid: u32,
    pub(super) home: String,
    pub(super) queue: String,
    pub(super) submit_host: String,
    pub(super) submit_args: String,
    pub(super) init_work_dir: String,
    pub(super) work_dir: String,
    pub(super) output_path: String,
    pub(super) error_path: String,
    pub(super) join: String,
    pub(super) walltime: Option<u64>,
    pub(super) resources: BTreeMap<String, String>,
    pub(super) env: BTreeMap<String, String>,
    pub(super) shell: String,
    pub(super) ctime: u64,
}

pub(super) fn read_num(path: &Path) -> Option<f64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// State letter, start time, completion time, exit status.
pub(super) fn job_state(dir: &Path) -> (char, Option<f64>, Option<f64>, Option<i64>) {
    let start = read_num(&dir.join("start_time"));
    let comp = read_num(&dir.join("comp_time"));
    let exit = read_num(&dir.join("exit_status")).map(|e| e as i64);
    let state = if comp.is_some() {
        'C'
    } else if dir.join("exiting").exists() {
        'E'
    } else if start.is_some() {
        'R'
    } else {
        'Q'
    };
    (state, start, comp, exit)
}

/// The detached runner of one job: wait for a slot, run, record the end.
pub(super) fn run_job(dir: &Path) -> i32 {
    let Some(spec) = fs::read_to_string(dir.join("job.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<JobSpec>(&t).ok())
    else {
        return 1;
    };
    let home = dir
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let np = load_config(&home).map(|c| (c.np, c.exiting_seconds)).unwrap_or((1, 0.0));
    let slots = home.join("spool").join("slots");
    let finish = |exit: Option<i64>| {
        if let Some(code) = exit {
            let _ = write_atomic(&dir.join("exit_status"), &code.to_string());
        }
        let _ = write_atomic(&dir.join("comp_time"), &format!("{:.3}", now_f64()));
    };
    // Queued until one of `np` slot locks is free (or the job is deleted).
    let _slot = loop {
        if dir.join("deleted").exists() {
            finish(None);
            return 0;
        }
        let free = (0..np.0.max(1)).find_map(|i| {
            let f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(slots.join(i.to_string()))
                .ok()?;
            let _ =
                fs::set_permissions(slots.join(i.to_string()), fs::Permissions::from_mode(0o666));
            f.try_lock().ok().map(|_| f)
        });
        match free {
            Some(f) => break f,
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let jobid =
        format!("{}.{}", spec.seq, load_config(&home).map(|c| c.server_name).unwrap_or_default());
    let open = |p: &str| fs::OpenOptions::new().write(true).create(true).truncate(true).open(p);
    let (out, err) = match (open(&spec.output_path), spec.join.as_str()) {
        (Ok(o), "oe") => {
            let e = o.try_clone();
            (Ok(o), e)
        }
        (o, _) => (o, open(&spec.error_path)),
    };
    let mut cmd = Command::new(&spec.shell);
    cmd.arg(dir.join("script"))
        .env_clear()
        .envs(&spec.env)
        .env("HOME", &spec.home)
        .env("USER", &spec.owner)
        .env("LOGNAME", &spec.owner)
        .env("SHELL", &spec.shell)
        .env(
            "PATH",
            spec.env.get("PATH").cloned().unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        )
        .env("PBS_JOBID", &jobid)
        .env("PBS_JOBNAME", &spec.name)
        .env("PBS_QUEUE", &spec.queue)
        .env("PBS_ENVIRONMENT", "PBS_BATCH")
        .env("PBS_NUM_NODES", "1")
        .env("PBS_NP", "1")
        .stdin(Stdio::null())
        .process_group(0);
    match (out, err) {
        (Ok(o), Ok(e)) => {
            cmd.stdout(o).stderr(e);
        }
        _ => {
            // Torque reports -1 ("job exec failed, before files") for this.
            let _ = write_atomic(&dir.join("start_time"), &format!("{:.3}", now_f64()));
            finish(Some(-1));
            return 0;
        }
    }
    if std::env::set_current_dir(&spec.work_dir).is_err() {
        let _ = write_atomic(&dir.join("start_time"), &format!("{:.3}", now_f64()));
        finish(Some(-1));
        return 0;
    }
    let started = std::time::Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(_) => {
            let _ = write_atomic(&dir.join("start_time"), &format!("{:.3}", now_f64()));
            finish(Some(-1));
            return 0;
        }
    };
    let _ = write_atomic(&dir.join("pid"), &child.id().to_string());
    let _ = write_atomic(&dir.join("start_time"), &format!("{:.3}", now_f64()));
    let pgid = rustix::process::Pid::from_raw(child.id() as i32);
    let mut over_limit = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(_) => break None,
        }
        if let Some(w) = spec.walltime
            && !over_limit
            && started.elapsed() > Duration::from_secs(w)
        {
            over_limit = true;
            if let Some(p) = pgid {
                let _ = rustix::process::kill_process_group(p, rustix::process::Signal::TERM);
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    // The job's process group may have stragglers: end them with it.
    if let Some(p) = pgid {
        let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
    }
    let code = match status {
        _ if over_limit => -11,
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => i64::from(c),
            (None, Some(sig)) => 256 + i64::from(sig),
            _ => -1,
        },
        None => -1,
    };
    if np.1 > 0.0 {
        let _ = write_atomic(&dir.join("exiting"), "");
        std::thread::sleep(Duration::from_secs_f64(np.1.min(60.0)));
    }
    finish(Some(code));
    0
}
