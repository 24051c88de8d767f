//! The `sftp` adaptor: SFTP v3 (OpenSSH dialect) over any byte stream,
//! normally a subsystem channel on the shared SSH connection of `hpc-exec`.
//!
//! Reads and writes are pipelined: up to [`SftpTuning::in_flight`] requests
//! of [`SftpTuning::chunk`] bytes are outstanding at once, so a transfer is
//! bound by bandwidth, not by round trips (ADR 0601). Writes go to a hidden
//! sibling and are renamed into place (`posix-rename@openssh.com`) only when
//! the stream has ended well. When the connection can also run commands,
//! checksums are computed on the server (`sha256sum`), so verifying a
//! transfer does not move the data twice.

mod errors;
mod io;
mod list;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use futures::stream::BoxStream;
use hpc_auth::CredentialMap;
use hpc_core::{
    ByteRange, ByteStream, ChecksumAlgorithm, EntryKind, Error, FileSystem, FsCapabilities,
    Location, Path, PathAttributes, Result,
};
use hpc_exec::ssh::{SshExecutor, SshOptions};
use hpc_exec::{Command, Executor};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::rawsession::Limits;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::temp_sibling;
use errors::{SftpErrorExt, status_code};

/// How many requests are in flight and how large each is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SftpTuning {
    /// Outstanding read or write requests per transfer.
    pub in_flight: usize,
    /// Bytes per request (capped by the server's `limits@openssh.com`).
    pub chunk: u32,
    /// Seconds to wait for any one reply before the connection counts as lost.
    pub request_timeout_secs: u64,
}

impl Default for SftpTuning {
    fn default() -> Self {
        // 64 x 252 KiB keeps ~16 MiB in flight: enough for 1 GiB/s at 15 ms RTT,
        // well inside the 64 MiB memory budget of a transfer.
        SftpTuning { in_flight: 64, chunk: 252 * 1024, request_timeout_secs: 120 }
    }
}

/// Extensions the server announced that we use.
#[derive(Debug, Clone, Copy, Default)]
struct Extensions {
    posix_rename: bool,
    copy_data: bool,
}

/// What the sftp adaptor can do against OpenSSH with command access (the
/// usual case); [`SftpFileSystem::capabilities`] reports what this server offers.
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
    session: Arc<RawSftpSession>,
    location: String,
    host: String,
    cwd: Path,
    read_len: u32,
    write_len: u32,
    tuning: SftpTuning,
    ext: Extensions,
    exec: Option<Arc<dyn Executor>>,
}

impl std::fmt::Debug for SftpFileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpFileSystem")
            .field("location", &self.location)
            .field("cwd", &self.cwd)
            .finish_non_exhaustive()
    }
}

/// Builder for [`SftpFileSystem`].
#[derive(Debug, Clone)]
pub struct SftpOptions {
    /// Shown in errors and as [`FileSystem::location`] (never holds a secret).
    pub location: String,
    /// `host[:port]`, for error messages.
    pub host: String,
    /// Working directory: absolute, or relative to the login directory.
    pub working_directory: Option<String>,
    /// Pipelining.
    pub tuning: SftpTuning,
}

