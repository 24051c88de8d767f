//! The copy engine between local file systems, with fault-injecting wrappers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use fs_adaptors::LocalFileSystem;
use fs_adaptors::copy::{
    CopyOptions, FileOutcome, ProgressEvent, ResumeCheck, SymlinkPolicy, copy,
};
use futures::stream::{self, BoxStream, StreamExt};
use hpc_core::{
    ByteRange, ByteStream, CopyMode, EntryKind, Error, ErrorKind, FileSystem, FileSystemInfo,
    PartStream, Path, PathAttributes, Result,
};
use hpc_testkit::fs_conformance::{get, pattern, put};

fn setup() -> (tempfile::TempDir, Path, Arc<dyn FileSystem>) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(dir.path().to_str().unwrap()).unwrap();
    (dir, root, Arc::new(LocalFileSystem::new().unwrap()))
}

fn p(root: &Path, rel: &str) -> Path {
    root.join(rel).unwrap()
}

fn opts(mode: CopyMode) -> CopyOptions {
    CopyOptions { mode, ..Default::default() }
}

/// A file system that delegates to another and can break reads after some
/// bytes, or inject listing entries.
#[derive(Debug)]
struct Faulty {
    inner: Arc<dyn FileSystem>,
    fail_after: Option<u64>,
    extra_entries: Vec<PathAttributes>,
    server_side: bool,
    /// Offer `read_parts` with parts of this size, delivered last part first.
    parts: Option<usize>,
    /// How often `read_parts` was called.
    parts_reads: AtomicU64,
    info: OnceLock<FileSystemInfo>,
}

impl Faulty {
    fn new(inner: &Arc<dyn FileSystem>) -> Self {
        Faulty {
            inner: inner.clone(),
            fail_after: None,
            extra_entries: Vec::new(),
            server_side: true,
            parts: None,
            parts_reads: AtomicU64::new(0),
            info: OnceLock::new(),
        }
    }
}

#[async_trait]
impl FileSystem for Faulty {
    fn info(&self) -> &FileSystemInfo {
        // Built on first use: the tests set `server_side` and `parts` after `new`.
        self.info.get_or_init(|| {
            let inner = self.inner.info();
            let mut c = inner.capabilities;
            c.copy_server_side &= self.server_side;
            c.read_parts = if self.parts.is_some() { 4 } else { 1 };
            FileSystemInfo::new("faulty", "faulty://", c, inner.working_directory.clone())
        })
    }
    async fn create_directory(&self, path: &Path) -> Result<()> {
        self.inner.create_directory(path).await
    }
    async fn create_file(&self, path: &Path) -> Result<()> {
        self.inner.create_file(path).await
    }
    async fn create_symbolic_link(&self, link: &Path, target: &Path) -> Result<()> {
        self.inner.create_symbolic_link(link, target).await
    }
    async fn read_symbolic_link(&self, link: &Path) -> Result<Path> {
        self.inner.read_symbolic_link(link).await
    }
    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        self.inner.delete(path, recursive).await
    }
    fn list<'a>(&'a self, dir: &'a Path, recursive: bool) -> BoxStream<'a, Result<PathAttributes>> {
        let extra = stream::iter(self.extra_entries.clone().into_iter().map(Ok));
        self.inner.list(dir, recursive).chain(extra).boxed()
    }
    async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        self.inner.attributes(path).await
    }
    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.rename(from, to).await
    }
    async fn rename_replacing(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.rename_replacing(from, to).await
    }
    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        let s = self.inner.read(path, range).await?;
        let Some(limit) = self.fail_after else { return Ok(s) };
        let seen = Arc::new(AtomicU64::new(0));
        Ok(s.map(move |c| {
            let c = c?;
            if seen.fetch_add(c.len() as u64, Ordering::Relaxed) + c.len() as u64 > limit {
                return Err(Error::ConnectionLost {
                    host: "faulty".into(),
                    reason: "injected".into(),
                    source: None,
                });
            }
            Ok(c)
        })
        .boxed())
    }
    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64> {
        self.inner.write(path, data, size).await
    }
    async fn read_parts(&self, path: &Path, range: ByteRange) -> Result<PartStream> {
        let Some(part) = self.parts else { unreachable!("read_parts without parts") };
        self.parts_reads.fetch_add(1, Ordering::Relaxed);
        // The whole range (with the injected fault), cut into parts that
        // come last first.
        let mut items: Vec<Result<Bytes>> = self.read(path, range).await?.collect().await;
        let mut whole = Vec::new();
        let fault = items.iter().position(Result::is_err).map(|i| items.remove(i));
        for c in items {
            whole.extend_from_slice(&c?);
        }
        let mut tagged: Vec<Result<(u64, Bytes)>> = whole
            .chunks(part)
            .enumerate()
            .map(|(i, c)| Ok((range.offset + (i * part) as u64, Bytes::copy_from_slice(c))))
            .rev()
            .collect();
        tagged.extend(fault.map(|e| Err(e.unwrap_err())));
        Ok(stream::iter(tagged).boxed())
    }
    async fn append(&self, path: &Path, data: ByteStream) -> Result<u64> {
        self.inner.append(path, data).await
    }
    async fn copy_server_side(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.copy_server_side(from, to).await
    }
}

