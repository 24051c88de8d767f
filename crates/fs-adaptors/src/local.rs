//! The `local` adaptor: this host's file system (`file:///path` or a plain path).
//!
//! Writes go to a hidden sibling and are renamed into place when the stream
//! has ended well, so an interrupted write (stream error, dropped future,
//! killed process) never leaves a complete-looking file and never destroys the
//! file that was there before. Listings are streamed one directory handle at a
//! time, depth first, and do not follow links.

mod owners;

use std::io::SeekFrom;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use hpc_core::{
    ByteRange, ByteStream, ChecksumAlgorithm, EntryKind, Error, FileSystem, FsCapabilities,
    Location, PartStream, Path, PathAttributes, Result,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::temp_sibling;

/// Read size for streams and checksums.
const CHUNK: usize = 256 * 1024;

/// Chunks of a [`PartStream`] written in one blocking call at most. While a
/// batch is written the next one queues up in the producer, so this and the
/// producer's queue bound what a slow disk makes wait in memory; 16 chunks
/// of 256 KiB take a few milliseconds to reach the page cache.
const WRITE_BATCH: usize = 16;

/// What the local adaptor can do.
pub fn capabilities() -> FsCapabilities {
    let mut c = FsCapabilities::default();
    c.copy_server_side = true;
    c.create_symbolic_link = true;
    c.read_symbolic_link = true;
    c.is_connectionless = true;
    c.append = true;
    c.attributes_permissions = true;
    c.set_permissions = true;
    c.rename = true;
    c.read_range = true;
    c.checksum = true;
    c.write_parts = true;
    c.credentials = hpc_auth::LOCAL_CREDENTIAL_KINDS;
    c
}

/// This host's file system.
#[derive(Debug, Clone)]
pub struct LocalFileSystem {
    location: String,
    cwd: Path,
}

impl LocalFileSystem {
    /// The local file system with the process's current directory as working directory.
    pub fn new() -> Result<Self> {
        let cwd =
            std::env::current_dir().map_err(|e| Error::io("reading the current directory", e))?;
        let cwd = cwd
            .to_str()
            .ok_or_else(|| Error::InvalidInput("the current directory is not UTF-8".into()))?;
        Self::with_working_directory(Path::new(cwd)?)
    }

    /// The local file system with `cwd` (absolute) as working directory.
    pub fn with_working_directory(cwd: Path) -> Result<Self> {
        if !cwd.is_absolute() {
            return Err(Error::InvalidInput(format!(
                "working directory {cwd} must be an absolute path"
            )));
        }
        Ok(LocalFileSystem { location: format!("file://{cwd}"), cwd })
    }

    /// Open `file:///dir` or `local:///dir` (no host; the path becomes the
    /// working directory, the current directory when absent).
    pub fn open(location: &Location) -> Result<Self> {
        if !matches!(location.scheme.as_str(), "file" | "local") {
            return Err(Error::InvalidLocation {
                location: location.to_string(),
                reason: "the local adaptor takes file:// or local:// locations".into(),
            });
        }
        if location.host.as_deref().is_some_and(|h| h != "localhost") || !location.via.is_empty() {
            return Err(Error::InvalidLocation {
                location: location.to_string(),
                reason: "file:// takes no host; use sftp://user@host/path for a remote one".into(),
            });
        }
        match location.path.as_deref() {
            Some(p) => Self::with_working_directory(Path::new(p)?),
            None => Self::new(),
        }
    }

    fn abs(&self, path: &Path) -> Path {
        path.resolve(&self.cwd)
    }

    fn os(&self, path: &Path) -> PathBuf {
        PathBuf::from(self.abs(path).to_string())
    }

    /// Write `data` to `tmp` (created new), returning the byte count. The
    /// caller removes `tmp` on error.
    async fn fill(&self, tmp: &std::path::Path, mut data: ByteStream, shown: &Path) -> Result<u64> {
        let file = create_new(tmp, shown).await?;
        let mut out = tokio::io::BufWriter::with_capacity(CHUNK, file);
        let mut written = 0u64;
        while let Some(chunk) = data.next().await {
            let chunk = chunk?;
            out.write_all(&chunk).await.map_err(|e| Error::from_io_path("write", shown, e))?;
            written += chunk.len() as u64;
        }
        out.flush().await.map_err(|e| Error::from_io_path("write", shown, e))?;
        Ok(written)
    }

    /// Write `path` through a hidden sibling: `fill(sibling, path)` fills it,
    /// and it is renamed into place only if it got `size` bytes (where
    /// known). On any failure, or if this future is dropped, the sibling is
    /// removed and the old file stays.
    async fn staged<Fut>(
        &self,
        path: &Path,
        size: Option<u64>,
        fill: impl FnOnce(PathBuf, Path) -> Fut,
    ) -> Result<u64>
    where
        Fut: std::future::Future<Output = Result<u64>>,
    {
        let abs = self.abs(path);
        let tmp = self.os(&temp_sibling(&abs, "part")?);
        let mut guard = TempGuard(Some(tmp.clone()));
        let written = fill(tmp.clone(), abs.clone()).await?;
        if let Some(expected) = size
            && expected != written
        {
            return Err(Error::InvalidInput(format!(
                "stream for {abs} ended after {written} of {expected} bytes; file not written"
            )));
        }
        let dst = self.os(path);
        // Keep the mode of the file being replaced.
        if let Ok(old) = tokio::fs::metadata(&dst).await
            && old.is_file()
        {
            let _ = tokio::fs::set_permissions(&tmp, old.permissions()).await;
        }
        tokio::fs::rename(&tmp, &dst).await.map_err(|e| Error::from_io_path("write", &abs, e))?;
        guard.disarm();
        Ok(written)
    }
}

/// `tmp`, which must not exist yet, created for writing.
async fn create_new(tmp: &std::path::Path, shown: &Path) -> Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .await
        .map_err(|e| Error::from_io_path("create", shown, e))
}

