//! The request logic against a local directory, changed behind the mount's
//! back to tell what came from the file system and what from the mount's own
//! buffers: read-ahead, write-back, truncation, POSIX rename and remove,
//! read-only mounts, directory handles.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use super::*;
use crate::LocalFileSystem;

struct Mount {
    _dir: tempfile::TempDir,
    root: Path,
    fs: Arc<LocalFileSystem>,
    ops: Ops,
}

impl Mount {
    fn new(read_only: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(dir.path().to_str().unwrap()).unwrap();
        let fs = Arc::new(LocalFileSystem::with_working_directory(root.clone()).unwrap());
        let opts = MountOptions { read_only, ttl: Duration::from_secs(1) };
        let ops = Ops::new(
            fs.clone(),
            root.clone(),
            tokio::runtime::Handle::current(),
            TaskTracker::new(),
            opts,
        );
        Mount { _dir: dir, root, fs, ops }
    }

    fn put(&self, rel: &str, data: &[u8]) {
        std::fs::write(self.disk(rel), data).unwrap();
    }

    fn disk(&self, rel: &str) -> std::path::PathBuf {
        std::path::Path::new(&self.root.to_string()).join(rel)
    }

    /// Look `name` up in the root, as the kernel would: its inode.
    async fn lookup(&self, name: &str) -> u64 {
        let path = self.ops.child(1, OsStr::new(name)).unwrap();
        self.ops.entry(&path).await.unwrap().ino.0
    }

    /// `name` in the root with `data` in it, opened: its inode and handle.
    async fn open(&self, name: &str, data: &[u8]) -> (u64, u64) {
        self.put(name, data);
        let ino = self.lookup(name).await;
        (ino, self.ops.new_handle(ino, None))
    }