#[tokio::test]
async fn modes_on_single_files() {
    let (_d, root, fs) = setup();
    let (a, b) = (p(&root, "a"), p(&root, "b"));
    put(&*fs, &a, b"new content").await.unwrap();
    put(&*fs, &b, b"old").await.unwrap();

    let e = copy(&fs, &a, &fs, &b, &opts(CopyMode::Create)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    let r = copy(&fs, &a, &fs, &b, &opts(CopyMode::Ignore)).await.unwrap();
    assert_eq!(r.skipped_existing, 1);
    assert_eq!(get(&*fs, &b, ByteRange::ALL).await.unwrap(), b"old");
    let r = copy(&fs, &a, &fs, &b, &opts(CopyMode::Replace)).await.unwrap();
    assert_eq!(r.files, 1);
    assert_eq!(get(&*fs, &b, ByteRange::ALL).await.unwrap(), b"new content");
    let c = p(&root, "c");
    let r = copy(&fs, &a, &fs, &c, &CopyOptions { verify: true, ..opts(CopyMode::Create) })
        .await
        .unwrap();
    assert_eq!((r.files, r.verified), (1, 1));
    let e = copy(&fs, &p(&root, "missing"), &fs, &c, &opts(CopyMode::Replace)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

/// A copy the file system makes on its own (local to local) still counts
/// its bytes: `hpckit fs cp -v` reported 0 for 10 MB.
#[tokio::test]
async fn a_server_side_copy_counts_its_bytes() {
    let (_d, root, fs) = setup();
    let (a, b) = (p(&root, "a"), p(&root, "b"));
    let data = pattern(10 << 20, 7);
    put(&*fs, &a, &data).await.unwrap();
    assert!(fs.info().capabilities.copy_server_side);
    let r = copy(&fs, &a, &fs, &b, &opts(CopyMode::Create)).await.unwrap();
    assert_eq!((r.files, r.bytes), (1, 10 << 20));
    assert_eq!(get(&*fs, &b, ByteRange::ALL).await.unwrap(), data);
}

#[tokio::test]
async fn failed_replace_keeps_the_good_file() {
    let (_d, root, fs) = setup();
    let (a, b) = (p(&root, "big"), p(&root, "target"));
    put(&*fs, &a, &pattern(3 << 20, 1)).await.unwrap();
    put(&*fs, &b, b"precious").await.unwrap();
    let mut faulty = Faulty::new(&fs);
    faulty.fail_after = Some(1 << 20);
    faulty.server_side = false;
    let src: Arc<dyn FileSystem> = Arc::new(faulty);
    for mode in [CopyMode::Replace, CopyMode::Resume] {
        let e = copy(&src, &a, &fs, &b, &opts(mode)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connection, "{mode}: {e}");
        assert_eq!(get(&*fs, &b, ByteRange::ALL).await.unwrap(), b"precious", "{mode}");
    }
    let names: Vec<_> =
        std::fs::read_dir(root.to_string()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "temporary files left: {names:?}");
}

#[tokio::test]
async fn parts_in_any_order_land_in_place() {
    let (_d, root, fs) = setup();
    let data = pattern((1 << 20) + 123, 7);
    let a = p(&root, "src");
    put(&*fs, &a, &data).await.unwrap();
    let mut faulty = Faulty::new(&fs);
    faulty.parts = Some(64 << 10);
    faulty.server_side = false;
    let faulty = Arc::new(faulty);
    let src: Arc<dyn FileSystem> = faulty.clone();
    // A new target, then one replaced.
    for name in ["new", "new"] {
        let b = p(&root, name);
        let r = copy(&src, &a, &fs, &b, &opts(CopyMode::Replace)).await.unwrap();
        assert_eq!((r.files, r.bytes), (1, data.len() as u64));
        assert_eq!(get(&*fs, &b, ByteRange::ALL).await.unwrap(), data);
    }
    assert_eq!(faulty.parts_reads.load(Ordering::Relaxed), 2, "the parts path was not taken");
    // Verifying hashes in order on the way: the in-order path.
    let verify = CopyOptions { verify: true, ..opts(CopyMode::Replace) };
    let r = copy(&src, &a, &fs, &p(&root, "verified"), &verify).await.unwrap();
    assert_eq!(r.verified, 1);
    assert_eq!(faulty.parts_reads.load(Ordering::Relaxed), 2);
    assert_eq!(get(&*fs, &p(&root, "verified"), ByteRange::ALL).await.unwrap(), data);
}

#[tokio::test]
async fn a_failed_parts_copy_leaves_nothing_half_written() {
    let (_d, root, fs) = setup();
    let a = p(&root, "src");
    put(&*fs, &a, &pattern(3 << 20, 2)).await.unwrap();
    put(&*fs, &p(&root, "old"), b"precious").await.unwrap();
    let mut faulty = Faulty::new(&fs);
    faulty.parts = Some(256 << 10);
    faulty.fail_after = Some(2 << 20);
    faulty.server_side = false;
    let src: Arc<dyn FileSystem> = Arc::new(faulty);
    for target in ["old", "absent"] {
        let e = copy(&src, &a, &fs, &p(&root, target), &opts(CopyMode::Replace)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connection, "{target}: {e}");
    }
    assert_eq!(get(&*fs, &p(&root, "old"), ByteRange::ALL).await.unwrap(), b"precious");
    let mut names: Vec<_> =
        std::fs::read_dir(root.to_string()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["old", "src"], "half-written or temporary files left");
}

#[tokio::test]
async fn local_positioned_writes_check_what_they_get() {
    let (_d, root, fs) = setup();
    let b = p(&root, "t");
    let chunks = |v: Vec<(u64, &'static [u8])>| -> PartStream {
        stream::iter(v.into_iter().map(|(at, c)| Ok((at, Bytes::from_static(c))))).boxed()
    };
    assert!(fs.info().capabilities.write_parts);
    let n = fs.write_parts(&b, chunks(vec![(6, b"world"), (0, b"hello ")]), 11).await.unwrap();
    assert_eq!(n, 11);
    assert_eq!(get(&*fs, &b, ByteRange::ALL).await.unwrap(), b"hello world");
    // Short of the size, or beyond it: an error, and the old file stays.
    let e = fs.write_parts(&b, chunks(vec![(0, b"hello")]), 11).await.unwrap_err();
    assert!(e.to_string().contains("ended after 5 of 11 bytes"), "{e}");
    let e = fs.write_parts(&b, chunks(vec![(8, b"long")]), 11).await.unwrap_err();
    assert!(e.to_string().contains("beyond the 11 bytes"), "{e}");
    assert_eq!(get(&*fs, &b, ByteRange::ALL).await.unwrap(), b"hello world");
    let names = std::fs::read_dir(root.to_string()).unwrap().count();
    assert_eq!(names, 1, "temporary files left");
}

#[tokio::test]
async fn resume_continues_checks_and_restarts() {
    let (_d, root, fs) = setup();
    let data = pattern(5 << 20, 3);
    let (a, b) = (p(&root, "src.bin"), p(&root, "dst.bin"));
    put(&*fs, &a, &data).await.unwrap();

    // An interrupted first run leaves a resumable prefix.
    let mut faulty = Faulty::new(&fs);
    faulty.fail_after = Some(2 << 20);
    faulty.server_side = false;
    let src: Arc<dyn FileSystem> = Arc::new(faulty);
    assert!(copy(&src, &a, &fs, &b, &opts(CopyMode::Resume)).await.is_err());
    let partial = fs.attributes(&b).await.unwrap().size;
    assert!(partial > 0 && partial < data.len() as u64, "partial size {partial}");

    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = progress.clone();
    let o = CopyOptions {
        verify: true,
        server_side: false,
        progress: Some(Arc::new(move |pr: &fs_adaptors::copy::Progress| {
            seen.lock().unwrap().push(pr.clone())
        })),
        ..opts(CopyMode::Resume)
    };
    let r = copy(&fs, &a, &fs, &b, &o).await.unwrap();
    assert_eq!((r.resumed, r.verified), (1, 1));
    assert_eq!(r.bytes, data.len() as u64 - partial, "only the rest moved");
    assert!(get(&*fs, &b, ByteRange::ALL).await.unwrap() == data);
    {
        let events = progress.lock().unwrap();
        let last = &events.last().unwrap().event;
        assert!(
            matches!(last, ProgressEvent::FileFinished { outcome: FileOutcome::Resumed, .. }),
            "{last:?}"
        );
    }

    // Complete already.
    let r = copy(&fs, &a, &fs, &b, &o).await.unwrap();
    assert_eq!(r.already_complete, 1);

    // A prefix whose tail differs is not resumed but copied again.
    let mut wrong = data[..1 << 20].to_vec();
    let last = wrong.len() - 1;
    wrong[last] ^= 0xff;
    put(&*fs, &b, &wrong).await.unwrap();
    let r = copy(&fs, &a, &fs, &b, &o).await.unwrap();
    assert_eq!((r.files, r.resumed), (1, 0));
    assert!(get(&*fs, &b, ByteRange::ALL).await.unwrap() == data);

    // A target longer than the source is copied again too.
    put(&*fs, &b, &pattern(6 << 20, 3)).await.unwrap();
    let r = copy(&fs, &a, &fs, &b, &CopyOptions { resume_check: ResumeCheck::Full, ..o })
        .await
        .unwrap();
    assert_eq!(r.files, 1);
    assert!(get(&*fs, &b, ByteRange::ALL).await.unwrap() == data);
}

async fn tree(fs: &Arc<dyn FileSystem>, root: &Path) {
    for (rel, len) in
        [("t/a/1", 10), ("t/a/b/2", 300_000), ("t/c/3", 0), ("t/ü n/4", 7), ("t/5", 1 << 20)]
    {
        let f = p(root, rel);
        fs.create_directories(&f.parent().unwrap()).await.unwrap();
        put(&**fs, &f, &pattern(len, len as u8)).await.unwrap();
    }
    fs.create_directories(&p(root, "t/empty")).await.unwrap();
    fs.create_symbolic_link(&p(root, "t/a/link"), &Path::new("b/2").unwrap()).await.unwrap();
    fs.create_symbolic_link(&p(root, "t/dirlink"), &Path::new("a").unwrap()).await.unwrap();
}

#[tokio::test]
async fn recursive_copy_with_links_in_parallel() {
    let (_d, root, fs) = setup();
    tree(&fs, &root).await;
    let progress = Arc::new(AtomicU64::new(0));
    let seen = progress.clone();
    let o = CopyOptions {
        recursive: true,
        parallel: 3,
        verify: true,
        scan_first: true,
        progress: Some(Arc::new(move |pr: &fs_adaptors::copy::Progress| {
            assert_eq!(pr.bytes_total, Some(1_348_593));
            seen.fetch_max(pr.bytes_done, Ordering::Relaxed);
        })),
        ..opts(CopyMode::Create)
    };
    let r = copy(&fs, &p(&root, "t"), &fs, &p(&root, "u"), &o).await.unwrap();
    assert_eq!((r.files, r.links, r.verified), (5, 2, 5), "{r:?}");
    // Local to local copies on the server; its bytes count all the same.
    assert_eq!((r.bytes, progress.load(Ordering::Relaxed)), (1_348_593, 1_348_593), "{r:?}");
    for rel in ["a/1", "a/b/2", "c/3", "ü n/4", "5"] {
        assert_eq!(
            get(&*fs, &p(&root, &format!("u/{rel}")), ByteRange::ALL).await.unwrap(),
            get(&*fs, &p(&root, &format!("t/{rel}")), ByteRange::ALL).await.unwrap(),
            "{rel}"
        );
    }
    assert!(fs.attributes(&p(&root, "u/empty")).await.unwrap().is_directory());
    assert_eq!(fs.read_symbolic_link(&p(&root, "u/dirlink")).await.unwrap().to_string(), "a");
    assert!(fs.attributes(&p(&root, "u/a/link")).await.unwrap().is_symbolic_link());

    // Into an existing tree: CREATE refuses, IGNORE skips all, REPLACE redoes.
    let e = copy(
        &fs,
        &p(&root, "t"),
        &fs,
        &p(&root, "u"),
        &CopyOptions { recursive: true, ..opts(CopyMode::Create) },
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    let r = copy(
        &fs,
        &p(&root, "t"),
        &fs,
        &p(&root, "u"),
        &CopyOptions { recursive: true, ..opts(CopyMode::Ignore) },
    )
    .await
    .unwrap();
    assert_eq!(r.skipped_existing, 7);
    // Streamed (not server-side) with progress through a wrapper that hides server-side copy.
    let mut f = Faulty::new(&fs);
    f.server_side = false;
    let src: Arc<dyn FileSystem> = Arc::new(f);
    let r = copy(
        &src,
        &p(&root, "t"),
        &fs,
        &p(&root, "v"),
        &CopyOptions {
            recursive: true,
            symlinks: SymlinkPolicy::Skip,
            verify: true,
            ..opts(CopyMode::Replace)
        },
    )
    .await
    .unwrap();
    assert_eq!((r.files, r.skipped, r.bytes), (5, 2, 1_348_593));
    assert!(!fs.exists(&p(&root, "v/dirlink")).await.unwrap());
    let r = copy(
        &src,
        &p(&root, "t"),
        &fs,
        &p(&root, "w"),
        &CopyOptions { recursive: true, symlinks: SymlinkPolicy::Follow, ..opts(CopyMode::Create) },
    )
    .await
    .unwrap();
    assert_eq!(
        (r.files, r.skipped),
        (6, 1),
        "link to a file copied, link to a directory skipped: {r:?}"
    );
    assert!(fs.attributes(&p(&root, "w/a/link")).await.unwrap().is_regular());

    let e = copy(
        &fs,
        &p(&root, "t"),
        &fs,
        &p(&root, "t/inside"),
        &CopyOptions { recursive: true, ..opts(CopyMode::Create) },
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e =
        copy(&fs, &p(&root, "t"), &fs, &p(&root, "x"), &opts(CopyMode::Create)).await.unwrap_err();
    assert!(e.to_string().contains("recursive"), "{e}");
}

#[tokio::test]
async fn hostile_listings_never_escape_the_target() {
    let (_d, root, fs) = setup();
    tree(&fs, &root).await;
    let outside = p(&root, "outside");
    for (bad, why) in [
        (PathAttributes::new(p(&root, "elsewhere/evil"), EntryKind::File, 1), "not below"),
        (
            PathAttributes::new(p(&root, "t/dirlink/evil"), EntryKind::File, 1),
            "below a symbolic link",
        ),
    ] {
        let mut f = Faulty::new(&fs);
        f.extra_entries = vec![bad];
        let src: Arc<dyn FileSystem> = Arc::new(f);
        let e = copy(
            &src,
            &p(&root, "t"),
            &fs,
            &outside,
            &CopyOptions { recursive: true, ..opts(CopyMode::Replace) },
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains(why), "{e}");
        assert!(!fs.exists(&p(&root, "outside/evil")).await.unwrap());
        assert!(!fs.exists(&p(&root, "outside/dirlink/evil")).await.unwrap());
    }
}

#[tokio::test]
async fn cancel_stops_and_leaves_resumable_data() {
    let (_d, root, fs) = setup();
    let (a, b) = (p(&root, "a"), p(&root, "b"));
    put(&*fs, &a, &pattern(8 << 20, 9)).await.unwrap();
    let slow = SlowFs::new(&fs);
    let src: Arc<dyn FileSystem> = Arc::new(slow);
    let o = opts(CopyMode::Resume);
    let cancel = o.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let e = copy(&src, &a, &fs, &b, &o).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    let have = fs.attributes(&b).await.unwrap().size;
    assert!(have < 8 << 20, "cancelled copy is partial");
    let r = copy(&fs, &a, &fs, &b, &CopyOptions { server_side: false, ..opts(CopyMode::Resume) })
        .await
        .unwrap();
    assert_eq!(r.resumed + r.files, 1);
    assert!(get(&*fs, &b, ByteRange::ALL).await.unwrap() == pattern(8 << 20, 9));
}

/// Reads in small, slow chunks so a copy is still running when cancelled.
#[derive(Debug)]
struct SlowFs {
    inner: Arc<dyn FileSystem>,
    info: FileSystemInfo,
}

impl SlowFs {
    fn new(inner: &Arc<dyn FileSystem>) -> Self {
        let i = inner.info();
        let info =
            FileSystemInfo::new("slow", "slow://", i.capabilities, i.working_directory.clone());
        SlowFs { inner: inner.clone(), info }
    }
}

#[async_trait]
impl FileSystem for SlowFs {
    fn info(&self) -> &FileSystemInfo {
        &self.info
    }
    async fn create_directory(&self, path: &Path) -> Result<()> {
        self.inner.create_directory(path).await
    }
    async fn create_file(&self, path: &Path) -> Result<()> {
        self.inner.create_file(path).await
    }
    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        self.inner.delete(path, recursive).await
    }
    fn list<'a>(&'a self, dir: &'a Path, recursive: bool) -> BoxStream<'a, Result<PathAttributes>> {
        self.inner.list(dir, recursive)
    }
    async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        self.inner.attributes(path).await
    }
    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.inner.rename(from, to).await
    }
    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        let s = self.inner.read(path, range).await?;
        Ok(s.flat_map(|c| {
            let parts: Vec<Result<Bytes>> = match c {
                Ok(c) => c.chunks(64 * 1024).map(|p| Ok(Bytes::copy_from_slice(p))).collect(),
                Err(e) => vec![Err(e)],
            };
            stream::iter(parts)
        })
        .then(|c| async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            c
        })
        .boxed())
    }
    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64> {
        self.inner.write(path, data, size).await
    }
}

