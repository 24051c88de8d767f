//! The FileSystem conformance suite: the same async checks for every adaptor.
//!
//! Each check takes an [`FsFixture`] (the file system, a unique scratch root,
//! and what to expect), works only below `root/<check name>`, and either
//! returns `Ok(())` or fails: with `Err` when an operation that should work
//! fails, with a panic when a result is wrong. Checks that need an optional
//! capability return early when the adaptor does not declare it, and instead
//! assert that the operation is refused with `Unsupported`.
//!
//! ```no_run
//! # async fn demo(fs: std::sync::Arc<dyn hpc_core::FileSystem>) {
//! use hpc_testkit::fs_conformance::{FsFixture, run_all};
//! let fx = FsFixture::new(fs, hpc_core::Path::new("/tmp/conformance-1234").unwrap());
//! run_all(&fx).await; // panics with the list of failed checks
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt, TryStreamExt};
use hpc_core::{
    ByteRange, ByteStream, ChecksumAlgorithm, EntryKind, Error, ErrorKind, FileSystem,
    FsCapabilities, Path, PathAttributes, Result,
};

/// Creates a file of a given size without transferring it (for example a
/// sparse local file made with `set_len`), at a path of the file system under test.
pub type SparseMaker = Arc<dyn Fn(&Path, u64) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// Everything a check needs.
#[derive(Clone)]
pub struct FsFixture {
    /// The file system under test.
    pub fs: Arc<dyn FileSystem>,
    /// A unique, absolute scratch directory; [`run_all`] creates and removes it.
    pub root: Path,
    /// Capabilities to rely on (from the adaptor unless overridden).
    pub caps: FsCapabilities,
    /// Directories are real: creating one needs its parent, deleting a
    /// non-empty one without `recursive` fails (false for object stores).
    pub strict_directories: bool,
    /// Creates a large file out of band; `None` skips the large-size check.
    pub sparse: Option<SparseMaker>,
    /// Size used for the large-file check.
    pub sparse_size: u64,
    /// The adaptor keeps modification times (checked to be set and recent).
    pub has_modification_times: bool,
}

impl fmt::Debug for FsFixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FsFixture")
            .field("adaptor", &self.fs.adaptor())
            .field("root", &self.root)
            .field("strict_directories", &self.strict_directories)
            .finish_non_exhaustive()
    }
}

impl FsFixture {
    /// A fixture with the adaptor's own capabilities and POSIX-like expectations.
    pub fn new(fs: Arc<dyn FileSystem>, root: Path) -> Self {
        let caps = fs.capabilities();
        FsFixture {
            fs,
            root,
            caps,
            strict_directories: true,
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
}

/// A stream of the given chunks.
pub fn chunks<I>(parts: I) -> ByteStream
where
    I: IntoIterator<Item = Vec<u8>>,
    I::IntoIter: Send + 'static,
{
    stream::iter(parts.into_iter().map(|c| Ok(Bytes::from(c)))).boxed()
}

/// A stream of one buffer.
pub fn bytes(data: &[u8]) -> ByteStream {
    chunks([data.to_vec()])
}

/// Deterministic test content of `len` bytes (not all equal, not all zero).
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + i / 251) as u8).wrapping_add(seed)).collect()
}

/// Write `data` to `path` in one chunk.
pub async fn put(fs: &dyn FileSystem, path: &Path, data: &[u8]) -> Result<()> {
    let n = fs.write(path, bytes(data), Some(data.len() as u64)).await?;
    assert_eq!(n, data.len() as u64, "write of {path} reported {n} bytes");
    Ok(())
}

/// Read a whole file (or range) into memory.
pub async fn get(fs: &dyn FileSystem, path: &Path, range: ByteRange) -> Result<Vec<u8>> {
    let parts: Vec<Bytes> = fs.read(path, range).await?.try_collect().await?;
    Ok(parts.concat())
}