impl SftpFileSystem {
    /// Start SFTP on `stream` (a subsystem channel, or the pipes of a local
    /// `sftp-server`). `exec`, when given, runs commands on the same host
    /// (checksums, copies on the server).
    pub async fn from_stream<S>(
        stream: S,
        opts: SftpOptions,
        exec: Option<Arc<dyn Executor>>,
    ) -> Result<Self>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let host = opts.host.clone();
        let cfg = russh_sftp::client::Config {
            max_packet_len: 1 << 20,
            request_timeout_secs: opts.tuning.request_timeout_secs,
            ..Default::default()
        };
        let mut session = RawSftpSession::new_with_config(stream, cfg);
        let version = session.init().await.map_err(|e| e.lost(&host, "starting SFTP"))?;
        let has = |name: &str| version.extensions.contains_key(name);
        let ext = Extensions {
            posix_rename: has("posix-rename@openssh.com"),
            copy_data: has("copy-data"),
        };
        let mut read_len = opts.tuning.chunk;
        let mut write_len = opts.tuning.chunk;
        if has("limits@openssh.com") {
            let limits =
                session.limits().await.map_err(|e| e.lost(&host, "reading SFTP limits"))?;
            let cap =
                |v: u64, cur: u32| if v > 0 { cur.min(v.min(u32::MAX as u64) as u32) } else { cur };
            read_len = cap(limits.max_read_len, read_len);
            // A write packet carries the handle and headers besides the data.
            write_len = cap(limits.max_write_len, write_len);
            if limits.max_packet_len > 1024 {
                write_len = write_len.min((limits.max_packet_len - 1024) as u32);
            }
            session.set_limits(Limits::from(limits));
        }
        let home = session
            .realpath(".")
            .await
            .map_err(|e| e.lost(&host, "resolving the login directory"))?
            .files
            .into_iter()
            .next()
            .map(|f| f.filename)
            .unwrap_or_else(|| "/".into());
        let home = Path::new(&home)?;
        let cwd = match &opts.working_directory {
            Some(w) => Path::new(w)?.resolve(&home),
            None => home,
        };
        tracing::debug!(host = %host, ?ext, read_len, write_len, "sftp session ready");
        Ok(SftpFileSystem {
            session: Arc::new(session),
            location: opts.location,
            host,
            cwd,
            read_len,
            write_len,
            tuning: opts.tuning,
            ext,
            exec,
        })
    }

    /// Connect to `sftp://[user@]host[:port][/dir][?in_flight=N&chunk=BYTES]`
    /// (jump hosts with ` via:` as everywhere) over the shared SSH connection
    /// of `hpc-exec`: a scheduler on the same host uses the same connection.
    /// The path, if any, becomes the working directory (`/~/x` is `x` below
    /// the login directory).
    pub async fn connect(location: &Location, creds: &CredentialMap) -> Result<Self> {
        let ssh = SshExecutor::shared(SshOptions::from_location(location)?, creds).await?;
        let stream = ssh.open_subsystem("sftp").await?;
        let mut tuning = SftpTuning::default();
        let bad = |k: &str, v: &str| Error::InvalidLocation {
            location: location.to_string(),
            reason: format!("{k}={v:?} is not a positive number"),
        };
        if let Some(v) = location.param("in_flight") {
            tuning.in_flight =
                v.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad("in_flight", v))?;
        }
        if let Some(v) = location.param("chunk") {
            tuning.chunk = v.parse().ok().filter(|n| *n >= 512).ok_or_else(|| bad("chunk", v))?;
        }
        let host = match location.port {
            Some(p) => format!("{}:{p}", location.host.as_deref().unwrap_or("")),
            None => location.host.clone().unwrap_or_default(),
        };
        let working_directory = location.path.as_deref().filter(|p| *p != "/").map(|p| {
            p.strip_prefix("/~/").or_else(|| (p == "/~").then_some("")).unwrap_or(p).to_owned()
        });
        let mut shown = location.clone();
        shown.query.clear();
        let opts = SftpOptions { location: shown.to_string(), host, working_directory, tuning };
        let exec: Arc<dyn Executor> = Arc::new(ssh);
        Self::from_stream(stream, opts, Some(exec)).await
    }

    fn abs(&self, p: &Path) -> Path {
        p.resolve(&self.cwd)
    }

    /// The raw session, for callers that need protocol details.
    pub fn session(&self) -> &Arc<RawSftpSession> {
        &self.session
    }

    async fn lstat(&self, path: &Path) -> Result<FileAttributes> {
        let abs = self.abs(path);
        self.session
            .lstat(abs.to_string())
            .await
            .map(|a| a.attrs)
            .map_err(|e| e.at(&self.host, "stat", &abs))
    }

    async fn lexists(&self, abs: &Path) -> Result<bool> {
        match self.lstat(abs).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// SFTP v3 answers "failure" for an existing target; tell it apart.
    async fn exists_or(&self, abs: &Path, err: Error) -> Error {
        if !matches!(err, Error::Remote { .. }) {
            return err;
        }
        match self.lexists(abs).await {
            Ok(true) => Error::AlreadyExists { path: abs.to_string() },
            _ => err,
        }
    }

    async fn remove_quietly(&self, abs: &Path) {
        let _ = self.session.remove(abs.to_string()).await;
    }

    async fn posix_rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut data = Vec::new();
        for s in [from.to_string(), to.to_string()] {
            data.extend_from_slice(&(s.len() as u32).to_be_bytes());
            data.extend_from_slice(s.as_bytes());
        }
        match self.session.extended("posix-rename@openssh.com", data).await {
            Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => Ok(()),
            Ok(Packet::Status(s)) => Err(errors::from_status(&self.host, "rename", from, s)),
            Ok(_) => Err(Error::Remote {
                service: "sftp".into(),
                status: None,
                message: "unexpected reply to posix-rename".into(),
            }),
            Err(e) => Err(e.at(&self.host, "rename", from)),
        }
    }

    /// Open for writing (create, truncate) with `mode` where given.
    async fn open_write(&self, abs: &Path, flags: OpenFlags, mode: Option<u32>) -> Result<String> {
        let attrs = FileAttributes { permissions: mode, ..FileAttributes::empty() };
        self.session
            .open(abs.to_string(), flags, attrs)
            .await
            .map(|h| h.handle)
            .map_err(|e| e.at(&self.host, "open", abs))
    }

    /// Run `prog -- path` on the server and take the first word of its output.
    async fn remote_digest(&self, prog: &str, abs: &Path) -> Result<Option<String>> {
        let Some(exec) = &self.exec else { return Ok(None) };
        let cmd = Command::new(prog).arg("--").arg(abs.to_string());
        let out = exec.run(&cmd).await?;
        if !out.status.success() {
            if self.lexists(abs).await? {
                // The tool is missing or the file unreadable: no server-side sum.
                return Ok(None);
            }
            return Err(Error::path_not_found(abs));
        }
        let text = out.stdout_text();
        let word = text.split_whitespace().next().unwrap_or("").trim_start_matches('\\');
        if word.is_empty() || !word.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Parse {
                command: cmd.display(),
                reason: "expected a hex digest".into(),
                line: text.lines().next().unwrap_or("").into(),
            });
        }
        Ok(Some(word.to_ascii_lowercase()))
    }
}