/// A staged file named as one of this host's, by a writer that has ended.
fn dead_writer_staging(root: &Path, target: &str, suffix: &str) -> Path {
    let tag = fs_adaptors::staging::host_tag();
    p(root, &format!(".{target}.hpckit-{tag}-4294967295-0.{suffix}"))
}

#[tokio::test]
async fn copies_remove_stale_leftovers_of_their_target_only() {
    let (_d, root, fs) = setup();
    let (a, b) = (p(&root, "a"), p(&root, "b"));
    put(&*fs, &a, &pattern(100_000, 1)).await.unwrap();
    let mine = dead_writer_staging(&root, "b", "part");
    let other = dead_writer_staging(&root, "c", "copy");
    let foreign = p(&root, ".b.hpckit-tmp.part");
    for x in [&mine, &other, &foreign] {
        put(&*fs, x, b"left over").await.unwrap();
    }
    // Switched off: nothing is touched.
    let off = CopyOptions { stale_after: None, ..opts(CopyMode::Replace) };
    copy(&fs, &a, &fs, &b, &off).await.unwrap();
    assert!(fs.exists(&mine).await.unwrap());
    copy(&fs, &a, &fs, &b, &opts(CopyMode::Replace)).await.unwrap();
    assert!(!fs.exists(&mine).await.unwrap(), "the dead writer's file for b goes");
    assert!(fs.exists(&other).await.unwrap(), "another target's stays");
    assert!(fs.exists(&foreign).await.unwrap(), "a name not ours stays");
    assert!(get(&*fs, &b, ByteRange::ALL).await.unwrap() == pattern(100_000, 1));
}

