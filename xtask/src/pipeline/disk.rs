//! What the pipeline's builds leave on disk. A cold `cargo xtask test` writes
//! many gigabytes into the target directory, and a CI machine's disk is shared:
//! the report shows the target's size and the free space after every step, so a
//! run that ran out of space says where the space went.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes per GiB, for the report.
const GIB: f64 = (1u64 << 30) as f64;

/// Below this much free space at the start, a cold run may not fit: say so
/// before the build fails halfway with "No space left on device".
const COLD_RUN_NEEDS: u64 = 20 << 30;

/// The disk use after one step: the target directory's size and the space
/// left on its file system.
#[derive(Clone, Copy, Debug)]
pub(super) struct Usage {
    target: u64,
    free: u64,
}

impl Usage {
    /// Measures `target` (absent: zero bytes).
    pub(super) fn of(target: &Path) -> Option<Usage> {
        let free = free_bytes(target)?;
        Some(Usage { target: allocated(target), free })
    }

    /// `12.3 GiB  45.6 GiB` for the report's two columns.
    pub(super) fn columns(&self) -> String {
        format!("{:>6.1} {:>6.1}", self.target as f64 / GIB, self.free as f64 / GIB)
    }
}

/// Space the non-root user may still use on the file system of `path` (or of its
/// nearest existing ancestor: the target directory may not exist yet).
fn free_bytes(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let st = rustix::fs::statvfs(existing).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Blocks allocated below `dir` (what `du` counts: sparse files and holes
/// count for what they use), not following symlinks.
fn allocated(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            total += meta.blocks() * 512;
            if meta.is_dir() {
                todo.push(entry.path());
            }
        }
    }
    total
}

/// A warning when the file system of `target` has less free space than a cold
/// run needs, or `None`.
pub(super) fn low_space_warning(target: &Path) -> Option<String> {
    let free = free_bytes(target)?;
    (free < COLD_RUN_NEEDS).then(|| {
        format!(
            "warning: only {:.1} GiB free for {}; a cold run needs about {:.0} GiB",
            free as f64 / GIB,
            target.display(),
            COLD_RUN_NEEDS as f64 / GIB
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_is_written_below_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let before = Usage::of(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/f"), vec![7u8; 1 << 20]).unwrap();
        let after = Usage::of(dir.path()).unwrap();
        assert!(after.target >= before.target + (1 << 20), "{before:?} -> {after:?}");
        assert!(after.free > 0);
    }

    #[test]
    fn a_missing_target_is_empty_and_measured_on_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        let usage = Usage::of(&dir.path().join("not/yet")).unwrap();
        assert_eq!(usage.target, 0);
        assert!(usage.free > 0);
    }
}
