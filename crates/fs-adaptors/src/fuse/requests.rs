//! The kernel side: each FUSE request is unpacked, run as a task on the
//! mount's runtime (so a slow remote call never blocks other requests), and
//! answered with the result of [`Ops`] or its errno.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::SystemTime;

use fuser::{
    Errno, FileHandle, FopenFlags, Generation, INodeNo, KernelConfig, OpenAccMode, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyWrite, Request, TimeOrNow,
};
use hpc_core::Path;

use super::handle::READ_AHEAD;
use super::ops::{Ops, e};

/// The `fuser::Filesystem` of a mount.
pub(super) struct Requests(pub(super) Arc<Ops>);

/// Run `body` as a task; reply with `ok` on success, with the errno otherwise.
macro_rules! run {
    ($self:ident, $reply:ident, |$ops:ident| $body:block => |$v:pat_param| $ok:expr) => {{
        let $ops = $self.0.clone();
        $self.0.spawn(async move {
            let r: std::result::Result<_, Errno> = async { $body }.await;
            match r {
                Ok($v) => $ok,
                Err(e) => $reply.error(e),
            }
        });
    }};
}

impl fuser::Filesystem for Requests {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_readahead(READ_AHEAD as u32);
        let _ = config.set_max_write(1 << 20);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_owned();
        run!(self, reply, |ops| {
            let path = ops.child(parent.0, &name)?;
            ops.entry(&path).await.map_err(e)
        } => |attr| reply.entry(&ops.opts.ttl, &attr, Generation(0)))
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        run!(self, reply, |ops| {
            ops.getattr(ino.0).await
        } => |attr| reply.attr(&ops.opts.ttl, &attr))
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
        run!(self, reply, |ops| {
            ops.setattr(ino.0, mode, size, fh.map(|f| f.0)).await
        } => |attr| reply.attr(&ops.opts.ttl, &attr))
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        run!(self, reply, |ops| {
            let path = ops.path(ino.0).map_err(e)?;
            ops.fs.read_symbolic_link(&path).await.map_err(e)
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
        run!(self, reply, |ops| {
            ops.writable()?;
            let path = ops.child(parent.0, &name)?;
            ops.fs.create_directory(&path).await.map_err(e)?;
            ops.entry(&path).await.map_err(e)
        } => |attr| reply.entry(&ops.opts.ttl, &attr, Generation(0)))
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        run!(self, reply, |ops| {
            ops.remove(ops.child(parent.0, &name)?, false).await
        } => |()| reply.ok())
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        run!(self, reply, |ops| {
            ops.remove(ops.child(parent.0, &name)?, true).await
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
        run!(self, reply, |ops| {
            ops.writable()?;
            let path = ops.child(parent.0, &name)?;
            let target = Path::new(target.to_str().ok_or(Errno::EINVAL)?).map_err(e)?;
            ops.fs.create_symbolic_link(&path, &target).await.map_err(e)?;
            ops.entry(&path).await.map_err(e)
        } => |attr| reply.entry(&ops.opts.ttl, &attr, Generation(0)))
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
        run!(self, reply, |ops| {
            ops.writable()?;
            if flags.contains(RenameFlags::RENAME_EXCHANGE) {
                return Err(Errno::EINVAL);
            }
            let from = ops.child(parent.0, &name)?;
            let to = ops.child(newparent.0, &newname)?;
            ops.rename(from, to, flags.contains(RenameFlags::RENAME_NOREPLACE)).await
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
        run!(self, reply, |ops| {
            ops.read(fh.0, offset, size as usize).await
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
        run!(self, reply, |ops| {
            ops.write(fh.0, offset, &data).await
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
        run!(self, reply, |ops| { ops.flush(fh.0).await } => |()| reply.ok())
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        run!(self, reply, |ops| { ops.flush(fh.0).await } => |()| reply.ok())
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
        run!(self, reply, |ops| { ops.release(fh.0).await } => |()| reply.ok())
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        run!(self, reply, |ops| {
            ops.open_dir(ino.0).await
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
        let Some(entries) = self.0.dir_entries(fh.0) else {
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
        self.0.close_dir(fh.0);
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
        run!(self, reply, |ops| {
            ops.create(ops.child(parent.0, &name)?, mode & !umask).await
        } => |(attr, fh)| reply.created(&ops.opts.ttl, &attr, Generation(0), FileHandle(fh), FopenFlags::empty()))
    }
}
