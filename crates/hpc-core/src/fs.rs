//! The [`FileSystem`] trait every storage adaptor implements (Xenon semantics).

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::caps::FsCapabilities;
use crate::error::{Error, Result};
use crate::path::Path;

/// A stream of file content.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// File content as chunks tagged with their offset in the file, in any order
/// (see [`FileSystem::read_parts`] and [`FileSystem::write_parts`]).
pub type PartStream = BoxStream<'static, Result<(u64, Bytes)>>;

/// An in-order stream of the bytes from `offset` on, as a [`PartStream`].
pub fn tag_offsets(data: ByteStream, offset: u64) -> PartStream {
    use futures::StreamExt;
    let mut at = offset;
    data.map(move |chunk| {
        let chunk = chunk?;
        let tagged = (at, chunk);
        at += tagged.1.len() as u64;
        Ok(tagged)
    })
    .boxed()
}

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else (device, socket, fifo).
    Other,
}

/// Metadata of one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PathAttributes {
    /// The path (absolute on the file system).
    pub path: Path,
    /// File, directory, link, other.
    pub kind: EntryKind,
    /// Size in bytes (0 for directories where the server does not say).
    pub size: u64,
    /// Last modification.
    pub modified: Option<SystemTime>,
    /// Last access.
    pub accessed: Option<SystemTime>,
    /// Creation.
    pub created: Option<SystemTime>,
    /// Owner name (or numeric id as text).
    pub owner: Option<String>,
    /// Group name (or numeric id as text).
    pub group: Option<String>,
    /// POSIX permission bits (`0o755`), where the adaptor reads them.
    pub permissions: Option<u32>,
    /// Target of a symbolic link, where the listing gives it.
    pub link_target: Option<String>,
}

impl PathAttributes {
    /// Attributes with only path, kind and size.
    pub fn new(path: Path, kind: EntryKind, size: u64) -> Self {
        PathAttributes {
            path,
            kind,
            size,
            modified: None,
            accessed: None,
            created: None,
            owner: None,
            group: None,
            permissions: None,
            link_target: None,
        }
    }

    /// Whether this is a directory.
    pub fn is_directory(&self) -> bool {
        self.kind == EntryKind::Directory
    }

    /// Whether this is a regular file.
    pub fn is_regular(&self) -> bool {
        self.kind == EntryKind::File
    }

    /// Whether this is a symbolic link.
    pub fn is_symbolic_link(&self) -> bool {
        self.kind == EntryKind::Symlink
    }

    /// Whether the name starts with a dot.
    pub fn is_hidden(&self) -> bool {
        self.path.file_name().is_some_and(|n| n.starts_with('.'))
    }
}

/// What a copy does when the target exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyMode {
    /// Fail if the target exists.
    #[default]
    Create,
    /// Replace the target (atomically where the target supports rename).
    Replace,
    /// Skip existing targets and carry on.
    Ignore,
    /// Continue a partial target after checking its size (and prefix checksum
    /// where possible).
    Resume,
}

impl std::str::FromStr for CopyMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "create" => Ok(CopyMode::Create),
            "replace" => Ok(CopyMode::Replace),
            "ignore" => Ok(CopyMode::Ignore),
            "resume" => Ok(CopyMode::Resume),
            other => Err(Error::InvalidInput(format!(
                "copy mode {other:?} is not one of create, replace, ignore, resume"
            ))),
        }
    }
}

impl fmt::Display for CopyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CopyMode::Create => "create",
            CopyMode::Replace => "replace",
            CopyMode::Ignore => "ignore",
            CopyMode::Resume => "resume",
        })
    }
}

/// A byte range to read: `offset` onwards, at most `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteRange {
    /// First byte.
    pub offset: u64,
    /// Number of bytes (none: to the end).
    pub len: Option<u64>,
}

impl ByteRange {
    /// The whole file.
    pub const ALL: ByteRange = ByteRange { offset: 0, len: None };

    /// From `offset` to the end.
    pub fn from(offset: u64) -> Self {
        ByteRange { offset, len: None }
    }
}

