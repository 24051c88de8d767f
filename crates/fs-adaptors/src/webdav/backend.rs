//! [`WebdavFileSystem`]: the `FileSystem` implementation over hpc-http.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hpc_auth::Credential;
use hpc_core::{
    ByteRange, ByteStream, EntryKind, Error, FileSystem, FsCapabilities, Location, Path,
    PathAttributes, Result,
};
use hpc_http::{Body, HttpClient, Request, Response, StatusCode};

use super::config::WebdavConfig;
use super::propfind::{self, DavEntry};

/// What the adaptor can do (Xenon's WebDAV row, plus server-side COPY and ranges).
pub fn capabilities() -> FsCapabilities {
    let mut c = FsCapabilities::default();
    c.copy_server_side = true;
    c.is_connectionless = true;
    c.rename = true;
    c.read_range = true;
    c.credentials = &["default", "password", "basic", "bearer", "oidc", "anonymous"];
    c
}

/// Upper bound for one PROPFIND answer held in memory (a Depth 1 listing of
/// a directory with some 100 000 entries).
const MAX_PROPFIND_BYTES: usize = 128 << 20;

/// A WebDAV server as a file system.
pub struct WebdavFileSystem {
    client: HttpClient,
    endpoint: String,
    location: String,
    cwd: Path,
}

impl std::fmt::Debug for WebdavFileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebdavFileSystem").field("location", &self.location).finish_non_exhaustive()
    }
}

/// Which request a status code answers: the same code means different things.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Mkcol,
    Put,
    Get,
    Delete,
    Move,
    Copy,
    Propfind,
}

