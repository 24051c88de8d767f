//! The FileSystem conformance suite: the same checks for every adaptor, each
//! one its own trial (`<suite>::<check>`, see [`crate::trials`]).
//!
//! A check takes an [`FsFixture`] (the file system, a scratch root of its
//! own, and what to expect), works only below `root/<check name>`, and
//! either returns `Ok(())` or fails: with `Err` when an operation that should
//! work fails, with a panic when a result is wrong. A check that needs an
//! optional capability names it ([`Declared`]) and is listed as
//! `skipped (capability: …)` where the adaptor lacks it; what such an adaptor
//! must do instead (answer `Unsupported`) is checked by
//! `unsupported_operations`, which runs everywhere.
//!
//! ```no_run
//! # fn open() -> hpc_core::Result<std::sync::Arc<dyn hpc_core::FileSystem>> { todo!() }
//! use hpc_core::{FsCapabilities, Path};
//! use hpc_testkit::fs_conformance::{self, Declared, FsFixture, unique_name};
//! use hpc_testkit::trials::{self, make_fixture};
//!
//! // The `main` of a test binary with `harness = false`.
//! fn main() {
//!     let make = make_fixture(|| async {
//!         let root = Path::new("/tmp")?.join_entry(&unique_name("conformance"))?;
//!         Ok(FsFixture::new(open()?, root))
//!     });
//!     let declared = Declared::new(FsCapabilities::default());
//!     trials::run(fs_conformance::trials("mine", &declared, make));
//! }
//! ```

mod content;
mod directories;
mod links;
mod names;
mod operations;
mod support;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::FutureExt;
use futures::future::BoxFuture;
use hpc_core::{FileSystem, FsCapabilities, Path, Result};

pub use links::build_symlink_tree;
pub use support::{bytes, chunks, get, listing, pattern, put};

use crate::trials::{Capability, Check, Fixture, MakeFixture, Trial};

/// Creates a file of a given size without transferring it (for example a
/// sparse local file made with `set_len`), at a path of the file system under test.
pub type SparseMaker = Arc<dyn Fn(&Path, u64) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// What a suite declares before anything connects: the adaptor's
/// capabilities and what its setup offers. Checks that need what is not
/// declared are skipped, by name.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Declared {
    /// The capabilities the adaptor declares (its `capabilities()`).
    pub caps: FsCapabilities,
    /// Directories are real: creating something needs its parent, deleting
    /// a non-empty one needs `recursive` (false for object stores).
    pub real_directories: bool,
    /// The fixture can make large files out of band ([`FsFixture::sparse`]).
    pub sparse_files: bool,
}

impl Declared {
    /// `caps`, real directories, no sparse files.
    pub fn new(caps: FsCapabilities) -> Self {
        Declared { caps, real_directories: true, sparse_files: false }
    }

    /// The same, with sparse files made by the fixture.
    pub fn with_sparse_files(mut self) -> Self {
        self.sparse_files = true;
        self
    }

    /// The same, for a store whose directories are only key prefixes.
    pub fn without_real_directories(mut self) -> Self {
        self.real_directories = false;
        self
    }
}

/// Everything a check needs.
#[derive(Clone)]
pub struct FsFixture {
    /// The file system under test.
    pub fs: Arc<dyn FileSystem>,
    /// An absolute scratch directory of this fixture alone; created before
    /// the check and removed after it when it passed.
    pub root: Path,
    /// Capabilities to rely on (from the adaptor unless overridden).
    pub caps: FsCapabilities,
    /// Creates a large file out of band (suites that declare sparse files).
    pub sparse: Option<SparseMaker>,
    /// Size used for the large-file check.
    pub sparse_size: u64,
    /// The adaptor keeps modification times (checked to be set and recent).
    pub has_modification_times: bool,
}

impl fmt::Debug for FsFixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FsFixture")
            .field("adaptor", &self.fs.info().adaptor)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl FsFixture {
    /// A fixture with the adaptor's own capabilities and POSIX-like expectations.
    pub fn new(fs: Arc<dyn FileSystem>, root: Path) -> Self {
        let caps = fs.info().capabilities;
        FsFixture {
            fs,
            root,
            caps,
            sparse: None,
            sparse_size: 5 << 30,
            has_modification_times: true,
        }
    }

    /// Directory of one check (`root/<name>`), created empty.
    pub async fn dir(&self, name: &str) -> Result<Path> {
        let d = self.root.join_entry(name)?;
        if self.fs.exists(&d).await? {
            self.fs.delete(&d, true).await?;
        }
        self.fs.create_directories(&d).await?;
        Ok(d)
    }

    /// The directory of one check with one file `name` holding `data` in it.
    pub async fn file(&self, check: &str, name: &str, data: &[u8]) -> Result<(Path, Path)> {
        let d = self.dir(check).await?;
        let f = d.join_entry(name)?;
        put(&*self.fs, &f, data).await?;
        Ok((d, f))
    }
}

