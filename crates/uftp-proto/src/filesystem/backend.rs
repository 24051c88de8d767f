//! [`UftpFileSystem`]: a UFTPD session's base directory as an hpc-core
//! `FileSystem`. Control sessions are pooled (each new one is one auth request
//! and one login); a read streams from a session it owns until the end.
//!
//! File data travels over KEEP-ALIVE data connections where that is allowed
//! (plain data over one stream, [`UftpConfig::keeps_alive`]): a pooled session
//! keeps its data connection from one file to the next, so copying many small
//! files costs one connection, not one per file. A transfer whose end is the
//! end of its connection (a listing, an append, an upload of unknown size)
//! switches its session's KEEP-ALIVE off first, and the next file switches it
//! on again; a server that refuses KEEP-ALIVE gets a connection per transfer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use hpc_auth::CredentialMap;
use hpc_core::{
    ByteRange, ByteStream, ChecksumAlgorithm, CredentialKinds, EntryKind, Error, ErrorKind,
    FileSystem, FileSystemInfo, FsCapabilities, Location, Path, PathAttributes, Result,
};

use super::config::UftpConfig;
use crate::auth::{AuthRequest, AuthServer};
use crate::data::Inbound;
use crate::parse::RemoteEntry;
use crate::session::{Session, WriteMode};

/// Idle sessions kept for reuse.
const MAX_IDLE: usize = 8;

/// Credential kinds the auth server takes: what `unicore-rest`'s transport
/// sends (an SSH key signs a token: the `identity` parameter).
pub(crate) const CREDENTIALS: CredentialKinds = hpc_auth::HTTP_CREDENTIAL_KINDS;

/// Capabilities of a UFTP file system.
pub fn capabilities() -> FsCapabilities {
    let mut c = FsCapabilities::default();
    c.append = true;
    c.attributes_permissions = true;
    c.set_permissions = true;
    c.rename = true;
    c.read_range = true;
    c.checksum = true;
    c.credentials = CREDENTIALS;
    c
}

/// A UFTP server's directory tree as a [`FileSystem`].
#[derive(Debug, Clone)]
pub struct UftpFileSystem {
    config: UftpConfig,
    auth: AuthServer,
    pool: Arc<Pool>,
    info: FileSystemInfo,
    /// File transfers use KEEP-ALIVE: allowed by the settings, not refused
    /// by the server so far.
    keep_alive: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct Pool {
    idle: Mutex<Vec<Session>>,
}

impl Pool {
    fn give(&self, s: Session) {
        if !s.is_usable() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(s);
        }
    }
}

impl UftpFileSystem {
    /// Opens `uftp://user@host:port/rest/auth/SERVER:/base/dir`; logs in once
    /// so that a wrong credential or base directory fails here.
    pub async fn open(loc: &Location, creds: &CredentialMap) -> Result<Self> {
        let config = UftpConfig::from_location(loc, creds)?;
        let auth = AuthServer::new(config.transport()?, &config.auth_url)?;
        let info =
            FileSystemInfo::new("uftp", config.location.clone(), capabilities(), Path::root());
        let keep_alive = Arc::new(AtomicBool::new(config.keeps_alive()));
        let fs = UftpFileSystem { config, auth, pool: Arc::new(Pool::default()), info, keep_alive };
        let mut s = fs.take().await?;
        s.stat("").await?;
        fs.pool.give(s);
        Ok(fs)
    }

    /// The settings.
    pub fn config(&self) -> &UftpConfig {
        &self.config
    }

    /// A logged-in session (from the pool, or a new one), with KEEP-ALIVE off.
    pub async fn session(&self) -> Result<Session> {
        let mut s = self.take().await?;
        self.data_mode(&mut s, false).await?;
        Ok(s)
    }

