//! [`WebdavFileSystem`]: the `FileSystem` implementation over hpc-http.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hpc_auth::Credential;
use hpc_core::{
    ByteRange, ByteStream, Error, FileSystem, FileSystemInfo, FsCapabilities, Location, Path,
    PathAttributes, Result,
};
use hpc_http::{Body, HttpClient, Request, Response, StatusCode};

use super::config::WebdavConfig;
use super::error::{MAX_PROPFIND_BYTES, Op, status_error, too_big};
use super::lister::{attrs, children};
use super::parse::{self, DavEntry};

/// What the adaptor can do (Xenon's WebDAV row, plus server-side COPY and ranges).
pub fn capabilities() -> FsCapabilities {
    let mut c = FsCapabilities::default();
    c.copy_server_side = true;
    c.is_connectionless = true;
    c.rename = true;
    c.read_range = true;
    c.credentials = hpc_auth::HTTP_CREDENTIAL_KINDS;
    c
}

/// A WebDAV server as a file system.
pub struct WebdavFileSystem {
    client: HttpClient,
    /// The whole of one metadata request (PROPFIND, MKCOL, DELETE, MOVE).
    metadata_limit: std::time::Duration,
    endpoint: String,
    info: FileSystemInfo,
}

impl std::fmt::Debug for WebdavFileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebdavFileSystem")
            .field("location", &self.info.location)
            .finish_non_exhaustive()
    }
}

impl WebdavFileSystem {
    /// Open `webdav://host[:port]/path` (or `webdavs://`) and check that the
    /// working directory is reachable with `credential`.
    pub async fn open(location: &Location, credential: Credential) -> Result<Self> {
        let fs = WebdavFileSystem::new(
            WebdavConfig::from_location(location, credential)?,
            location.to_string(),
        )?;
        let root = fs.info.working_directory.clone();
        let attrs = fs.attributes(&root).await?;
        if !attrs.is_directory() {
            return Err(Error::InvalidLocation {
                location: fs.info.location.clone(),
                reason: format!("{root} is not a collection"),
            });
        }
        Ok(fs)
    }

    /// A file system from a config, without contacting the server.
    pub fn new(config: WebdavConfig, location: String) -> Result<Self> {
        let mut builder = HttpClient::builder()
            .service("webdav")
            .credential(&config.credential)
            .retry(config.retry)
            .timeouts(config.timeouts.into());
        if let Some(ca) = &config.ca_file {
            builder = builder.add_ca_file(ca);
        }
        Ok(WebdavFileSystem {
            client: builder.build()?,
            metadata_limit: config.timeouts.metadata,
            endpoint: config.endpoint,
            info: FileSystemInfo::new("webdav", location, capabilities(), config.root),
        })
    }

    fn abs(&self, p: &Path) -> Path {
        p.resolve(&self.info.working_directory)
    }

    fn url(&self, p: &Path, collection: bool) -> String {
        let mut path = hpc_http::url::encode_path(&p.to_string());
        if collection && !path.ends_with('/') {
            path.push('/');
        }
        format!("{}{}", self.endpoint, path)
    }

    /// A data transfer (GET, PUT of content): only the idle limit applies.
    async fn send(&self, req: Request) -> Result<Response> {
        self.client.send(req).await
    }

    /// A metadata request: answered in full within the `timeout` option.
    async fn send_meta(&self, req: Request) -> Result<Response> {
        self.client.send(req.deadline(self.metadata_limit)).await
    }

    async fn propfind(&self, path: &Path, depth: &str) -> Result<Vec<DavEntry>> {
        let request = |collection: bool| {
            Request::custom("PROPFIND", &self.url(path, collection))
                .header("Depth", depth)
                .header("Content-Type", "application/xml; charset=utf-8")
                .body(Body::bytes(parse::REQUEST_BODY))
        };
        let mut resp = self.send_meta(request(depth == "1")).await?;
        if resp.status().is_redirection() && depth == "0" {
            // Apache redirects a collection named without its trailing slash
            // (at least an Alias root); ask again as a collection.
            resp = self.send_meta(request(true)).await?;
        }
        if resp.status() != StatusCode::MULTI_STATUS {
            return Err(status_error(Op::Propfind, path, resp).await);
        }
        if resp.content_length().is_some_and(|n| n > MAX_PROPFIND_BYTES as u64) {
            return Err(too_big(path));
        }
        let mut body = resp.into_stream();
        let mut xml = Vec::new();
        while let Some(chunk) = body.next().await {
            xml.extend_from_slice(&chunk?);
            if xml.len() > MAX_PROPFIND_BYTES {
                return Err(too_big(path));
            }
        }
        parse::parse(&String::from_utf8_lossy(&xml))
    }

    /// One directory's entries; hostile hrefs come back as errors.
    async fn list_one(&self, dir: &Path) -> Result<Vec<Result<PathAttributes>>> {
        children(dir, &self.endpoint, self.propfind(dir, "1").await?)
    }

    async fn delete_one(&self, path: &Path, is_dir: bool) -> Result<()> {
        let resp = self.send_meta(Request::delete(&self.url(path, is_dir))).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(status_error(Op::Delete, path, resp).await)
    }

    async fn move_or_copy(&self, op: Op, from: &Path, to: &Path, overwrite: bool) -> Result<()> {
        let method = if op == Op::Move { "MOVE" } else { "COPY" };
        let request = |collection: bool| {
            Request::custom(method, &self.url(from, collection))
                .header("Destination", &self.url(to, collection))
                .header("Overwrite", if overwrite { "T" } else { "F" })
        };
        // A server-side COPY moves data: only the idle limit applies to it.
        let send = |req: Request| async move {
            if op == Op::Move { self.send_meta(req).await } else { self.send(req).await }
        };
        let mut resp = send(request(false)).await?;
        if resp.status().is_redirection() {
            // The source is a collection named without its trailing slash.
            resp = send(request(true)).await?;
        }
        if resp.status().is_success() {
            return Ok(());
        }
        // 404 is about the source; 412 and 409 about the target.
        Err(if resp.status() == StatusCode::NOT_FOUND {
            status_error(op, from, resp).await
        } else {
            status_error(op, to, resp).await
        })
    }
}

