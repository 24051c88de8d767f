//! The copy engine: files and trees between any two file systems.
//!
//! * Modes ([`CopyMode`]): CREATE fails when a target exists, IGNORE skips
//!   it and goes on, REPLACE overwrites it, RESUME continues a partial target
//!   after checking its size and the tail (or all) of its content.
//! * REPLACE never destroys a good file: the new content goes to a hidden
//!   sibling and is renamed over the old file only once it is complete (and
//!   verified, when asked); without rename support it is written in place.
//! * RESUME writes new files by create + append where the target can append,
//!   so an interrupted copy leaves a partial file that the next run continues.
//! * Data is streamed (memory is bounded by the adaptors' pipelines, never by
//!   file size); several files move at once ([`CopyOptions::parallel`]).
//! * Every target path is built from the source listing with
//!   [`Path::join_entry`], so a hostile listing cannot escape the target root.
//! * Symbolic links follow [`SymlinkPolicy`]; links are recreated after all
//!   files, and no entry below a link is written, so a link in the source
//!   cannot redirect a write outside the target.
//! * Cancel with [`CopyOptions::cancel`] or by dropping the future: running
//!   transfers stop, temporary files are removed (by guards whose cleanup
//!   [`hpc_core::cleanup::finished`] waits for), a RESUME target stays resumable.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> hpc_core::Result<()> {
//! use std::sync::Arc;
//! use fs_adaptors::{LocalFileSystem, copy::{copy, CopyOptions}};
//! use hpc_core::{CopyMode, FileSystem, Path};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let root = Path::new(dir.path().to_str().unwrap())?;
//! let fs: Arc<dyn FileSystem> = Arc::new(LocalFileSystem::new()?);
//! fs.create_directories(&root.join("src/sub")?).await?;
//! fs.create_file(&root.join("src/sub/empty")?).await?;
//!
//! let opts = CopyOptions { mode: CopyMode::Create, recursive: true, verify: true, ..Default::default() };
//! let report = copy(&fs, &root.join("src")?, &fs, &root.join("dst")?, &opts).await?;
//! assert_eq!(report.files, 1);
//! assert!(fs.exists(&root.join("dst/sub/empty")?).await?);
//! # Ok(()) }
//! ```

mod file;
mod hash;
mod progress;

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hpc_core::{CopyMode, EntryKind, Error, ErrorKind, FileSystem, Path, PathAttributes, Result};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
pub use tokio_util::sync::CancellationToken;

pub use hash::Hasher;
pub use progress::{FileOutcome, Progress, ProgressEvent, ProgressFn};

use crate::leftovers::Sweep;
use file::FileJob;
use progress::Tracker;

/// What to do with symbolic links found in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SymlinkPolicy {
    /// Recreate each link with the same target text where the source can
    /// read links and the target can create them; otherwise skip it (with a
    /// [`FileOutcome::SkippedLink`] event). Links are never followed.
    #[default]
    Preserve,
    /// Copy what a link to a file points to as a regular file; links to
    /// directories and dangling links are skipped.
    Follow,
    /// Skip every link.
    Skip,
}

/// How RESUME decides that a partial target is a prefix of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeCheck {
    /// Trust the size.
    SizeOnly,
    /// Compare the last bytes before the resume point (cheap; catches a torn last write).
    Tail(u64),
    /// Compare the whole prefix (reads it on both sides).
    Full,
}

impl Default for ResumeCheck {
    fn default() -> Self {
        ResumeCheck::Tail(1 << 20)
    }
}

/// Options of [`copy`].
#[derive(Clone)]
pub struct CopyOptions {
    /// What to do when a target file exists.
    pub mode: CopyMode,
    /// Copy directories with their content (otherwise a directory source is an error).
    pub recursive: bool,
    /// Files transferred at once.
    pub parallel: usize,
    /// Compare SHA-256 of source and target after each transfer (server-side
    /// where the adaptor computes it, else by reading back).
    pub verify: bool,
    /// Symbolic links.
    pub symlinks: SymlinkPolicy,
    /// Check before RESUME appends.
    pub resume_check: ResumeCheck,
    /// Count files and bytes before starting, so progress has totals.
    pub scan_first: bool,
    /// Let the file system copy on its own when source and target are the same one.
    pub server_side: bool,
    /// Leftovers of interrupted copies to a target (staged files, unfinished
    /// uploads) are removed before it is written, or continued by RESUME,
    /// when their writer on this host has ended or they have not changed for
    /// this long ([`crate::leftovers`]); `None` leaves them alone.
    pub stale_after: Option<Duration>,
    /// Stops the copy when cancelled.
    pub cancel: CancellationToken,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
    /// Go on past a source entry whose name cannot be used (a local name
    /// that is not UTF-8, an entry on another host) and list it in
    /// [`CopyReport::unusable`]; off, the first one ends the copy with its
    /// error. Whoever turns it on must look at the report (and must not,
    /// say, delete the source after an incomplete copy).
    pub skip_unusable: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            mode: CopyMode::Create,
            recursive: false,
            parallel: 4,
            verify: false,
            symlinks: SymlinkPolicy::Preserve,
            resume_check: ResumeCheck::default(),
            scan_first: false,
            server_side: true,
            stale_after: Some(crate::leftovers::STALE_AFTER),
            cancel: CancellationToken::new(),
            progress: None,
            skip_unusable: false,
        }
    }
}

