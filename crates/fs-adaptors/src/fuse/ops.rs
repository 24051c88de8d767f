//! [`Ops`]: what each FUSE request does, in terms of the mounted
//! [`FileSystem`], the inode table and the open handles. The kernel side
//! (`requests.rs`) only unpacks requests, runs these as tasks and replies, so
//! everything here is tested without a mount.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use fuser::{Errno, FileAttr, FileType, INodeNo};
use futures::{StreamExt, TryStreamExt};
use hpc_core::{ByteRange, EntryKind, Error, ErrorKind, FileSystem, Path, PathAttributes, Result};
use tokio_util::task::TaskTracker;

use super::handle::{Handle, READ_AHEAD, Spool};
use super::inodes::Inodes;
use super::options::MountOptions;

/// One `readdir` entry: inode, type, name.
pub(super) type DirEntry = (u64, FileType, String);

/// The errno the kernel gets for an error.
pub(super) fn errno(e: &Error) -> Errno {
    match e.kind() {
        ErrorKind::NotFound => Errno::ENOENT,
        ErrorKind::AlreadyExists => Errno::EEXIST,
        ErrorKind::PermissionDenied | ErrorKind::Authentication => Errno::EACCES,
        ErrorKind::Unsupported => Errno::EOPNOTSUPP,
        ErrorKind::InvalidInput => Errno::EINVAL,
        ErrorKind::Cancelled => Errno::EINTR,
        _ => Errno::EIO,
    }
}

/// [`errno`] of an owned error, for `map_err`.
pub(super) fn e(err: Error) -> Errno {
    errno(&err)
}

fn file_type(k: EntryKind) -> FileType {
    match k {
        EntryKind::Directory => FileType::Directory,
        EntryKind::Symlink => FileType::Symlink,
        EntryKind::File => FileType::RegularFile,
        EntryKind::Other => FileType::NamedPipe,
    }
}

/// The state of one mount and the operations on it.
pub(super) struct Ops {
    pub(super) fs: Arc<dyn FileSystem>,
    inodes: Mutex<Inodes>,
    handles: Mutex<HashMap<u64, Arc<Handle>>>,
    dirs: Mutex<HashMap<u64, Arc<Vec<DirEntry>>>>,
    next_fh: AtomicU64,
    rt: tokio::runtime::Handle,
    tasks: TaskTracker,
    pub(super) opts: MountOptions,
    uid: u32,
    gid: u32,
}

impl Ops {
    /// A mount of `root` (absolute) of `fs`, answering on `rt` with every
    /// task in `tasks`; files show the mounting user as owner.
    pub(super) fn new(
        fs: Arc<dyn FileSystem>,
        root: Path,
        rt: tokio::runtime::Handle,
        tasks: TaskTracker,
        opts: MountOptions,
    ) -> Self {
        Ops {
            fs,
            inodes: Mutex::new(Inodes::new(root)),
            handles: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            rt,
            tasks,
            opts,
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        }
    }

    /// Run `f` as a tracked task on the mount's runtime.
    pub(super) fn spawn<F>(&self, f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn_on(f, &self.rt);
    }

    pub(super) fn path(&self, ino: u64) -> Result<Path> {
        self.inodes
            .lock()
            .ok()
            .and_then(|i| i.path(ino))
            .ok_or_else(|| Error::path_not_found(format!("inode {ino}")))
    }

    /// The path of `name` in the directory `parent`; names that would leave
    /// the directory (`..`, `a/b`) and names that are not UTF-8 are refused.
    pub(super) fn child(&self, parent: u64, name: &std::ffi::OsStr) -> Result<Path, Errno> {
        let name = name.to_str().ok_or(Errno::EINVAL)?;
        self.path(parent).and_then(|p| p.join_entry(name)).map_err(e)
    }

    fn ino(&self, path: &Path) -> u64 {
        self.inodes.lock().map(|mut i| i.ino(path)).unwrap_or(0)
    }

    fn forget(&self, path: &Path) {
        if let Ok(mut i) = self.inodes.lock() {
            i.removed(path);
        }
    }

    pub(super) fn writable(&self) -> std::result::Result<(), Errno> {
        if self.opts.read_only { Err(Errno::EROFS) } else { Ok(()) }
    }

    /// The size of a file with unflushed writes is the spool's.
    fn pending_size(&self, ino: u64) -> Option<u64> {
        let handles = self.handles.lock().ok()?;
        handles.values().filter(|h| h.ino == ino).find_map(|h| {
            let g = h.spool.try_lock().ok()?;
            g.as_ref().filter(|s| s.dirty).map(|s| s.len)
        })
    }

    /// The kernel's attributes of `a` as inode `ino`.
    pub(super) fn attr(&self, ino: u64, a: &PathAttributes) -> FileAttr {
        let size = self.pending_size(ino).unwrap_or(a.size);
        let kind = file_type(a.kind);
        let default_perm = if kind == FileType::Directory { 0o755 } else { 0o644 };
        let mtime = a.modified.unwrap_or(UNIX_EPOCH);
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: a.accessed.unwrap_or(mtime),
            mtime,
            ctime: mtime,
            crtime: a.created.unwrap_or(mtime),
            kind,
            perm: a.permissions.map_or(default_perm, |p| (p & 0o7777) as u16),
            nlink: if kind == FileType::Directory { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 128 * 1024,
            flags: 0,
        }
    }