impl WebdavFileSystem {
    /// Open `webdav://host[:port]/path` (or `webdavs://`) and check that the
    /// working directory is reachable with `credential`.
    pub async fn open(location: &Location, credential: Credential) -> Result<Self> {
        let fs = WebdavFileSystem::new(
            WebdavConfig::from_location(location, credential)?,
            location.to_string(),
        )?;
        let root = fs.cwd.clone();
        let attrs = fs.attributes(&root).await?;
        if !attrs.is_directory() {
            return Err(Error::InvalidLocation {
                location: fs.location.clone(),
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
            .retry(config.retry);
        if let Some(ca) = &config.ca_file {
            builder = builder.add_ca_file(ca);
        }
        Ok(WebdavFileSystem {
            client: builder.build()?,
            endpoint: config.endpoint,
            location,
            cwd: config.root,
        })
    }

    fn abs(&self, p: &Path) -> Path {
        p.resolve(&self.cwd)
    }

    fn url(&self, p: &Path, collection: bool) -> String {
        let mut path = hpc_http::url::encode_path(&p.to_string());
        if collection && !path.ends_with('/') {
            path.push('/');
        }
        format!("{}{}", self.endpoint, path)
    }

    async fn send(&self, req: Request) -> Result<Response> {
        self.client.send(req).await
    }

    /// Map a failure status of `op` on `path` to the matching error.
    async fn fail(&self, op: Op, path: &Path, resp: Response) -> Error {
        let status = resp.status();
        let missing_parent = || Error::NotFound {
            kind: hpc_core::NotFoundKind::Path,
            name: format!("{} (parent directory)", path.parent().unwrap_or_else(Path::root)),
        };
        match (op, status) {
            (_, StatusCode::NOT_FOUND) => Error::path_not_found(path),
            (Op::Mkcol, StatusCode::METHOD_NOT_ALLOWED) => {
                Error::AlreadyExists { path: path.to_string() }
            }
            (Op::Put | Op::Move | Op::Copy, StatusCode::PRECONDITION_FAILED) => {
                Error::AlreadyExists { path: path.to_string() }
            }
            (Op::Mkcol | Op::Put | Op::Move | Op::Copy, StatusCode::CONFLICT) => missing_parent(),
            (_, StatusCode::INSUFFICIENT_STORAGE) => Error::Remote {
                service: "webdav".into(),
                status: Some(507),
                message: format!("insufficient storage on the server for {path}"),
            },
            _ => resp.into_error().await,
        }
    }

    async fn propfind(&self, path: &Path, depth: &str) -> Result<Vec<DavEntry>> {
        let request = |collection: bool| {
            Request::custom("PROPFIND", &self.url(path, collection))
                .header("Depth", depth)
                .header("Content-Type", "application/xml; charset=utf-8")
                .body(Body::bytes(propfind::REQUEST_BODY))
        };
        let mut resp = self.send(request(depth == "1")).await?;
        if resp.status().is_redirection() && depth == "0" {
            // Apache redirects a collection named without its trailing slash
            // (at least an Alias root); ask again as a collection.
            resp = self.send(request(true)).await?;
        }
        if resp.status() != StatusCode::MULTI_STATUS {
            return Err(self.fail(Op::Propfind, path, resp).await);
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
        propfind::parse(&String::from_utf8_lossy(&xml))
    }

    /// One directory's entries; hostile hrefs come back as errors.
    async fn list_one(&self, dir: &Path) -> Result<Vec<Result<PathAttributes>>> {
        children(dir, self.propfind(dir, "1").await?)
    }

    async fn delete_one(&self, path: &Path, is_dir: bool) -> Result<()> {
        let resp = self.send(Request::delete(&self.url(path, is_dir))).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(self.fail(Op::Delete, path, resp).await)
    }

    async fn move_or_copy(&self, op: Op, from: &Path, to: &Path, overwrite: bool) -> Result<()> {
        let method = if op == Op::Move { "MOVE" } else { "COPY" };
        let request = |collection: bool| {
            Request::custom(method, &self.url(from, collection))
                .header("Destination", &self.url(to, collection))
                .header("Overwrite", if overwrite { "T" } else { "F" })
        };
        let mut resp = self.send(request(false)).await?;
        if resp.status().is_redirection() {
            // The source is a collection named without its trailing slash.
            resp = self.send(request(true)).await?;
        }
        if resp.status().is_success() {
            return Ok(());
        }
        // 404 is about the source; 412 and 409 about the target.
        Err(if resp.status() == StatusCode::NOT_FOUND {
            self.fail(op, from, resp).await
        } else {
            self.fail(op, to, resp).await
        })
    }
}

fn too_big(path: &Path) -> Error {
    Error::Parse {
        command: format!("PROPFIND {path}"),
        reason: format!("answer larger than {} MiB", MAX_PROPFIND_BYTES >> 20),
        line: String::new(),
    }
}

/// The entries of a Depth 1 answer for `dir`, each checked to be a direct
/// child (built with `join_entry`); anything else becomes an error item.
fn children(dir: &Path, entries: Vec<DavEntry>) -> Result<Vec<Result<PathAttributes>>> {
    let dir_text = dir.to_string();
    let prefix = if dir.is_root() { "/".to_owned() } else { format!("{dir_text}/") };
    let mut saw_self = false;
    let mut out = Vec::new();
    for e in entries {
        let decoded = match href_path(&e.href) {
            Ok(p) => p,
            Err(err) => {
                out.push(Err(err));
                continue;
            }
        };
        // One trailing slash marks a collection; more would hide an empty name.
        let trimmed = decoded.strip_suffix('/').unwrap_or(&decoded);
        if trimmed == dir_text || (dir.is_root() && decoded == "/") {
            saw_self = true;
            if !e.is_collection {
                return Err(Error::InvalidInput(format!("{dir} is not a directory")));
            }
            continue;
        }
        let entry = match trimmed.strip_prefix(&prefix) {
            Some(name) => dir.join_entry(name).map(|p| attrs(p, &e)),
            None => Err(Error::InvalidInput(format!(
                "the server listed {:?} in {dir}, which is not a child of it; refusing to use it",
                e.href
            ))),
        };
        out.push(entry);
    }
    if !saw_self && out.is_empty() {
        return Err(Error::path_not_found(dir));
    }
    Ok(out)
}

/// The decoded path of an href (absolute path or full URL).
fn href_path(href: &str) -> Result<String> {
    let path = match href.find("://") {
        Some(i) => {
            let after = &href[i + 3..];
            after.find('/').map_or("/", |j| &after[j..])
        }
        None => href,
    };
    if !path.starts_with('/') {
        return Err(Error::InvalidInput(format!("the server sent a relative href {href:?}")));
    }
    hpc_http::url::decode(path)
}

fn attrs(path: Path, e: &DavEntry) -> PathAttributes {
    let kind = if e.is_collection { EntryKind::Directory } else { EntryKind::File };
    let mut a = PathAttributes::new(path, kind, e.size.unwrap_or(0));
    a.modified = e.modified;
    a.created = e.created;
    a
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
    fn adaptor(&self) -> &str {
        "webdav"
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
        let path = self.abs(path);
        let resp = self.send(Request::custom("MKCOL", &self.url(&path, false))).await?;
        if resp.status() == StatusCode::CREATED || resp.status().is_success() {
            return Ok(());
        }
        if resp.status().is_redirection() {
            // Apache's answer for an existing collection named without a slash.
            return Err(Error::AlreadyExists { path: path.to_string() });
        }
        Err(self.fail(Op::Mkcol, &path, resp).await)
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
        let resp = self.send(req).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(self.fail(Op::Put, &path, resp).await)
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
        crate::remote::walk(
            self.abs(dir),
            recursive,
            move |d| async move { self.list_one(&d).await },
        )
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
            _ => Err(self.fail(Op::Get, &path, resp).await),
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
        let counter = Arc::new(AtomicU64::new(0));
        let body = Body::stream(counted(data, counter.clone()), size);
        let result = async {
            let resp = self.send(Request::put(&self.url(&part, false)).body(body)).await?;
            if !resp.status().is_success() {
                return Err(self.fail(Op::Put, &path, resp).await);
            }
            self.move_or_copy(Op::Move, &part, &path, true).await
        }
        .await;
        if let Err(e) = result {
            // The part file is hidden; removing it is a courtesy.
            let _ = self.delete_one(&part, false).await;
            return Err(e);
        }
        Ok(counter.load(Ordering::Relaxed))
    }

    async fn copy_server_side(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        self.move_or_copy(Op::Copy, &from, &to, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(hrefs: &[&str]) -> String {
        let mut xml = String::from(r#"<D:multistatus xmlns:D="DAV:">"#);
        for (i, h) in hrefs.iter().enumerate() {
            let rt = if i == 0 || h.ends_with('/') { "<D:collection/>" } else { "" };
            xml.push_str(&format!(
                "<D:response><D:href>{h}</D:href><D:propstat><D:prop><D:resourcetype>{rt}</D:resourcetype>\
                 <D:getcontentlength>1</D:getcontentlength></D:prop>\
                 <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
            ));
        }
        xml + "</D:multistatus>"
    }

    #[test]
    fn hostile_listing_entries_are_rejected() {
        let dir = Path::new("/dav/d").unwrap();
        let xml = listing(&[
            "/dav/d/",
            "/dav/d/ok%20file",
            "/dav/d/sub/",
            "/dav/d/..",
            "/dav/d/%2e%2e/",
            "/dav/d/a%2fb",
            "/dav/d/x%00y",
            "/dav/d/deep/er",
            "/etc/passwd",
            "/dav/d//",
            "/dav/dx",
            "http://evil.example/dav/d/fine",
        ]);
        let items = children(&dir, propfind::parse(&xml).unwrap()).unwrap();
        let ok: Vec<String> =
            items.iter().filter_map(|r| r.as_ref().ok()).map(|a| a.path.to_string()).collect();
        assert_eq!(ok, ["/dav/d/ok file", "/dav/d/sub", "/dav/d/fine"]);
        assert_eq!(items.iter().filter(|r| r.is_err()).count(), 8);
        for a in items.iter().flatten() {
            assert!(a.path.starts_with(&dir));
        }
        assert!(items[1].as_ref().unwrap().is_directory());
    }

    #[test]
    fn listing_a_file_or_nothing() {
        let dir = Path::new("/dav/f").unwrap();
        let xml = r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/f</D:href><D:propstat><D:prop><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"#;
        let e = children(&dir, propfind::parse(xml).unwrap()).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        assert!(children(&dir, Vec::new()).unwrap_err().is_not_found());
        let root =
            children(&Path::root(), propfind::parse(&listing(&["/", "/a"])).unwrap()).unwrap();
        assert_eq!(root[0].as_ref().unwrap().path.to_string(), "/a");
    }

    #[test]
    fn hrefs() {
        assert_eq!(href_path("/dav/a%20b/").unwrap(), "/dav/a b/");
        assert_eq!(href_path("http://h:1/dav/%c3%a9").unwrap(), "/dav/é");
        assert!(href_path("relative").is_err());
        assert!(href_path("/dav/a%00b").is_err());
    }
}
