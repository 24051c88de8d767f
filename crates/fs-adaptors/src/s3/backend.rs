//! [`S3FileSystem`]: the `FileSystem` implementation (rusty-s3 signs, hpc-http sends).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, FuturesUnordered};
use futures::{StreamExt, TryStreamExt};
use hpc_auth::Credential;
use hpc_core::{
    ByteRange, ByteStream, ChecksumAlgorithm, EntryKind, Error, FileSystem, FsCapabilities,
    Location, NotFoundKind, PartStream, Path, PathAttributes, Result, tag_offsets,
};
use hpc_http::{Body, HttpClient, Method, Request, Response, StatusCode};
use rusty_s3::actions::{ListObjectsV2, ListObjectsV2Response};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::config::{AddressingStyle, S3Config};
use super::error::{error_in_body, s3_error, xml_tag};
use super::lister::page_entries;
use super::reader::{FetchPart, PinnedObject, checked, content_range, ordered, split, unordered};
use super::writer::{AbortGuard, PartReader, check_size};
use crate::remote::{parse_http_date, slice};

/// How long a signed URL stays valid (covers retries of one request).
pub(crate) const SIGN_FOR: Duration = Duration::from_secs(3600);
/// S3's limit on the number of parts of one upload.
const MAX_PARTS: u64 = 10_000;

/// Bytes of parts an in-order read ([`FileSystem::read`]) may hold while an
/// earlier part is still arriving; it runs fewer parts at once when
/// `download_concurrency` parts would need more.
const ORDERED_READ_MEMORY: u64 = 32 << 20;

/// How a download goes on after its first GET.
enum Download {
    /// The answer holds everything asked for.
    Whole(ByteStream),
    /// The first part, and the range still to fetch in parts.
    Parts {
        first: ByteStream,
        first_range: std::ops::Range<u64>,
        rest: std::ops::Range<u64>,
        fetch: FetchPart,
        what: String,
    },
}

/// What the adaptor can do (Xenon's S3 row; we add server-side copy and ranges,
/// and buffer parts so the size need not be known in advance).
pub fn capabilities() -> FsCapabilities {
    let mut c = FsCapabilities::default();
    c.copy_server_side = true;
    c.is_connectionless = true;
    c.read_range = true;
    c.read_parts = super::config::DEFAULT_DOWNLOAD_CONCURRENCY;
    c.credentials = &["password", "default", "anonymous"];
    c
}

/// An S3 bucket (or a prefix of it) as a file system.
pub struct S3FileSystem {
    client: HttpClient,
    bucket: Bucket,
    creds: Option<Credentials>,
    access_key: String,
    location: String,
    cwd: Path,
    part_size: usize,
    concurrency: usize,
    download_part_size: u64,
    download_concurrency: usize,
    copy_part_size: u64,
}

impl std::fmt::Debug for S3FileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3FileSystem").field("location", &self.location).finish_non_exhaustive()
    }
}

/// The object key of a path (`/a/b` is `a/b`; the root is the empty key).
fn key(path: &Path) -> String {
    path.to_string().trim_start_matches('/').to_owned()
}

/// The key prefix of everything below a directory.
fn dir_prefix(path: &Path) -> String {
    let k = key(path);
    if k.is_empty() { k } else { format!("{k}/") }
}

/// `bucket/key` of an object, as the `x-amz-copy-source` header takes it.
fn copy_source(bucket: &Bucket, path: &Path) -> String {
    format!("{}/{}", bucket.name(), hpc_http::url::encode_path(&key(path)))
}

