//! [`S3Client`]: signed requests to one bucket (rusty-s3 signs, hpc-http
//! sends), and the object-level calls every other part builds on: HEAD, one
//! page of ListObjectsV2, PUT and DELETE of one key.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use hpc_core::{EntryKind, Error, Path, PathAttributes, Result};
use hpc_http::{Body, HttpClient, Method, Request, Response, StatusCode};
use rusty_s3::actions::{ListObjectsV2, ListObjectsV2Response};
use rusty_s3::{Bucket, Credentials, S3Action};

use super::error::s3_error;
use crate::remote::parse_http_date;

/// How long a signed URL stays valid (covers retries of one request).
pub(super) const SIGN_FOR: Duration = Duration::from_secs(3600);

/// The object key of a path (`/a/b` is `a/b`; the root is the empty key).
pub(super) fn key(path: &Path) -> String {
    path.to_string().trim_start_matches('/').to_owned()
}

/// The key prefix of everything below a directory.
pub(super) fn dir_prefix(path: &Path) -> String {
    let k = key(path);
    if k.is_empty() { k } else { format!("{k}/") }
}

fn request(method: Method, url: &str, body: Body, headers: &[(&str, &str)]) -> Request {
    let mut req = Request::new(method, url).body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req
}

/// One bucket, the keys to sign with, and a pooled HTTP client; cheap to
/// clone (a download's parts each hold one).
#[derive(Clone)]
pub(super) struct S3Client {
    pub(super) http: HttpClient,
    pub(super) bucket: Bucket,
    pub(super) creds: Option<Credentials>,
    /// Shown in authentication errors (never the secret).
    pub(super) access_key: String,
    /// The whole of one metadata request (HEAD, a listing page, DELETE, the
    /// multipart bookkeeping): the `timeout` option.
    pub(super) metadata_limit: Duration,
}

impl S3Client {
    /// `bucket/key` of an object, as the `x-amz-copy-source` header takes it.
    pub(super) fn copy_source(&self, path: &Path) -> String {
        format!("{}/{}", self.bucket.name(), hpc_http::url::encode_path(&key(path)))
    }

    /// The error of a failed answer about `path`.
    pub(super) async fn fail(&self, resp: Response, path: &Path) -> Error {
        s3_error(resp, path, self.bucket.name(), &self.access_key).await
    }

    /// Send a metadata request to a signed URL: answered in full within
    /// the `timeout` option, or a timeout error.
    pub(super) async fn send(
        &self,
        method: Method,
        url: String,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Result<Response> {
        let req = request(method, &url, body, headers).deadline(self.metadata_limit);
        self.http.send(req).await
    }

    /// Send a request that moves data (a GET of content, a part, a copy):
    /// only the idle limit applies, so a large object takes as long as it needs.
    pub(super) async fn send_data(
        &self,
        method: Method,
        url: String,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Result<Response> {
        self.http.send(request(method, &url, body, headers)).await
    }

    /// GET of the bytes `range` (not empty) of an object.
    pub(super) async fn get_range(&self, path: &Path, range: Range<u64>) -> Result<Response> {
        let url =
            self.bucket.get_object(self.creds.as_ref(), &key(path)).sign(SIGN_FOR).to_string();
        let header = format!("bytes={}-{}", range.start, range.end - 1);
        self.send_data(Method::GET, url, Body::Empty, &[("range", header.as_str())]).await
    }

    /// HEAD of an object: its attributes, or `None` if there is no such key.
    pub(super) async fn head(
        &self,
        path: &Path,
    ) -> Result<Option<(PathAttributes, Option<String>)>> {
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

    /// One page of ListObjectsV2 below `prefix` (with the `/` delimiter when
    /// `delimiter`), from `token` on, at most `max_keys` keys; `path` names
    /// the listing in errors.
    pub(super) async fn list_page(
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
        ListObjectsV2::parse_response(&xml).map_err(|e| {
            let line: String = xml.chars().take(200).collect();
            Error::parse(format!("ListObjectsV2 {prefix}"), format!("invalid XML: {e}"), line)
                .with_source(e)
        })
    }

    /// Whether any key lies below `path` (a directory marker included).
    pub(super) async fn dir_exists(&self, path: &Path) -> Result<bool> {
        if path.is_root() {
            return Ok(true);
        }
        let page = self.list_page(&dir_prefix(path), false, None, Some(1), path).await?;
        Ok(!page.contents.is_empty() || !page.common_prefixes.is_empty())
    }

    /// Send `action` with `headers`, which its signature covers too (the
    /// `x-amz-*` headers of CopyObject and UploadPartCopy).
    pub(super) async fn send_signed<'a>(
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
        self.send_data(method, url, body, headers).await
    }

    /// PUT of `data` as the object at `path`, with extra signed `headers`.
    pub(super) async fn put_bytes(
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

    /// DELETE of the key `k` (below `path`, for errors).
    pub(super) async fn delete_key(&self, k: &str, path: &Path) -> Result<()> {
        let url = self.bucket.delete_object(self.creds.as_ref(), k).sign(SIGN_FOR).to_string();
        let resp = self.send(Method::DELETE, url, Body::Empty, &[]).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(self.fail(resp, path).await)
    }

    /// PUT of an empty directory marker (`key/`).
    pub(super) async fn put_marker(&self, k: &str, path: &Path) -> Result<()> {
        let url = self.bucket.put_object(self.creds.as_ref(), k).sign(SIGN_FOR).to_string();
        let resp = self.send(Method::PUT, url, Body::Empty, &[]).await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, path).await);
        }
        Ok(())
    }
}