/// List `dir` into a map from path relative to `dir` to attributes.
pub async fn listing(
    fs: &dyn FileSystem,
    dir: &Path,
    recursive: bool,
) -> Result<BTreeMap<String, PathAttributes>> {
    let mut out = BTreeMap::new();
    let mut s = fs.list(dir, recursive);
    while let Some(a) = s.next().await {
        let a = a?;
        let rel = a
            .path
            .strip_prefix(dir)
            .unwrap_or_else(|| panic!("listing of {dir} yielded {} outside it", a.path));
        assert!(rel.depth() >= 1, "listing of {dir} yielded the directory itself");
        if !recursive {
            assert_eq!(rel.depth(), 1, "flat listing of {dir} yielded nested {}", a.path);
        }
        let dup = out.insert(rel.to_string(), a);
        assert!(dup.is_none(), "listing of {dir} yielded {rel} twice");
    }
    Ok(out)
}

fn expect_kind<T: fmt::Debug>(what: &str, r: Result<T>, kind: ErrorKind) {
    match r {
        Err(e) => assert_eq!(e.kind(), kind, "{what}: expected {kind:?}, got {e}"),
        Ok(v) => panic!("{what}: expected a {kind:?} error, got Ok({v:?})"),
    }
}

fn expect_unsupported<T: fmt::Debug>(what: &str, r: Result<T>) {
    expect_kind(what, r, ErrorKind::Unsupported)
}

/// A check of the suite.
pub type Check = for<'a> fn(&'a FsFixture) -> BoxFuture<'a, Result<()>>;

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        /// Every check, by name, in the order [`run_all`] runs them.
        pub const CHECKS: &[(&str, Check)] = &[$((stringify!($name), |fx| Box::pin($name(fx)))),*];
    };
}

checks!(
    create_directory,
    create_directories,
    create_file,
    write_and_read,
    read_ranges,
    overwrite,
    empty_files,
    failed_write_leaves_no_file,
    short_write_is_rejected,
    dropped_write_leaves_no_file,
    append,
    delete,
    exists,
    list_flat,
    list_recursive_streamed,
    attributes,
    set_permissions,
    rename,
    rename_replacing,
    symlinks,
    symlink_fixture_tree,
    unicode_and_spaces,
    large_sparse_size,
    hostile_names,
    typed_errors,
    server_side_copy,
    checksum,
);

/// Run every check; panics listing each failed one. Creates `fx.root` first
/// and removes it at the end when everything passed.
pub async fn run_all(fx: &FsFixture) {
    run_selected(fx, |_| true).await
}

/// Run the checks whose name `filter` accepts (see [`run_all`]).
pub async fn run_selected(fx: &FsFixture, filter: impl Fn(&str) -> bool) {
    fx.fs.create_directories(&fx.root).await.expect("creating the scratch root");
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, check) in CHECKS.iter().filter(|(n, _)| filter(n)) {
        ran += 1;
        let outcome = futures::FutureExt::catch_unwind(AssertUnwindSafe(check(fx))).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{name}: error: {e}")),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                failures.push(format!("{name}: {msg}"));
            }
        }
    }
    assert!(ran > 0, "no conformance check matched the filter");
    if failures.is_empty() {
        let _ = fx.fs.delete(&fx.root, true).await;
    } else {
        panic!(
            "{} of {ran} conformance checks failed for the {} adaptor:\n  {}",
            failures.len(),
            fx.fs.adaptor(),
            failures.join("\n  ")
        );
    }
}

/// Directories: create, exists, is a directory, again is `AlreadyExists`,
/// missing parent is `NotFound` (strict directories only).
pub async fn create_directory(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("create_directory").await?;
    let sub = d.join_entry("sub")?;
    fx.fs.create_directory(&sub).await?;
    assert!(fx.fs.exists(&sub).await?, "{sub} missing after create_directory");
    assert!(fx.fs.attributes(&sub).await?.is_directory(), "{sub} is not a directory");
    expect_kind(
        "create_directory twice",
        fx.fs.create_directory(&sub).await,
        ErrorKind::AlreadyExists,
    );
    if fx.strict_directories {
        let orphan = d.join("missing/child")?;
        expect_kind(
            "create_directory without parent",
            fx.fs.create_directory(&orphan).await,
            ErrorKind::NotFound,
        );
    }
    Ok(())
}

