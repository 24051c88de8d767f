//! [`UnicoreFileSystem`]: a UNICORE storage (or a job's working directory) as
//! an hpc-core `FileSystem`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use futures::stream::BoxStream;
use hpc_auth::CredentialMap;
use hpc_core::{
    ByteRange, ByteStream, EntryKind, Error, FileSystem, FileSystemInfo, FsCapabilities, Location,
    Path, PathAttributes, Result,
};

use super::config::UnicoreConfig;
use crate::storage::{FileInfo, Storage, text_to_mode};

/// Capabilities of a UNICORE storage.
pub fn capabilities() -> FsCapabilities {
    let mut c = FsCapabilities::default();
    c.copy_server_side = true;
    c.attributes_permissions = true;
    c.set_permissions = true;
    c.rename = true;
    c.read_range = true;
    c.is_connectionless = true;
    c.credentials = crate::scheduler::CREDENTIALS;
    c
}

/// A UNICORE storage as a [`FileSystem`].
#[derive(Debug, Clone)]
pub struct UnicoreFileSystem {
    storage: Storage,
    info: FileSystemInfo,
}

impl UnicoreFileSystem {
    /// Opens the storage of `loc` (`unicore://HOST:PORT/SITE/storages/ID[/DIR]`
    /// or `.../jobs/JOB`); the directory after the storage is the working directory.
    pub async fn open(loc: &Location, creds: &CredentialMap) -> Result<Self> {
        let config = UnicoreConfig::from_location(loc, creds)?;
        let transport = config.transport()?;
        let url = format!("{}/storages/{}", config.site_url, config.storage_id()?);
        let storage = Storage::new(&transport, &url);
        // Fails early on a wrong credential or an unknown storage.
        storage.properties().await?;
        let cwd = Path::new(config.path.as_deref().unwrap_or("/"))?;
        let info = FileSystemInfo::new("unicore", config.location, capabilities(), cwd);
        Ok(UnicoreFileSystem { storage, info })
    }

