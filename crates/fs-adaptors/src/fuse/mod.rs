//! Mount any [`FileSystem`] with FUSE (`fuser`, no libfuse needed; the
//! kernel's FUSE and `fusermount3` do the mounting).
//!
//! * Requests are answered on the tokio runtime the mount was made from, so
//!   a slow remote call never blocks other requests.
//! * Reads go through a read-ahead window ([`READ_AHEAD`] bytes per open
//!   file), so sequential reads of 128 KiB kernel pages cost one remote
//!   request per window, not one per page.
//! * Writes are buffered in a local spool file per open file (write-back) and
//!   sent to the file system as one streamed write on `close` (flush),
//!   `fsync` and release. Adaptors write to a hidden sibling and rename it into
//!   place, so other readers see the old or the new file, never half of one.
//! * All files show the mounting user as owner (remote ids mean nothing
//!   here); permission bits are the remote ones where the adaptor reports them.
//!
//! No `unsafe`: fuser's safe API covers everything used here (ADR 0603).

mod state;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fuser::{
    Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, KernelConfig,
    MountOption, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow,
};
use futures::{StreamExt, TryStreamExt};
use hpc_core::{ByteRange, EntryKind, Error, ErrorKind, FileSystem, Path, PathAttributes, Result};
use tokio_util::task::TaskTracker;

use state::{Handle, Inodes, Spool};

/// Bytes fetched per read-ahead window.
pub const READ_AHEAD: usize = 4 << 20;

/// How to mount.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Refuse every change.
    pub read_only: bool,
    /// How long the kernel may cache names and attributes.
    pub ttl: Duration,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions { read_only: false, ttl: Duration::from_secs(1) }
    }
}

/// One `readdir` entry: inode, type, name.
type DirEntry = (u64, FileType, String);

struct Inner {
    fs: Arc<dyn FileSystem>,
    inodes: Mutex<Inodes>,
    handles: Mutex<HashMap<u64, Arc<Handle>>>,
    dirs: Mutex<HashMap<u64, Arc<Vec<DirEntry>>>>,
    next_fh: AtomicU64,
    rt: tokio::runtime::Handle,
    tasks: TaskTracker,
    opts: MountOptions,
    uid: u32,
    gid: u32,
}