/// `create_directories` makes all missing parents and accepts an existing tree.
pub async fn create_directories(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("create_directories").await?;
    let deep = d.join("a/b/c/d")?;
    fx.fs.create_directories(&deep).await?;
    assert!(fx.fs.attributes(&deep).await?.is_directory());
    assert!(fx.fs.attributes(&d.join("a/b")?).await?.is_directory());
    fx.fs.create_directories(&deep).await?;
    Ok(())
}

/// `create_file` makes an empty file and refuses an existing one.
pub async fn create_file(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("create_file").await?;
    let f = d.join_entry("empty")?;
    fx.fs.create_file(&f).await?;
    let a = fx.fs.attributes(&f).await?;
    assert!(a.is_regular() && a.size == 0, "new file: {a:?}");
    expect_kind("create_file twice", fx.fs.create_file(&f).await, ErrorKind::AlreadyExists);
    Ok(())
}

/// A streamed write of many odd-sized chunks reads back identically.
pub async fn write_and_read(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("write_and_read").await?;
    let f = d.join_entry("data.bin")?;
    let data = pattern(3 * 1024 * 1024 + 17, 1);
    let parts: Vec<Vec<u8>> = data.chunks(65_537).map(<[u8]>::to_vec).collect();
    let n = fx.fs.write(&f, chunks(parts), Some(data.len() as u64)).await?;
    assert_eq!(n, data.len() as u64, "bytes reported by write");
    assert_eq!(fx.fs.attributes(&f).await?.size, data.len() as u64, "size after write");
    let back = get(&*fx.fs, &f, ByteRange::ALL).await?;
    assert!(
        back == data,
        "content differs after write/read ({} vs {} bytes)",
        back.len(),
        data.len()
    );
    Ok(())
}

/// Reads from an offset, of a length, past the end.
pub async fn read_ranges(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("read_ranges").await?;
    let f = d.join_entry("r.bin")?;
    let data = pattern(1_000_000, 7);
    put(&*fx.fs, &f, &data).await?;
    let r = |offset, len| ByteRange { offset, len };
    assert!(get(&*fx.fs, &f, r(0, Some(10))).await? == data[..10]);
    assert!(get(&*fx.fs, &f, r(999_990, None)).await? == data[999_990..]);
    assert!(get(&*fx.fs, &f, r(500_000, Some(300_000))).await? == data[500_000..800_000]);
    assert!(
        get(&*fx.fs, &f, r(999_000, Some(5_000))).await? == data[999_000..],
        "len past the end"
    );
    assert!(get(&*fx.fs, &f, r(2_000_000, None)).await?.is_empty(), "offset past the end");
    assert!(get(&*fx.fs, &f, r(10, Some(0))).await?.is_empty(), "zero length");
    Ok(())
}

/// Writing an existing file replaces it, also with shorter content.
pub async fn overwrite(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("overwrite").await?;
    let f = d.join_entry("o.txt")?;
    put(&*fx.fs, &f, b"a much longer first version").await?;
    put(&*fx.fs, &f, b"short").await?;
    assert_eq!(get(&*fx.fs, &f, ByteRange::ALL).await?, b"short");
    assert_eq!(fx.fs.attributes(&f).await?.size, 5);
    Ok(())
}

/// Zero-byte files via `write` of an empty stream and of an empty chunk.
pub async fn empty_files(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("empty_files").await?;
    let a = d.join_entry("none")?;
    assert_eq!(fx.fs.write(&a, chunks(Vec::<Vec<u8>>::new()), Some(0)).await?, 0);
    let b = d.join_entry("one-empty-chunk")?;
    assert_eq!(fx.fs.write(&b, chunks([Vec::new()]), None).await?, 0);
    for p in [&a, &b] {
        let attrs = fx.fs.attributes(p).await?;
        assert!(attrs.is_regular() && attrs.size == 0, "{p}: {attrs:?}");
        assert!(get(&*fx.fs, p, ByteRange::ALL).await?.is_empty());
    }
    Ok(())
}

fn failing_stream(good: Vec<u8>) -> ByteStream {
    stream::iter([
        Ok(Bytes::from(good)),
        Err(Error::ConnectionLost { host: "source".into(), reason: "test fault".into() }),
    ])
    .boxed()
}