impl Fixture for FsFixture {
    fn prepare(&self) -> BoxFuture<'_, Result<()>> {
        self.fs.create_directories(&self.root).boxed()
    }

    fn finish(&self, passed: bool) -> BoxFuture<'_, ()> {
        async move {
            // A failed check keeps its files as evidence.
            if passed {
                let _ = self.fs.delete(&self.root, true).await;
            }
        }
        .boxed()
    }
}

/// A name no other fixture of this or another process uses at the same
/// time: `<tag>-<pid>-<n>-<nanoseconds>`.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{tag}-{}-{n}-{nanos}", std::process::id())
}

macro_rules! capability {
    ($name:literal, $present:expr) => {
        Capability { name: $name, present: $present }
    };
}

const APPEND: Capability<Declared> = capability!("append", |d| d.caps.append);
const SET_PERMISSIONS: Capability<Declared> =
    capability!("set_permissions", |d| d.caps.set_permissions);
const RENAME: Capability<Declared> = capability!("rename", |d| d.caps.rename);
const CREATE_SYMBOLIC_LINK: Capability<Declared> =
    capability!("create_symbolic_link", |d| d.caps.create_symbolic_link);
const COPY_SERVER_SIDE: Capability<Declared> =
    capability!("copy_server_side", |d| d.caps.copy_server_side);
const REAL_DIRECTORIES: Capability<Declared> =
    capability!("real directories", |d| d.real_directories);
const SPARSE_FILES: Capability<Declared> = capability!("sparse files", |d| d.sparse_files);

/// The [`Check`]s of functions grouped by module, each optionally with
/// the capabilities it needs in brackets.
macro_rules! checks {
    ($($module:ident: $($name:ident $([$($need:expr),+])?),+;)+) => {
        &[$($(Check {
            name: stringify!($name),
            needs: &[$($($need),+)?],
            run: |fx| Box::pin($module::$name(fx)),
        }),+),+]
    };
}

/// Every check, in the order they are listed.
pub static CHECKS: &[Check<FsFixture, Declared>] = checks! {
    directories: create_directory, create_directories, create_file, delete, exists, list_flat,
        list_recursive_streamed, attributes, set_permissions [SET_PERMISSIONS],
        real_directories [REAL_DIRECTORIES];
    content: write_and_read, read_ranges, overwrite, empty_files, failed_write_leaves_no_file,
        short_write_is_rejected, dropped_write_leaves_no_file, append [APPEND];
    operations: rename [RENAME], rename_replacing [RENAME], server_side_copy [COPY_SERVER_SIDE],
        checksum, unsupported_operations;
    links: symlinks [CREATE_SYMBOLIC_LINK], symlink_fixture_tree [CREATE_SYMBOLIC_LINK];
    names: unicode_and_spaces, large_sparse_size [SPARSE_FILES], hostile_names, typed_errors;
};

/// The trials of every check for one setup of an adaptor (`suite` names
/// it); `make` builds a fresh fixture, with a root of its own, per trial.
pub fn trials(suite: &str, declared: &Declared, make: MakeFixture<FsFixture>) -> Vec<Trial> {
    crate::trials::trials(suite, declared, CHECKS, make)
}

/// The trials of the checks named in `names` only (a setup that repeats a
/// few checks under other conditions). Panics on a name that is no check.
pub fn trials_of(
    suite: &str,
    declared: &Declared,
    names: &[&str],
    make: MakeFixture<FsFixture>,
) -> Vec<Trial> {
    for n in names {
        assert!(CHECKS.iter().any(|c| c.name == *n), "no conformance check is named {n:?}");
    }
    trials(suite, declared, make)
        .into_iter()
        .filter(|t| names.iter().any(|n| t.name().strip_prefix(suite) == Some(&format!("::{n}"))))
        .collect()
}
