//! What the stand-in asks of the host: its state directory, the time, names
//! of the host and of users, files written whole.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `$TORQUE_STANDIN_HOME`, else the parent of the directory the command was
/// invoked from (`<home>/bin/qsub`), found via `PATH` for a bare name.
pub(super) fn home_dir(invoked: &str) -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("TORQUE_STANDIN_HOME") {
        return Some(PathBuf::from(h));
    }
    let path = if invoked.contains('/') {
        PathBuf::from(invoked)
    } else {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join(invoked))
            .find(|p| p.exists())?
    };
    let home = path.parent()?.parent()?.to_path_buf();
    home.join("config.json").exists().then_some(home)
}

pub(super) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub(super) fn now_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

pub(super) fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Name and home of a uid, from /etc/passwd.
pub(super) fn user_of(uid: u32) -> (String, String) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 6 && f[2].parse() == Ok(uid) {
            return (f[0].to_owned(), f[5].to_owned());
        }
    }
    (uid.to_string(), "/".into())
}

/// Write a file atomically (readers never see half of it).
pub(super) fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, text)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))?;
    fs::rename(&tmp, path)
}