    /// The attributes of `path`, numbered.
    pub(super) async fn entry(&self, path: &Path) -> Result<FileAttr> {
        let a = self.fs.attributes(path).await?;
        let ino = self.ino(path);
        Ok(self.attr(ino, &a))
    }

    /// The attributes of inode `ino`.
    pub(super) async fn getattr(&self, ino: u64) -> Result<FileAttr, Errno> {
        let path = self.path(ino).map_err(e)?;
        let a = self.fs.attributes(&path).await.map_err(e)?;
        Ok(self.attr(ino, &a))
    }

    /// Change the mode and/or the size (through the handle `fh` if given).
    pub(super) async fn setattr(
        &self,
        ino: u64,
        mode: Option<u32>,
        size: Option<u64>,
        fh: Option<u64>,
    ) -> Result<FileAttr, Errno> {
        if mode.is_some() || size.is_some() {
            self.writable()?;
        }
        let path = self.path(ino).map_err(e)?;
        if let Some(mode) = mode {
            self.fs.set_permissions(&path, mode & 0o7777).await.map_err(e)?;
        }
        if let Some(size) = size {
            self.set_size(ino, fh, size).await.map_err(e)?;
        }
        self.getattr(ino).await
    }

    fn handle(&self, fh: u64) -> std::result::Result<Arc<Handle>, Errno> {
        self.handles.lock().ok().and_then(|h| h.get(&fh).cloned()).ok_or(Errno::EBADF)
    }