fn errno(e: &Error) -> Errno {
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

fn file_type(k: EntryKind) -> FileType {
    match k {
        EntryKind::Directory => FileType::Directory,
        EntryKind::Symlink => FileType::Symlink,
        EntryKind::File => FileType::RegularFile,
        EntryKind::Other => FileType::NamedPipe,
    }
}

fn name_of(name: &OsStr) -> std::result::Result<&str, Errno> {
    name.to_str().ok_or(Errno::EINVAL)
}

impl Inner {
    fn spawn<F>(self: &Arc<Self>, f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn_on(f, &self.rt);
    }

    fn path(&self, ino: u64) -> Result<Path> {
        self.inodes
            .lock()
            .ok()
            .and_then(|i| i.path(ino))
            .ok_or_else(|| Error::path_not_found(format!("inode {ino}")))
    }

    fn child(&self, parent: u64, name: &str) -> Result<Path> {
        self.path(parent)?.join_entry(name)
    }

    fn ino(&self, path: &Path) -> u64 {
        self.inodes.lock().map(|mut i| i.ino(path)).unwrap_or(0)
    }

    fn writable(&self) -> std::result::Result<(), Errno> {
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

    fn attr(&self, ino: u64, a: &PathAttributes) -> FileAttr {
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

    async fn entry(&self, path: &Path) -> Result<FileAttr> {
        let a = self.fs.attributes(path).await?;
        let ino = self.ino(path);
        Ok(self.attr(ino, &a))
    }

    fn handle(&self, fh: u64) -> std::result::Result<Arc<Handle>, Errno> {
        self.handles.lock().ok().and_then(|h| h.get(&fh).cloned()).ok_or(Errno::EBADF)
    }

    fn new_handle(&self, ino: u64, spool: Option<Spool>) -> u64 {
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

    async fn read(&self, h: &Handle, offset: u64, size: usize) -> Result<Vec<u8>> {
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

    async fn rename(&self, from: Path, to: Path, noreplace: bool) -> Result<()> {
        let existing = match self.fs.attributes(&to).await {
            Ok(a) => Some(a),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        match existing {
            None => self.fs.rename(&from, &to).await?,
            Some(_) if noreplace => return Err(Error::AlreadyExists { path: to.to_string() }),
            Some(a) if a.is_directory() => {
                if self.fs.list(&to, false).next().await.is_some() {
                    return Err(Error::InvalidInput(format!("{to} is not empty")));
                }
                self.fs.delete(&to, false).await?;
                self.fs.rename(&from, &to).await?;
            }
            Some(_) => self.fs.rename_replacing(&from, &to).await?,
        }
        if let Ok(mut i) = self.inodes.lock() {
            i.renamed(&from, &to);
        }
        Ok(())
    }
}

/// The fuser side: each request becomes a task on the runtime.
struct FuseFs(Arc<Inner>);

/// Run `body` as a task; reply with `ok` on success, with the errno otherwise.
macro_rules! run {
    ($self:ident, $reply:ident, |$inner:ident| $body:block => |$v:pat_param| $ok:expr) => {{
        let $inner = $self.0.clone();
        $self.0.spawn(async move {
            let r: std::result::Result<_, Errno> = async { $body }.await;
            match r {
                Ok($v) => $ok,
                Err(e) => $reply.error(e),
            }
        });
    }};
}

fn e(err: Error) -> Errno {
    errno(&err)
}

impl fuser::Filesystem for FuseFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_readahead(READ_AHEAD as u32);
        let _ = config.set_max_write(1 << 20);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_owned();
        run!(self, reply, |inner| {
            let path = inner.child(parent.0, name_of(&name)?).map_err(e)?;
            let attr = inner.entry(&path).await.map_err(e)?;
            Ok(attr)
        } => |attr| reply.entry(&inner.opts.ttl, &attr, Generation(0)))
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        run!(self, reply, |inner| {
            let path = inner.path(ino.0).map_err(e)?;
            let a = inner.fs.attributes(&path).await.map_err(e)?;
            Ok(a)
        } => |a| reply.attr(&inner.opts.ttl, &inner.attr(ino.0, &a)))
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        run!(self, reply, |inner| {
            if mode.is_some() || size.is_some() {
                inner.writable()?;
            }
            let path = inner.path(ino.0).map_err(e)?;
            if let Some(mode) = mode {
                inner.fs.set_permissions(&path, mode & 0o7777).await.map_err(e)?;
            }
            if let Some(size) = size {
                inner.set_size(ino.0, fh.map(|f| f.0), size).await.map_err(e)?;
            }
            let a = inner.fs.attributes(&path).await.map_err(e)?;
            Ok(a)
        } => |a| reply.attr(&inner.opts.ttl, &inner.attr(ino.0, &a)))
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        run!(self, reply, |inner| {
            let path = inner.path(ino.0).map_err(e)?;
            let target = inner.fs.read_symbolic_link(&path).await.map_err(e)?;
            Ok(target)
        } => |target| reply.data(target.to_string().as_bytes()))
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let name = name.to_owned();
        run!(self, reply, |inner| {
            inner.writable()?;
            let path = inner.child(parent.0, name_of(&name)?).map_err(e)?;
            inner.fs.create_directory(&path).await.map_err(e)?;
            let attr = inner.entry(&path).await.map_err(e)?;
            Ok(attr)
        } => |attr| reply.entry(&inner.opts.ttl, &attr, Generation(0)))
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        run!(self, reply, |inner| {
            inner.writable()?;
            let path = inner.child(parent.0, name_of(&name)?).map_err(e)?;
            if inner.fs.attributes(&path).await.map_err(e)?.is_directory() {
                return Err(Errno::EISDIR);
            }
            inner.fs.delete(&path, false).await.map_err(e)?;
            if let Ok(mut i) = inner.inodes.lock() {
                i.removed(&path);
            }
            Ok(())
        } => |()| reply.ok())
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        run!(self, reply, |inner| {
            inner.writable()?;
            let path = inner.child(parent.0, name_of(&name)?).map_err(e)?;
            if !inner.fs.attributes(&path).await.map_err(e)?.is_directory() {
                return Err(Errno::ENOTDIR);
            }
            if inner.fs.list(&path, false).next().await.is_some() {
                return Err(Errno::ENOTEMPTY);
            }
            inner.fs.delete(&path, false).await.map_err(e)?;
            if let Ok(mut i) = inner.inodes.lock() {
                i.removed(&path);
            }
            Ok(())
        } => |()| reply.ok())
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        let (name, target) = (link_name.to_owned(), target.to_owned());
        run!(self, reply, |inner| {
            inner.writable()?;
            let path = inner.child(parent.0, name_of(&name)?).map_err(e)?;
            let target = Path::new(target.to_str().ok_or(Errno::EINVAL)?).map_err(e)?;
            inner.fs.create_symbolic_link(&path, &target).await.map_err(e)?;
            let attr = inner.entry(&path).await.map_err(e)?;
            Ok(attr)
        } => |attr| reply.entry(&inner.opts.ttl, &attr, Generation(0)))
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (name, newname) = (name.to_owned(), newname.to_owned());
        run!(self, reply, |inner| {
            inner.writable()?;
            if flags.contains(RenameFlags::RENAME_EXCHANGE) {
                return Err(Errno::EINVAL);
            }
            let from = inner.child(parent.0, name_of(&name)?).map_err(e)?;
            let to = inner.child(newparent.0, name_of(&newname)?).map_err(e)?;
            let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
            inner.rename(from, to, noreplace).await.map_err(|err| match err {
                Error::InvalidInput(m) if m.ends_with("is not empty") => Errno::ENOTEMPTY,
                other => e(other),
            })?;
            Ok(())
        } => |()| reply.ok())
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY && self.0.opts.read_only {
            reply.error(Errno::EROFS);
            return;
        }
        let fh = self.0.new_handle(ino.0, None);
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        run!(self, reply, |inner| {
            let h = inner.handle(fh.0)?;
            let data = inner.read(&h, offset, size as usize).await.map_err(e)?;
            Ok(data)
        } => |data| reply.data(&data))
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: fuser::WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let data = data.to_vec();
        run!(self, reply, |inner| {
            inner.writable()?;
            let h = inner.handle(fh.0)?;
            if let Ok(mut w) = h.window.lock() {
                *w = None;
            }
            let mut g = inner.spool_for(&h).await.map_err(e)?;
            let spool = g.as_mut().ok_or(Errno::EIO)?;
            spool.write_at(offset, &data).map_err(e)?;
            Ok(())
        } => |()| reply.written(data.len() as u32))
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        run!(self, reply, |inner| {
            let h = inner.handle(fh.0)?;
            inner.upload(&h).await.map_err(e)?;
            Ok(())
        } => |()| reply.ok())
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        run!(self, reply, |inner| {
            let h = inner.handle(fh.0)?;
            inner.upload(&h).await.map_err(e)?;
            Ok(())
        } => |()| reply.ok())
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        run!(self, reply, |inner| {
            let h = inner.handles.lock().ok().and_then(|mut hs| hs.remove(&fh.0)).ok_or(Errno::EBADF)?;
            inner.upload(&h).await.map_err(e)?;
            Ok(())
        } => |()| reply.ok())
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        run!(self, reply, |inner| {
            let path = inner.path(ino.0).map_err(e)?;
            let parent_ino = match path.parent() {
                Some(p) if ino.0 != 1 => inner.ino(&p),
                _ => 1,
            };
            let mut entries = vec![
                (ino.0, FileType::Directory, ".".to_owned()),
                (parent_ino, FileType::Directory, "..".to_owned()),
            ];
            let mut list = inner.fs.list(&path, false);
            while let Some(a) = list.next().await {
                let a = a.map_err(e)?;
                let Some(name) = a.path.file_name().map(str::to_owned) else { continue };
                entries.push((inner.ino(&a.path), file_type(a.kind), name));
            }
            drop(list);
            let fh = inner.next_fh.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut d) = inner.dirs.lock() {
                d.insert(fh, Arc::new(entries));
            }
            Ok(fh)
        } => |fh| reply.opened(FileHandle(fh), FopenFlags::empty()))
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = self.0.dirs.lock().ok().and_then(|d| d.get(&fh.0).cloned());
        let Some(entries) = entries else {
            reply.error(Errno::EBADF);
            return;
        };
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        if let Ok(mut d) = self.0.dirs.lock() {
            d.remove(&fh.0);
        }
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let name = name.to_owned();
        run!(self, reply, |inner| {
            inner.writable()?;
            let path = inner.child(parent.0, name_of(&name)?).map_err(e)?;
            inner.fs.create_file(&path).await.map_err(e)?;
            if inner.fs.capabilities().set_permissions {
                let _ = inner.fs.set_permissions(&path, mode & !umask & 0o7777).await;
            }
            let attr = inner.entry(&path).await.map_err(e)?;
            let fh = inner.new_handle(attr.ino.0, Some(Spool::new().map_err(e)?));
            Ok((attr, fh))
        } => |(attr, fh)| reply.created(&inner.opts.ttl, &attr, Generation(0), FileHandle(fh), FopenFlags::empty()))
    }
}

/// A mounted file system; unmounted by [`Mounted::unmount`] or on drop.
pub struct Mounted {
    session: Option<fuser::BackgroundSession>,
    tasks: TaskTracker,
    mountpoint: std::path::PathBuf,
}

impl std::fmt::Debug for Mounted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mounted").field("mountpoint", &self.mountpoint).finish_non_exhaustive()
    }
}

impl Mounted {
    /// Unmount, then wait until every request already received is answered
    /// (pending uploads included).
    pub async fn unmount(mut self) -> Result<()> {
        let mp = self.mountpoint.display().to_string();
        if let Some(s) = self.session.take() {
            // Unmounted from outside (fusermount3 -u): only the thread is left to join.
            let gone = s.guard.is_finished();
            tokio::task::spawn_blocking(move || if gone { s.join() } else { s.umount_and_join() })
                .await
                .map_err(|e| Error::io(format!("unmounting {mp}"), std::io::Error::other(e)))?
                .map_err(|e| Error::io(format!("unmounting {mp}"), e))?;
        }
        self.tasks.close();
        self.tasks.wait().await;
        Ok(())
    }

    /// Resolves when the mount is gone (for example after `fusermount3 -u`).
    pub async fn unmounted(&self) {
        loop {
            match &self.session {
                Some(s) if !s.guard.is_finished() => {}
                _ => return,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            let _ = s.umount_and_join();
        }
    }
}

/// Mount `root` of `fs` on `mountpoint` (an existing directory). Must be
/// called within a tokio runtime, which then serves the requests.
pub async fn mount(
    fs: Arc<dyn FileSystem>,
    root: Path,
    mountpoint: &std::path::Path,
    opts: MountOptions,
) -> Result<Mounted> {
    let root = root.resolve(fs.working_directory());
    if !fs.attributes(&root).await?.is_directory() {
        return Err(Error::InvalidInput(format!("{root} is not a directory; mount a directory")));
    }
    let rt = tokio::runtime::Handle::current();
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName(format!("hpckit-{}", fs.adaptor())),
        MountOption::Subtype("hpckit".into()),
        MountOption::DefaultPermissions,
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if opts.read_only {
        config.mount_options.push(MountOption::RO);
    }
    let tasks = TaskTracker::new();
    let inner = Arc::new(Inner {
        fs,
        inodes: Mutex::new(Inodes::new(root)),
        handles: Mutex::new(HashMap::new()),
        dirs: Mutex::new(HashMap::new()),
        next_fh: AtomicU64::new(1),
        rt,
        tasks: tasks.clone(),
        opts,
        uid: rustix::process::getuid().as_raw(),
        gid: rustix::process::getgid().as_raw(),
    });
    let session = fuser::spawn_mount(FuseFs(inner), mountpoint, &config)
        .map_err(|e| Error::io(format!("mounting on {}", mountpoint.display()), e))?;
    Ok(Mounted { session: Some(session), tasks, mountpoint: mountpoint.to_owned() })
}