impl std::fmt::Debug for CopyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOptions")
            .field("mode", &self.mode)
            .field("recursive", &self.recursive)
            .field("parallel", &self.parallel)
            .field("verify", &self.verify)
            .field("symlinks", &self.symlinks)
            .field("resume_check", &self.resume_check)
            .field("stale_after", &self.stale_after)
            .finish_non_exhaustive()
    }
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Files transferred in full (including server-side copies).
    pub files: u64,
    /// Files continued from a partial target.
    pub resumed: u64,
    /// Files whose target was already complete (RESUME).
    pub already_complete: u64,
    /// Files skipped because the target existed (IGNORE).
    pub skipped_existing: u64,
    /// Links recreated.
    pub links: u64,
    /// Links and special files skipped.
    pub skipped: u64,
    /// Directories created or found.
    pub directories: u64,
    /// Files whose checksum was compared.
    pub verified: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Entries of the source listing that have no usable name (a local
    /// name that is not UTF-8, a name a server should not send), each as
    /// the listing's error message: skipped, everything else copied. Not empty
    /// means the copy is incomplete; the caller says so (the CLI warns per
    /// entry and exits non-zero). Only with [`CopyOptions::skip_unusable`].
    pub unusable: Vec<String>,
}

impl CopyReport {
    fn count(&mut self, o: FileOutcome, verified: bool) {
        match o {
            FileOutcome::Copied | FileOutcome::CopiedServerSide => self.files += 1,
            FileOutcome::Resumed => self.resumed += 1,
            FileOutcome::AlreadyComplete => self.already_complete += 1,
            FileOutcome::SkippedExisting => self.skipped_existing += 1,
            FileOutcome::SkippedLink | FileOutcome::SkippedOther => self.skipped += 1,
            FileOutcome::Linked => self.links += 1,
        }
        self.verified += u64::from(verified);
    }
}