/// Chunks written at their offsets into the new file `tmp`; a batch of the
/// chunks that are ready goes to the disk in one blocking call. Returns the
/// bytes written, which must all lie within `size`.
async fn fill_at(tmp: &std::path::Path, data: PartStream, size: u64, shown: &Path) -> Result<u64> {
    use std::os::unix::fs::FileExt;
    let file = std::sync::Arc::new(create_new(tmp, shown).await?.into_std().await);
    let mut batches = data.ready_chunks(WRITE_BATCH);
    let mut written = 0u64;
    while let Some(batch) = batches.next().await {
        let batch = batch.into_iter().collect::<Result<Vec<(u64, Bytes)>>>()?;
        for (at, chunk) in &batch {
            let end = at.checked_add(chunk.len() as u64).filter(|&e| e <= size);
            if end.is_none() {
                return Err(Error::InvalidInput(format!(
                    "{shown}: {} bytes at offset {at} lie beyond the {size} bytes announced",
                    chunk.len()
                )));
            }
            written += chunk.len() as u64;
        }
        let f = file.clone();
        tokio::task::spawn_blocking(move || {
            batch.iter().try_for_each(|(at, chunk)| f.write_all_at(chunk, *at))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| Error::from_io_path("write", shown, e))?;
    }
    Ok(written)
}

/// Removes a temporary file on drop unless disarmed, so a cancelled or failed
/// write leaves nothing behind.
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn kind_of(ft: std::fs::FileType) -> EntryKind {
    if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_dir() {
        EntryKind::Directory
    } else if ft.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

fn attributes_from(path: Path, meta: &std::fs::Metadata, link: Option<String>) -> PathAttributes {
    let mut a = PathAttributes::new(path, kind_of(meta.file_type()), meta.len());
    a.modified = meta.modified().ok();
    a.accessed = meta.accessed().ok();
    a.created = meta.created().ok();
    a.owner = Some(owners::user_name(meta.uid()));
    a.group = Some(owners::group_name(meta.gid()));
    a.permissions = Some(meta.mode() & 0o7777);
    a.link_target = link;
    a
}

async fn describe(path: Path, os: &std::path::Path) -> Result<PathAttributes> {
    let meta =
        tokio::fs::symlink_metadata(os).await.map_err(|e| Error::from_io_path("stat", &path, e))?;
    let link = if meta.file_type().is_symlink() {
        tokio::fs::read_link(os).await.ok().and_then(|t| t.to_str().map(str::to_owned))
    } else {
        None
    };
    Ok(attributes_from(path, &meta, link))
}

/// State of a depth-first listing: open directory handles, deepest last.
struct Walk {
    stack: Vec<(Path, tokio::fs::ReadDir)>,
    next_dir: Option<Path>,
    recursive: bool,
}

impl Walk {
    async fn next(&mut self) -> Option<Result<PathAttributes>> {
        loop {
            if let Some(dir) = self.next_dir.take() {
                match tokio::fs::read_dir(dir.to_string()).await {
                    Ok(rd) => self.stack.push((dir, rd)),
                    Err(e) => return Some(Err(Error::from_io_path("list", &dir, e))),
                }
            }
            let (dir, rd) = self.stack.last_mut()?;
            match rd.next_entry().await {
                Ok(Some(entry)) => {
                    let name = entry.file_name();
                    let Some(name) = name.to_str() else {
                        return Some(Err(Error::InvalidInput(format!(
                            "entry {name:?} in {dir} is not UTF-8; refusing to use it"
                        ))));
                    };
                    let child = match dir.join_entry(name) {
                        Ok(c) => c,
                        Err(e) => return Some(Err(e)),
                    };
                    let attrs = describe(child.clone(), &entry.path()).await;
                    if let Ok(a) = &attrs
                        && self.recursive
                        && a.is_directory()
                    {
                        self.next_dir = Some(child);
                    }
                    // An entry removed between readdir and lstat is simply gone.
                    if matches!(&attrs, Err(e) if e.is_not_found()) {
                        continue;
                    }
                    return Some(attrs);
                }
                Ok(None) => {
                    self.stack.pop();
                }
                Err(e) => {
                    let dir = dir.clone();
                    self.stack.pop();
                    return Some(Err(Error::from_io_path("list", &dir, e)));
                }
            }
        }
    }
}

/// SHA-256/SHA-1/MD5 of a local file, computed on a blocking thread.
pub(crate) async fn hash_file(
    os: PathBuf,
    algorithm: ChecksumAlgorithm,
) -> std::io::Result<String> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut f = std::fs::File::open(&os)?;
        let mut h = crate::copy::Hasher::new(algorithm);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(h.finish())
    })
    .await
    .map_err(std::io::Error::other)?
}