/// Count the bytes that pass through a stream.
fn counted(data: ByteStream, counter: Arc<AtomicU64>) -> ByteStream {
    data.inspect_ok(move |chunk| {
        counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    })
    .boxed()
}

#[async_trait]
impl FileSystem for WebdavFileSystem {
    fn info(&self) -> &FileSystemInfo {
        &self.info
    }

    async fn create_directory(&self, path: &Path) -> Result<()> {
        let path = self.abs(path);
        let resp = self.send_meta(Request::custom("MKCOL", &self.url(&path, false))).await?;
        if resp.status() == StatusCode::CREATED || resp.status().is_success() {
            return Ok(());
        }
        if resp.status().is_redirection() {
            // Apache's answer for an existing collection named without a slash.
            return Err(Error::AlreadyExists { path: path.to_string() });
        }
        Err(status_error(Op::Mkcol, &path, resp).await)
    }

    async fn create_file(&self, path: &Path) -> Result<()> {
        let path = self.abs(path);
        // Not every server honours If-None-Match on PUT; ask first as well so
        // an existing file is never truncated.
        if self.exists(&path).await? {
            return Err(Error::AlreadyExists { path: path.to_string() });
        }
        let req =
            Request::put(&self.url(&path, false)).header("If-None-Match", "*").body(Body::Empty);
        let resp = self.send_meta(req).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(status_error(Op::Put, &path, resp).await)
    }

    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        let path = self.abs(path);
        let a = self.attributes(&path).await?;
        if a.is_directory() && !recursive && !self.list_one(&path).await?.is_empty() {
            return Err(Error::InvalidInput(format!(
                "directory {path} is not empty (delete it recursively)"
            )));
        }
        self.delete_one(&path, a.is_directory()).await
    }

    fn list<'a>(&'a self, dir: &'a Path, recursive: bool) -> BoxStream<'a, Result<PathAttributes>> {
        crate::remote::walk(self.abs(dir), recursive, move |d| {
            crate::remote::listed(async move { self.list_one(&d).await })
        })
    }

    async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        let path = self.abs(path);
        let entries = self.propfind(&path, "0").await?;
        let e = entries.first().ok_or_else(|| Error::path_not_found(&path))?;
        Ok(attrs(path, e))
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        if from == to {
            return self.attributes(&from).await.map(|_| ());
        }
        self.move_or_copy(Op::Move, &from, &to, false).await
    }

    async fn rename_replacing(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        if self.attributes(&to).await.is_ok_and(|a| a.is_directory()) {
            return Err(Error::AlreadyExists { path: format!("{to} (a directory)") });
        }
        self.move_or_copy(Op::Move, &from, &to, true).await
    }

    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        let path = self.abs(path);
        if range.len == Some(0) {
            return Ok(futures::stream::empty().boxed());
        }
        let mut req = Request::get(&self.url(&path, false));
        let ranged = range.offset > 0 || range.len.is_some();
        if ranged {
            let end = range.len.map(|n| (range.offset + n - 1).to_string()).unwrap_or_default();
            req = req.header("Range", &format!("bytes={}-{end}", range.offset));
        }
        let resp = self.send(req).await?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => Ok(resp.into_stream()),
            StatusCode::OK if ranged => Ok(crate::remote::slice(resp.into_stream(), range)),
            StatusCode::OK => Ok(resp.into_stream()),
            StatusCode::RANGE_NOT_SATISFIABLE => Ok(futures::stream::empty().boxed()),
            StatusCode::FORBIDDEN | StatusCode::METHOD_NOT_ALLOWED
                if self.attributes(&path).await.is_ok_and(|a| a.is_directory()) =>
            {
                Err(Error::InvalidInput(format!("{path} is a directory, not a file")))
            }
            _ => Err(status_error(Op::Get, &path, resp).await),
        }
    }

    async fn write(&self, path: &Path, data: ByteStream, size: Option<u64>) -> Result<u64> {
        let path = self.abs(path);
        match self.attributes(&path).await {
            Ok(a) if a.is_directory() => {
                return Err(Error::AlreadyExists { path: format!("{path} (a directory)") });
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let part = crate::temp_sibling(&path, "part")?;
        // Removes the part file should this future be dropped half-way.
        let mut guard = {
            let (client, url) = (self.client.clone(), self.url(&part, false));
            hpc_core::cleanup::OnDrop::new(async move {
                let _ = client.send(Request::delete(&url)).await;
            })
        };
        let counter = Arc::new(AtomicU64::new(0));
        let body = Body::stream(counted(data, counter.clone()), size);
        let result = async {
            let resp = self.send(Request::put(&self.url(&part, false)).body(body)).await?;
            if !resp.status().is_success() {
                return Err(status_error(Op::Put, &path, resp).await);
            }
            self.move_or_copy(Op::Move, &part, &path, true).await
        }
        .await;
        if let Err(e) = result {
            // The part file is hidden; removing it is a courtesy.
            guard.run_now().await;
            return Err(e);
        }
        guard.disarm();
        Ok(counter.load(Ordering::Relaxed))
    }

    async fn copy_server_side(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        self.move_or_copy(Op::Copy, &from, &to, false).await
    }
}
