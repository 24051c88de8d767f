//! Stand-ins for the ZIH datamover (`dt*`) and the hpc-workspace tools
//! (`ws_*`), which cannot be installed outside ZIH.
//!
//! One multi-call binary (`zih-standin`, dispatching on `argv[0]`),
//! installed by `cargo xtask services up datamover` into a home directory:
//!
//! * `bin/dtcp dtls dtmv dtrm dtrsync dttar dtwget`: like the real commands,
//!   they take the tool's arguments plus `--blocking`, `--time=T`,
//!   `--account=A`, and submit the tool as a job to the REAL Slurm
//!   (partition `datamover`): `srun --pty` when blocking (always for
//!   `dtls`), so srun's queued/allocated/pty messages appear on stderr, else
//!   `sbatch` (`Submitted batch job N`). `--help`/`--version` run the tool
//!   at once, without a job.
//! * `bin/dtinfo dtqueue dtq dtcancel`: `sinfo`, `squeue -u $USER`,
//!   `scancel`, all restricted to the datamover partition.
//! * `libexec/dtexec` (setgid to the project group): what the job runs. It
//!   starts the tool only inside a job of the datamover partition, where
//!   the group lets it write into the project space; everywhere else the
//!   project space is read-only for the test user, as `/projects` is on
//!   the login nodes.
//! * `bin/ws_allocate ws_list ws_extend ws_release ws_find ws_restore`:
//!   workspaces under `<home>/ws/` with the options, messages and output
//!   layouts of hpc-workspace 1.x (`ws_list` prints the 2.x layouts when
//!   `HPCKIT_WS_LAYOUT=2`, with `-T` for the table).
//!
//! Deliberate differences: one node; the gate trusts the job's own
//! environment plus its `slurmstepd` ancestor (a user inside a job of
//! another partition who forges `SLURM_JOB_PARTITION` would get through);
//! time is printed in UTC.
#![allow(
    clippy::disallowed_methods,
    reason = "a stand-in for system tools starts its own processes"
)]

mod config;
mod dt;
mod gate;
mod ws;
mod ws_print;

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub use config::{FsConfig, StandinConfig};

/// The datamover commands the stand-in provides.
pub const DT_COMMANDS: [&str; 11] = [
    "dtcp", "dtls", "dtmv", "dtrm", "dtrsync", "dttar", "dtwget", "dtinfo", "dtqueue", "dtq",
    "dtcancel",
];
/// The workspace commands the stand-in provides.
pub const WS_COMMANDS: [&str; 6] =
    ["ws_allocate", "ws_list", "ws_extend", "ws_release", "ws_find", "ws_restore"];

/// Entry point: dispatch on `argv[0]`, or `zih-standin CMD ARGS...`.
/// Returns the exit code.
pub fn main_with(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = args.into_iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let invoked = args.first().cloned().unwrap_or_default();
    let base = Path::new(&invoked)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (cmd, rest) = if base == "zih-standin" {
        match args.get(1) {
            Some(c) => (c.clone(), args[2..].to_vec()),
            None => {
                eprintln!("usage: zih-standin COMMAND [ARGS...]");
                return 2;
            }
        }
    } else {
        (base, args[1..].to_vec())
    };
    if cmd == "__install" {
        return install_main(&rest);
    }
    if cmd == "dtexec" {
        return gate::main(&rest);
    }
    let home = match home_dir() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{cmd}: cannot find the stand-in's home: {e}");
            return 1;
        }
    };
    let config = match StandinConfig::load(&home) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{cmd}: {e}");
            return 1;
        }
    };
    if DT_COMMANDS.contains(&cmd.as_str()) {
        return dt::main(&home, &config, &cmd, rest);
    }
    if WS_COMMANDS.contains(&cmd.as_str()) {
        return ws::main(&home, &config, &cmd, &rest);
    }
    eprintln!("zih-standin: unknown command {cmd:?}");
    2
}

/// `<home>` is the parent of the directory holding the binary (`bin/` or `libexec/`).
fn home_dir() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| std::io::Error::other("binary has no grandparent directory"))
}

fn install_main(rest: &[String]) -> i32 {
    let [home, group] = rest else {
        eprintln!("usage: zih-standin __install HOME PROJECT_GROUP_ID");
        return 2;
    };
    let Ok(gid) = group.parse::<u32>() else {
        eprintln!("zih-standin __install: bad group id {group:?}");
        return 2;
    };
    let me = std::env::current_exe().unwrap_or_default();
    match install(Path::new(home), &me, gid, &StandinConfig::default()) {
        Ok(bin) => {
            println!("{}", bin.display());
            0
        }
        Err(e) => {
            eprintln!("zih-standin: cannot install into {home}: {e}");
            1
        }
    }
}

/// Installs the stand-in into `home` (run as root: the gate becomes setgid
/// `project_gid`, the project space belongs to root and that group) and
/// returns the `bin` directory.
pub fn install(
    home: &Path,
    binary: &Path,
    project_gid: u32,
    config: &StandinConfig,
) -> std::io::Result<PathBuf> {
    let bin = home.join("bin");
    let libexec = home.join("libexec");
    fs::create_dir_all(&bin)?;
    fs::create_dir_all(&libexec)?;
    copy_executable(binary, &bin.join("zih-standin"), None)?;
    for cmd in DT_COMMANDS.iter().chain(WS_COMMANDS.iter()) {
        let link = bin.join(cmd);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink("zih-standin", &link)?;
    }
    copy_executable(binary, &libexec.join("dtexec"), Some(project_gid))?;
    let project = home.join(&config.project_dir);
    fs::create_dir_all(&project)?;
    std::os::unix::fs::chown(&project, Some(0), Some(project_gid))?;
    // Group-writable and setgid: only the datamover's gate writes here.
    fs::set_permissions(&project, fs::Permissions::from_mode(0o2775))?;
    for fs_cfg in &config.filesystems {
        for d in [
            home.join(&fs_cfg.space),
            home.join(&fs_cfg.db),
            home.join(&fs_cfg.space).join(".removed"),
            home.join(&fs_cfg.db).join(".removed"),
        ] {
            fs::create_dir_all(&d)?;
            // Like /tmp: every user creates entries, only owners remove them.
            fs::set_permissions(&d, fs::Permissions::from_mode(0o1777))?;
        }
    }
    let mut parent = project.parent();
    while let Some(p) = parent {
        if p == home || !p.starts_with(home) {
            break;
        }
        fs::set_permissions(p, fs::Permissions::from_mode(0o755))?;
        parent = p.parent();
    }
    for d in [home, &bin, &libexec, &home.join("ws")] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
    }
    let tmp = home.join("config.json.tmp");
    fs::write(&tmp, serde_json::to_string_pretty(config).unwrap_or_default())?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))?;
    fs::rename(&tmp, home.join("config.json"))?;
    Ok(bin)
}

/// Copies atomically; a running instance keeps its old file.
fn copy_executable(from: &Path, to: &Path, setgid: Option<u32>) -> std::io::Result<()> {
    let tmp = to.with_extension("tmp");
    fs::copy(from, &tmp)?;
    let mode = match setgid {
        Some(gid) => {
            std::os::unix::fs::chown(&tmp, Some(0), Some(gid))?;
            0o2755
        }
        None => 0o755,
    };
    // chown clears the set-id bits, so the mode comes after it.
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
    fs::rename(&tmp, to)
}

/// The user this process runs as (real uid), from /etc/passwd.
fn user_name() -> String {
    let uid = rustix::process::getuid().as_raw();
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_owned())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}