pub(crate) fn same_fs(a: &Arc<dyn FileSystem>, b: &Arc<dyn FileSystem>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

/// Copy `src_path` on `src` to `dst_path` on `dst`.
///
/// A file is copied to exactly `dst_path`. A directory (with
/// [`CopyOptions::recursive`]) becomes `dst_path` with the same tree below
/// it; an existing `dst_path` directory is merged into, except in CREATE mode.
pub async fn copy(
    src: &Arc<dyn FileSystem>,
    src_path: &Path,
    dst: &Arc<dyn FileSystem>,
    dst_path: &Path,
    opts: &CopyOptions,
) -> Result<CopyReport> {
    let src_path = src_path.resolve(&src.info().working_directory);
    let dst_path = dst_path.resolve(&dst.info().working_directory);
    let tracker = Tracker::new(opts.progress.clone(), opts.stale_after.map(Sweep::new));
    let root = src.attributes(&src_path).await?;
    let mut report = CopyReport::default();

    let cancel = opts.cancel.clone();
    let work = async {
        match root.kind {
            EntryKind::Directory => {
                if !opts.recursive {
                    return Err(Error::InvalidInput(format!(
                        "{src_path} is a directory; copy it with recursive (-r)"
                    )));
                }
                if same_fs(src, dst) && dst_path.starts_with(&src_path) {
                    return Err(Error::InvalidInput(format!(
                        "cannot copy {src_path} into itself ({dst_path})"
                    )));
                }
                copy_tree(src, &src_path, dst, &dst_path, opts, &tracker, &mut report).await
            }
            _ => {
                if opts.scan_first {
                    tracker.set_totals(root.size, 1);
                }
                let job = FileJob::new(src, dst, root, dst_path.clone(), opts, &tracker);
                let (outcome, verified) = job.run().await?;
                report.count(outcome, verified);
                Ok(())
            }
        }
    };
    tokio::select! {
        r = work => r?,
        () = cancel.cancelled() => return Err(Error::Cancelled(format!("copy of {src_path}"))),
    }
    report.bytes = tracker.bytes();
    report.elapsed = tracker.elapsed();
    Ok(report)
}

async fn scan(src: &dyn FileSystem, root: &Path, skip_unusable: bool) -> Result<(u64, u64)> {
    let (mut bytes, mut files) = (0u64, 0);
    let mut seen = Seen::default();
    let mut s = src.list(root, true);
    while let Some(a) = s.next().await {
        let a = match a {
            Ok(a) => a,
            Err(e) if skip_unusable && is_unusable_entry(&e) => continue,
            Err(e) => return Err(e),
        };
        if !seen.first_time(&a.path) {
            // A listing that repeats itself would never end.
            return Err(named_twice(root, &a.path));
        }
        if !a.is_directory() {
            files += 1;
            if a.is_regular() {
                // Sizes come from the server: two claiming 2^63 must not overflow.
                bytes = bytes.saturating_add(a.size);
            }
        }
    }
    Ok((bytes, files))
}

/// A listing item that is one entry whose name cannot be used here (an
/// invalid-input error: the listing itself goes on).
fn is_unusable_entry(e: &Error) -> bool {
    e.kind() == ErrorKind::InvalidInput
}

/// The target path of a source entry: the same elements below `dst_root`,
/// each checked as an entry name.
fn target_of(entry: &Path, src_root: &Path, dst_root: &Path) -> Result<Path> {
    let rel = entry.strip_prefix(src_root).filter(|r| r.depth() > 0).ok_or_else(|| {
        Error::InvalidInput(format!("listing of {src_root} yielded {entry}, which is not below it"))
    })?;
    let mut out = dst_root.clone();
    for e in rel.elements() {
        out = out.join_entry(e)?;
    }
    Ok(out)
}

async fn copy_tree(
    src: &Arc<dyn FileSystem>,
    src_root: &Path,
    dst: &Arc<dyn FileSystem>,
    dst_root: &Path,
    opts: &CopyOptions,
    tracker: &Arc<Tracker>,
    report: &mut CopyReport,
) -> Result<()> {
    match dst.attributes(dst_root).await {
        Ok(a) if a.is_directory() => {
            if opts.mode == CopyMode::Create {
                return Err(Error::AlreadyExists { path: dst_root.to_string() });
            }
        }
        Ok(_) => {
            return Err(Error::AlreadyExists { path: dst_root.to_string() });
        }
        Err(e) if e.is_not_found() => dst.create_directories(dst_root).await?,
        Err(e) => return Err(e),
    }
    report.directories += 1;
    if opts.scan_first {
        let (bytes, files) = scan(&**src, src_root, opts.skip_unusable).await?;
        tracker.set_totals(bytes, files);
    }

    let mut tasks: JoinSet<Result<(FileOutcome, bool)>> = JoinSet::new();
    let walked: Result<()> = async {
        let tasks = &mut tasks;
        let permits = Arc::new(Semaphore::new(opts.parallel.max(1)));
        let mut links: Vec<(PathAttributes, Path)> = Vec::new();
        let mut link_paths: HashSet<Path> = HashSet::new();
        let mut made_dirs: HashSet<Path> = HashSet::new();
        made_dirs.insert(dst_root.clone());
        let mut seen = Seen::default();

        let mut listing = src.list(src_root, true);
        while let Some(entry) = listing.next().await {
            let entry = match entry {
                Ok(entry) => entry,
                // One bad name never stops the copy of the others.
                Err(e) if opts.skip_unusable && is_unusable_entry(&e) => {
                    report.unusable.push(e.to_string());
                    continue;
                }
                Err(e) => return Err(e),
            };
            if !seen.first_time(&entry.path) {
                return Err(named_twice(src_root, &entry.path));
            }
            let target = target_of(&entry.path, src_root, dst_root)?;
            // Nothing below a link is ever written (a hostile listing could
            // otherwise name a link and then entries "inside" it).
            let below_link = !link_paths.is_empty()
                && std::iter::successors(entry.path.parent(), Path::parent)
                    .take_while(|p| p.depth() > src_root.depth())
                    .any(|p| link_paths.contains(&p));
            if below_link {
                return Err(Error::InvalidInput(format!(
                    "listing of {src_root} yielded {} below a symbolic link",
                    entry.path
                )));
            }
            if entry.path.file_name().is_some_and(crate::is_temp_name) {
                continue; // another writer's unfinished data
            }
            match entry.kind {
                EntryKind::Directory => {
                    if made_dirs.insert(target.clone()) {
                        match dst.create_directory(&target).await {
                            Ok(()) => {}
                            Err(Error::AlreadyExists { .. })
                                if dst.attributes(&target).await?.is_directory() => {}
                            Err(e) => return Err(e),
                        }
                        report.directories += 1;
                    }
                }
                EntryKind::Symlink => {
                    link_paths.insert(entry.path.clone());
                    if opts.symlinks == SymlinkPolicy::Follow {
                        spawn_file(tasks, &permits, src, dst, entry, target, opts, tracker, report)
                            .await?;
                    } else {
                        links.push((entry, target));
                    }
                }
                EntryKind::File => {
                    if let Some(parent) = target.parent()
                        && !made_dirs.contains(&parent)
                    {
                        dst.create_directories(&parent).await?;
                        made_dirs.insert(parent);
                    }
                    spawn_file(tasks, &permits, src, dst, entry, target, opts, tracker, report)
                        .await?;
                }
                EntryKind::Other => {
                    tracker.finished(&entry.path, FileOutcome::SkippedOther);
                    report.count(FileOutcome::SkippedOther, false);
                }
            }
        }
        drop(listing);
        while let Some(done) = tasks.join_next().await {
            let (outcome, verified) = joined(done)?;
            report.count(outcome, verified);
        }
        for (entry, target) in links {
            let job = FileJob::new(src, dst, entry, target, opts, tracker);
            let (outcome, verified) = job.run().await?;
            report.count(outcome, verified);
        }
        Ok(())
    }
    .await;
    if walked.is_err() {
        // Stop the files still in flight and wait until they are dropped, so
        // their staged data is gone (or its removal started) before the error
        // reaches the caller; a bare return would abort them only later.
        tasks.shutdown().await;
    }
    walked
}

/// The entries a listing has named so far, as 128-bit keyed fingerprints:
/// 16 bytes per entry rather than its path, so a tree of millions of files
/// stays cheap. The keys are random per run, so a server cannot craft two
/// names that collide.
#[derive(Default)]
struct Seen {
    keys: (RandomState, RandomState),
    fingerprints: HashSet<u128>,
}

impl Seen {
    /// Whether `path` is named for the first time.
    fn first_time(&mut self, path: &Path) -> bool {
        let hi = u128::from(self.keys.0.hash_one(path));
        let lo = u128::from(self.keys.1.hash_one(path));
        self.fingerprints.insert(hi << 64 | lo)
    }
}

fn named_twice(root: &Path, entry: &Path) -> Error {
    Error::parse(
        format!("listing of {root}"),
        "the server named the same entry twice; refusing to copy it twice",
        entry.to_string(),
    )
}

fn joined(
    r: std::result::Result<Result<(FileOutcome, bool)>, tokio::task::JoinError>,
) -> Result<(FileOutcome, bool)> {
    r.map_err(|e| Error::io("copy task", std::io::Error::other(e)))?
}

#[allow(clippy::too_many_arguments)]
async fn spawn_file(
    tasks: &mut JoinSet<Result<(FileOutcome, bool)>>,
    permits: &Arc<Semaphore>,
    src: &Arc<dyn FileSystem>,
    dst: &Arc<dyn FileSystem>,
    entry: PathAttributes,
    target: Path,
    opts: &CopyOptions,
    tracker: &Arc<Tracker>,
    report: &mut CopyReport,
) -> Result<()> {
    // Wait for a free slot, collecting finished tasks (and their errors) meanwhile.
    let permit = loop {
        if let Some(done) = tasks.try_join_next() {
            let (o, v) = joined(done)?;
            report.count(o, v);
            continue;
        }
        tokio::select! {
            p = permits.clone().acquire_owned() => {
                // Only a closed semaphore refuses a permit, and nothing closes this one.
                break p.expect("the copy never closes its permits");
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                let (o, v) = joined(done)?;
                report.count(o, v);
            }
        }
    };
    let job = FileJob::new(src, dst, entry, target, opts, tracker);
    // Tracked: an aborted task drops its guards, whose cleanup a program
    // ending on a signal must wait for (hpc_core::cleanup).
    tasks.spawn(hpc_core::cleanup::tracked(async move {
        let r = job.run().await;
        drop(permit);
        r
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_stay_below_the_root() {
        let p = |s: &str| Path::new(s).unwrap();
        assert_eq!(target_of(&p("/s/a/b"), &p("/s"), &p("/d")).unwrap(), p("/d/a/b"));
        assert!(target_of(&p("/other/x"), &p("/s"), &p("/d")).is_err());
        assert!(target_of(&p("/s"), &p("/s"), &p("/d")).is_err());
    }

    #[test]
    fn an_entry_named_twice_is_seen() {
        let p = |s: &str| Path::new(s).unwrap();
        let mut seen = Seen::default();
        assert!(seen.first_time(&p("/s/a")) && seen.first_time(&p("/s/b")));
        assert!(!seen.first_time(&p("/s/a")));
    }
}