/// Checksum algorithms a file system may compute on its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    /// MD5 (S3 ETags of single-part objects).
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

/// What a file system is: its adaptor, where it is, what it can do and
/// where relative paths start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileSystemInfo {
    /// Adaptor name (`local`, `sftp`, ...).
    pub adaptor: &'static str,
    /// The location the file system was opened with (never contains a secret).
    pub location: String,
    /// What this file system can do.
    pub capabilities: FsCapabilities,
    /// The directory relative paths start from (absolute).
    pub working_directory: Path,
}

impl FileSystemInfo {
    /// The info of an adaptor at `location`.
    pub fn new(
        adaptor: &'static str,
        location: impl Into<String>,
        capabilities: FsCapabilities,
        working_directory: Path,
    ) -> Self {
        FileSystemInfo { adaptor, location: location.into(), capabilities, working_directory }
    }
}

/// A storage: local disk, SFTP, FTP, WebDAV, S3, UNICORE, UFTP.
///
/// Paths may be relative: they are resolved against the working directory
/// of [`FileSystem::info`]. Writes consume a stream so an adaptor can
/// pipeline, split into parts, and abort cleanly: a write whose stream yields
/// an error, or whose future is dropped, must not leave a complete-looking file
/// where the stream did not end.
#[async_trait]
pub trait FileSystem: Send + Sync + fmt::Debug {
    /// Adaptor name, location, capabilities and working directory.
    fn info(&self) -> &FileSystemInfo;

    /// Create one directory; its parent must exist.
    async fn create_directory(&self, path: &Path) -> Result<()>;