/// What every part of one [`S3FileSystem::copy_in_parts`] shares.
struct PartCopy<'a> {
    from: &'a Path,
    /// `x-amz-copy-source`.
    source: String,
    /// The source's ETag, for `x-amz-copy-source-if-match`.
    etag: Option<&'a str>,
    /// Key of the target.
    to: String,
}

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
        let cwd = fs.cwd.clone();
        fs.list_page(&dir_prefix(&cwd), true, None, Some(1), &cwd).await?;
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
        let mut builder = HttpClient::builder().service("s3").max_idle_per_host(idle);
        if let Some(ca) = &config.ca_file {
            builder = builder.add_ca_file(ca);
        }
        Ok(S3FileSystem {
            client: builder.build()?,
            bucket,
            creds,
            access_key: config.keys.map(|k| k.access_key).unwrap_or_else(|| "anonymous".into()),
            location,
            cwd: config.root,
            part_size: config.part_size,
            concurrency: config.concurrency,
            download_part_size: config.download_part_size as u64,
            download_concurrency: config.download_concurrency,
            copy_part_size: config.copy_part_size,
        })
    }

    fn abs(&self, p: &Path) -> Path {
        p.resolve(&self.cwd)
    }

    async fn fail(&self, resp: Response, path: &Path) -> Error {
        s3_error(resp, path, self.bucket.name(), &self.access_key).await
    }

    /// Send a request to a signed URL.
    async fn send(
        &self,
        method: Method,
        url: String,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Result<Response> {
        let mut req = Request::new(method, &url).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        self.client.send(req).await
    }

    /// GET of the bytes `range` (not empty) of an object.
    async fn get_range(&self, path: &Path, range: std::ops::Range<u64>) -> Result<Response> {
        let url =
            self.bucket.get_object(self.creds.as_ref(), &key(path)).sign(SIGN_FOR).to_string();
        let header = format!("bytes={}-{}", range.start, range.end - 1);
        self.send(Method::GET, url, Body::Empty, &[("range", header.as_str())]).await
    }

    /// HEAD of an object: its attributes, or `None` if there is no such key.
    async fn head(&self, path: &Path) -> Result<Option<(PathAttributes, Option<String>)>> {
        let k = key(path);
        if k.is_empty() {
            return Ok(None);
        }
        let url = self.bucket.head_object(self.creds.as_ref(), &k).sign(SIGN_FOR).to_string();
        let resp = self.send(Method::HEAD, url, Body::Empty, &[]).await?;
        match resp.status() {
            s if s.is_success() => {
                let mut a = PathAttributes::new(
                    path.clone(),
                    EntryKind::File,
                    resp.content_length().unwrap_or(0),
                );
                a.modified = resp.header("last-modified").and_then(parse_http_date);
                Ok(Some((a, resp.header("etag").map(str::to_owned))))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.fail(resp, path).await),
        }
    }

    async fn list_page(
        &self,
        prefix: &str,
        delimiter: bool,
        token: Option<&str>,
        max_keys: Option<usize>,
        path: &Path,
    ) -> Result<ListObjectsV2Response> {
        let mut action: ListObjectsV2<'_> = self.bucket.list_objects_v2(self.creds.as_ref());
        action.with_prefix(prefix);
        if delimiter {
            action.with_delimiter("/");
        }
        if let Some(t) = token {
            action.with_continuation_token(t);
        }
        if let Some(n) = max_keys {
            action.with_max_keys(n);
        }
        let url = action.sign(SIGN_FOR).to_string();
        let resp = self.send(Method::GET, url, Body::Empty, &[]).await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, path).await);
        }
        let xml = resp.text().await?;
        ListObjectsV2::parse_response(&xml).map_err(|e| Error::Parse {
            command: format!("ListObjectsV2 {prefix}"),
            reason: format!("invalid XML: {e}"),
            line: xml.chars().take(200).collect(),
        })
    }

    /// Whether any key lies below `path` (a directory marker included).
    async fn dir_exists(&self, path: &Path) -> Result<bool> {
        if path.is_root() {
            return Ok(true);
        }
        let page = self.list_page(&dir_prefix(path), false, None, Some(1), path).await?;
        Ok(!page.contents.is_empty() || !page.common_prefixes.is_empty())
    }

    /// Send `action` with `headers`, which its signature covers too (the
    /// `x-amz-*` headers of CopyObject and UploadPartCopy).
    async fn send_signed<'a>(
        &self,
        mut action: impl S3Action<'a> + Send,
        method: Method,
        body: Body,
        headers: &[(&'a str, &'a str)],
    ) -> Result<Response> {
        for (k, v) in headers {
            action.headers_mut().insert(*k, *v);
        }
        let url = action.sign(SIGN_FOR).to_string();
        self.send(method, url, body, headers).await
    }

    async fn put_bytes(
        &self,
        path: &Path,
        data: Bytes,
        headers: &[(&str, &str)],
    ) -> Result<Response> {
        let k = key(path);
        let action = self.bucket.put_object(self.creds.as_ref(), &k);
        let resp = self.send_signed(action, Method::PUT, Body::Bytes(data), headers).await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, path).await);
        }
        Ok(resp)
    }

    async fn delete_key(&self, k: &str, path: &Path) -> Result<()> {
        let url = self.bucket.delete_object(self.creds.as_ref(), k).sign(SIGN_FOR).to_string();
        let resp = self.send(Method::DELETE, url, Body::Empty, &[]).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(self.fail(resp, path).await)
    }

    async fn copy_object(&self, from: &Path, to: &Path) -> Result<()> {
        let source = copy_source(&self.bucket, from);
        let resp = self.put_bytes(to, Bytes::new(), &[("x-amz-copy-source", &source)]).await;
        let resp = match resp {
            Err(e) if e.is_not_found() => return Err(Error::path_not_found(from)),
            other => other?,
        };
        error_in_body(&resp.text().await?, &format!("copy {from} to {to}"))
    }

    /// Multipart upload of the rest of `reader`, `initial` being the first parts.
    async fn multipart(
        &self,
        path: &Path,
        initial: Vec<Bytes>,
        reader: &mut PartReader,
        part_size: usize,
        size: Option<u64>,
    ) -> Result<()> {
        let k = key(path);
        let k = &k;
        self.in_multipart(path, |upload_id| async move {
            self.upload_parts(path, k, &upload_id, initial, reader, part_size, size).await
        })
        .await
    }

    /// One multipart upload to `path`: `parts` gets the upload id and sends
    /// the parts, returning their numbers and ETags; then the upload is
    /// completed. Any failure aborts it, so no invisible parts are left on
    /// the server to pay for.
    async fn in_multipart<F, Fut>(&self, path: &Path, parts: F) -> Result<()>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<(u16, String)>>>,
    {
        let k = key(path);
        let url =
            self.bucket.create_multipart_upload(self.creds.as_ref(), &k).sign(SIGN_FOR).to_string();
        let resp = self.send(Method::POST, url, Body::Empty, &[]).await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, path).await);
        }
        let xml = resp.text().await?;
        let created =
            rusty_s3::actions::CreateMultipartUpload::parse_response(&xml).map_err(|e| {
                Error::Parse {
                    command: "CreateMultipartUpload".into(),
                    reason: format!("invalid XML: {e}"),
                    line: xml.chars().take(200).collect(),
                }
            })?;
        let upload_id = created.upload_id().to_owned();
        let abort_url = self
            .bucket
            .abort_multipart_upload(self.creds.as_ref(), &k, &upload_id)
            .sign(SIGN_FOR)
            .to_string();
        let mut guard = AbortGuard::new(self.client.clone(), abort_url);
        let done = async {
            let etags = parts(upload_id.clone()).await?;
            self.complete_upload(path, &k, &upload_id, etags).await
        }
        .await;
        match done {
            Ok(()) => {
                guard.disarm();
                Ok(())
            }
            Err(e) => {
                guard.abort_now().await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_parts(
        &self,
        path: &Path,
        k: &str,
        upload_id: &str,
        initial: Vec<Bytes>,
        reader: &mut PartReader,
        part_size: usize,
        size: Option<u64>,
    ) -> Result<Vec<(u16, String)>> {
        let upload = |number: u16, data: Bytes| async move {
            let url = self
                .bucket
                .upload_part(self.creds.as_ref(), k, number, upload_id)
                .sign(SIGN_FOR)
                .to_string();
            let resp = self.send(Method::PUT, url, Body::Bytes(data), &[]).await?;
            if !resp.status().is_success() {
                return Err(self.fail(resp, path).await);
            }
            let etag = resp.header("etag").map(str::to_owned).ok_or_else(|| Error::Parse {
                command: format!("UploadPart {number}"),
                reason: "no ETag in the answer".into(),
                line: String::new(),
            })?;
            Ok::<_, Error>((number, etag))
        };
        let mut in_flight = FuturesUnordered::new();
        let mut etags = Vec::new();
        let mut number: u16 = 0;
        for data in initial {
            number += 1;
            in_flight.push(upload(number, data));
        }
        let mut exhausted = false;
        loop {
            // Read ahead only while there is room: this bounds memory to
            // about (concurrency + 1) parts.
            while !exhausted && in_flight.len() < self.concurrency {
                match reader.next_part(part_size).await? {
                    Some(data) => {
                        check_size(reader.total, size, false)?;
                        if u64::from(number) >= MAX_PARTS {
                            return Err(Error::InvalidInput(format!(
                                "{path} needs more than {MAX_PARTS} parts of {} MiB; raise part_size",
                                part_size >> 20
                            )));
                        }
                        number += 1;
                        in_flight.push(upload(number, data));
                    }
                    None => exhausted = true,
                }
            }
            match in_flight.next().await {
                Some(r) => etags.push(r?),
                None => break,
            }
        }
        check_size(reader.total, size, true)?;
        Ok(etags)
    }

    /// CompleteMultipartUpload with the parts' ETags in part order.
    async fn complete_upload(
        &self,
        path: &Path,
        k: &str,
        upload_id: &str,
        mut etags: Vec<(u16, String)>,
    ) -> Result<()> {
        etags.sort_by_key(|(n, _)| *n);
        let action = self.bucket.complete_multipart_upload(
            self.creds.as_ref(),
            k,
            upload_id,
            etags.iter().map(|(_, e)| e.as_str()),
        );
        let url = action.sign(SIGN_FOR).to_string();
        let body = action.body();
        let resp = self.send(Method::POST, url, Body::bytes(body), &[]).await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, path).await);
        }
        error_in_body(&resp.text().await?, &format!("completing the upload of {path}"))
    }

    /// Server-side copy of one object of `size` bytes: one CopyObject up to
    /// `copy_part_size`, in parts beyond.
    async fn copy_file(&self, from: &Path, to: &Path, size: u64, etag: Option<&str>) -> Result<()> {
        if size > self.copy_part_size {
            self.copy_in_parts(from, to, size, etag).await
        } else {
            self.copy_object(from, to).await
        }
    }

    /// Server-side copy of an object larger than `copy_part_size`:
    /// UploadPartCopy of consecutive ranges, `concurrency` at a time. Every
    /// part is pinned to the source's ETag, so a source replaced during the
    /// copy fails the copy instead of giving a mix of two versions.
    async fn copy_in_parts(
        &self,
        from: &Path,
        to: &Path,
        size: u64,
        etag: Option<&str>,
    ) -> Result<()> {
        let part = self.copy_part_size;
        if size.div_ceil(part) > MAX_PARTS {
            return Err(Error::InvalidInput(format!(
                "copying {from} needs more than {MAX_PARTS} parts of {} MiB; raise copy_part_size",
                part >> 20
            )));
        }
        let copy = PartCopy { from, source: copy_source(&self.bucket, from), etag, to: key(to) };
        let copy = &copy;
        self.in_multipart(to, |upload_id| async move {
            let upload_id = upload_id.as_str();
            futures::stream::iter(split(0..size, part).zip(1u16..))
                .map(|(range, number)| self.copy_part(copy, upload_id, number, range))
                .buffer_unordered(self.concurrency)
                .try_collect()
                .await
        })
        .await
    }

    /// One UploadPartCopy; its ETag comes in the XML answer.
    async fn copy_part(
        &self,
        copy: &PartCopy<'_>,
        upload_id: &str,
        number: u16,
        range: std::ops::Range<u64>,
    ) -> Result<(u16, String)> {
        let span = format!("bytes={}-{}", range.start, range.end - 1);
        let mut headers =
            vec![("x-amz-copy-source", copy.source.as_str()), ("x-amz-copy-source-range", &span)];
        if let Some(etag) = copy.etag {
            headers.push(("x-amz-copy-source-if-match", etag));
        }
        let action = self.bucket.upload_part(self.creds.as_ref(), &copy.to, number, upload_id);
        let resp = self.send_signed(action, Method::PUT, Body::Empty, &headers).await?;
        if resp.status() == StatusCode::PRECONDITION_FAILED {
            return Err(Error::Changed {
                path: copy.from.to_string(),
                detail: "the object was replaced during the copy".into(),
            });
        }
        if !resp.status().is_success() {
            return Err(self.fail(resp, copy.from).await);
        }
        let body = resp.text().await?;
        error_in_body(&body, &format!("copy {} to /{} (part {number})", copy.from, copy.to))?;
        let etag = xml_tag(&body, "ETag").ok_or_else(|| Error::Parse {
            command: format!("UploadPartCopy {number}"),
            reason: "no ETag in the answer".into(),
            line: body.chars().take(200).collect(),
        })?;
        Ok((number, etag.replace("&quot;", "\"").replace("&#34;", "\"")))
    }

    /// The first GET of a download and what it tells: the whole answer, or
    /// the first part plus the rest to fetch pinned to the version seen.
    async fn start_read(&self, path: &Path, range: ByteRange) -> Result<Download> {
        let path = self.abs(path);
        if range.len == Some(0) {
            return Ok(Download::Whole(futures::stream::empty().boxed()));
        }
        // Exclusive end of what is wanted, as far as known before asking.
        let wanted_end = range.len.map(|n| range.offset.saturating_add(n));
        let part_end = range.offset.saturating_add(self.download_part_size);
        let first_end = wanted_end.map_or(part_end, |e| e.min(part_end));
        // The first part's answer tells the size and the ETag that pins
        // every further part to this version of the object.
        let resp = self.get_range(&path, range.offset..first_end).await?;
        let what = format!("GET {path}");
        let (first, size) = match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let parsed = resp.header("content-range").and_then(content_range);
                match parsed {
                    Some((r, size)) if r.start == range.offset && r.end <= first_end => (r, size),
                    _ => {
                        return Err(Error::Parse {
                            command: what,
                            reason: format!(
                                "asked for bytes {}-{}, got Content-Range {:?}",
                                range.offset,
                                first_end - 1,
                                resp.header("content-range").unwrap_or("")
                            ),
                            line: String::new(),
                        });
                    }
                }
            }
            StatusCode::OK => {
                // The server ignored the range and sends the whole object.
                let data = match resp.content_length() {
                    Some(n) => checked(resp.into_stream(), 0..n, what),
                    None => resp.into_stream(),
                };
                return Ok(Download::Whole(slice(data, range)));
            }
            // Starting at or past the end: nothing to read.
            StatusCode::RANGE_NOT_SATISFIABLE => {
                return Ok(Download::Whole(futures::stream::empty().boxed()));
            }
            _ => return Err(self.fail(resp, &path).await),
        };
        let end = wanted_end.map_or(size, |e| e.min(size));
        if first.end >= end {
            return Ok(Download::Whole(checked(resp.into_stream(), first, what)));
        }
        let Some(etag) = resp.header("etag").map(str::to_owned) else {
            // Nothing to pin the parts to: one GET for the rest, which is
            // one version by itself.
            let rest = self.get_range(&path, first.end..end).await?;
            if rest.status() != StatusCode::PARTIAL_CONTENT {
                return Err(self.fail(rest, &path).await);
            }
            let head = checked(resp.into_stream(), first.clone(), what.clone());
            let tail = checked(rest.into_stream(), first.end..end, what);
            return Ok(Download::Whole(head.chain(tail).boxed()));
        };
        let object = Arc::new(PinnedObject {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            creds: self.creds.clone(),
            access_key: self.access_key.clone(),
            key: key(&path),
            path,
            etag,
        });
        Ok(Download::Parts {
            first: resp.into_stream(),
            rest: first.end..end,
            first_range: first,
            fetch: object.fetcher(),
            what,
        })
    }

    /// One listing page's worth of work for [`FileSystem::list`].
    async fn next_entries(
        &self,
        dir: &Path,
        recursive: bool,
        token: Option<String>,
        seen: &mut HashSet<String>,
    ) -> Result<(Vec<Result<PathAttributes>>, Option<String>, bool)> {
        let prefix = dir_prefix(dir);
        let page = self.list_page(&prefix, !recursive, token.as_deref(), None, dir).await?;
        let empty = page.contents.is_empty() && page.common_prefixes.is_empty();
        let entries = page_entries(dir, &prefix, &page, recursive, seen);
        Ok((entries, page.next_continuation_token.clone(), empty))
    }
}

