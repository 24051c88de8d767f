//! [`S3FileSystem`]: the `FileSystem` implementation on one bucket (or a
//! prefix of it). The requests live in the role files: `client.rs` (signed
//! calls on one key), `lister.rs`, `reader.rs` with `parts.rs`, `writer.rs`
//! and `copy.rs`.

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::{BoxStream, FuturesUnordered};
use hpc_auth::Credential;
use hpc_core::{
    ByteRange, ByteStream, ChecksumAlgorithm, EntryKind, Error, FileSystem, FileSystemInfo,
    FsCapabilities, Location, PartStream, Path, PathAttributes, PendingUpload, Result, tag_offsets,
};
use hpc_http::HttpClient;
use rusty_s3::{Bucket, Credentials, UrlStyle};

use super::client::{S3Client, dir_prefix, key};
use super::config::{AddressingStyle, DEFAULT_DOWNLOAD_CONCURRENCY, S3Config};
use super::copy::{CopyPlan, copy_file, copy_tree};
use super::lister::list;
use super::parts::{ordered, split, unordered};
use super::reader::{Download, start_read};
use super::writer::{PartPlan, upload};

/// Bytes of parts an in-order read ([`FileSystem::read`]) may hold while an
/// earlier part is still arriving; it runs fewer parts at once when
/// `download_concurrency` parts would need more.
const ORDERED_READ_MEMORY: u64 = 32 << 20;

/// What the adaptor can do (Xenon's S3 row; we add server-side copy, ranges
/// and parallel ranged reads, and buffer parts so the size need not be known
/// in advance).
pub fn capabilities() -> FsCapabilities {
    let mut c = FsCapabilities::default();
    c.copy_server_side = true;
    c.is_connectionless = true;
    c.read_range = true;
    c.read_parts = DEFAULT_DOWNLOAD_CONCURRENCY;
    c.credentials = super::config::CREDENTIALS;
    c
}

/// An S3 bucket (or a prefix of it) as a file system.
pub struct S3FileSystem {
    client: S3Client,
    info: FileSystemInfo,
    upload: PartPlan,
    copy: CopyPlan,
    download_part_size: u64,
    download_concurrency: usize,
}

impl std::fmt::Debug for S3FileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3FileSystem")
            .field("location", &self.info.location)
            .finish_non_exhaustive()
    }
}

/// The MD5 in an ETag, where it is one (single-part uploads without SSE-KMS).
fn etag_md5(etag: &str) -> Option<String> {
    let e = etag.trim().trim_matches('"');
    (e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit())).then(|| e.to_ascii_lowercase())
}

impl S3FileSystem {
    /// Open `s3://bucket/prefix?endpoint=...` and check the bucket answers.
    pub async fn open(location: &Location, credential: Credential) -> Result<Self> {
        let fs = S3FileSystem::new(
            S3Config::from_location(location, &credential)?,
            location.to_string(),
        )?;
        let cwd = fs.info.working_directory.clone();
        fs.client.list_page(&dir_prefix(&cwd), true, None, Some(1), &cwd).await?;
        Ok(fs)
    }

