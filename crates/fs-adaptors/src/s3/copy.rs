//! Server-side copies: CopyObject up to `copy_part_size`, UploadPartCopy
//! ranges pinned to the source's ETag beyond, and directory trees object by
//! object.

use std::ops::Range;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use hpc_core::{Error, Path, Result};
use hpc_http::{Body, Method, StatusCode};

use super::client::{S3Client, dir_prefix, key};
use super::error::{error_in_body, xml_tag};
use super::lister::all_objects;
use super::parts::split;
use super::writer::{MAX_PARTS, in_multipart};

/// How copies are cut and run.
#[derive(Debug, Clone, Copy)]
pub(super) struct CopyPlan {
    /// Objects above this size are copied in parts of this size.
    pub(super) part_size: u64,
    /// Parts (or objects of a tree) copied at the same time.
    pub(super) concurrency: usize,
}

/// What every part of one copy in parts shares.
struct PartCopy<'a> {
    from: &'a Path,
    /// `x-amz-copy-source`.
    source: String,
    /// The source's ETag, for `x-amz-copy-source-if-match`.
    etag: Option<&'a str>,
    /// Key of the target.
    to: String,
}

/// One CopyObject.
async fn copy_object(client: &S3Client, from: &Path, to: &Path) -> Result<()> {
    let source = client.copy_source(from);
    let resp = client.put_bytes(to, Bytes::new(), &[("x-amz-copy-source", &source)]).await;
    let resp = match resp {
        Err(e) if e.is_not_found() => return Err(Error::path_not_found(from)),
        other => other?,
    };
    error_in_body(&resp.text().await?, &format!("copy {from} to {to}"))
}

/// Server-side copy of one object of `size` bytes: one CopyObject up to
/// `plan.part_size`, beyond it UploadPartCopy of consecutive ranges,
/// `plan.concurrency` at a time. Every part is pinned to the source's ETag,
/// so a source replaced during the copy fails the copy instead of giving a
/// mix of two versions.
pub(super) async fn copy_file(
    client: &S3Client,
    from: &Path,
    to: &Path,
    size: u64,
    etag: Option<&str>,
    plan: CopyPlan,
) -> Result<()> {
    let part = plan.part_size;
    if size <= part {
        return copy_object(client, from, to).await;
    }
    if size.div_ceil(part) > MAX_PARTS {
        return Err(Error::InvalidInput(format!(
            "copying {from} needs more than {MAX_PARTS} parts of {} MiB; raise copy_part_size",
            part >> 20
        )));
    }
    let copy = PartCopy { from, source: client.copy_source(from), etag, to: key(to) };
    let copy = &copy;
    in_multipart(client, to, |upload_id| async move {
        let upload_id = upload_id.as_str();
        futures::stream::iter(split(0..size, part).zip(1u16..))
            .map(|(range, number)| copy_part(client, copy, upload_id, number, range))
            .buffer_unordered(plan.concurrency)
            .try_collect()
            .await
    })
    .await
}

/// One UploadPartCopy; its ETag comes in the XML answer.
async fn copy_part(
    client: &S3Client,
    copy: &PartCopy<'_>,
    upload_id: &str,
    number: u16,
    range: Range<u64>,
) -> Result<(u16, String)> {
    let span = format!("bytes={}-{}", range.start, range.end - 1);
    let mut headers =
        vec![("x-amz-copy-source", copy.source.as_str()), ("x-amz-copy-source-range", &span)];
    if let Some(etag) = copy.etag {
        headers.push(("x-amz-copy-source-if-match", etag));
    }
    let action = client.bucket.upload_part(client.creds.as_ref(), &copy.to, number, upload_id);
    let resp = client.send_signed(action, Method::PUT, Body::Empty, &headers).await?;
    if resp.status() == StatusCode::PRECONDITION_FAILED {
        return Err(Error::Changed {
            path: copy.from.to_string(),
            detail: "the object was replaced during the copy".into(),
        });
    }
    if !resp.status().is_success() {
        return Err(client.fail(resp, copy.from).await);
    }
    let body = resp.text().await?;
    error_in_body(&body, &format!("copy {} to /{} (part {number})", copy.from, copy.to))?;
    let etag = xml_tag(&body, "ETag").ok_or_else(|| {
        let line: String = body.chars().take(200).collect();
        Error::parse(format!("UploadPartCopy {number}"), "no ETag in the answer", line)
    })?;
    Ok((number, etag.replace("&quot;", "\"").replace("&#34;", "\"")))
}

/// Copy every object below the directory `from` to the same place below
/// `to`, `plan.concurrency` objects at a time (directory markers included).
pub(super) async fn copy_tree(
    client: &S3Client,
    from: &Path,
    to: &Path,
    plan: CopyPlan,
) -> Result<()> {
    let prefix = dir_prefix(from);
    let objects = all_objects(client, &prefix, from).await?;
    if objects.is_empty() {
        return Err(Error::path_not_found(from));
    }
    let target = dir_prefix(to);
    futures::stream::iter(objects.into_iter().map(Ok::<_, Error>))
        .try_for_each_concurrent(plan.concurrency, |(k, size, etag)| {
            let target = &target;
            let prefix = &prefix;
            async move {
                let rel = &k[prefix.len()..];
                let src = Path::new(&format!("/{k}"))?;
                let dst = Path::new(&format!("/{target}{rel}"))?;
                if k.ends_with('/') {
                    client.put_marker(&format!("{target}{rel}"), &dst).await
                } else {
                    copy_file(client, &src, &dst, size, etag.as_deref(), plan).await
                }
            }
        })
        .await
}