fn kind_of(mode: Option<u32>) -> EntryKind {
    match mode.map(|m| m & 0o170000) {
        Some(0o040000) => EntryKind::Directory,
        Some(0o100000) => EntryKind::File,
        Some(0o120000) => EntryKind::Symlink,
        Some(_) => EntryKind::Other,
        None => EntryKind::File,
    }
}

/// Attributes from SFTP's, with owner names from a listing's long name when there is one.
fn attributes_from(path: Path, a: &FileAttributes, longname: Option<&str>) -> PathAttributes {
    let mut out = PathAttributes::new(path, kind_of(a.permissions), a.size.unwrap_or(0));
    out.modified = a.mtime.map(|t| UNIX_EPOCH + Duration::from_secs(t.into()));
    out.accessed = a.atime.map(|t| UNIX_EPOCH + Duration::from_secs(t.into()));
    out.permissions = a.permissions.map(|p| p & 0o7777);
    let (user, group) = longname.map(owners_from_longname).unwrap_or((None, None));
    out.owner = a.user.clone().or(user).or_else(|| a.uid.map(|u| u.to_string()));
    out.group = a.group.clone().or(group).or_else(|| a.gid.map(|g| g.to_string()));
    out
}

/// `-rw-r--r--    1 alice    staff    1234 Jan  1 00:00 name`: fields 3 and 4.
fn owners_from_longname(l: &str) -> (Option<String>, Option<String>) {
    let mut f = l.split_whitespace();
    let user = f.nth(2).map(str::to_owned);
    let group = f.next().map(str::to_owned);
    (user, group)
}

#[async_trait]
impl FileSystem for SftpFileSystem {
    fn adaptor(&self) -> &str {
        "sftp"
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn capabilities(&self) -> FsCapabilities {
        let mut c = capabilities();
        c.copy_server_side = self.ext.copy_data;
        c.checksum = self.exec.is_some();
        c
    }

    fn working_directory(&self) -> &Path {
        &self.cwd
    }

    async fn create_directory(&self, path: &Path) -> Result<()> {
        let abs = self.abs(path);
        match self.session.mkdir(abs.to_string(), FileAttributes::empty()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = e.at(&self.host, "mkdir", &abs);
                Err(self.exists_or(&abs, err).await)
            }
        }
    }

    async fn create_file(&self, path: &Path) -> Result<()> {
        let abs = self.abs(path);
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE;
        match self.open_write(&abs, flags, None).await {
            Ok(h) => {
                self.session.close(h).await.map(drop).map_err(|e| e.at(&self.host, "close", &abs))
            }
            Err(err) => Err(self.exists_or(&abs, err).await),
        }
    }