#[tokio::test]
async fn resume_continues_a_staged_file_of_an_interrupted_copy() {
    let (_d, root, fs) = setup();
    let (a, b) = (p(&root, "a"), p(&root, "b"));
    let data = pattern(3 << 20, 4);
    put(&*fs, &a, &data).await.unwrap();
    let staged = dead_writer_staging(&root, "b", "part");
    put(&*fs, &staged, &data[..1 << 20]).await.unwrap();
    let o = CopyOptions { server_side: false, ..opts(CopyMode::Resume) };
    let r = copy(&fs, &a, &fs, &b, &o).await.unwrap();
    assert_eq!((r.resumed, r.files), (1, 0), "{r:?}");
    assert_eq!(r.bytes, 2 << 20, "only the rest moved");
    assert!(get(&*fs, &b, ByteRange::ALL).await.unwrap() == data);
    assert!(!fs.exists(&staged).await.unwrap());

    // A staged file that is not a prefix of the source is dropped, not continued.
    fs.delete(&b, false).await.unwrap();
    put(&*fs, &staged, &pattern(1 << 20, 99)).await.unwrap();
    let r = copy(&fs, &a, &fs, &b, &o).await.unwrap();
    assert_eq!((r.resumed, r.files), (0, 1), "{r:?}");
    assert!(get(&*fs, &b, ByteRange::ALL).await.unwrap() == data);
    let left: Vec<_> = fs.list(&root, false).collect::<Vec<_>>().await;
    assert_eq!(left.len(), 2, "only a and b remain: {left:?}");
}