#[async_trait]
impl FileSystem for LocalFileSystem {
    fn adaptor(&self) -> &str {
        "local"
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn capabilities(&self) -> FsCapabilities {
        capabilities()
    }

    fn working_directory(&self) -> &Path {
        &self.cwd
    }

    async fn create_directory(&self, path: &Path) -> Result<()> {
        tokio::fs::create_dir(self.os(path))
            .await
            .map_err(|e| Error::from_io_path("mkdir", self.abs(path), e))
    }

    async fn create_file(&self, path: &Path) -> Result<()> {
        tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.os(path))
            .await
            .map(drop)
            .map_err(|e| Error::from_io_path("create", self.abs(path), e))
    }

    async fn create_symbolic_link(&self, link: &Path, target: &Path) -> Result<()> {
        tokio::fs::symlink(target.to_string(), self.os(link))
            .await
            .map_err(|e| Error::from_io_path("symlink", self.abs(link), e))
    }

    async fn read_symbolic_link(&self, link: &Path) -> Result<Path> {
        let t = tokio::fs::read_link(self.os(link))
            .await
            .map_err(|e| Error::from_io_path("readlink", self.abs(link), e))?;
        let t = t.to_str().ok_or_else(|| {
            Error::InvalidInput(format!("target of link {} is not UTF-8", self.abs(link)))
        })?;
        Path::new(t)
    }

    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        let abs = self.abs(path);
        if abs.is_root() {
            return Err(Error::InvalidInput("refusing to delete /".into()));
        }
        let os = self.os(path);
        let meta = tokio::fs::symlink_metadata(&os)
            .await
            .map_err(|e| Error::from_io_path("delete", &abs, e))?;
        let res = if meta.is_dir() {
            if recursive {
                // remove_dir_all does not follow symbolic links.
                tokio::fs::remove_dir_all(&os).await
            } else {
                tokio::fs::remove_dir(&os).await
            }
        } else {
            tokio::fs::remove_file(&os).await
        };
        res.map_err(|e| {
            if e.kind() == std::io::ErrorKind::DirectoryNotEmpty {
                Error::InvalidInput(format!("directory {abs} is not empty; delete it recursively"))
            } else {
                Error::from_io_path("delete", &abs, e)
            }
        })
    }

    fn list<'a>(&'a self, dir: &'a Path, recursive: bool) -> BoxStream<'a, Result<PathAttributes>> {
        let walk = Walk { stack: Vec::new(), next_dir: Some(self.abs(dir)), recursive };
        stream::unfold(walk, |mut w| async move { w.next().await.map(|item| (item, w)) }).boxed()
    }

    async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        describe(self.abs(path), &self.os(path)).await
    }

    async fn set_permissions(&self, path: &Path, mode: u32) -> Result<()> {
        tokio::fs::set_permissions(self.os(path), std::fs::Permissions::from_mode(mode & 0o7777))
            .await
            .map_err(|e| Error::from_io_path("chmod", self.abs(path), e))
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (src, dst) = (self.os(from), self.os(to));
        let shown = self.abs(to);
        tokio::task::spawn_blocking(move || rename_noreplace(&src, &dst))
            .await
            .map_err(|e| Error::io("rename", std::io::Error::other(e)))?
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Error::path_not_found(self.abs(from))
                } else {
                    Error::from_io_path("rename to", shown, e)
                }
            })
    }

    async fn rename_replacing(&self, from: &Path, to: &Path) -> Result<()> {
        tokio::fs::rename(self.os(from), self.os(to)).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::path_not_found(self.abs(from))
            } else {
                Error::from_io_path("rename to", self.abs(to), e)
            }
        })
    }

    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        let abs = self.abs(path);
        let mut file = tokio::fs::File::open(self.os(path))
            .await
            .map_err(|e| Error::from_io_path("open", &abs, e))?;
        let meta = file.metadata().await.map_err(|e| Error::from_io_path("stat", &abs, e))?;
        if meta.is_dir() {
            return Err(Error::InvalidInput(format!("{abs} is a directory")));
        }
        if range.offset > 0 {
            file.seek(SeekFrom::Start(range.offset))
                .await
                .map_err(|e| Error::from_io_path("seek", &abs, e))?;
        }
        let remaining = range.len.unwrap_or(u64::MAX);
        let state = (file, remaining, abs);
        Ok(stream::try_unfold(state, |(mut file, remaining, abs)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = remaining.min(CHUNK as u64) as usize;
            let mut buf = vec![0u8; want];
            let mut filled = 0;
            // Fill whole chunks so consumers see few, large pieces.
            while filled < want {
                let n = file
                    .read(&mut buf[filled..])
                    .await
                    .map_err(|e| Error::from_io_path("read", &abs, e))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                return Ok(None);
            }
            buf.truncate(filled);
            Ok(Some((Bytes::from(buf), (file, remaining - filled as u64, abs))))
        })
        .boxed())
    }

    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64> {
        self.staged(path, size, |tmp, abs| async move { self.fill(&tmp, data, &abs).await }).await
    }

    async fn write_parts(&self, path: &Path, data: PartStream, size: u64) -> Result<u64> {
        self.staged(
            path,
            Some(size),
            |tmp, abs| async move { fill_at(&tmp, data, size, &abs).await },
        )
        .await
    }

    async fn append(&self, path: &Path, mut data: ByteStream) -> Result<u64> {
        let abs = self.abs(path);
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(self.os(path))
            .await
            .map_err(|e| Error::from_io_path("append to", &abs, e))?;
        let mut out = tokio::io::BufWriter::with_capacity(CHUNK, file);
        let mut written = 0u64;
        let result = async {
            while let Some(chunk) = data.next().await {
                let chunk = chunk?;
                out.write_all(&chunk)
                    .await
                    .map_err(|e| Error::from_io_path("append to", &abs, e))?;
                written += chunk.len() as u64;
            }
            Ok(())
        }
        .await;
        // Whatever arrived stays: a later resume continues from there.
        let flushed = out.flush().await.map_err(|e| Error::from_io_path("append to", &abs, e));
        result.and(flushed).map(|()| written)
    }

    /// Copies with the kernel's help (`copy_file_range`, reflinks where the
    /// file system has them) into a hidden sibling, then renames it onto `to`.
    async fn copy_server_side(&self, from: &Path, to: &Path) -> Result<()> {
        let abs = self.abs(to);
        let tmp = self.os(&temp_sibling(&abs, "part")?);
        let mut guard = TempGuard(Some(tmp.clone()));
        tokio::fs::copy(self.os(from), &tmp).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::path_not_found(self.abs(from))
            } else {
                Error::from_io_path("copy to", &abs, e)
            }
        })?;
        tokio::fs::rename(&tmp, self.os(to))
            .await
            .map_err(|e| Error::from_io_path("copy to", &abs, e))?;
        guard.disarm();
        Ok(())
    }

    async fn checksum(&self, path: &Path, algorithm: ChecksumAlgorithm) -> Result<Option<String>> {
        hash_file(self.os(path), algorithm)
            .await
            .map(Some)
            .map_err(|e| Error::from_io_path("checksum", self.abs(path), e))
    }
}

/// `rename(2)` that fails when `dst` exists, atomically where the kernel and
/// file system support `RENAME_NOREPLACE`.
fn rename_noreplace(src: &std::path::Path, dst: &std::path::Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, src, CWD, dst, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            if std::fs::symlink_metadata(dst).is_ok() {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            std::fs::rename(src, dst)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_locations() {
        let l = |s: &str| LocalFileSystem::open(&s.parse().unwrap());
        assert_eq!(l("file:///tmp/x").unwrap().working_directory().to_string(), "/tmp/x");
        assert_eq!(l("file://localhost/tmp").unwrap().working_directory().to_string(), "/tmp");
        assert!(l("file://elsewhere/tmp").unwrap_err().to_string().contains("sftp://"));
        assert!(l("ssh://h/x").is_err());
        assert!(LocalFileSystem::with_working_directory(Path::new("rel").unwrap()).is_err());
    }
}
