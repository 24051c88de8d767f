//! [`FtpFileSystem`]: the `FileSystem` implementation over a pool of suppaftp sessions.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::BytesMut;
use futures::StreamExt;
use futures::stream::BoxStream;
use hpc_auth::Credential;
use hpc_core::{
    ByteRange, ByteStream, EntryKind, Error, FileSystem, FileSystemInfo, FsCapabilities, Location,
    Path, PathAttributes, Result,
};
use suppaftp::Status;
use tokio::io::AsyncReadExt;

use super::config::FtpConfig;
use super::error::{missing_parent, refused, reply_code};
use super::pool::Pool;

/// Read size of one chunk of a download.
const CHUNK: usize = 256 * 1024;

/// What the adaptor can do (Xenon's FTP row; permissions are also set, with
/// `SITE CHMOD`, and ranges read with `REST`).
pub fn capabilities() -> FsCapabilities {
    let mut c = FsCapabilities::default();
    c.read_symbolic_link = true;
    c.append = true;
    c.attributes_permissions = true;
    c.set_permissions = true;
    c.rename = true;
    c.read_range = true;
    c.credentials = super::config::CREDENTIALS;
    c
}

/// An FTP (or explicit-TLS FTPS) server as a file system.
pub struct FtpFileSystem {
    pub(super) pool: Arc<Pool>,
    info: FileSystemInfo,
}

impl std::fmt::Debug for FtpFileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpFileSystem")
            .field("location", &self.info.location)
            .finish_non_exhaustive()
    }
}

impl FtpFileSystem {
    /// Log in to `ftp://user@host[:port]/path` (or `ftps://`) and learn what
    /// the server offers.
    pub async fn open(location: &Location, credential: Credential) -> Result<Self> {
        let config = FtpConfig::from_location(location, &credential)?;
        let root = config.root.clone();
        let pool = Pool::new(config)?;
        let mut c = pool.get().await?;
        let cwd = match root {
            Some(r) => r,
            None => Path::new(&c.run("PWD", |c| Box::pin(c.pwd())).await?)?,
        };
        drop(c);
        let info = FileSystemInfo::new("ftp", location.to_string(), capabilities(), cwd);
        let fs = FtpFileSystem { pool, info };
        let root = fs.info.working_directory.clone();
        if !root.is_root() && !fs.attributes(&root).await?.is_directory() {
            return Err(Error::InvalidLocation {
                location: fs.info.location.clone(),
                reason: format!("{root} is not a directory"),
            });
        }
        Ok(fs)
    }

    fn abs(&self, p: &Path) -> Path {
        p.resolve(&self.info.working_directory)
    }

    /// One directory's entries, collected (for a recursive delete; the
    /// listing's `max_entries` bounds it).
    async fn list_vec(&self, dir: &Path) -> Result<Vec<PathAttributes>> {
        self.list_one(dir.clone()).collect::<Vec<_>>().await.into_iter().collect()
    }

    async fn simple(&self, what: &str, op: SimpleOp) -> Result<()> {
        simple_on(&self.pool, what, op).await
    }

    /// Rename without the existence check of [`FileSystem::rename`].
    async fn rename_raw(&self, from: &Path, to: &Path) -> Result<()> {
        match self.simple("RNFR/RNTO", SimpleOp::Rename(from.to_string(), to.to_string())).await {
            Ok(()) => Ok(()),
            Err(e) if reply_code(&e) == Some(550) || reply_code(&e) == Some(553) => {
                if !self.exists(from).await? {
                    Err(Error::path_not_found(from))
                } else if !self.exists(&to.parent().unwrap_or_else(Path::root)).await? {
                    Err(missing_parent(to))
                } else {
                    Err(refused(format!("rename {from} to {to}"), e))
                }
            }
            Err(e) => Err(e),
        }
    }
}

enum SimpleOp {
    Mkd(String),
    Rmd(String),
    Dele(String),
    Rename(String, String),
    Chmod(u32, String),
}

#[async_trait]
impl FileSystem for FtpFileSystem {
    fn info(&self) -> &FileSystemInfo {
        &self.info
    }