/// A REPLACE dropped half-way removes its staged sibling (the `.copy` of
/// the engine and the adaptor's `.part`) once the cleanup has run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_replace_leaves_no_staged_file() {
    let (_d, root, fs) = setup();
    let (a, b) = (p(&root, "a"), p(&root, "b"));
    put(&*fs, &a, &pattern(8 << 20, 9)).await.unwrap();
    put(&*fs, &b, b"old").await.unwrap();
    let src: Arc<dyn FileSystem> = Arc::new(SlowFs::new(&fs));
    let o = CopyOptions { server_side: false, ..opts(CopyMode::Replace) };
    let copying = copy(&src, &a, &fs, &b, &o);
    let staged_seen = async {
        loop {
            let names: Vec<String> = fs
                .list(&root, false)
                .filter_map(|e| async move { e.ok()?.path.file_name().map(str::to_owned) })
                .collect()
                .await;
            if names.iter().any(|n| fs_adaptors::is_temp_name(n)) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        r = copying => panic!("the slow copy ended first: {r:?}"),
        () = staged_seen => {}
    }
    assert!(hpc_core::cleanup::finished(std::time::Duration::from_secs(30)).await);
    let left: Vec<String> = fs
        .list(&root, false)
        .filter_map(|e| async move { e.ok()?.path.file_name().map(str::to_owned) })
        .collect()
        .await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(get(&*fs, &b, ByteRange::ALL).await.unwrap() == b"old");
}

