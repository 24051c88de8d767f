//! Submit-time checks: the working directory and the executable must exist,
//! so that a typo fails at `submit` with a clear error instead of as a failed
//! job later.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hpc_core::error::NotFoundKind;
use hpc_core::{Error, JobDescription, Result};

/// The job's working directory: its own (relative ones under `base`), else `base`.
pub(crate) fn working_dir(job: &JobDescription, base: &Path) -> Result<PathBuf> {
    let dir = match &job.working_directory {
        Some(d) => base.join(d),
        None => base.to_path_buf(),
    };
    if !dir.is_dir() {
        return Err(Error::NotFound {
            kind: NotFoundKind::Path,
            name: format!("working directory {}", dir.display()),
        });
    }
    Ok(dir)
}

/// Find the program the job runs, as `execvp` would from `dir`: a name with a
/// `/` is a path (relative to `dir`), any other name is looked up on the job's
/// `PATH` (its own, else this process's).
pub(crate) fn executable(job: &JobDescription, dir: &Path) -> Result<PathBuf> {
    let exe = job.executable.as_str();
    let not_found = || Error::NotFound { kind: NotFoundKind::Executable, name: exe.to_owned() };
    if exe.contains('/') {
        let path = dir.join(exe);
        return if is_executable(&path) { Ok(path) } else { Err(not_found()) };
    }
    let path_var = match job.environment.get("PATH") {
        Some(p) => Some(p.clone().into()),
        None => std::env::var_os("PATH"),
    };
    let path_var = path_var.unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path_var)
        .map(|entry| {
            // An empty entry means the current directory, like a relative one.
            let entry = if entry.as_os_str().is_empty() { Path::new(".") } else { &entry };
            dir.join(entry).join(OsStr::new(exe))
        })
        .find(|candidate| is_executable(candidate))
        .ok_or_else(not_found)
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_like_execvp() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let script = dir.join("tool.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("data.txt"), "x").unwrap();

        let found = |job: JobDescription| executable(&job, dir);
        assert_eq!(found(JobDescription::new("./tool.sh")).unwrap(), dir.join("./tool.sh"));
        assert!(found(JobDescription::new("sh")).is_ok());
        let on_own_path = JobDescription::new("tool.sh").env("PATH", dir.to_str().unwrap());
        assert!(found(on_own_path).is_ok());
        for missing in ["./data.txt", "./nope", "hpckit-no-such-program", "tool.sh"] {
            let e = found(JobDescription::new(missing)).unwrap_err();
            assert_eq!(e.to_string(), format!("executable not found: {missing}"));
        }
    }

    #[test]
    fn working_dir_is_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let job = JobDescription::new("true").working_directory("sub dir");
        let e = working_dir(&job, tmp.path()).unwrap_err();
        assert!(matches!(e, Error::NotFound { kind: NotFoundKind::Path, .. }), "{e}");
        std::fs::create_dir(tmp.path().join("sub dir")).unwrap();
        assert_eq!(working_dir(&job, tmp.path()).unwrap(), tmp.path().join("sub dir"));
    }
}