    /// A new open handle on `ino`, with a spool when the file starts empty.
    pub(super) fn new_handle(&self, ino: u64, spool: Option<Spool>) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        let h = Handle::new(ino);
        if let Some(s) = spool
            && let Ok(mut g) = h.spool.try_lock()
        {
            *g = Some(s);
        }
        if let Ok(mut handles) = self.handles.lock() {
            handles.insert(fh, Arc::new(h));
        }
        fh
    }

    /// Send a handle's pending writes to the file system.
    async fn upload(&self, h: &Handle) -> Result<()> {
        let mut g = h.spool.lock().await;
        let Some(spool) = g.as_mut().filter(|s| s.dirty) else { return Ok(()) };
        let path = self.path(h.ino)?;
        self.fs.write(&path, spool.stream(), Some(spool.len)).await?;
        spool.dirty = false;
        Ok(())
    }

    /// `flush` and `fsync`: the handle's pending writes go out now.
    pub(super) async fn flush(&self, fh: u64) -> Result<(), Errno> {
        let h = self.handle(fh)?;
        self.upload(&h).await.map_err(e)
    }

    /// `release`: the handle is closed, its pending writes go out.
    pub(super) async fn release(&self, fh: u64) -> Result<(), Errno> {
        let h = self.handles.lock().ok().and_then(|mut hs| hs.remove(&fh)).ok_or(Errno::EBADF)?;
        self.upload(&h).await.map_err(e)
    }

    /// The spool of a handle, created on first write with the file's current content.
    async fn spool_for<'a>(
        &self,
        h: &'a Handle,
    ) -> Result<tokio::sync::MutexGuard<'a, Option<Spool>>> {
        let mut g = h.spool.lock().await;
        if g.is_none() {
            let path = self.path(h.ino)?;
            let mut s = Spool::new()?;
            let size = self.fs.attributes(&path).await?.size;
            if size > 0 {
                s.fill(self.fs.read(&path, ByteRange::ALL).await?).await?;
            }
            *g = Some(s);
        }
        Ok(g)
    }

    /// `read`: from the spool when the handle has written, else from the
    /// read-ahead window, else one remote read of a whole window.
    pub(super) async fn read(&self, fh: u64, offset: u64, size: usize) -> Result<Vec<u8>, Errno> {
        let h = self.handle(fh)?;
        self.read_at(&h, offset, size).await.map_err(e)
    }

    async fn read_at(&self, h: &Handle, offset: u64, size: usize) -> Result<Vec<u8>> {
        {
            let g = h.spool.lock().await;
            if let Some(s) = g.as_ref() {
                return s.read_at(offset, size);
            }
        }
        if let Some(data) = h.cached(offset, size) {
            return Ok(data);
        }
        let path = self.path(h.ino)?;
        let want = size.max(READ_AHEAD) as u64;
        let parts: Vec<Bytes> =
            self.fs.read(&path, ByteRange { offset, len: Some(want) }).await?.try_collect().await?;
        let data = Bytes::from(parts.concat());
        let out = data[..size.min(data.len())].to_vec();
        if let Ok(mut w) = h.window.lock() {
            *w = Some((offset, data));
        }
        Ok(out)
    }

    /// `write`: into the handle's spool (the read-ahead window is dropped).
    pub(super) async fn write(&self, fh: u64, offset: u64, data: &[u8]) -> Result<(), Errno> {
        self.writable()?;
        let h = self.handle(fh)?;
        if let Ok(mut w) = h.window.lock() {
            *w = None;
        }
        let mut g = self.spool_for(&h).await.map_err(e)?;
        let spool = g.as_mut().ok_or(Errno::EIO)?;
        spool.write_at(offset, data).map_err(e)
    }

    async fn set_size(&self, ino: u64, fh: Option<u64>, size: u64) -> Result<()> {
        if let Some(h) = fh.and_then(|fh| self.handle(fh).ok()) {
            let mut g = self.spool_for(&h).await?;
            if let Some(s) = g.as_mut() {
                s.truncate(size)?;
            }
            return Ok(());
        }
        let path = self.path(ino)?;
        if size == 0 {
            self.fs.write(&path, futures::stream::empty().boxed(), Some(0)).await?;
            return Ok(());
        }
        let h = Handle::new(ino);
        {
            let mut g = self.spool_for(&h).await?;
            if let Some(s) = g.as_mut() {
                s.truncate(size)?;
            }
        }
        self.upload(&h).await
    }

    /// `rename` with POSIX semantics on any file system: a file target is
    /// replaced, an empty directory target too, a non-empty one is
    /// `ENOTEMPTY`; `noreplace` refuses any existing target.
    pub(super) async fn rename(&self, from: Path, to: Path, noreplace: bool) -> Result<(), Errno> {
        let existing = match self.fs.attributes(&to).await {
            Ok(a) => Some(a),
            Err(err) if err.is_not_found() => None,
            Err(err) => return Err(e(err)),
        };
        match existing {
            None => self.fs.rename(&from, &to).await.map_err(e)?,
            Some(_) if noreplace => return Err(Errno::EEXIST),
            Some(a) if a.is_directory() => {
                if self.fs.list(&to, false).next().await.is_some() {
                    return Err(Errno::ENOTEMPTY);
                }
                self.fs.delete(&to, false).await.map_err(e)?;
                self.fs.rename(&from, &to).await.map_err(e)?;
            }
            Some(_) => self.fs.rename_replacing(&from, &to).await.map_err(e)?,
        }
        if let Ok(mut i) = self.inodes.lock() {
            i.renamed(&from, &to);
        }
        Ok(())
    }

    /// `unlink` (`directory` false) and `rmdir` (true) of `path`.
    pub(super) async fn remove(&self, path: Path, directory: bool) -> Result<(), Errno> {
        self.writable()?;
        let is_dir = self.fs.attributes(&path).await.map_err(e)?.is_directory();
        match (directory, is_dir) {
            (false, true) => return Err(Errno::EISDIR),
            (true, false) => return Err(Errno::ENOTDIR),
            (true, true) if self.fs.list(&path, false).next().await.is_some() => {
                return Err(Errno::ENOTEMPTY);
            }
            _ => {}
        }
        self.fs.delete(&path, false).await.map_err(e)?;
        self.forget(&path);
        Ok(())
    }

    /// `create`: a new empty file with `mode` (where the file system keeps
    /// modes), opened for writing.
    pub(super) async fn create(&self, path: Path, mode: u32) -> Result<(FileAttr, u64), Errno> {
        self.writable()?;
        self.fs.create_file(&path).await.map_err(e)?;
        if self.fs.info().capabilities.set_permissions {
            let _ = self.fs.set_permissions(&path, mode & 0o7777).await;
        }
        let attr = self.entry(&path).await.map_err(e)?;
        let fh = self.new_handle(attr.ino.0, Some(Spool::new().map_err(e)?));
        Ok((attr, fh))
    }

    /// `opendir`: the directory's entries, read once and kept for `readdir`
    /// under the returned handle.
    pub(super) async fn open_dir(&self, ino: u64) -> Result<u64, Errno> {
        let path = self.path(ino).map_err(e)?;
        let parent_ino = match path.parent() {
            Some(p) if ino != 1 => self.ino(&p),
            _ => 1,
        };
        let mut entries = vec![
            (ino, FileType::Directory, ".".to_owned()),
            (parent_ino, FileType::Directory, "..".to_owned()),
        ];
        let mut list = self.fs.list(&path, false);
        while let Some(a) = list.next().await {
            let a = a.map_err(e)?;
            let Some(name) = a.path.file_name().map(str::to_owned) else { continue };
            entries.push((self.ino(&a.path), file_type(a.kind), name));
        }
        drop(list);
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut d) = self.dirs.lock() {
            d.insert(fh, Arc::new(entries));
        }
        Ok(fh)
    }

    /// The entries `open_dir` read for `fh`.
    pub(super) fn dir_entries(&self, fh: u64) -> Option<Arc<Vec<DirEntry>>> {
        self.dirs.lock().ok().and_then(|d| d.get(&fh).cloned())
    }

    /// `releasedir`.
    pub(super) fn close_dir(&self, fh: u64) {
        if let Ok(mut d) = self.dirs.lock() {
            d.remove(&fh);
        }
    }
}

#[cfg(test)]
mod tests;