    /// The storage underneath.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    fn text(&self, path: &Path) -> String {
        path.resolve(&self.info.working_directory).to_string()
    }

    async fn file_info(&self, path: &Path) -> Result<Option<FileInfo>> {
        match self.storage.stat(&self.text(path)).await {
            Ok(i) => Ok(Some(i)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The parent must be an existing directory (UNICORE would create it).
    async fn need_parent(&self, path: &Path) -> Result<()> {
        let Some(parent) = path.resolve(&self.info.working_directory).parent() else {
            return Ok(());
        };
        if parent.is_root() {
            return Ok(());
        }
        match self.file_info(&parent).await? {
            Some(i) if i.is_dir => Ok(()),
            Some(_) => Err(Error::InvalidInput(format!("{parent} is not a directory"))),
            None => Err(Error::path_not_found(parent)),
        }
    }

    fn attributes_of(&self, info: &FileInfo) -> Result<PathAttributes> {
        let kind = if info.is_dir { EntryKind::Directory } else { EntryKind::File };
        let mut a = PathAttributes::new(Path::new(&info.path)?, kind, info.size);
        a.permissions = info.permissions.as_deref().and_then(text_to_mode);
        a.owner = info.owner.clone();
        a.group = info.group.clone();
        a.modified = info.last_accessed.as_deref().and_then(parse_date);
        Ok(a)
    }

    async fn collect(&self, dir: &Path, recursive: bool) -> Result<Vec<PathAttributes>> {
        let mut out = Vec::new();
        let mut todo = vec![dir.resolve(&self.info.working_directory)];
        while let Some(d) = todo.pop() {
            let entries = match self.storage.list(&d.to_string()).await {
                Err(e) if e.is_not_found() => return Err(Error::path_not_found(&d)),
                other => other?,
            };
            for e in entries {
                let a = self.attributes_of(&e)?;
                if recursive && e.is_dir {
                    todo.push(a.path.clone());
                }
                out.push(a);
            }
        }
        Ok(out)
    }
}

/// `2026-12-06T09:30:00+0000` as a time (UTC offsets honoured).
pub(crate) fn parse_date(text: &str) -> Option<std::time::SystemTime> {
    let (date, rest) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<u32>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let time = rest.get(..8)?;
    let mut t = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    let local = hpc_core::time::utc(i64::from(y), mo, da, h, mi, s)?;
    // `+hhmm` / `-hhmm`; the server's bytes, so sliced only where they are ASCII digits.
    let offset = rest.get(8..).filter(|o| o.len() == 5).and_then(|o| {
        let (sign, digits) = o.split_at_checked(1)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs = u64::from(digits[..2].parse::<u32>().ok()? * 3600)
            + u64::from(digits[2..].parse::<u32>().ok()? * 60);
        Some((sign == "-", std::time::Duration::from_secs(secs)))
    });
    match offset {
        None => Some(local),
        // East of UTC: local time is ahead, so UTC is earlier.
        Some((false, by)) => local.checked_sub(by),
        Some((true, by)) => local.checked_add(by),
    }
}

#[async_trait::async_trait]
impl FileSystem for UnicoreFileSystem {
    fn info(&self) -> &FileSystemInfo {
        &self.info
    }

    async fn create_directory(&self, path: &Path) -> Result<()> {
        if self.file_info(path).await?.is_some() {
            return Err(Error::AlreadyExists { path: self.text(path) });
        }
        self.need_parent(path).await?;
        self.storage.mkdir(&self.text(path)).await
    }

    async fn create_file(&self, path: &Path) -> Result<()> {
        if self.file_info(path).await?.is_some() {
            return Err(Error::AlreadyExists { path: self.text(path) });
        }
        self.need_parent(path).await?;
        self.storage.put_bytes(&self.text(path), bytes::Bytes::new()).await
    }

    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        let info =
            self.file_info(path).await?.ok_or_else(|| Error::path_not_found(self.text(path)))?;
        if info.is_dir && !recursive && !self.storage.list(&self.text(path)).await?.is_empty() {
            return Err(Error::InvalidInput(format!("directory {} is not empty", self.text(path))));
        }
        self.storage.rm(&self.text(path)).await
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
        let info =
            self.file_info(path).await?.ok_or_else(|| Error::path_not_found(self.text(path)))?;
        self.attributes_of(&info)
    }

    async fn set_permissions(&self, path: &Path, mode: u32) -> Result<()> {
        if self.file_info(path).await?.is_none() {
            return Err(Error::path_not_found(self.text(path)));
        }
        self.storage.chmod(&self.text(path), &crate::storage::mode_to_text(mode & 0o777)).await
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        if self.file_info(from).await?.is_none() {
            return Err(Error::path_not_found(self.text(from)));
        }
        if self.file_info(to).await?.is_some() {
            return Err(Error::AlreadyExists { path: self.text(to) });
        }
        self.need_parent(to).await?;
        self.storage.rename(&self.text(from), &self.text(to)).await
    }

    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        if range.len == Some(0) {
            return Ok(futures::stream::empty().boxed());
        }
        match self.storage.read(&self.text(path), range.offset, range.len).await {
            Err(Error::Remote { status: Some(416), .. }) => {
                // A range that starts at or past the end is empty, not an error.
                let info = self
                    .file_info(path)
                    .await?
                    .ok_or_else(|| Error::path_not_found(self.text(path)))?;
                if range.offset >= info.size {
                    Ok(futures::stream::empty().boxed())
                } else {
                    Err(Error::InvalidInput(format!(
                        "cannot read {} from byte {}",
                        self.text(path),
                        range.offset
                    )))
                }
            }
            Err(Error::Remote { status: Some(406), .. }) => {
                Err(Error::InvalidInput(format!("{} is a directory", self.text(path))))
            }
            other => other,
        }
    }

    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64> {
        self.need_parent(path).await?;
        let counted = Arc::new(AtomicU64::new(0));
        let c = counted.clone();
        let data = data
            .inspect(move |chunk| {
                if let Ok(chunk) = chunk {
                    c.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            })
            .boxed();
        // The server writes beside the target and renames only a complete body,
        // so a broken stream leaves the old file (or none) in place.
        self.storage.upload(&self.text(path), data, size).await?;
        Ok(counted.load(Ordering::Relaxed))
    }

    async fn copy_server_side(&self, from: &Path, to: &Path) -> Result<()> {
        if self.file_info(from).await?.is_none() {
            return Err(Error::path_not_found(self.text(from)));
        }
        self.storage.copy(&self.text(from), &self.text(to)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicore_dates() {
        let t = parse_date("1970-01-02T00:00:10+0000").unwrap();
        assert_eq!(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), 86410);
        let t = parse_date("1970-01-02T01:00:10+0100").unwrap();
        assert_eq!(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), 86410);
        assert!(parse_date("yesterday").is_none());
        let t = parse_date("1970-01-01T23:00:10-0100").unwrap();
        assert_eq!(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), 86410);
    }

    /// Found by the `unicore_json` fuzz target: a multi-byte character in the
    /// offset was sliced through, huge fields overflowed the arithmetic.
    #[test]
    fn hostile_dates_are_none_not_a_panic() {
        assert!(parse_date("2026-01-01T00:00:00+1\u{e9}2").is_some());
        assert!(parse_date("99999999999999-01-01T00:00:00").is_none());
        assert!(parse_date("2026-01-01T99:99:99").is_none());
        assert!(parse_date("2026-02-31T00:00:00").is_none());
        assert!(parse_date("2026-01-01T00:00:00+9999").is_some());
    }
}