    fn path(&self, name: &str) -> Path {
        self.root.join_entry(name).unwrap()
    }
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn errors_become_errnos() {
    let cases = [
        (Error::path_not_found("/x"), Errno::ENOENT),
        (Error::AlreadyExists { path: "/x".into() }, Errno::EEXIST),
        (Error::PermissionDenied { what: "x".into(), message: String::new() }, Errno::EACCES),
        (
            Error::Authentication { user: "u".into(), host: "h".into(), reason: "r".into() },
            Errno::EACCES,
        ),
        (Error::unsupported("x", "y"), Errno::EOPNOTSUPP),
        (Error::InvalidInput("x".into()), Errno::EINVAL),
        (Error::Cancelled("x".into()), Errno::EINTR),
        (Error::ConnectionLost { host: "h".into(), reason: "r".into(), source: None }, Errno::EIO),
        (Error::remote("s3", Some(500), "m"), Errno::EIO),
    ];
    for (err, want) in cases {
        assert_eq!(errno(&err), want, "{err}");
    }
}

#[tokio::test]
async fn attributes_show_the_mounting_user_and_default_modes() {
    let m = Mount::new(false);
    let p = m.path("f");
    let mut a = PathAttributes::new(p.clone(), EntryKind::File, 1000);
    let attr = m.ops.attr(7, &a);
    assert_eq!((attr.ino, attr.size, attr.blocks, attr.nlink), (INodeNo(7), 1000, 2, 1));
    assert_eq!((attr.kind, attr.perm), (FileType::RegularFile, 0o644));
    assert_eq!(attr.uid, rustix::process::getuid().as_raw());
    assert_eq!((attr.mtime, attr.crtime), (UNIX_EPOCH, UNIX_EPOCH));
    a.permissions = Some(0o100751);
    assert_eq!(m.ops.attr(7, &a).perm, 0o751);
    let d = m.ops.attr(8, &PathAttributes::new(m.root.clone(), EntryKind::Directory, 0));
    assert_eq!((d.kind, d.perm, d.nlink), (FileType::Directory, 0o755, 2));
    let l = m.ops.attr(9, &PathAttributes::new(p, EntryKind::Symlink, 3));
    assert_eq!(l.kind, FileType::Symlink);
}

#[tokio::test]
async fn names_that_leave_the_directory_are_refused() {
    let m = Mount::new(false);
    assert_eq!(m.ops.child(1, OsStr::new("..")).unwrap_err(), Errno::EINVAL);
    assert_eq!(m.ops.child(1, OsStr::new("a/b")).unwrap_err(), Errno::EINVAL);
    assert_eq!(m.ops.child(1, OsStr::from_bytes(b"\xff")).unwrap_err(), Errno::EINVAL);
    assert_eq!(m.ops.child(99, OsStr::new("x")).unwrap_err(), Errno::ENOENT, "unknown inode");
    assert_eq!(m.ops.child(1, OsStr::new("x")).unwrap(), m.path("x"));
}

#[tokio::test]
async fn sequential_reads_come_from_one_window() {
    let m = Mount::new(false);
    let data = content(READ_AHEAD + 300_000);
    let (_, fh) = m.open("big", &data).await;
    let page = 128 * 1024;
    assert!(m.ops.read(fh, 0, page).await.unwrap() == data[..page]);
    // Changed on the disk: what the window holds is still served from it,
    // so the pages of the window took one read of the file system.
    let changed: Vec<u8> = data.iter().map(|b| b.wrapping_add(1)).collect();
    m.put("big", &changed);
    let mut offset = page;
    while offset + page <= READ_AHEAD {
        let chunk = m.ops.read(fh, offset as u64, page).await.unwrap();
        assert!(chunk == data[offset..offset + page], "page at {offset} was read again");
        offset += page;
    }
    // Past the window: a new read, of the new content, to the end.
    let rest = m.ops.read(fh, READ_AHEAD as u64, 1 << 20).await.unwrap();
    assert!(rest == changed[READ_AHEAD..], "the next window is read from the file system");
    assert!(m.ops.read(fh, data.len() as u64, page).await.unwrap().is_empty(), "end of file");
    // Going back before the window reads again.
    assert_eq!(m.ops.read(fh, 10, 5).await.unwrap(), changed[10..15]);
    assert_eq!(m.ops.read(999, 0, 1).await.unwrap_err(), Errno::EBADF);
}

#[tokio::test]
async fn writes_stay_in_the_spool_until_flush_and_show_their_size() {
    let m = Mount::new(false);
    let (ino, fh) = m.open("f", b"hello world").await;
    // A read first: the window must not hide the write that follows.
    assert_eq!(m.ops.read(fh, 0, 5).await.unwrap(), b"hello");
    m.ops.write(fh, 6, b"there, world").await.unwrap();
    assert_eq!(std::fs::read(m.disk("f")).unwrap(), b"hello world", "nothing sent before flush");
    assert_eq!(m.ops.getattr(ino).await.unwrap().size, 18, "the size is the spool's");
    assert_eq!(m.ops.read(fh, 0, 100).await.unwrap(), b"hello there, world");
    m.ops.flush(fh).await.unwrap();
    assert_eq!(std::fs::read(m.disk("f")).unwrap(), b"hello there, world");
    // Nothing new: neither a second flush nor the release sends again (the
    // file changed since stays as it is).
    m.put("f", b"changed since");
    m.ops.flush(fh).await.unwrap();
    m.ops.release(fh).await.unwrap();
    assert_eq!(std::fs::read(m.disk("f")).unwrap(), b"changed since");
    assert_eq!(m.ops.release(fh).await.unwrap_err(), Errno::EBADF, "released twice");
}

#[tokio::test]
async fn release_sends_pending_writes() {
    let m = Mount::new(false);
    let (attr, fh) = m.ops.create(m.path("new"), 0o640).await.unwrap();
    assert_eq!(attr.size, 0);
    assert_eq!(std::fs::metadata(m.disk("new")).unwrap().len(), 0, "created at once");
    m.ops.write(fh, 0, b"content").await.unwrap();
    m.ops.release(fh).await.unwrap();
    assert_eq!(std::fs::read(m.disk("new")).unwrap(), b"content");
    let mode = m.fs.attributes(&m.path("new")).await.unwrap().permissions;
    assert_eq!(mode, Some(0o640));
    assert_eq!(m.ops.create(m.path("new"), 0o600).await.unwrap_err(), Errno::EEXIST);
}

#[tokio::test]
async fn truncation_with_and_without_a_handle() {
    let m = Mount::new(false);
    let (ino, fh) = m.open("t", b"0123456789").await;
    // Without a handle: at once.
    m.ops.setattr(ino, None, Some(4), None).await.unwrap();
    assert_eq!(std::fs::read(m.disk("t")).unwrap(), b"0123");
    let attr = m.ops.setattr(ino, None, Some(0), None).await.unwrap();
    assert_eq!((attr.size, std::fs::metadata(m.disk("t")).unwrap().len()), (0, 0));
    // Through a handle: in the spool until flush.
    m.put("t", b"0123456789");
    let attr = m.ops.setattr(ino, None, Some(6), Some(fh)).await.unwrap();
    assert_eq!(attr.size, 6, "the pending size");
    assert_eq!(std::fs::read(m.disk("t")).unwrap(), b"0123456789");
    m.ops.flush(fh).await.unwrap();
    assert_eq!(std::fs::read(m.disk("t")).unwrap(), b"012345");
    // And a mode.
    let attr = m.ops.setattr(ino, Some(0o100600), None, None).await.unwrap();
    assert_eq!(attr.perm, 0o600);
}

#[tokio::test]
async fn rename_follows_posix() {
    let m = Mount::new(false);
    m.put("a", b"A");
    m.put("b", b"B");
    std::fs::create_dir_all(m.disk("full/x")).unwrap();
    std::fs::create_dir(m.disk("empty")).unwrap();
    std::fs::create_dir(m.disk("dir")).unwrap();
    let a = m.lookup("a").await;
    let r = m.ops.rename(m.path("a"), m.path("b"), true).await;
    assert_eq!(r.unwrap_err(), Errno::EEXIST, "noreplace");
    m.ops.rename(m.path("a"), m.path("b"), false).await.unwrap();
    assert_eq!(std::fs::read(m.disk("b")).unwrap(), b"A", "a file target is replaced");
    assert!(!m.disk("a").exists());
    assert_eq!(m.lookup("b").await, a, "the inode moved with the file");
    let r = m.ops.rename(m.path("dir"), m.path("full"), false).await;
    assert_eq!(r.unwrap_err(), Errno::ENOTEMPTY);
    m.ops.rename(m.path("dir"), m.path("empty"), false).await.unwrap();
    assert!(m.disk("empty").is_dir() && !m.disk("dir").exists());
    let r = m.ops.rename(m.path("gone"), m.path("new"), false).await;
    assert_eq!(r.unwrap_err(), Errno::ENOENT);
}

#[tokio::test]
async fn unlink_and_rmdir_check_the_kind() {
    let m = Mount::new(false);
    m.put("f", b"x");
    std::fs::create_dir_all(m.disk("d/sub")).unwrap();
    std::fs::create_dir(m.disk("e")).unwrap();
    assert_eq!(m.ops.remove(m.path("d"), false).await.unwrap_err(), Errno::EISDIR);
    assert_eq!(m.ops.remove(m.path("f"), true).await.unwrap_err(), Errno::ENOTDIR);
    assert_eq!(m.ops.remove(m.path("d"), true).await.unwrap_err(), Errno::ENOTEMPTY);
    assert_eq!(m.ops.remove(m.path("nope"), false).await.unwrap_err(), Errno::ENOENT);
    let f = m.lookup("f").await;
    m.ops.remove(m.path("f"), false).await.unwrap();
    m.ops.remove(m.path("e"), true).await.unwrap();
    assert!(!m.disk("f").exists() && !m.disk("e").exists());
    assert_eq!(m.ops.getattr(f).await.unwrap_err(), Errno::ENOENT, "its inode is forgotten");
}

#[tokio::test]
async fn read_only_mounts_change_nothing() {
    let m = Mount::new(true);
    let (ino, fh) = m.open("f", b"keep").await;
    assert_eq!(m.ops.write(fh, 0, b"x").await.unwrap_err(), Errno::EROFS);
    assert_eq!(m.ops.remove(m.path("f"), false).await.unwrap_err(), Errno::EROFS);
    assert_eq!(m.ops.create(m.path("g"), 0o644).await.unwrap_err(), Errno::EROFS);
    assert_eq!(m.ops.setattr(ino, None, Some(0), None).await.unwrap_err(), Errno::EROFS);
    assert_eq!(m.ops.read(fh, 0, 10).await.unwrap(), b"keep");
    assert_eq!(std::fs::read(m.disk("f")).unwrap(), b"keep");
    assert!(!m.disk("g").exists());
}

#[tokio::test]
async fn directory_handles_list_once_with_stable_inodes() {
    let m = Mount::new(false);
    m.put("f", b"1");
    std::fs::create_dir(m.disk("d")).unwrap();
    std::os::unix::fs::symlink("f", m.disk("l")).unwrap();
    let d = m.lookup("d").await;
    let fh = m.ops.open_dir(1).await.unwrap();
    let entries = m.ops.dir_entries(fh).unwrap();
    let mut names: Vec<(&str, FileType)> =
        entries.iter().map(|(_, k, n)| (n.as_str(), *k)).collect();
    names.sort_by_key(|(n, _)| *n);
    assert_eq!(
        names,
        [
            (".", FileType::Directory),
            ("..", FileType::Directory),
            ("d", FileType::Directory),
            ("f", FileType::RegularFile),
            ("l", FileType::Symlink),
        ]
    );
    let d_entry = entries.iter().find(|(_, _, n)| n == "d").unwrap();
    assert_eq!(d_entry.0, d, "the listing numbers paths as lookup does");
    assert_eq!(entries[0].0, 1);
    // A subdirectory's `..` is its parent's inode.
    let sub = m.ops.open_dir(d).await.unwrap();
    assert_eq!(m.ops.dir_entries(sub).unwrap()[1].0, 1);
    m.ops.close_dir(fh);
    assert!(m.ops.dir_entries(fh).is_none());
    assert_eq!(m.ops.open_dir(4242).await.unwrap_err(), Errno::ENOENT);
}