    /// Create a directory and any missing parents; succeeds if it exists.
    async fn create_directories(&self, path: &Path) -> Result<()> {
        let path = path.resolve(&self.info().working_directory);
        let mut missing = Vec::new();
        let mut cur = Some(path);
        while let Some(p) = cur {
            if p.is_root() || self.exists(&p).await? {
                break;
            }
            cur = p.parent();
            missing.push(p);
        }
        for p in missing.into_iter().rev() {
            match self.create_directory(&p).await {
                Ok(()) | Err(Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Create an empty file; fails if it exists.
    async fn create_file(&self, path: &Path) -> Result<()>;

    /// Create a symbolic link at `link` pointing to `target`.
    async fn create_symbolic_link(&self, link: &Path, target: &Path) -> Result<()> {
        let _ = (link, target);
        Err(Error::unsupported(self.info().adaptor, "creating symbolic links"))
    }

    /// Read where a symbolic link points.
    async fn read_symbolic_link(&self, link: &Path) -> Result<Path> {
        let _ = link;
        Err(Error::unsupported(self.info().adaptor, "reading symbolic links"))
    }

    /// Delete a file, link or empty directory; with `recursive`, a directory tree.
    async fn delete(&self, path: &Path, recursive: bool) -> Result<()>;

    /// Whether the path exists (a dangling link exists).
    async fn exists(&self, path: &Path) -> Result<bool> {
        match self.attributes(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// List a directory's entries (not `.`/`..`), with attributes, as a stream.
    /// With `recursive`, descend into subdirectories (not through links).
    fn list<'a>(&'a self, dir: &'a Path, recursive: bool) -> BoxStream<'a, Result<PathAttributes>>;

    /// Attributes of one path; a link is described, not followed.
    async fn attributes(&self, path: &Path) -> Result<PathAttributes>;

    /// Set POSIX permission bits.
    async fn set_permissions(&self, path: &Path, mode: u32) -> Result<()> {
        let _ = (path, mode);
        Err(Error::unsupported(self.info().adaptor, "setting permissions"))
    }

    /// Rename within this file system. Fails if `to` exists.
    async fn rename(&self, from: &Path, to: &Path) -> Result<()>;

    /// Rename `from` onto `to`, replacing a file at `to` if there is one.
    ///
    /// Atomic where the adaptor can do it (a local `rename`, SFTP
    /// `posix-rename`, WebDAV `MOVE` with overwrite): readers see either the old
    /// or the new file. The default deletes `to` first and then renames, which
    /// leaves a short window in which neither exists.
    async fn rename_replacing(&self, from: &Path, to: &Path) -> Result<()> {
        match self.delete(to, false).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        self.rename(from, to).await
    }

    /// Read a file (or a byte range of it) as a stream.
    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream>;

    /// Write a file from a stream, replacing any existing file, and return the
    /// number of bytes written. `size` is the expected length where known; a
    /// stream that ends short of it fails the write.
    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64>;

    /// The bytes of `range` as chunks tagged with their offset in the file,
    /// in any order, every byte exactly once. Adaptors that fetch ranges
    /// concurrently (their [`FsCapabilities::read_parts`] is above 1)
    /// override it so that a consumer able to write at offsets need not hold
    /// early parts back; the default tags [`read`](Self::read).
    async fn read_parts(&self, path: &Path, range: ByteRange) -> Result<PartStream> {
        Ok(tag_offsets(self.read(path, range).await?, range.offset))
    }

    /// Write a file of `size` bytes from chunks that arrive in any order,
    /// each put at its offset, replacing any existing file; returns the bytes
    /// written. Available where [`FsCapabilities::write_parts`] says so. The
    /// same guarantee as [`write`](Self::write): a stream that fails or falls
    /// short leaves no complete-looking file behind.
    async fn write_parts(&self, path: &Path, data: PartStream, size: u64) -> Result<u64> {
        let _ = (path, data, size);
        Err(Error::unsupported(self.info().adaptor, "writing at offsets"))
    }

    /// Append a stream to an existing file.
    async fn append(&self, path: &Path, data: ByteStream) -> Result<u64> {
        let _ = (path, data);
        Err(Error::unsupported(self.info().adaptor, "appending"))
    }

    /// Copy within this file system without moving the data through the client.
    async fn copy_server_side(&self, from: &Path, to: &Path) -> Result<()> {
        let _ = (from, to);
        Err(Error::unsupported(self.info().adaptor, "server-side copy"))
    }

    /// A checksum computed where the data lives, as lower-case hex. `Ok(None)`
    /// when the adaptor cannot compute this algorithm remotely.
    async fn checksum(&self, path: &Path, algorithm: ChecksumAlgorithm) -> Result<Option<String>> {
        let _ = (path, algorithm);
        Ok(None)
    }

    /// Uploads started below `dir` (directly, or at any depth when
    /// `recursive`) and never completed or aborted, which the server keeps
    /// out of sight and on the bill: S3 multipart uploads. Empty where
    /// writes have no such state.
    async fn pending_uploads(&self, dir: &Path, recursive: bool) -> Result<Vec<PendingUpload>> {
        let _ = (dir, recursive);
        Ok(Vec::new())
    }

    /// Abort one of the [`pending_uploads`](Self::pending_uploads), dropping what it stored.
    async fn abort_upload(&self, upload: &PendingUpload) -> Result<()> {
        let _ = upload;
        Err(Error::unsupported(self.info().adaptor, "aborting an upload"))
    }

    /// Release connections. Further calls may fail.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// An upload that was started and not finished (see [`FileSystem::pending_uploads`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The path the upload would create.
    pub path: Path,
    /// The server's id of the upload.
    pub id: String,
    /// When it was started, if the server says.
    pub started: Option<SystemTime>,
    /// When data last arrived for it (its newest part), else when it was started.
    pub last_activity: Option<SystemTime>,
    /// Bytes stored so far.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_mode_parse() {
        assert_eq!("Resume".parse::<CopyMode>().unwrap(), CopyMode::Resume);
        assert_eq!(CopyMode::Replace.to_string(), "replace");
        assert!(
            "overwrite".parse::<CopyMode>().unwrap_err().to_string().contains("create, replace")
        );
    }

    #[test]
    fn hidden() {
        let a = PathAttributes::new(Path::new("/x/.rc").unwrap(), EntryKind::File, 1);
        assert!(a.is_hidden() && a.is_regular() && !a.is_directory());
    }
}
