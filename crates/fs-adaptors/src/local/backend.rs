//! [`LocalFileSystem`]: the `FileSystem` implementation on this host's
//! file system (tokio's, plus `renameat2` and `pwrite` where std has none).

use std::io::SeekFrom;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use hpc_core::{
    ByteRange, ByteStream, ChecksumAlgorithm, Error, FileSystem, FileSystemInfo, FsCapabilities,
    Location, PartStream, Path, PathAttributes, Result,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::config::LocalConfig;
use super::lister::{describe, list};
use super::writer::{CHUNK, TempGuard, fill, fill_at, staged};
use crate::temp_sibling;

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
    info: FileSystemInfo,
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
        let location = format!("file://{cwd}");
        Ok(LocalFileSystem { info: FileSystemInfo::new("local", location, capabilities(), cwd) })
    }

    /// Open `file:///dir` or `local:///dir` (no host; the path becomes the
    /// working directory, the current directory when absent).
    pub fn open(location: &Location) -> Result<Self> {
        match LocalConfig::from_location(location)?.working_directory {
            Some(cwd) => Self::with_working_directory(cwd),
            None => Self::new(),
        }
    }

    fn abs(&self, path: &Path) -> Path {
        path.resolve(&self.info.working_directory)
    }

    fn os(&self, path: &Path) -> PathBuf {
        PathBuf::from(self.abs(path).to_string())
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
    fn info(&self) -> &FileSystemInfo {
        &self.info
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
        list(self.abs(dir), recursive)
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
        let abs = self.abs(path);
        let shown = &abs;
        staged(&abs, size, |tmp| async move { fill(&tmp, data, shown).await }).await
    }

    async fn write_parts(&self, path: &Path, data: PartStream, size: u64) -> Result<u64> {
        let abs = self.abs(path);
        let shown = &abs;
        staged(&abs, Some(size), |tmp| async move { fill_at(&tmp, data, size, shown).await }).await
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
        let mut guard = TempGuard::new(tmp.clone());
        let from_os = self.os(from);
        guard.file().blocking(move |tmp| std::fs::copy(from_os, tmp)).await.map_err(|e| {
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
        assert_eq!(l("file:///tmp/x").unwrap().info().working_directory.to_string(), "/tmp/x");
        assert_eq!(l("file://localhost/tmp").unwrap().info().working_directory.to_string(), "/tmp");
        assert!(l("file://elsewhere/tmp").unwrap_err().to_string().contains("sftp://"));
        assert!(l("ssh://h/x").is_err());
        assert!(LocalFileSystem::with_working_directory(Path::new("rel").unwrap()).is_err());
    }
}