/// A stream that fails mid-way fails the write, leaves no new file, and
/// leaves an existing file either intact or absent (never the partial data).
pub async fn failed_write_leaves_no_file(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("failed_write").await?;
    let fresh = d.join_entry("fresh")?;
    let r = fx.fs.write(&fresh, failing_stream(pattern(300_000, 2)), None).await;
    assert!(r.is_err(), "write with a failing stream succeeded");
    assert!(!fx.fs.exists(&fresh).await?, "a failed write left {fresh}");

    let old = d.join_entry("old")?;
    put(&*fx.fs, &old, b"the good old content").await?;
    let r = fx.fs.write(&old, failing_stream(pattern(300_000, 3)), None).await;
    assert!(r.is_err(), "write with a failing stream succeeded");
    if fx.fs.exists(&old).await? {
        assert_eq!(
            get(&*fx.fs, &old, ByteRange::ALL).await?,
            b"the good old content",
            "a failed write changed {old}"
        );
    }
    let names = listing(&*fx.fs, &d, false).await?;
    assert!(
        names.keys().all(|n| n == "old"),
        "failed writes left files behind: {:?}",
        names.keys()
    );
    Ok(())
}

/// A stream shorter than the declared size is a truncated transfer: error, no file.
pub async fn short_write_is_rejected(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("short_write").await?;
    let f = d.join_entry("short")?;
    let r = fx.fs.write(&f, bytes(&pattern(1000, 4)), Some(5000)).await;
    assert!(r.is_err(), "a write shorter than its declared size succeeded: {r:?}");
    assert!(!fx.fs.exists(&f).await?, "a truncated write left {f}");
    Ok(())
}

