//! [`SftpFileSystem`]: the `FileSystem` implementation on one SFTP session,
//! with commands over the same SSH connection where there is one.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use hpc_auth::CredentialMap;
use hpc_core::{
    ByteRange, ByteStream, ChecksumAlgorithm, EntryKind, Error, FileSystem, FileSystemInfo,
    FsCapabilities, Location, Path, PathAttributes, Result,
};
use hpc_exec::ssh::{SshExecutor, SshOptions};
use hpc_exec::{Command, Executor};
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};

use super::config::{SftpConfig, SftpTuning};
use super::error::{SftpErrorExt, status_code};
use super::lister::{delete_tree, list};
use super::parse::{attributes_from, digest_of, kind_of};
use super::pipe::{self, RemoveOnDrop};
use super::session::{Extensions, Session};
use crate::temp_sibling;

/// What the sftp adaptor can do against OpenSSH with command access (the
/// usual case); its [`FileSystem::info`](hpc_core::FileSystem::info) reports what this server offers.
pub fn capabilities() -> FsCapabilities {
    let mut c = FsCapabilities::default();
    c.copy_server_side = true;
    c.create_symbolic_link = true;
    c.read_symbolic_link = true;
    c.append = true;
    c.attributes_permissions = true;
    c.set_permissions = true;
    c.rename = true;
    c.read_range = true;
    c.checksum = true;
    c.credentials = hpc_auth::SSH_CREDENTIAL_KINDS;
    c
}

/// A file system reached over SFTP.
pub struct SftpFileSystem {
    session: Session,
    info: FileSystemInfo,
    read_len: u32,
    write_len: u32,
    tuning: SftpTuning,
    ext: Extensions,
    exec: Option<Arc<dyn Executor>>,
}

impl std::fmt::Debug for SftpFileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpFileSystem")
            .field("location", &self.info.location)
            .field("cwd", &self.info.working_directory)
            .finish_non_exhaustive()
    }
}

impl SftpFileSystem {
    /// Start SFTP on `stream` (a subsystem channel, or the pipes of a local
    /// `sftp-server`). `exec`, when given, runs commands on the same host
    /// (checksums, copies on the server).
    pub async fn from_stream<S>(
        stream: S,
        opts: SftpConfig,
        exec: Option<Arc<dyn Executor>>,
    ) -> Result<Self>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let started = Session::start(stream, &opts).await?;
        let home = Path::new(&started.home)?;
        let cwd = match &opts.working_directory {
            Some(w) => Path::new(w)?.resolve(&home),
            None => home,
        };
        // What this server offers: `copy-data` for copies on the server, a
        // shell for checksums.
        let mut caps = capabilities();
        caps.copy_server_side = started.ext.copy_data;
        caps.checksum = exec.is_some();
        Ok(SftpFileSystem {
            session: started.session,
            info: FileSystemInfo::new("sftp", opts.location, caps, cwd),
            read_len: started.read_len,
            write_len: started.write_len,
            tuning: opts.tuning,
            ext: started.ext,
            exec,
        })
    }

    /// Connect to `sftp://[user@]host[:port][/dir][?in_flight=N&chunk=BYTES]`
    /// (jump hosts with ` via:` as everywhere) over the shared SSH connection
    /// of `hpc-exec`: a scheduler on the same host uses the same connection.
    /// The path, if any, becomes the working directory (`/~/x` is `x` below
    /// the login directory).
    pub async fn open(location: &Location, creds: &CredentialMap) -> Result<Self> {
        let config = SftpConfig::from_location(location)?;
        let ssh = SshExecutor::shared(SshOptions::from_location(location)?, creds).await?;
        let stream = ssh.open_subsystem("sftp").await?;
        let exec: Arc<dyn Executor> = Arc::new(ssh);
        Self::from_stream(stream, config, Some(exec)).await
    }

    fn abs(&self, p: &Path) -> Path {
        p.resolve(&self.info.working_directory)
    }

    /// The raw session, for callers that need protocol details.
    pub fn session(&self) -> &Arc<RawSftpSession> {
        &self.session.raw
    }

    fn host(&self) -> &str {
        &self.session.host
    }

    /// A pipelined transfer on the open `handle` of `abs`, `chunk` bytes a request.
    fn pipe(&self, abs: Path, handle: String, chunk: u32) -> pipe::Pipe {
        self.session.pipe(abs, handle, chunk, self.tuning.in_flight)
    }

    /// Run `prog -- path` on the server and take the digest it prints.
    async fn remote_digest(&self, prog: &str, abs: &Path) -> Result<Option<String>> {
        let Some(exec) = &self.exec else { return Ok(None) };
        let cmd = Command::new(prog).arg("--").arg(abs.to_string());
        let out = exec.run(&cmd).await?;
        if !out.status.success() {
            if self.session.lexists(abs).await? {
                // The tool is missing or the file unreadable: no server-side sum.
                return Ok(None);
            }
            return Err(Error::path_not_found(abs));
        }
        let text = out.stdout_text();
        digest_of(&text).map(Some).ok_or_else(|| {
            Error::parse(cmd.display(), "expected a hex digest", text.lines().next().unwrap_or(""))
        })
    }

    /// `write` into the already created, open temporary sibling `tmp` of
    /// `abs`, then rename it into place. The sibling is removed on failure.
    async fn fill_and_rename(
        &self,
        abs: &Path,
        tmp: &Path,
        handle: String,
        data: ByteStream,
        size: Option<u64>,
    ) -> Result<u64> {
        let pipe = self.pipe(abs.clone(), handle, self.write_len);
        let result = async {
            let written = pipe::write_stream(&pipe, 0, data).await?;
            if let Some(expected) = size
                && expected != written
            {
                return Err(Error::InvalidInput(format!(
                    "stream for {abs} ended after {written} of {expected} bytes; file not written"
                )));
            }
            Ok(written)
        }
        .await;
        let closed = pipe.close().await;
        let written = result.and_then(|w| closed.map(|()| w));
        let renamed = match written {
            Ok(w) => self.rename_replacing(tmp, abs).await.map(|()| w),
            Err(e) => Err(e),
        };
        if renamed.is_err() {
            self.session.remove_quietly(tmp).await;
        }
        renamed
    }
}

