//! Scratch directories of integration tests that a test user other than the
//! test process owns (so `tempfile` cannot make them) and that must still go
//! when the test ends: thousands of runs otherwise fill `/tmp`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory `<temp dir>/<prefix>-<pid>-<n>`, owned by `uid:gid`,
/// removed with everything in it when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates the directory and hands it to `owner` (`None`: the test process).
    ///
    /// # Panics
    /// If it cannot be created or handed over: the test could not run.
    pub fn new(prefix: &str, owner: Option<(u32, u32)>) -> ScratchDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("cannot hand {} to {uid}:{gid}: {e}", path.display()));
        }
        ScratchDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::ops::Deref for ScratchDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: a job that outlived its test may still write here.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_made_fresh_and_goes_with_its_contents() {
        let a = ScratchDir::new("hpckit-scratch-test", None);
        let b = ScratchDir::new("hpckit-scratch-test", None);
        assert_ne!(a.path(), b.path());
        std::fs::create_dir_all(a.path().join("x/y")).unwrap();
        std::fs::write(a.path().join("x/y/f"), b"data").unwrap();
        let path = a.path().to_owned();
        drop(a);
        assert!(!path.exists(), "{} is still there", path.display());
        assert!(b.path().is_dir());
    }
}