/// Dropping a write future half-way leaves no file at the target name.
pub async fn dropped_write_leaves_no_file(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("dropped_write").await?;
    let f = d.join_entry("dropped")?;
    let head = stream::iter([Ok(Bytes::from(pattern(200_000, 5)))]);
    let stalled: ByteStream = head.chain(stream::pending()).boxed();
    let r = tokio::time::timeout(Duration::from_millis(500), fx.fs.write(&f, stalled, None)).await;
    assert!(r.is_err(), "write of a stalled stream finished: {r:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!fx.fs.exists(&f).await?, "a dropped write left {f}");
    Ok(())
}

/// Append adds to the end; appending to a missing file is `NotFound`.
pub async fn append(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("append").await?;
    let f = d.join_entry("log")?;
    if !fx.caps.append {
        put(&*fx.fs, &f, b"x").await?;
        expect_unsupported("append", fx.fs.append(&f, bytes(b"y")).await);
        return Ok(());
    }
    put(&*fx.fs, &f, b"abc").await?;
    assert_eq!(fx.fs.append(&f, chunks([b"de".to_vec(), b"f".to_vec()])).await?, 3);
    fx.fs.append(&f, bytes(&pattern(200_000, 9))).await?;
    let back = get(&*fx.fs, &f, ByteRange::ALL).await?;
    assert_eq!(&back[..6], b"abcdef");
    assert!(back[6..] == pattern(200_000, 9)[..], "appended data differs");
    let missing = d.join_entry("missing")?;
    expect_kind(
        "append to a missing file",
        fx.fs.append(&missing, bytes(b"z")).await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// Delete a file, an empty directory, a tree (recursive only); missing is `NotFound`.
pub async fn delete(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("delete").await?;
    let f = d.join_entry("f")?;
    put(&*fx.fs, &f, b"1").await?;
    fx.fs.delete(&f, false).await?;
    assert!(!fx.fs.exists(&f).await?);
    let empty = d.join_entry("empty")?;
    fx.fs.create_directory(&empty).await?;
    fx.fs.delete(&empty, false).await?;
    assert!(!fx.fs.exists(&empty).await?);
    let tree = d.join_entry("tree")?;
    fx.fs.create_directories(&tree.join("x/y")?).await?;
    put(&*fx.fs, &tree.join("x/y/z")?, b"z").await?;
    put(&*fx.fs, &tree.join("top")?, b"t").await?;
    if fx.strict_directories {
        let r = fx.fs.delete(&tree, false).await;
        assert!(r.is_err(), "non-recursive delete of a non-empty directory succeeded");
        assert!(!r.unwrap_err().is_not_found());
        assert!(fx.fs.exists(&tree.join("x/y/z")?).await?, "failed delete removed content");
    }
    fx.fs.delete(&tree, true).await?;
    assert!(!fx.fs.exists(&tree).await?, "recursive delete left {tree}");
    expect_kind("delete of a missing path", fx.fs.delete(&f, false).await, ErrorKind::NotFound);
    Ok(())
}

/// `exists` for files, directories and missing paths.
pub async fn exists(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("exists").await?;
    let f = d.join_entry("here")?;
    put(&*fx.fs, &f, b"!").await?;
    assert!(fx.fs.exists(&f).await?);
    assert!(fx.fs.exists(&d).await?);
    assert!(!fx.fs.exists(&d.join_entry("nothere")?).await?);
    assert!(!fx.fs.exists(&d.join("no/such/deep")?).await?);
    Ok(())
}

/// A flat listing names exactly the children, with kinds and sizes.
pub async fn list_flat(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("list_flat").await?;
    put(&*fx.fs, &d.join_entry("a.txt")?, b"12345").await?;
    put(&*fx.fs, &d.join_entry(".hidden")?, b"").await?;
    fx.fs.create_directories(&d.join("sub/deeper")?).await?;
    put(&*fx.fs, &d.join("sub/inner")?, b"x").await?;
    let l = listing(&*fx.fs, &d, false).await?;
    let names: Vec<&str> = l.keys().map(String::as_str).collect();
    assert_eq!(names, [".hidden", "a.txt", "sub"]);
    assert!(l["a.txt"].is_regular() && l["a.txt"].size == 5, "{:?}", l["a.txt"]);
    assert!(l["sub"].is_directory());
    assert!(l[".hidden"].is_hidden() && l[".hidden"].size == 0);
    expect_kind(
        "listing a missing directory",
        listing(&*fx.fs, &d.join_entry("nope")?, false).await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// A recursive listing finds everything once; it is a stream (the first
/// entry arrives and the rest can be dropped).
pub async fn list_recursive_streamed(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("list_recursive").await?;
    for p in ["a/1", "a/b/2", "a/b/c/3", "d/4", "5"] {
        let p = d.join(p)?;
        fx.fs.create_directories(&p.parent().expect("has parent")).await?;
        put(&*fx.fs, &p, p.to_string().as_bytes()).await?;
    }
    fx.fs.create_directories(&d.join("empty/dir")?).await?;
    let l = listing(&*fx.fs, &d, true).await?;
    let names: Vec<&str> = l.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["5", "a", "a/1", "a/b", "a/b/2", "a/b/c", "a/b/c/3", "d", "d/4", "empty", "empty/dir"]
    );
    assert!(l["a/b/c"].is_directory() && l["a/b/c/3"].is_regular());
    let mut s = fx.fs.list(&d, true);
    let first = s.next().await.expect("a first entry")?;
    assert!(first.path.starts_with(&d));
    drop(s);
    Ok(())
}

/// Attributes: kind, size, times, permissions where readable; `NotFound`.
pub async fn attributes(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("attributes").await?;
    let f = d.join_entry("f")?;
    put(&*fx.fs, &f, &pattern(4321, 0)).await?;
    let a = fx.fs.attributes(&f).await?;
    assert_eq!(a.path, f, "attributes carry the absolute path");
    assert!(a.is_regular() && !a.is_directory() && !a.is_symbolic_link());
    assert_eq!(a.size, 4321);
    if fx.has_modification_times {
        let m = a.modified.expect("a modification time");
        let age = std::time::SystemTime::now().duration_since(m).unwrap_or_default();
        assert!(age < Duration::from_secs(3600), "modification time is {age:?} old");
    }
    if fx.caps.attributes_permissions {
        let p = a.permissions.expect("permissions");
        assert!(p & 0o600 == 0o600 && p <= 0o7777, "odd permissions {p:o}");
    }
    assert!(fx.fs.attributes(&d).await?.is_directory());
    expect_kind(
        "attributes of a missing path",
        fx.fs.attributes(&d.join_entry("gone")?).await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// Permissions set are permissions read (or `Unsupported`).
pub async fn set_permissions(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("set_permissions").await?;
    let f = d.join_entry("p")?;
    put(&*fx.fs, &f, b"p").await?;
    if !fx.caps.set_permissions {
        expect_unsupported("set_permissions", fx.fs.set_permissions(&f, 0o640).await);
        return Ok(());
    }
    for mode in [0o640, 0o755, 0o600] {
        fx.fs.set_permissions(&f, mode).await?;
        if fx.caps.attributes_permissions {
            assert_eq!(fx.fs.attributes(&f).await?.permissions, Some(mode));
        }
    }
    expect_kind(
        "set_permissions of a missing path",
        fx.fs.set_permissions(&d.join_entry("x")?, 0o600).await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// Rename files and directories; existing target is `AlreadyExists`; missing source is `NotFound`.
pub async fn rename(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("rename").await?;
    let a = d.join_entry("a")?;
    let b = d.join_entry("b")?;
    put(&*fx.fs, &a, b"A").await?;
    if !fx.caps.rename {
        expect_unsupported("rename", fx.fs.rename(&a, &b).await);
        return Ok(());
    }
    fx.fs.rename(&a, &b).await?;
    assert!(!fx.fs.exists(&a).await? && fx.fs.exists(&b).await?);
    assert_eq!(get(&*fx.fs, &b, ByteRange::ALL).await?, b"A");
    put(&*fx.fs, &a, b"A2").await?;
    expect_kind(
        "rename onto an existing file",
        fx.fs.rename(&a, &b).await,
        ErrorKind::AlreadyExists,
    );
    assert_eq!(get(&*fx.fs, &b, ByteRange::ALL).await?, b"A", "failed rename changed the target");
    let dir = d.join_entry("dir")?;
    fx.fs.create_directories(&dir.join("in")?).await?;
    put(&*fx.fs, &dir.join("in/f")?, b"f").await?;
    let moved = d.join_entry("moved dir")?;
    fx.fs.rename(&dir, &moved).await?;
    assert_eq!(get(&*fx.fs, &moved.join("in/f")?, ByteRange::ALL).await?, b"f");
    expect_kind(
        "rename of a missing path",
        fx.fs.rename(&dir, &d.join_entry("x")?).await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// `rename_replacing` puts the new file in place of the old one.
pub async fn rename_replacing(fx: &FsFixture) -> Result<()> {
    if !fx.caps.rename {
        return Ok(());
    }
    let d = fx.dir("rename_replacing").await?;
    let new = d.join_entry("new")?;
    let target = d.join_entry("target")?;
    put(&*fx.fs, &new, b"new").await?;
    put(&*fx.fs, &target, b"old").await?;
    fx.fs.rename_replacing(&new, &target).await?;
    assert_eq!(get(&*fx.fs, &target, ByteRange::ALL).await?, b"new");
    assert!(!fx.fs.exists(&new).await?);
    put(&*fx.fs, &new, b"newer").await?;
    let fresh = d.join_entry("fresh")?;
    fx.fs.rename_replacing(&new, &fresh).await?;
    assert_eq!(get(&*fx.fs, &fresh, ByteRange::ALL).await?, b"newer");
    Ok(())
}

/// Links are described, not followed; dangling links exist; deleting a link
/// keeps its target.
pub async fn symlinks(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("symlinks").await?;
    let target = d.join_entry("target")?;
    put(&*fx.fs, &target, b"linked").await?;
    let link = d.join_entry("link")?;
    if !fx.caps.create_symbolic_link {
        expect_unsupported(
            "create_symbolic_link",
            fx.fs.create_symbolic_link(&link, &target).await,
        );
        return Ok(());
    }
    fx.fs.create_symbolic_link(&link, &Path::new("target")?).await?;
    let a = fx.fs.attributes(&link).await?;
    assert!(a.is_symbolic_link(), "attributes followed the link: {a:?}");
    if fx.caps.read_symbolic_link {
        assert_eq!(fx.fs.read_symbolic_link(&link).await?.to_string(), "target");
    }
    assert_eq!(get(&*fx.fs, &link, ByteRange::ALL).await?, b"linked", "read goes through the link");
    let dangling = d.join_entry("dangling")?;
    fx.fs.create_symbolic_link(&dangling, &Path::new("/no/such/target")?).await?;
    assert!(fx.fs.exists(&dangling).await?, "a dangling link exists");
    fx.fs.delete(&link, false).await?;
    assert!(!fx.fs.exists(&link).await? && fx.fs.exists(&target).await?);
    expect_kind(
        "create_symbolic_link over an existing path",
        fx.fs.create_symbolic_link(&dangling, &target).await,
        ErrorKind::AlreadyExists,
    );
    Ok(())
}

/// The shared fixture tree with links (file, directory, dangling, escaping):
/// a recursive listing reports links as links and does not descend them.
pub async fn symlink_fixture_tree(fx: &FsFixture) -> Result<()> {
    if !fx.caps.create_symbolic_link {
        return Ok(());
    }
    let d = fx.dir("symlink_tree").await?;
    let tree = build_symlink_tree(fx, &d).await?;
    let l = listing(&*fx.fs, &d, true).await?;
    let got: Vec<(String, EntryKind)> = l.iter().map(|(k, v)| (k.clone(), v.kind)).collect();
    let want: Vec<(String, EntryKind)> = tree.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(got, want, "recursive listing of the symlink tree");
    Ok(())
}

/// Create the symlink fixture tree below `dir`; returns relative paths and kinds, sorted.
pub async fn build_symlink_tree(
    fx: &FsFixture,
    dir: &Path,
) -> Result<Vec<(&'static str, EntryKind)>> {
    use EntryKind::{Directory as D, File as F, Symlink as L};
    fx.fs.create_directories(&dir.join("a/deep")?).await?;
    fx.fs.create_directories(&dir.join("b")?).await?;
    put(&*fx.fs, &dir.join("a/file")?, b"file in a").await?;
    put(&*fx.fs, &dir.join("a/deep/leaf")?, b"leaf").await?;
    put(&*fx.fs, &dir.join("b/g")?, b"g").await?;
    let link = |l: &str, t: &str| {
        let (l, t) = (dir.join(l), Path::new(t));
        async move { fx.fs.create_symbolic_link(&l?, &t?).await }
    };
    link("a/link-to-file", "file").await?;
    link("a/link-to-dir", "../b").await?;
    link("a/dangling", "does-not-exist").await?;
    link("escape", "../../../../etc").await?;
    Ok(vec![
        ("a", D),
        ("a/dangling", L),
        ("a/deep", D),
        ("a/deep/leaf", F),
        ("a/file", F),
        ("a/link-to-dir", L),
        ("a/link-to-file", L),
        ("b", D),
        ("b/g", F),
        ("escape", L),
    ])
}

/// Unicode, spaces, leading dashes and other legal but awkward names round-trip.
pub async fn unicode_and_spaces(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("names").await?;
    let names = [
        "ünïcödé ✓ файл 名前.txt",
        "with space",
        " leading and trailing ",
        "-dash",
        "quote's \"double\"",
        "percent%20and+plus&amp",
        "back\\slash",
        "..dots",
        "emoji 🚀",
    ];
    let sub = d.join_entry("dir with ü space")?;
    fx.fs.create_directory(&sub).await?;
    for n in names {
        put(&*fx.fs, &sub.join_entry(n)?, n.as_bytes()).await?;
    }
    let l = listing(&*fx.fs, &sub, false).await?;
    let mut want: Vec<&str> = names.to_vec();
    want.sort();
    assert_eq!(l.keys().map(String::as_str).collect::<Vec<_>>(), want);
    for n in names {
        let p = sub.join_entry(n)?;
        assert_eq!(get(&*fx.fs, &p, ByteRange::ALL).await?, n.as_bytes(), "{n:?}");
        assert_eq!(fx.fs.attributes(&p).await?.path.file_name(), Some(n));
    }
    Ok(())
}

/// A multi-GiB file made out of band reports its size, lists with it, and
/// reads a range near its end without transferring the rest.
pub async fn large_sparse_size(fx: &FsFixture) -> Result<()> {
    let Some(make) = &fx.sparse else { return Ok(()) };
    let d = fx.dir("large").await?;
    let f = d.join_entry("sparse.img")?;
    make(&f, fx.sparse_size).await?;
    assert_eq!(fx.fs.attributes(&f).await?.size, fx.sparse_size);
    let l = listing(&*fx.fs, &d, false).await?;
    assert_eq!(l["sparse.img"].size, fx.sparse_size);
    if fx.caps.read_range {
        let tail =
            get(&*fx.fs, &f, ByteRange { offset: fx.sparse_size - 10, len: Some(100) }).await?;
        assert_eq!(tail.len(), 10, "range at the end of a large file");
    }
    fx.fs.delete(&f, false).await?;
    Ok(())
}

/// Names that would leave a directory are rejected before use, and listings
/// only ever yield direct children.
pub async fn hostile_names(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("hostile").await?;
    for bad in ["", ".", "..", "../x", "a/b", "/etc", "nul\0byte"] {
        let e = d.join_entry(bad).expect_err("join_entry accepted a hostile name");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
    // `..` in a path cannot climb above the root of an absolute path.
    let climbing = Path::new(&format!("{d}/../../../../../../../.."))?;
    assert!(climbing.is_root());
    put(&*fx.fs, &d.join_entry("..a")?, b"legal").await?;
    let l = listing(&*fx.fs, &d, true).await?;
    assert_eq!(l.keys().collect::<Vec<_>>(), ["..a"]);
    Ok(())
}

/// Errors are typed: `NotFound`, `AlreadyExists`, and never a panic.
pub async fn typed_errors(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("errors").await?;
    let missing = d.join_entry("missing")?;
    expect_kind(
        "read of a missing file",
        fx.fs.read(&missing, ByteRange::ALL).await.map(|_| ()),
        ErrorKind::NotFound,
    );
    if fx.strict_directories {
        expect_kind(
            "create_file in a missing directory",
            fx.fs.create_file(&d.join("no/f")?).await,
            ErrorKind::NotFound,
        );
        let r = fx.fs.write(&d.join("no/f")?, bytes(b"x"), None).await;
        expect_kind("write in a missing directory", r, ErrorKind::NotFound);
    }
    let f = d.join_entry("file")?;
    put(&*fx.fs, &f, b"x").await?;
    expect_kind(
        "create_directory over a file",
        fx.fs.create_directory(&f).await,
        ErrorKind::AlreadyExists,
    );
    if fx.strict_directories {
        let r = fx.fs.write(&f.join_entry("below-a-file")?, bytes(b"x"), None).await;
        assert!(r.is_err(), "write below a regular file succeeded");
    }
    Ok(())
}

/// Copy within the file system (or `Unsupported`).
pub async fn server_side_copy(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("server_copy").await?;
    let a = d.join_entry("a")?;
    let b = d.join_entry("b")?;
    let data = pattern(700_000, 11);
    put(&*fx.fs, &a, &data).await?;
    if !fx.caps.copy_server_side {
        expect_unsupported("copy_server_side", fx.fs.copy_server_side(&a, &b).await);
        return Ok(());
    }
    fx.fs.copy_server_side(&a, &b).await?;
    assert!(get(&*fx.fs, &b, ByteRange::ALL).await? == data);
    assert!(get(&*fx.fs, &a, ByteRange::ALL).await? == data, "source changed");
    expect_kind(
        "copy of a missing file",
        fx.fs.copy_server_side(&d.join_entry("none")?, &b).await,
        ErrorKind::NotFound,
    );
    Ok(())
}

/// A server-side SHA-256 matches the known digest (or is `None`).
pub async fn checksum(fx: &FsFixture) -> Result<()> {
    let d = fx.dir("checksum").await?;
    let f = d.join_entry("abc")?;
    put(&*fx.fs, &f, b"abc").await?;
    let sum = fx.fs.checksum(&f, ChecksumAlgorithm::Sha256).await?;
    if fx.caps.checksum {
        assert_eq!(
            sum.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    } else {
        assert_eq!(sum, None, "checksum without checksum");
    }
    Ok(())
}