    /// A file system from a config, without contacting the server.
    pub fn new(config: S3Config, location: String) -> Result<Self> {
        let endpoint = config.endpoint.parse().map_err(|e| Error::InvalidLocation {
            location: location.clone(),
            reason: format!("endpoint {:?}: {e}", config.endpoint),
        })?;
        let style = match config.style {
            AddressingStyle::Path => UrlStyle::Path,
            AddressingStyle::VirtualHost => UrlStyle::VirtualHost,
        };
        let bucket = Bucket::new(endpoint, style, config.bucket.clone(), config.region.clone())
            .map_err(|e| Error::InvalidLocation {
                location: location.clone(),
                reason: format!("bucket {:?} at {}: {e}", config.bucket, config.endpoint),
            })?;
        let creds = config.keys.as_ref().map(|k| match &k.session_token {
            Some(t) => Credentials::new_with_token(
                k.access_key.clone(),
                k.secret_key.expose().to_owned(),
                t.expose().to_owned(),
            ),
            None => Credentials::new(k.access_key.clone(), k.secret_key.expose().to_owned()),
        });
        let idle = config.concurrency.max(config.download_concurrency) + 4;
        let mut builder = HttpClient::builder()
            .service("s3")
            .max_idle_per_host(idle)
            .timeouts(config.timeouts.into());
        if let Some(ca) = &config.ca_file {
            builder = builder.add_ca_file(ca);
        }
        let client = S3Client {
            http: builder.build()?,
            bucket,
            creds,
            access_key: config.keys.map(|k| k.access_key).unwrap_or_else(|| "anonymous".into()),
            metadata_limit: config.timeouts.metadata,
        };
        // This bucket's reads run as many parts at once as it was told.
        let mut caps = capabilities();
        caps.read_parts = config.download_concurrency;
        Ok(S3FileSystem {
            client,
            info: FileSystemInfo::new("s3", location, caps, config.root),
            upload: PartPlan { part_size: config.part_size, concurrency: config.concurrency },
            copy: CopyPlan { part_size: config.copy_part_size, concurrency: config.concurrency },
            download_part_size: config.download_part_size as u64,
            download_concurrency: config.download_concurrency,
        })
    }

    fn abs(&self, p: &Path) -> Path {
        p.resolve(&self.info.working_directory)
    }

    /// `AlreadyExists` unless nothing (no object, no key below) is at `path`.
    /// The directory check comes first, for the same reason as in `delete`.
    async fn check_free(&self, path: &Path) -> Result<()> {
        if path.is_root()
            || self.client.dir_exists(path).await?
            || self.client.head(path).await?.is_some()
        {
            return Err(Error::AlreadyExists { path: path.to_string() });
        }
        Ok(())
    }
}

#[async_trait]
impl FileSystem for S3FileSystem {
    fn info(&self) -> &FileSystemInfo {
        &self.info
    }

    /// A zero-byte `dir/` marker. Its parent is not asked for: in an object
    /// store a prefix exists as soon as anything lies below it, and some
    /// servers (s3s-fs) keep no marker a listing would show, so a "missing
    /// parent" must never stop a copy into a new prefix.
    async fn create_directory(&self, path: &Path) -> Result<()> {
        let path = self.abs(path);
        self.check_free(&path).await?;
        self.client.put_marker(&dir_prefix(&path), &path).await
    }

