//! Downloads: the first ranged GET tells the size and the ETag; a larger
//! object goes on as parallel ranged GETs pinned to that version with
//! `If-Match` ([`PinnedObject`]), run by the machinery of `parts.rs`.

use std::ops::Range;
use std::sync::Arc;

use futures::StreamExt;
use hpc_core::{ByteRange, ByteStream, Error, Path, Result};
use hpc_http::{Method, Request, StatusCode};
use rusty_s3::S3Action;

use super::client::{S3Client, SIGN_FOR, key};
use super::parts::{FetchPart, checked, content_range};
use crate::remote::slice;

/// How a download goes on after its first GET.
pub(super) enum Download {
    /// The answer holds everything asked for.
    Whole(ByteStream),
    /// The first part, and the range still to fetch in parts.
    Parts {
        first: ByteStream,
        first_range: Range<u64>,
        rest: Range<u64>,
        fetch: FetchPart,
        what: String,
    },
}

/// The first GET of a download and what it tells: the whole answer, or
/// the first part plus the rest to fetch pinned to the version seen.
pub(super) async fn start_read(
    client: &S3Client,
    path: Path,
    range: ByteRange,
    part_size: u64,
) -> Result<Download> {
    if range.len == Some(0) {
        return Ok(Download::Whole(futures::stream::empty().boxed()));
    }
    // Exclusive end of what is wanted, as far as known before asking.
    let wanted_end = range.len.map(|n| range.offset.saturating_add(n));
    let part_end = range.offset.saturating_add(part_size);
    let first_end = wanted_end.map_or(part_end, |e| e.min(part_end));
    // The first part's answer tells the size and the ETag that pins
    // every further part to this version of the object.
    let resp = client.get_range(&path, range.offset..first_end).await?;
    let what = format!("GET {path}");
    let (first, size) = match resp.status() {
        StatusCode::PARTIAL_CONTENT => {
            let parsed = resp.header("content-range").and_then(content_range);
            match parsed {
                Some((r, size)) if r.start == range.offset && r.end <= first_end => (r, size),
                _ => {
                    return Err(Error::parse(
                        what,
                        format!(
                            "asked for bytes {}-{}, got Content-Range {:?}",
                            range.offset,
                            first_end - 1,
                            resp.header("content-range").unwrap_or("")
                        ),
                        String::new(),
                    ));
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
        _ => return Err(client.fail(resp, &path).await),
    };
    let end = wanted_end.map_or(size, |e| e.min(size));
    if first.end >= end {
        return Ok(Download::Whole(checked(resp.into_stream(), first, what)));
    }
    let Some(etag) = resp.header("etag").map(str::to_owned) else {
        // Nothing to pin the parts to: one GET for the rest, which is
        // one version by itself.
        let rest = client.get_range(&path, first.end..end).await?;
        if rest.status() != StatusCode::PARTIAL_CONTENT {
            return Err(client.fail(rest, &path).await);
        }
        let head = checked(resp.into_stream(), first.clone(), what.clone());
        let tail = checked(rest.into_stream(), first.end..end, what);
        return Ok(Download::Whole(head.chain(tail).boxed()));
    };
    let object = Arc::new(PinnedObject { client: client.clone(), key: key(&path), path, etag });
    Ok(Download::Parts {
        first: resp.into_stream(),
        rest: first.end..end,
        first_range: first,
        fetch: object.fetcher(),
        what,
    })
}

/// Ranged GETs of one version of one object (`If-Match` its ETag).
struct PinnedObject {
    client: S3Client,
    key: String,
    path: Path,
    etag: String,
}

impl PinnedObject {
    /// A [`FetchPart`] over this object.
    fn fetcher(self: Arc<Self>) -> FetchPart {
        Arc::new(move |range| {
            let this = self.clone();
            Box::pin(async move { this.get(range).await })
        })
    }

    async fn get(&self, range: Range<u64>) -> Result<ByteStream> {
        let c = &self.client;
        let url = c.bucket.get_object(c.creds.as_ref(), &self.key).sign(SIGN_FOR).to_string();
        let req = Request::new(Method::GET, &url)
            .header("range", &format!("bytes={}-{}", range.start, range.end - 1))
            .header("if-match", &self.etag);
        let resp = c.http.send(req).await?;
        let what = || format!("GET {}", self.path);
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let got = resp.header("content-range").and_then(content_range);
                if got.as_ref().map(|(r, _)| r) != Some(&range) {
                    return Err(Error::parse(
                        what(),
                        format!(
                            "asked for bytes {}-{}, got Content-Range {:?}",
                            range.start,
                            range.end - 1,
                            resp.header("content-range").unwrap_or("")
                        ),
                        String::new(),
                    ));
                }
                Ok(resp.into_stream())
            }
            StatusCode::PRECONDITION_FAILED => Err(Error::Changed {
                path: self.path.to_string(),
                detail: format!("its ETag is no longer {}", self.etag),
            }),
            // Inside the size first seen: only a shorter new version says so.
            StatusCode::RANGE_NOT_SATISFIABLE => Err(Error::Changed {
                path: self.path.to_string(),
                detail: format!("it is now shorter than byte {}", range.end),
            }),
            s if s.is_success() => Err(Error::remote(
                "s3",
                Some(u32::from(s.as_u16())),
                format!("{}: answered a ranged GET with the whole object", what()),
            )),
            _ => Err(c.fail(resp, &self.path).await),
        }
    }
}
