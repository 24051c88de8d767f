//! What interrupted writes left behind: staged files ([`crate::staging`])
//! and unfinished multipart uploads ([`FileSystem::pending_uploads`]).
//!
//! [`find`] reports only what is ours and stale: a staged file whose writer
//! ran on this host and has ended, or one unchanged for longer than the
//! threshold; an upload without new data for longer than the threshold. A
//! live copy from another host keeps its data changing, so it is not taken.
//! [`remove`] deletes a staged file or aborts an upload. The copy engine
//! sweeps each target's leftovers before writing it (RESUME continues the
//! largest staged file instead, where it can), and `hpckit fs cleanup` sweeps
//! a whole tree.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use hpc_core::{FileSystem, Path, PendingUpload, Result};
use tokio::sync::OnceCell;

use crate::staging::{Staged, Stale, staleness, unchanged_for};

/// How long staged data or an upload must be unchanged before a copy from
/// another host (or `hpckit fs cleanup` by default) treats it as abandoned.
pub const STALE_AFTER: Duration = Duration::from_secs(3600);

/// One stale leftover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The staged file, or the path the upload was for.
    pub path: Path,
    /// Bytes it holds.
    pub bytes: u64,
    /// When it last changed, if known.
    pub modified: Option<SystemTime>,
    /// Why it counts as stale.
    pub why: Stale,
    /// What it is.
    pub kind: LeftoverKind,
}

/// A staged file or an unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftoverKind {
    /// Staged data for the file named in it.
    Staged(Staged),
    /// An upload the server keeps until it is aborted.
    Upload(PendingUpload),
}

impl Leftover {
    /// Whether this was data for `target`.
    pub fn is_for(&self, target: &Path) -> bool {
        match &self.kind {
            LeftoverKind::Staged(s) => {
                self.path.parent() == target.parent()
                    && target.file_name().is_some_and(|name| s.is_for(name))
            }
            LeftoverKind::Upload(u) => &u.path == target,
        }
    }

    /// `staged` or `upload`, for listings.
    pub fn kind_str(&self) -> &'static str {
        match self.kind {
            LeftoverKind::Staged(_) => "staged",
            LeftoverKind::Upload(_) => "upload",
        }
    }
}

/// The stale leftovers in `dir` (at any depth when `recursive`); see the
/// module docs for what counts.
pub async fn find(
    fs: &dyn FileSystem,
    dir: &Path,
    recursive: bool,
    older_than: Duration,
) -> Result<Vec<Leftover>> {
    let mut found = Vec::new();
    // Only file systems that rename stage their writes.
    if fs.info().capabilities.rename {
        let mut listing = fs.list(dir, recursive);
        while let Some(entry) = listing.next().await {
            let entry = entry?;
            let Some(staged) = entry.path.file_name().and_then(Staged::parse) else { continue };
            if entry.is_directory() {
                continue;
            }
            if let Some(why) = staleness(&staged, entry.modified, older_than) {
                found.push(Leftover {
                    path: entry.path.clone(),
                    bytes: entry.size,
                    modified: entry.modified,
                    why,
                    kind: LeftoverKind::Staged(staged),
                });
            }
        }
    }
    for upload in fs.pending_uploads(dir, recursive).await? {
        if unchanged_for(upload.last_activity, older_than) {
            found.push(Leftover {
                path: upload.path.clone(),
                bytes: upload.bytes,
                modified: upload.last_activity,
                why: Stale::Unchanged,
                kind: LeftoverKind::Upload(upload),
            });
        }
    }
    Ok(found)
}

/// Delete a staged file (gone already is fine) or abort an upload.
pub async fn remove(fs: &dyn FileSystem, leftover: &Leftover) -> Result<()> {
    match &leftover.kind {
        LeftoverKind::Staged(_) => match fs.delete(&leftover.path, false).await {
            Err(e) if e.is_not_found() => Ok(()),
            r => r,
        },
        LeftoverKind::Upload(u) => fs.abort_upload(u).await,
    }
}

/// The copy engine's view: each target directory is searched once per copy.
pub(crate) struct Sweep {
    older_than: Duration,
    dirs: Mutex<HashMap<Path, Arc<OnceCell<Vec<Leftover>>>>>,
}

impl Sweep {
    pub(crate) fn new(older_than: Duration) -> Self {
        Sweep { older_than, dirs: Mutex::new(HashMap::new()) }
    }

    /// The stale leftovers for `target`. Best effort: a directory that
    /// cannot be searched has none (the copy itself reports real problems).
    pub(crate) async fn of(&self, fs: &dyn FileSystem, target: &Path) -> Vec<Leftover> {
        let Some(dir) = target.parent() else { return Vec::new() };
        let cell = {
            let mut dirs = self.dirs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            dirs.entry(dir.clone()).or_default().clone()
        };
        let all = cell
            .get_or_init(|| async {
                find(fs, &dir, false, self.older_than).await.unwrap_or_else(|e| {
                    tracing::debug!(error = %e, %dir, "cannot search for leftovers");
                    Vec::new()
                })
            })
            .await;
        all.iter().filter(|l| l.is_for(target)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalFileSystem;

    #[tokio::test]
    async fn finds_stale_staged_files_of_a_target_and_nothing_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(dir.path().to_str().unwrap()).unwrap();
        let fs = LocalFileSystem::new().unwrap();
        let tag = crate::staging::host_tag();
        // Dead writer on this host, old-format name (age decides), a live
        // writer (us), and foreign names that look alike.
        let names = [
            format!(".t.bin.hpckit-{tag}-4294967295-0.part"),
            ".t.bin.hpckit-7-0.part".to_owned(),
            format!(".t.bin.hpckit-{tag}-{}-0.part", std::process::id()),
            ".t.bin.hpckit-7-0.tmp".to_owned(),
            "t.bin.hpckit-7-0.part".to_owned(),
            format!(".other.hpckit-{tag}-4294967295-0.copy"),
        ];
        for n in &names {
            std::fs::write(dir.path().join(n), b"data").unwrap();
        }
        let found = find(&fs, &root, false, STALE_AFTER).await.unwrap();
        let mut paths: Vec<String> =
            found.iter().map(|l| l.path.file_name().unwrap().to_owned()).collect();
        paths.sort();
        let mut want = vec![names[0].clone(), names[5].clone()];
        want.sort();
        assert_eq!(paths, want);
        let target = root.join("t.bin").unwrap();
        let sweep = Sweep::new(STALE_AFTER);
        let mine = sweep.of(&fs, &target).await;
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].why, Stale::WriterGone);
        remove(&fs, &mine[0]).await.unwrap();
        remove(&fs, &mine[0]).await.unwrap();
        assert!(!dir.path().join(&names[0]).exists());
        // With no age limit, the old-format name counts too; the live one never.
        let all = find(&fs, &root, false, Duration::ZERO).await.unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
    }
}