#[tokio::test]
async fn a_listing_naming_an_entry_twice_is_reported_not_copied_twice() {
    let (_d, root, fs) = setup();
    fs.create_directories(&p(&root, "s/sub")).await.unwrap();
    put(&*fs, &p(&root, "s/f1"), b"one").await.unwrap();
    put(&*fs, &p(&root, "s/sub/f2"), b"two").await.unwrap();
    for (twice, mode) in
        [("s/f1", CopyMode::Create), ("s/sub/f2", CopyMode::Replace), ("s/sub", CopyMode::Ignore)]
    {
        let mut f = Faulty::new(&fs);
        f.extra_entries = vec![fs.attributes(&p(&root, twice)).await.unwrap()];
        let src: Arc<dyn FileSystem> = Arc::new(f);
        let dst = p(&root, &format!("d-{mode:?}"));
        let e =
            copy(&src, &p(&root, "s"), &fs, &dst, &CopyOptions { recursive: true, ..opts(mode) })
                .await
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
        assert!(e.to_string().contains("same entry twice"), "{e}");
        assert!(e.to_string().contains(twice), "{e}");
    }
}

/// A local name that is not UTF-8 (Linux allows any bytes but `/` and NUL):
/// the listing names it as an error item and goes on; a recursive copy
/// copies everything else and reports the one it skipped (it failed as a
/// whole, exit 65, for one such name).
#[tokio::test]
async fn a_name_that_is_not_utf8_is_skipped_and_reported_alone() {
    use std::os::unix::ffi::OsStrExt;
    let (d, root, fs) = setup();
    let src = d.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), b"a").unwrap();
    std::fs::write(src.join(std::ffi::OsStr::from_bytes(b"bad-\xff-name")), b"x").unwrap();
    std::fs::write(src.join("sub").join(std::ffi::OsStr::from_bytes(b"\xfe")), b"y").unwrap();
    std::fs::write(src.join("sub/z.txt"), b"z").unwrap();

    let items: Vec<_> = fs.list(&p(&root, "src"), true).collect().await;
    let (ok, bad): (Vec<_>, Vec<_>) = items.into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), 3, "a.txt, sub, sub/z.txt");
    assert_eq!(bad.len(), 2);
    for e in bad.iter().map(|r| r.as_ref().unwrap_err()) {
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }

    let mut o = opts(CopyMode::Create);
    o.recursive = true;
    // Without asking for it, the first such name ends the copy.
    let e = copy(&fs, &p(&root, "src"), &fs, &p(&root, "dst0"), &o).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    o.skip_unusable = true;
    let r = copy(&fs, &p(&root, "src"), &fs, &p(&root, "dst"), &o).await.unwrap();
    assert_eq!(r.files, 2);
    assert_eq!(r.unusable.len(), 2, "{:?}", r.unusable);
    assert!(r.unusable.iter().any(|m| m.contains(r"\xFF")), "{:?}", r.unusable);
    assert_eq!(std::fs::read(d.path().join("dst/sub/z.txt")).unwrap(), b"z");
    assert_eq!(std::fs::read_dir(d.path().join("dst")).unwrap().count(), 2, "a.txt and sub");
}