#[async_trait]
impl FileSystem for S3FileSystem {
    fn adaptor(&self) -> &str {
        "s3"
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn capabilities(&self) -> FsCapabilities {
        let mut c = capabilities();
        c.read_parts = self.download_concurrency;
        c
    }

    fn working_directory(&self) -> &Path {
        &self.cwd
    }

    async fn create_directory(&self, path: &Path) -> Result<()> {
        let path = self.abs(path);
        // Directory check first, for the same reason as in `delete`.
        if path.is_root() || self.dir_exists(&path).await? || self.head(&path).await?.is_some() {
            return Err(Error::AlreadyExists { path: path.to_string() });
        }
        let parent = path.parent().unwrap_or_else(Path::root);
        if !self.dir_exists(&parent).await? {
            return Err(Error::NotFound {
                kind: NotFoundKind::Path,
                name: format!("{parent} (parent directory)"),
            });
        }
        let url = self
            .bucket
            .put_object(self.creds.as_ref(), &dir_prefix(&path))
            .sign(SIGN_FOR)
            .to_string();
        let resp = self.send(Method::PUT, url, Body::Empty, &[]).await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, &path).await);
        }
        Ok(())
    }

    async fn create_file(&self, path: &Path) -> Result<()> {
        let path = self.abs(path);
        // Directory check first, for the same reason as in `delete`.
        if path.is_root() || self.dir_exists(&path).await? || self.head(&path).await?.is_some() {
            return Err(Error::AlreadyExists { path: path.to_string() });
        }
        self.put_bytes(&path, Bytes::new(), &[]).await.map(|_| ())
    }

    async fn delete(&self, path: &Path, recursive: bool) -> Result<()> {
        let path = self.abs(path);
        if path.is_root() {
            return Err(Error::InvalidInput("refusing to delete the whole bucket".into()));
        }
        // Keys below first: servers that keep objects as files (s3s-fs,
        // MinIO) fail a HEAD on a directory instead of answering 404.
        let prefix = dir_prefix(&path);
        let first = self.list_page(&prefix, false, None, Some(2), &path).await?;
        if first.contents.is_empty() {
            if self.head(&path).await?.is_some() {
                return self.delete_key(&key(&path), &path).await;
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
            let page = self.list_page(&prefix, false, token.as_deref(), None, &path).await?;
            let mut deletes: FuturesUnordered<_> =
                page.contents.iter().map(|o| self.delete_key(&o.key, &path)).collect();
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
        struct State {
            token: Option<String>,
            started: bool,
            finished: bool,
            ready: VecDeque<Result<PathAttributes>>,
            seen: HashSet<String>,
        }
        let dir = self.abs(dir);
        let start = State {
            token: None,
            started: false,
            finished: false,
            ready: VecDeque::new(),
            seen: HashSet::new(),
        };
        futures::stream::unfold((start, dir), move |(mut st, dir)| async move {
            loop {
                if let Some(item) = st.ready.pop_front() {
                    return Some((item, (st, dir)));
                }
                if st.finished {
                    return None;
                }
                let first = !st.started;
                st.started = true;
                match self.next_entries(&dir, recursive, st.token.take(), &mut st.seen).await {
                    Ok((entries, token, empty)) => {
                        if first && empty && !dir.is_root() {
                            st.finished = true;
                            let e = match self.head(&dir).await {
                                Ok(Some(_)) => {
                                    Error::InvalidInput(format!("{dir} is not a directory"))
                                }
                                Ok(None) => Error::path_not_found(&dir),
                                Err(e) => e,
                            };
                            return Some((Err(e), (st, dir)));
                        }
                        st.ready.extend(entries);
                        st.finished = token.is_none();
                        st.token = token;
                    }
                    Err(e) => {
                        st.finished = true;
                        return Some((Err(e), (st, dir)));
                    }
                }
            }
        })
        .boxed()
    }

    async fn attributes(&self, path: &Path) -> Result<PathAttributes> {
        let path = self.abs(path);
        if let Some((a, _)) = self.head(&path).await? {
            return Ok(a);
        }
        if self.dir_exists(&path).await? {
            return Ok(PathAttributes::new(path, EntryKind::Directory, 0));
        }
        Err(Error::path_not_found(&path))
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let _ = (from, to);
        Err(Error::unsupported("s3", "rename (S3 has no atomic rename; copy and delete instead)"))
    }

    async fn read(&self, path: &Path, range: ByteRange) -> Result<ByteStream> {
        Ok(match self.start_read(path, range).await? {
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
        Ok(match self.start_read(path, range).await? {
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
        let mut part_size = self.part_size;
        if let Some(n) = size {
            // Stay within 10 000 parts, in whole MiB.
            let needed = n.div_ceil(MAX_PARTS).div_ceil(1 << 20) << 20;
            part_size = part_size.max(needed as usize);
        }
        let mut reader = PartReader::new(data);
        let first = reader.next_part(part_size).await?.unwrap_or_default();
        check_size(reader.total, size, false)?;
        let second = if reader.finished() { None } else { reader.next_part(part_size).await? };
        match second {
            None => {
                check_size(reader.total, size, true)?;
                self.put_bytes(&path, first, &[]).await?;
            }
            Some(second) => {
                check_size(reader.total, size, false)?;
                self.multipart(&path, vec![first, second], &mut reader, part_size, size).await?;
            }
        }
        Ok(reader.total)
    }

    async fn copy_server_side(&self, from: &Path, to: &Path) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        if let Some((attrs, etag)) = self.head(&from).await? {
            return self.copy_file(&from, &to, attrs.size, etag.as_deref()).await;
        }
        // A directory: copy every object below it.
        let prefix = dir_prefix(&from);
        // Key, size and ETag of every object below.
        let keys: Vec<(String, u64, Option<String>)> = {
            let mut keys = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let page = self.list_page(&prefix, false, token.as_deref(), None, &from).await?;
                keys.extend(
                    page.contents
                        .iter()
                        .map(|o| (o.key.clone(), o.size.unwrap_or(0), o.etag.clone())),
                );
                token = page.next_continuation_token.clone();
                if token.is_none() {
                    break;
                }
            }
            keys
        };
        if keys.is_empty() {
            return Err(Error::path_not_found(&from));
        }
        let target = dir_prefix(&to);
        futures::stream::iter(keys.into_iter().map(Ok::<_, Error>))
            .try_for_each_concurrent(self.concurrency, |(k, size, etag)| {
                let target = &target;
                let prefix = &prefix;
                async move {
                    let rel = &k[prefix.len()..];
                    let src = Path::new(&format!("/{k}"))?;
                    let dst = Path::new(&format!("/{target}{rel}"))?;
                    if k.ends_with('/') {
                        let url = self
                            .bucket
                            .put_object(self.creds.as_ref(), &format!("{target}{rel}"))
                            .sign(SIGN_FOR)
                            .to_string();
                        let resp = self.send(Method::PUT, url, Body::Empty, &[]).await?;
                        if !resp.status().is_success() {
                            return Err(self.fail(resp, &dst).await);
                        }
                        Ok(())
                    } else {
                        self.copy_file(&src, &dst, size, etag.as_deref()).await
                    }
                }
            })
            .await
    }

    async fn checksum(&self, path: &Path, algorithm: ChecksumAlgorithm) -> Result<Option<String>> {
        let path = self.abs(path);
        if algorithm != ChecksumAlgorithm::Md5 {
            return Ok(None);
        }
        match self.head(&path).await? {
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