#[async_trait]
impl FileSystem for SftpFileSystem {
    fn info(&self) -> &FileSystemInfo {
        &self.info
    }

    async fn create_directory(&self, path: &Path) -> Result<()> {
        let abs = self.abs(path);
        match self.session.raw.mkdir(abs.to_string(), FileAttributes::empty()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = e.at(self.host(), "mkdir", &abs);
                Err(self.session.exists_or(&abs, err).await)
            }
        }
    }

    async fn create_file(&self, path: &Path) -> Result<()> {
        let abs = self.abs(path);
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE;
        match self.session.open(&abs, flags, None).await {
            Ok(h) => self
                .session
                .raw
                .close(h)
                .await
                .map(drop)
                .map_err(|e| e.at(self.host(), "close", &abs)),
            Err(err) => Err(self.session.exists_or(&abs, err).await),
        }
    }

    async fn create_symbolic_link(&self, link: &Path, target: &Path) -> Result<()> {
        let abs = self.abs(link);
        // OpenSSH reads SSH_FXP_SYMLINK's two paths in the opposite order to
        // the draft (target first); every OpenSSH-compatible client sends that.
        match self.session.raw.symlink(target.to_string(), abs.to_string()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = e.at(self.host(), "symlink", &abs);
                Err(self.session.exists_or(&abs, err).await)
            }
        }
    }

    async fn read_symbolic_link(&self, link: &Path) -> Result<Path> {
        let abs = self.abs(link);
        let name = self
            .session
            .raw
            .readlink(abs.to_string())
            .await
            .map_err(|e| e.at(self.host(), "readlink", &abs))?;
        let target = name
            .files
            .into_iter()
            .next()
            .map(|f| f.filename)
            .ok_or_else(|| Error::remote("sftp", None, "empty readlink reply"))?;
        Path::new(&target)
    }

    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        let abs = self.abs(path);
        if abs.is_root() {
            return Err(Error::InvalidInput("refusing to delete /".into()));
        }
        let attrs = self.session.lstat(&abs).await?;
        let raw = &self.session.raw;
        if kind_of(attrs.permissions) != EntryKind::Directory {
            return raw
                .remove(abs.to_string())
                .await
                .map(drop)
                .map_err(|e| e.at(self.host(), "delete", &abs));
        }
        if recursive {
            delete_tree(&self.session, &abs).await
        } else {
            raw.rmdir(abs.to_string())
                .await
                .map(drop)
                .map_err(|e| e.at(self.host(), "delete", &abs))
        }
    }

    fn list<'a>(&'a self, dir: &'a Path, recursive: bool) -> BoxStream<'a, Result<PathAttributes>> {
        list(&self.session, self.abs(dir), recursive)
    }

    async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        let abs = self.abs(path);
        let a = self.session.lstat(&abs).await?;
        let mut out = attributes_from(abs.clone(), &a, None);
        if out.is_symbolic_link() {
            out.link_target = self.read_symbolic_link(&abs).await.ok().map(|p| p.to_string());
        }
        Ok(out)
    }

    async fn set_permissions(&self, path: &Path, mode: u32) -> Result<()> {
        let abs = self.abs(path);
        let attrs = FileAttributes { permissions: Some(mode & 0o7777), ..FileAttributes::empty() };
        self.session
            .raw
            .setstat(abs.to_string(), attrs)
            .await
            .map(drop)
            .map_err(|e| e.at(self.host(), "chmod", &abs))
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        if self.session.lexists(&to).await? {
            return Err(Error::AlreadyExists { path: to.to_string() });
        }
        match self.session.raw.rename(from.to_string(), to.to_string()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = e.at(self.host(), "rename", &from);
                Err(self.session.exists_or(&to, err).await)
            }
        }
    }

    async fn rename_replacing(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        if self.ext.posix_rename {
            return self.session.posix_rename(&from, &to).await;
        }
        match self.session.raw.remove(to.to_string()).await {
            Ok(_) => {}
            Err(e) if status_code(&e) == Some(StatusCode::NoSuchFile) => {}
            Err(e) => return Err(e.at(self.host(), "replace", &to)),
        }
        self.session
            .raw
            .rename(from.to_string(), to.to_string())
            .await
            .map(drop)
            .map_err(|e| e.at(self.host(), "rename", &from))
    }

    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        let abs = self.abs(path);
        let attrs = self.session.stat(&abs).await?;
        if kind_of(attrs.permissions) == EntryKind::Directory {
            return Err(Error::InvalidInput(format!("{abs} is a directory")));
        }
        let handle = self.session.open(&abs, OpenFlags::READ, None).await?;
        Ok(pipe::read_stream(self.pipe(abs, handle, self.read_len), range))
    }

    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64> {
        let abs = self.abs(path);
        let tmp = temp_sibling(&abs, "part")?;
        // Keep the mode of a file being replaced; new files get the server's default.
        let mode = match self.session.stat(&abs).await {
            Ok(a) if kind_of(a.permissions) == EntryKind::File => a.permissions.map(|p| p & 0o7777),
            _ => None,
        };
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE;
        let handle = self.session.open(&tmp, flags, mode).await.map_err(|e| match e {
            Error::NotFound { .. } => Error::path_not_found(&abs),
            e => e,
        })?;
        // Removes the sibling should this future be dropped half-way.
        let mut guard = RemoveOnDrop::new(self.session.raw.clone(), tmp.to_string());
        let result = self.fill_and_rename(&abs, &tmp, handle, data, size).await;
        guard.disarm();
        result
    }

    async fn append(&self, path: &Path, data: ByteStream) -> Result<u64> {
        let abs = self.abs(path);
        let handle = self.session.open(&abs, OpenFlags::WRITE, None).await?;
        let pipe = self.pipe(abs.clone(), handle, self.write_len);
        // Explicit offsets from the current size, not O_APPEND: the server may
        // reorder pipelined writes, and offsets keep them in place regardless.
        let result = async {
            let size = self
                .session
                .raw
                .fstat(pipe.handle.clone())
                .await
                .map_err(|e| e.at(self.host(), "stat", &abs))?
                .attrs
                .size
                .unwrap_or(0);
            pipe::write_stream(&pipe, size, data).await
        }
        .await;
        let closed = pipe.close().await;
        let written = result?;
        closed?;
        Ok(written)
    }

    /// `copy-data` (OpenSSH 9.0+): the server copies between two handles.
    async fn copy_server_side(&self, from: &Path, to: &Path) -> Result<()> {
        if !self.ext.copy_data {
            return Err(Error::unsupported("sftp", "server-side copy (server lacks copy-data)"));
        }
        let (from, to) = (self.abs(from), self.abs(to));
        let src = self.session.open(&from, OpenFlags::READ, None).await?;
        let tmp = temp_sibling(&to, "part")?;
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE;
        let dst = match self.session.open(&tmp, flags, None).await {
            Ok(h) => h,
            Err(e) => {
                let _ = self.session.raw.close(src).await;
                return Err(e);
            }
        };
        let mut guard = RemoveOnDrop::new(self.session.raw.clone(), tmp.to_string());
        let copied = self.session.copy_data(&src, &dst, &from).await;
        let _ = self.session.raw.close(src).await;
        let closed = self
            .session
            .raw
            .close(dst)
            .await
            .map(drop)
            .map_err(|e| e.at(self.host(), "close", &to));
        let result = match copied.and(closed) {
            Ok(()) => self.rename_replacing(&tmp, &to).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.session.remove_quietly(&tmp).await;
        }
        guard.disarm();
        result
    }

    /// `sha256sum`/`sha1sum`/`md5sum` run on the server over the same SSH connection.
    async fn checksum(&self, path: &Path, algorithm: ChecksumAlgorithm) -> Result<Option<String>> {
        let prog = match algorithm {
            ChecksumAlgorithm::Sha256 => "sha256sum",
            ChecksumAlgorithm::Sha1 => "sha1sum",
            ChecksumAlgorithm::Md5 => "md5sum",
        };
        self.remote_digest(prog, &self.abs(path)).await
    }

    async fn close(&self) -> Result<()> {
        let _ = self.session.raw.close_session();
        Ok(())
    }
}