    async fn create_file(&self, path: &Path) -> Result<()> {
        let path = self.abs(path);
        self.check_free(&path).await?;
        self.client.put_bytes(&path, Bytes::new(), &[]).await.map(|_| ())
    }

    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        let path = self.abs(path);
        if path.is_root() {
            return Err(Error::InvalidInput("refusing to delete the whole bucket".into()));
        }
        let client = &self.client;
        // Keys below first: servers that keep objects as files (s3s-fs,
        // MinIO) fail a HEAD on a directory instead of answering 404.
        let prefix = dir_prefix(&path);
        let first = client.list_page(&prefix, false, None, Some(2), &path).await?;
        if first.contents.is_empty() {
            if client.head(&path).await?.is_some() {
                return client.delete_key(&key(&path), &path).await;
            }
            return Err(Error::path_not_found(&path));
        }
        if !recursive && first.contents.iter().any(|o| o.key != prefix) {
            return Err(Error::InvalidInput(format!(
                "directory {path} is not empty (delete it recursively)"
            )));
        }
        let mut token: Option<String> = None;
        loop {
            let page = client.list_page(&prefix, false, token.as_deref(), None, &path).await?;
            let mut deletes: FuturesUnordered<_> =
                page.contents.iter().map(|o| client.delete_key(&o.key, &path)).collect();
            while let Some(r) = deletes.next().await {
                r?;
            }
            token = page.next_continuation_token.clone();
            if token.is_none() {
                return Ok(());
            }
        }
    }

    fn list<'a>(&'a self, dir: &'a Path, recursive: bool) -> BoxStream<'a, Result<PathAttributes>> {
        list(&self.client, self.abs(dir), recursive)
    }

    async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        let path = self.abs(path);
        // Servers that keep objects as files (s3s-fs, MinIO) fail a HEAD of a
        // key that is a directory on their disk: the listing decides then.
        let head = self.client.head(&path).await;
        if let Ok(Some((a, _))) = head {
            return Ok(a);
        }
        if self.client.dir_exists(&path).await? {
            return Ok(PathAttributes::new(path, EntryKind::Directory, 0));
        }
        head.and(Err(Error::path_not_found(&path)))
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let _ = (from, to);
        Err(Error::unsupported("s3", "rename (S3 has no atomic rename; copy and delete instead)"))
    }

    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        let download =
            start_read(&self.client, self.abs(path), range, self.download_part_size).await?;
        Ok(match download {
            Download::Whole(data) => data,
            Download::Parts { first, first_range, rest, fetch, what } => {
                let rest = split(rest, self.download_part_size);
                // In order, early parts wait in memory: keep that bounded.
                let budget = (ORDERED_READ_MEMORY / self.download_part_size).max(1) as usize;
                let concurrency = self.download_concurrency.min(budget);
                ordered(first, first_range, rest, concurrency, fetch, what)
            }
        })
    }

    async fn read_parts(&self, path: &Path, range: ByteRange) -> Result<PartStream> {
        let download =
            start_read(&self.client, self.abs(path), range, self.download_part_size).await?;
        Ok(match download {
            Download::Whole(data) => tag_offsets(data, range.offset),
            Download::Parts { first, first_range, rest, fetch, what } => {
                let rest = split(rest, self.download_part_size);
                unordered(first, first_range, rest, self.download_concurrency, fetch, what)
            }
        })
    }

    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64> {
        let path = self.abs(path);
        if path.is_root() {
            return Err(Error::InvalidInput("cannot write to the bucket root".into()));
        }
        upload(&self.client, &path, data, size, self.upload).await
    }

    async fn copy_server_side(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        match self.client.head(&from).await? {
            Some((attrs, etag)) => {
                copy_file(&self.client, &from, &to, attrs.size, etag.as_deref(), self.copy).await
            }
            // A directory: copy every object below it.
            None => copy_tree(&self.client, &from, &to, self.copy).await,
        }
    }

    async fn pending_uploads(&self, dir: &Path, recursive: bool) -> Result<Vec<PendingUpload>> {
        self.client.pending_uploads(&self.abs(dir), recursive).await
    }

    async fn abort_upload(&self, upload: &PendingUpload) -> Result<()> {
        self.client.abort_upload(upload).await
    }

    async fn checksum(&self, path: &Path, algorithm: ChecksumAlgorithm) -> Result<Option<String>> {
        let path = self.abs(path);
        if algorithm != ChecksumAlgorithm::Md5 {
            return Ok(None);
        }
        match self.client.head(&path).await? {
            // Single-part uploads without SSE-KMS: the ETag is the MD5.
            Some((_, etag)) => Ok(etag.as_deref().and_then(etag_md5)),
            None => Err(Error::path_not_found(&path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_etags() {
        assert_eq!(key(&Path::new("/a/b c").unwrap()), "a/b c");
        assert_eq!(dir_prefix(&Path::root()), "");
        assert_eq!(dir_prefix(&Path::new("/d").unwrap()), "d/");
        assert_eq!(
            etag_md5("\"900150983CD24FB0D6963F7D28E17F72\"").unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(etag_md5("\"d41d8cd98f00b204e9800998ecf8427e-3\""), None);
    }
}