    /// Switches `s` to the KEEP-ALIVE state a transfer wants: on for file
    /// data of known size where allowed, off for a transfer that only its
    /// connection's end can end. A server that refuses KEEP-ALIVE is not
    /// asked again: each transfer then gets a connection of its own.
    async fn data_mode(&self, s: &mut Session, kept: bool) -> Result<()> {
        let kept = kept && self.keep_alive.load(Ordering::Relaxed);
        if s.is_keep_alive() == kept {
            return Ok(());
        }
        match s.keep_alive(kept).await {
            Err(e) if kept && !matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout) => {
                tracing::debug!(
                    error = %e,
                    "UFTP: no KEEP-ALIVE on this server; one data connection per transfer"
                );
                self.keep_alive.store(false, Ordering::Relaxed);
                Ok(())
            }
            r => r,
        }
    }

    /// `MLSD` of `remote` (KEEP-ALIVE off: a listing ends with its connection).
    async fn list_dir(&self, remote: &str) -> Result<Vec<RemoteEntry>> {
        self.with(async |s| {
            self.data_mode(s, false).await?;
            s.list(remote).await
        })
        .await
    }

    async fn take(&self) -> Result<Session> {
        if let Some(s) = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(s);
        }
        let options = self.config.options()?;
        let req = AuthRequest {
            server_path: self.config.base.clone(),
            persistent: true,
            streams: options.streams,
            compress: options.compress,
            key: options.key.clone(),
            group: self.config.group.clone(),
            ..Default::default()
        };
        let grant = self.auth.authenticate(&req).await?;
        Session::connect(&grant, options).await
    }

    /// The path as the session sees it: relative to its base directory.
    fn remote(&self, path: &Path) -> String {
        path.resolve(&self.info.working_directory).to_string().trim_start_matches('/').to_owned()
    }

    /// Runs `op` on a pooled session and puts the session back.
    async fn with<T>(&self, op: impl AsyncFnOnce(&mut Session) -> Result<T>) -> Result<T> {
        let mut s = self.take().await?;
        let r = op(&mut s).await;
        self.pool.give(s);
        r
    }

    async fn entry(&self, path: &Path) -> Result<Option<RemoteEntry>> {
        let remote = self.remote(path);
        match self.with(async |s| s.stat(&remote).await).await {
            Ok(e) => Ok(Some(e)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn need_parent(&self, path: &Path) -> Result<()> {
        let Some(parent) = path.resolve(&self.info.working_directory).parent() else {
            return Ok(());
        };
        match self.entry(&parent).await? {
            Some(e) if e.kind == EntryKind::Directory => Ok(()),
            Some(_) => Err(Error::InvalidInput(format!("{parent} is not a directory"))),
            None => Err(Error::path_not_found(parent)),
        }
    }

    fn attributes_of(&self, dir: &Path, e: &RemoteEntry) -> Result<PathAttributes> {
        let path = if e.name == "/" { dir.clone() } else { dir.join_entry(&e.name)? };
        let mut a = PathAttributes::new(path, e.kind, e.size);
        a.modified = e.modified;
        a.permissions = e.mode;
        Ok(a)
    }

    async fn collect(&self, dir: &Path, recursive: bool) -> Result<Vec<PathAttributes>> {
        let dir = dir.resolve(&self.info.working_directory);
        match self.entry(&dir).await? {
            Some(e) if e.kind == EntryKind::Directory => {}
            Some(_) => return Err(Error::InvalidInput(format!("{dir} is not a directory"))),
            None => return Err(Error::path_not_found(&dir)),
        }
        let mut out = Vec::new();
        let mut todo = vec![dir];
        while let Some(d) = todo.pop() {
            let entries = self.list_dir(&self.remote(&d)).await?;
            for e in entries {
                let a = self.attributes_of(&d, &e)?;
                if recursive && e.kind == EntryKind::Directory {
                    todo.push(a.path.clone());
                }
                out.push(a);
            }
        }
        Ok(out)
    }

    async fn delete_tree(&self, dir: &Path) -> Result<()> {
        let remote = self.remote(dir);
        let entries = self.list_dir(&remote).await?;
        for e in entries {
            let p = dir.join_entry(&e.name)?;
            if e.kind == EntryKind::Directory {
                Box::pin(self.delete_tree(&p)).await?;
            } else {
                let r = self.remote(&p);
                self.with(async |s| s.remove(&r).await).await?;
            }
        }
        self.with(async |s| s.rmdir(&remote).await).await
    }

    /// Uploads `data` to `remote` in one session; the bytes sent.
    async fn send(
        s: &mut Session,
        remote: &str,
        mode: WriteMode,
        mut data: ByteStream,
    ) -> Result<u64> {
        let mut out = s.open_write(remote, mode).await?;
        let mut failure = None;
        while let Some(chunk) = data.next().await {
            match chunk {
                Ok(c) => {
                    if let Err(e) = out.write_bytes(c).await {
                        failure = Some(e);
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            // Dropping the data connections ends the transfer; the server
            // answers it, then the session can go on.
            drop(out);
            let _ = s.end_transfer(&format!("STOR {remote}")).await;
            return Err(e);
        }
        let sent = s.end_write(out, &format!("STOR {remote}")).await?;
        Ok(sent)
    }
}

/// State of a streamed read.
struct Reading {
    session: Session,
    inbound: Option<Inbound>,
    got: u64,
    expected: u64,
    path: String,
    pool: Arc<Pool>,
}

#[async_trait::async_trait]
impl FileSystem for UftpFileSystem {
    fn info(&self) -> &FileSystemInfo {
        &self.info
    }

    async fn create_directory(&self, path: &Path) -> Result<()> {
        if self.entry(path).await?.is_some() {
            return Err(Error::AlreadyExists {
                path: path.resolve(&self.info.working_directory).to_string(),
            });
        }
        self.need_parent(path).await?;
        let r = self.remote(path);
        self.with(async |s| s.mkdir(&r).await).await
    }

    async fn create_file(&self, path: &Path) -> Result<()> {
        if self.entry(path).await?.is_some() {
            return Err(Error::AlreadyExists {
                path: path.resolve(&self.info.working_directory).to_string(),
            });
        }
        self.need_parent(path).await?;
        let r = self.remote(path);
        let empty = futures::stream::empty().boxed();
        self.with(async |s| Self::send(s, &r, WriteMode::Replace { size: Some(0) }, empty).await)
            .await
            .map(drop)
    }

    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        let abs = path.resolve(&self.info.working_directory);
        let e = self.entry(&abs).await?.ok_or_else(|| Error::path_not_found(&abs))?;
        let r = self.remote(&abs);
        if e.kind == EntryKind::Directory {
            if abs.is_root() {
                return Err(Error::InvalidInput(
                    "cannot delete the base directory of a UFTP session".into(),
                ));
            }
            if recursive {
                return self.delete_tree(&abs).await;
            }
            let children = self.list_dir(&r).await?;
            if !children.is_empty() {
                return Err(Error::InvalidInput(format!("directory {abs} is not empty")));
            }
            return self.with(async |s| s.rmdir(&r).await).await;
        }
        self.with(async |s| s.remove(&r).await).await
    }

    fn list<'a>(&'a self, dir: &'a Path, recursive: bool) -> BoxStream<'a, Result<PathAttributes>> {
        futures::stream::once(self.collect(dir, recursive))
            .flat_map(|r| match r {
                Ok(v) => futures::stream::iter(v.into_iter().map(Ok)).boxed(),
                Err(e) => futures::stream::iter([Err(e)]).boxed(),
            })
            .boxed()
    }

    async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        let abs = path.resolve(&self.info.working_directory);
        let e = self.entry(&abs).await?.ok_or_else(|| Error::path_not_found(&abs))?;
        let mut a = PathAttributes::new(abs, e.kind, e.size);
        a.modified = e.modified;
        a.permissions = e.mode;
        Ok(a)
    }

    async fn set_permissions(&self, path: &Path, mode: u32) -> Result<()> {
        let abs = path.resolve(&self.info.working_directory);
        if self.entry(&abs).await?.is_none() {
            return Err(Error::path_not_found(&abs));
        }
        let r = self.remote(&abs);
        self.with(async |s| s.set_mode(&r, mode & 0o7777).await).await
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (f, t) =
            (from.resolve(&self.info.working_directory), to.resolve(&self.info.working_directory));
        if self.entry(&f).await?.is_none() {
            return Err(Error::path_not_found(&f));
        }
        if self.entry(&t).await?.is_some() {
            return Err(Error::AlreadyExists { path: t.to_string() });
        }
        self.need_parent(&t).await?;
        let (rf, rt) = (self.remote(&f), self.remote(&t));
        self.with(async |s| s.rename(&rf, &rt).await).await
    }

    async fn rename_replacing(&self, from: &Path, to: &Path) -> Result<()> {
        let (rf, rt) = (self.remote(from), self.remote(to));
        // UFTPD renames with rename(2): an existing file is replaced atomically.
        self.with(async |s| s.rename(&rf, &rt).await).await
    }

    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        let abs = path.resolve(&self.info.working_directory);
        let e = self.entry(&abs).await?.ok_or_else(|| Error::path_not_found(&abs))?;
        if e.kind == EntryKind::Directory {
            return Err(Error::InvalidInput(format!("{abs} is a directory")));
        }
        if range.len == Some(0) || range.offset >= e.size {
            return Ok(futures::stream::empty().boxed());
        }
        let remote = self.remote(&abs);
        let mut session = self.take().await?;
        self.data_mode(&mut session, true).await?;
        let len = range.len.map(|l| l.min(e.size - range.offset));
        let (inbound, expected) = match session.open_read(&remote, range.offset, len).await {
            Ok(x) => x,
            Err(err) => {
                self.pool.give(session);
                return Err(err);
            }
        };
        let state = Reading {
            session,
            inbound: Some(inbound),
            got: 0,
            expected,
            path: remote,
            pool: self.pool.clone(),
        };
        Ok(futures::stream::try_unfold(state, |mut st| async move {
            let inbound = st.inbound.as_mut().expect("present until the end");
            if let Some(chunk) = inbound.next_chunk().await? {
                st.got += chunk.len() as u64;
                if st.got > st.expected {
                    return Err(Error::parse(
                        format!("RETR {}", st.path),
                        format!("more than the {} bytes announced", st.expected),
                        "",
                    ));
                }
                return Ok(Some((chunk, st)));
            }
            let inbound = st.inbound.take().expect("present until the end");
            st.session.end_read(inbound, &format!("RETR {}", st.path)).await?;
            if st.got != st.expected {
                return Err(crate::error::short(st.session.host(), &st.path, st.got, st.expected));
            }
            st.pool.give(st.session);
            Ok::<Option<(Bytes, Reading)>, Error>(None)
        })
        .boxed())
    }

    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64> {
        let abs = path.resolve(&self.info.working_directory);
        self.need_parent(&abs).await?;
        let name = abs
            .file_name()
            .ok_or_else(|| Error::InvalidInput("cannot write the base directory".into()))?;
        // Written beside the target and renamed over it only when complete,
        // whatever the server does with a short upload.
        let tmp = abs
            .parent()
            .unwrap_or_else(Path::root)
            .join_entry(&format!(".{name}.hpckit-part-{}", std::process::id()))?;
        let (rt, rp) = (self.remote(&tmp), self.remote(&abs));
        let mut s = self.take().await?;
        self.data_mode(&mut s, size.is_some()).await?;
        let sent = Self::send(&mut s, &rt, WriteMode::Replace { size }, data).await;
        let result = match sent {
            Ok(n) if size.is_some_and(|want| want != n) => Err(Error::InvalidInput(format!(
                "{abs}: the data stream ended after {n} of {} bytes",
                size.unwrap_or(0)
            ))),
            Ok(n) => s.rename(&rt, &rp).await.map(|()| n),
            Err(e) => Err(e),
        };
        if result.is_err() && s.is_usable() {
            let _ = s.remove(&rt).await;
        }
        self.pool.give(s);
        result
    }

    async fn append(&self, path: &Path, data: ByteStream) -> Result<u64> {
        let abs = path.resolve(&self.info.working_directory);
        match self.entry(&abs).await? {
            Some(e) if e.kind == EntryKind::File => {}
            Some(_) => return Err(Error::InvalidInput(format!("{abs} is not a file"))),
            None => return Err(Error::path_not_found(&abs)),
        }
        let r = self.remote(&abs);
        let mut s = self.take().await?;
        self.data_mode(&mut s, false).await?;
        let n = Self::send(&mut s, &r, WriteMode::Append, data).await;
        self.pool.give(s);
        n
    }

    async fn checksum(&self, path: &Path, algorithm: ChecksumAlgorithm) -> Result<Option<String>> {
        let abs = path.resolve(&self.info.working_directory);
        if self.entry(&abs).await?.is_none() {
            return Err(Error::path_not_found(&abs));
        }
        let name = match algorithm {
            ChecksumAlgorithm::Md5 => "MD5",
            ChecksumAlgorithm::Sha1 => "SHA-1",
            ChecksumAlgorithm::Sha256 => "SHA-256",
        };
        let r = self.remote(&abs);
        let (_, hex) = self.with(async |s| s.hash(&r, Some(name)).await).await?;
        Ok(Some(hex))
    }

    async fn close(&self) -> Result<()> {
        let idle: Vec<Session> =
            std::mem::take(&mut *self.pool.idle.lock().unwrap_or_else(|p| p.into_inner()));
        for s in idle {
            s.quit().await;
        }
        Ok(())
    }
}
