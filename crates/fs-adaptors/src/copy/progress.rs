//! Progress of a copy: counters shared by all file tasks, reported through a callback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hpc_core::Path;

use crate::leftovers::Sweep;

/// What happened to one file (or link) of a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileOutcome {
    /// Transferred in full.
    Copied,
    /// Continued from a partial target.
    Resumed,
    /// The target already had the complete content (resume found nothing to do).
    AlreadyComplete,
    /// Skipped: the target existed and the mode is IGNORE.
    SkippedExisting,
    /// Skipped: a symbolic link that the policy or the target cannot keep.
    SkippedLink,
    /// Skipped: neither file, directory nor link (device, socket, fifo).
    SkippedOther,
    /// Copied on the server without passing through this process.
    CopiedServerSide,
    /// A symbolic link recreated on the target.
    Linked,
}

/// Why the callback is called.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// Totals are known (after the optional scan).
    Scanned,
    /// A file transfer starts.
    FileStarted {
        /// Source path.
        path: Path,
        /// Its size.
        size: u64,
    },
    /// Bytes moved.
    Bytes,
    /// A file (or link) is finished.
    FileFinished {
        /// Source path.
        path: Path,
        /// What was done.
        outcome: FileOutcome,
    },
}

/// A snapshot of a copy's progress, handed to the callback.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// What just happened.
    pub event: ProgressEvent,
    /// Bytes moved so far (resumed prefixes are not counted).
    pub bytes_done: u64,
    /// Bytes to move, when known.
    pub bytes_total: Option<u64>,
    /// Files and links finished (any outcome).
    pub files_done: u64,
    /// Files and links in the copy, when known.
    pub files_total: Option<u64>,
    /// Average rate since the start, bytes per second.
    pub rate: f64,
    /// Time since the start.
    pub elapsed: Duration,
}

/// Receives progress snapshots; called from the copy's tasks, so keep it quick.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Counters of one running copy.
pub(crate) struct Tracker {
    start: Instant,
    bytes: AtomicU64,
    files: AtomicU64,
    bytes_total: AtomicU64,
    files_total: AtomicU64,
    callback: Option<ProgressFn>,
    /// The copy's search for leftovers, shared by its file tasks like the counters.
    pub(crate) sweep: Option<Sweep>,
}

const UNKNOWN: u64 = u64::MAX;

impl Tracker {
    pub(crate) fn new(callback: Option<ProgressFn>, sweep: Option<Sweep>) -> Arc<Self> {
        Arc::new(Tracker {
            start: Instant::now(),
            bytes: AtomicU64::new(0),
            files: AtomicU64::new(0),
            bytes_total: AtomicU64::new(UNKNOWN),
            files_total: AtomicU64::new(UNKNOWN),
            callback,
            sweep,
        })
    }

    pub(crate) fn set_totals(&self, bytes: u64, files: u64) {
        self.bytes_total.store(bytes, Ordering::Relaxed);
        self.files_total.store(files, Ordering::Relaxed);
        self.emit(ProgressEvent::Scanned);
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        if self.callback.is_some() {
            self.emit(ProgressEvent::Bytes);
        }
    }

    pub(crate) fn started(&self, path: &Path, size: u64) {
        if self.callback.is_some() {
            self.emit(ProgressEvent::FileStarted { path: path.clone(), size });
        }
    }

    pub(crate) fn finished(&self, path: &Path, outcome: FileOutcome) {
        self.files.fetch_add(1, Ordering::Relaxed);
        if self.callback.is_some() {
            self.emit(ProgressEvent::FileFinished { path: path.clone(), outcome });
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn emit(&self, event: ProgressEvent) {
        let Some(cb) = &self.callback else { return };
        let known = |v: u64| (v != UNKNOWN).then_some(v);
        let elapsed = self.start.elapsed();
        let bytes_done = self.bytes.load(Ordering::Relaxed);
        cb(&Progress {
            event,
            bytes_done,
            bytes_total: known(self.bytes_total.load(Ordering::Relaxed)),
            files_done: self.files.load(Ordering::Relaxed),
            files_total: known(self.files_total.load(Ordering::Relaxed)),
            rate: bytes_done as f64 / elapsed.as_secs_f64().max(1e-3),
            elapsed,
        });
    }
}