    async fn create_directory(&self, path: &Path) -> Result<()> {
        let path = self.abs(path);
        match self.simple("MKD", SimpleOp::Mkd(path.to_string())).await {
            Ok(()) => Ok(()),
            Err(e) if matches!(reply_code(&e), Some(550 | 553 | 521)) => {
                if self.exists(&path).await? {
                    Err(Error::AlreadyExists { path: path.to_string() })
                } else if !self.exists(&path.parent().unwrap_or_else(Path::root)).await? {
                    Err(missing_parent(&path))
                } else {
                    Err(refused(format!("create directory {path}"), e))
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn create_file(&self, path: &Path) -> Result<()> {
        let path = self.abs(path);
        if self.exists(&path).await? {
            return Err(Error::AlreadyExists { path: path.to_string() });
        }
        self.upload(&path, futures::stream::empty().boxed(), Some(0), false).await.map(|_| ())
    }

    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        let path = self.abs(path);
        let a = self.attributes(&path).await?;
        if !a.is_directory() {
            return self
                .simple("DELE", SimpleOp::Dele(path.to_string()))
                .await
                .map_err(|e| refused(format!("delete {path}"), e));
        }
        if !recursive {
            return match self.simple("RMD", SimpleOp::Rmd(path.to_string())).await {
                Ok(()) => Ok(()),
                Err(e) if self.list_one(path.clone()).next().await.is_some() => {
                    let _ = e;
                    Err(Error::InvalidInput(format!(
                        "directory {path} is not empty (delete it recursively)"
                    )))
                }
                Err(e) => Err(refused(format!("delete {path}"), e)),
            };
        }
        // Depth first, without following links: children, then the directory.
        let mut stack = vec![(path, false)];
        while let Some((dir, listed)) = stack.pop() {
            if listed {
                self.simple("RMD", SimpleOp::Rmd(dir.to_string()))
                    .await
                    .map_err(|e| refused(format!("delete {dir}"), e))?;
                continue;
            }
            stack.push((dir.clone(), true));
            for child in self.list_vec(&dir).await? {
                if child.is_directory() {
                    stack.push((child.path, false));
                } else {
                    self.simple("DELE", SimpleOp::Dele(child.path.to_string()))
                        .await
                        .map_err(|e| refused(format!("delete {}", child.path), e))?;
                }
            }
        }
        Ok(())
    }

    fn list<'a>(&'a self, dir: &'a Path, recursive: bool) -> BoxStream<'a, Result<PathAttributes>> {
        crate::remote::walk(self.abs(dir), recursive, move |d| self.list_one(d))
    }

    async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        self.stat(&self.abs(path)).await
    }

    async fn set_permissions(&self, path: &Path, mode: u32) -> Result<()> {
        let path = self.abs(path);
        match self.simple("SITE CHMOD", SimpleOp::Chmod(mode & 0o7777, path.to_string())).await {
            Ok(()) => Ok(()),
            Err(e) if !self.exists(&path).await? => {
                let _ = e;
                Err(Error::path_not_found(&path))
            }
            Err(e) => Err(refused(format!("chmod {path}"), e)),
        }
    }

    async fn read_symbolic_link(&self, link: &Path) -> Result<Path> {
        let a = self.attributes(link).await?;
        match (a.kind, a.link_target) {
            (EntryKind::Symlink, Some(t)) => Path::new(&t),
            _ => Err(Error::InvalidInput(format!("{} is not a symbolic link", a.path))),
        }
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        if from == to {
            return self.attributes(&from).await.map(|_| ());
        }
        // RNTO replaces an existing file on Unix servers; the trait does not.
        if self.exists(&to).await? {
            return Err(Error::AlreadyExists { path: to.to_string() });
        }
        self.rename_raw(&from, &to).await
    }

    async fn rename_replacing(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        self.rename_raw(&from, &to).await
    }

    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        let path = self.abs(path);
        if range.len == Some(0) {
            return Ok(futures::stream::empty().boxed());
        }
        let mut c = self.pool.get().await?;
        let offset = usize::try_from(range.offset)
            .map_err(|_| Error::InvalidInput("offset too large".into()))?;
        let p = path.to_string();
        let transfer = c
            .run_data("RETR", move |c| {
                let p = p.clone();
                Box::pin(async move {
                    c.resume_transfer(offset).await?;
                    c.retr_as_stream(&p).await
                })
            })
            .await;
        let transfer = match transfer {
            Ok(t) => t,
            Err(e) if reply_code(&e) == Some(550) => {
                drop(c);
                return Err(match self.attributes(&path).await {
                    Ok(a) if a.is_directory() => {
                        Error::InvalidInput(format!("{path} is a directory, not a file"))
                    }
                    Ok(_) => refused(format!("read {path}"), e),
                    Err(e) => e,
                });
            }
            // vsftpd refuses REST beyond the end; that range is empty.
            Err(e) if range.offset > 0 && matches!(reply_code(&e), Some(350 | 450 | 451 | 554)) => {
                let _ = e;
                return Ok(futures::stream::empty().boxed());
            }
            Err(e) => return Err(e),
        };
        c.reusable = false;
        let host = self.pool.host();
        let limit = self.pool.config().timeouts.idle;
        let state = (Some((c, transfer)), range.len);
        Ok(futures::stream::unfold(state, move |(conn, left)| {
            let host = host.clone();
            let path = path.clone();
            async move {
                let (mut c, mut t) = conn?;
                if left == Some(0) {
                    // Range done: drop the transfer and this connection.
                    return None;
                }
                let want = left.map_or(CHUNK, |l| (l as usize).min(CHUNK));
                let mut buf = BytesMut::with_capacity(want);
                match tokio::time::timeout(limit, (&mut t).take(want as u64).read_buf(&mut buf))
                    .await
                {
                    Err(_) => Some((
                        Err(Error::Timeout { what: format!("reading {path}"), after: limit }),
                        (None, Some(0)),
                    )),
                    Ok(Err(e)) => Some((
                        Err(Error::connection_lost(host, e).during(format_args!("RETR {path}"))),
                        (None, Some(0)),
                    )),
                    Ok(Ok(0)) => {
                        // End of file: the server confirms with 226, then the
                        // connection can serve again.
                        match tokio::time::timeout(limit, t.finish()).await {
                            Ok(Ok(())) => {
                                c.reusable = true;
                                None
                            }
                            Ok(Err(e)) => Some((
                                Err(super::error::ftp_error(e, "RETR", &host)),
                                (None, Some(0)),
                            )),
                            Err(_) => Some((
                                Err(Error::Timeout {
                                    what: format!("RETR {path}: completion reply"),
                                    after: limit,
                                }),
                                (None, Some(0)),
                            )),
                        }
                    }
                    Ok(Ok(n)) => {
                        let left = left.map(|l| l - n as u64);
                        Some((Ok(buf.freeze()), (Some((c, t)), left)))
                    }
                }
            }
        })
        .boxed())
    }

    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64> {
        let path = self.abs(path);
        let part = crate::temp_sibling(&path, "part")?;
        // Removes the part file should this future be dropped half-way.
        let mut guard = {
            let (pool, part) = (self.pool.clone(), part.to_string());
            hpc_core::cleanup::OnDrop::new(async move {
                let _ = simple_on(&pool, "DELE", SimpleOp::Dele(part)).await;
            })
        };
        let result = async {
            let n = self.upload(&part, data, size, false).await?;
            if self.attributes(&path).await.is_ok_and(|a| a.is_directory()) {
                return Err(Error::AlreadyExists { path: format!("{path} (a directory)") });
            }
            self.rename_raw(&part, &path).await?;
            Ok(n)
        }
        .await;
        if result.is_err() {
            // The part file is hidden; removing it is a courtesy.
            guard.run_now().await;
        }
        guard.disarm();
        result
    }

    async fn append(&self, path: &Path, data: ByteStream) -> Result<u64> {
        let path = self.abs(path);
        let a = self.attributes(&path).await?;
        if a.is_directory() {
            return Err(Error::InvalidInput(format!("{path} is a directory, not a file")));
        }
        self.upload(&path, data, None, true).await
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// One command without data on a pooled connection (also from a cleanup
/// task, which holds the pool and not the file system).
async fn simple_on(pool: &Arc<Pool>, what: &str, op: SimpleOp) -> Result<()> {
    let mut c = pool.get().await?;
    let what = what.to_owned();
    c.run(&what, move |c| {
        Box::pin(async move {
            match op {
                SimpleOp::Mkd(p) => c.mkdir(&p).await,
                SimpleOp::Rmd(p) => c.rmdir(&p).await,
                SimpleOp::Dele(p) => c.rm(&p).await,
                SimpleOp::Rename(a, b) => c.rename(&a, &b).await,
                SimpleOp::Chmod(mode, p) => c
                    .custom_command(format!("SITE CHMOD {mode:o} {p}"), &[Status::CommandOk])
                    .await
                    .map(|_| ()),
            }
        })
    })
    .await
}