    async fn create_symbolic_link(&self, link: &Path, target: &Path) -> Result<()> {
        let abs = self.abs(link);
        // OpenSSH reads SSH_FXP_SYMLINK's two paths in the opposite order to
        // the draft (target first); every OpenSSH-compatible client sends that.
        match self.session.symlink(target.to_string(), abs.to_string()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = e.at(&self.host, "symlink", &abs);
                Err(self.exists_or(&abs, err).await)
            }
        }
    }

    async fn read_symbolic_link(&self, link: &Path) -> Result<Path> {
        let abs = self.abs(link);
        let name = self
            .session
            .readlink(abs.to_string())
            .await
            .map_err(|e| e.at(&self.host, "readlink", &abs))?;
        let target =
            name.files.into_iter().next().map(|f| f.filename).ok_or_else(|| Error::Remote {
                service: "sftp".into(),
                status: None,
                message: "empty readlink reply".into(),
            })?;
        Path::new(&target)
    }

    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        let abs = self.abs(path);
        if abs.is_root() {
            return Err(Error::InvalidInput("refusing to delete /".into()));
        }
        let attrs = self.lstat(&abs).await?;
        if kind_of(attrs.permissions) != EntryKind::Directory {
            return self
                .session
                .remove(abs.to_string())
                .await
                .map(drop)
                .map_err(|e| e.at(&self.host, "delete", &abs));
        }
        if recursive {
            list::delete_tree(self, &abs).await
        } else {
            self.session
                .rmdir(abs.to_string())
                .await
                .map(drop)
                .map_err(|e| e.at(&self.host, "delete", &abs))
        }
    }

    fn list<'a>(&'a self, dir: &'a Path, recursive: bool) -> BoxStream<'a, Result<PathAttributes>> {
        list::list(self, self.abs(dir), recursive)
    }

    async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        let abs = self.abs(path);
        let a = self.lstat(&abs).await?;
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
            .setstat(abs.to_string(), attrs)
            .await
            .map(drop)
            .map_err(|e| e.at(&self.host, "chmod", &abs))
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        if self.lexists(&to).await? {
            return Err(Error::AlreadyExists { path: to.to_string() });
        }
        match self.session.rename(from.to_string(), to.to_string()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = e.at(&self.host, "rename", &from);
                Err(self.exists_or(&to, err).await)
            }
        }
    }

    async fn rename_replacing(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        if self.ext.posix_rename {
            return self.posix_rename(&from, &to).await;
        }
        match self.session.remove(to.to_string()).await {
            Ok(_) => {}
            Err(e) if status_code(&e) == Some(StatusCode::NoSuchFile) => {}
            Err(e) => return Err(e.at(&self.host, "replace", &to)),
        }
        self.session
            .rename(from.to_string(), to.to_string())
            .await
            .map(drop)
            .map_err(|e| e.at(&self.host, "rename", &from))
    }

    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        let abs = self.abs(path);
        let attrs =
            self.session.stat(abs.to_string()).await.map_err(|e| e.at(&self.host, "stat", &abs))?;
        if kind_of(attrs.attrs.permissions) == EntryKind::Directory {
            return Err(Error::InvalidInput(format!("{abs} is a directory")));
        }
        let handle = self
            .session
            .open(abs.to_string(), OpenFlags::READ, FileAttributes::empty())
            .await
            .map_err(|e| e.at(&self.host, "open", &abs))?
            .handle;
        Ok(io::read_stream(
            io::Pipe {
                session: self.session.clone(),
                host: self.host.clone(),
                path: abs,
                handle,
                chunk: self.read_len,
                in_flight: self.tuning.in_flight,
            },
            range,
        ))
    }

    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64> {
        let abs = self.abs(path);
        let tmp = temp_sibling(&abs, "part")?;
        // Keep the mode of a file being replaced; new files get the server's default.
        let mode = match self.session.stat(abs.to_string()).await {
            Ok(a) if kind_of(a.attrs.permissions) == EntryKind::File => {
                a.attrs.permissions.map(|p| p & 0o7777)
            }
            _ => None,
        };
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE;
        let handle = self.open_write(&tmp, flags, mode).await.map_err(|e| match e {
            Error::NotFound { .. } => Error::path_not_found(&abs),
            e => e,
        })?;
        let mut guard = io::RemoveOnDrop::new(self.session.clone(), tmp.to_string());
        let pipe = io::Pipe {
            session: self.session.clone(),
            host: self.host.clone(),
            path: abs.clone(),
            handle,
            chunk: self.write_len,
            in_flight: self.tuning.in_flight,
        };
        let result = async {
            let written = io::write_stream(&pipe, 0, data).await?;
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
        let written = match result.and_then(|w| closed.map(|()| w)) {
            Ok(w) => w,
            Err(e) => {
                self.remove_quietly(&tmp).await;
                guard.disarm();
                return Err(e);
            }
        };
        if let Err(e) = self.rename_replacing(&tmp, &abs).await {
            self.remove_quietly(&tmp).await;
            guard.disarm();
            return Err(e);
        }
        guard.disarm();
        Ok(written)
    }

    async fn append(&self, path: &Path, data: ByteStream) -> Result<u64> {
        let abs = self.abs(path);
        let handle = self.open_write(&abs, OpenFlags::WRITE, None).await?;
        let pipe = io::Pipe {
            session: self.session.clone(),
            host: self.host.clone(),
            path: abs.clone(),
            handle,
            chunk: self.write_len,
            in_flight: self.tuning.in_flight,
        };
        // Explicit offsets from the current size, not O_APPEND: the server may
        // reorder pipelined writes, and offsets keep them in place regardless.
        let result = async {
            let size = self
                .session
                .fstat(pipe.handle.clone())
                .await
                .map_err(|e| e.at(&self.host, "stat", &abs))?
                .attrs
                .size
                .unwrap_or(0);
            io::write_stream(&pipe, size, data).await
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
        let src = self
            .session
            .open(from.to_string(), OpenFlags::READ, FileAttributes::empty())
            .await
            .map_err(|e| e.at(&self.host, "open", &from))?
            .handle;
        let tmp = temp_sibling(&to, "part")?;
        let dst = match self
            .open_write(&tmp, OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE, None)
            .await
        {
            Ok(h) => h,
            Err(e) => {
                let _ = self.session.close(src).await;
                return Err(e);
            }
        };
        let mut guard = io::RemoveOnDrop::new(self.session.clone(), tmp.to_string());
        let mut data = Vec::new();
        let put_str = |d: &mut Vec<u8>, s: &str| {
            d.extend_from_slice(&(s.len() as u32).to_be_bytes());
            d.extend_from_slice(s.as_bytes());
        };
        put_str(&mut data, &src);
        data.extend_from_slice(&0u64.to_be_bytes());
        data.extend_from_slice(&0u64.to_be_bytes()); // 0: until end of file
        put_str(&mut data, &dst);
        data.extend_from_slice(&0u64.to_be_bytes());
        let copied = match self.session.extended("copy-data", data).await {
            Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => Ok(()),
            Ok(Packet::Status(s)) => Err(errors::from_status(&self.host, "copy", &from, s)),
            Ok(_) => Err(Error::Remote {
                service: "sftp".into(),
                status: None,
                message: "unexpected reply to copy-data".into(),
            }),
            Err(e) => Err(e.at(&self.host, "copy", &from)),
        };
        let _ = self.session.close(src).await;
        let closed =
            self.session.close(dst).await.map(drop).map_err(|e| e.at(&self.host, "close", &to));
        let result = match copied.and(closed) {
            Ok(()) => self.rename_replacing(&tmp, &to).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.remove_quietly(&tmp).await;
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
        let _ = self.session.close_session();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_long_names() {
        assert_eq!(kind_of(Some(0o040755)), EntryKind::Directory);
        assert_eq!(kind_of(Some(0o100644)), EntryKind::File);
        assert_eq!(kind_of(Some(0o120777)), EntryKind::Symlink);
        assert_eq!(kind_of(Some(0o010644)), EntryKind::Other);
        let (u, g) =
            owners_from_longname("-rw-r--r--    1 alice    staff        1234 Jan  1 00:00 x y");
        assert_eq!((u.as_deref(), g.as_deref()), (Some("alice"), Some("staff")));
        let a = FileAttributes {
            size: Some(5),
            permissions: Some(0o100640),
            uid: Some(7),
            mtime: Some(10),
            ..Default::default()
        };
        let p = attributes_from(Path::new("/x").unwrap(), &a, None);
        assert_eq!((p.size, p.permissions, p.owner.as_deref()), (5, Some(0o640), Some("7")));
        assert_eq!(p.modified, Some(UNIX_EPOCH + Duration::from_secs(10)));
    }
}
