//! Uploads: one PUT for small files, parallel multipart for large ones, with
//! bounded memory and an abort on failure or drop. Server-side copies in
//! parts use the same multipart frame ([`in_multipart`]).

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hpc_core::{ByteStream, Error, Path, Result};
use hpc_http::{Body, HttpClient, Method, Request};
use rusty_s3::S3Action;

use super::client::{S3Client, SIGN_FOR, key};
use super::error::error_in_body;

/// S3's limit on the number of parts of one upload.
pub(super) const MAX_PARTS: u64 = 10_000;

/// How an upload is cut and sent.
#[derive(Debug, Clone, Copy)]
pub(super) struct PartPlan {
    /// Bytes per part (data up to one part is a single PUT).
    pub(super) part_size: usize,
    /// Parts in flight.
    pub(super) concurrency: usize,
}

/// Upload `data` to `path`: one PUT when it fits in a part, else a
/// multipart upload with `plan.concurrency` parts in flight, so memory stays
/// near `(concurrency + 2) * part_size`. Nothing appears under the key until
/// the upload completes; a failure aborts it.
pub(super) async fn upload(
    client: &S3Client,
    path: &Path,
    data: ByteStream,
    size: Option<u64>,
    plan: PartPlan,
) -> Result<u64> {
    let mut part_size = plan.part_size;
    if let Some(n) = size {
        // Stay within 10 000 parts, in whole MiB.
        let needed = n.div_ceil(MAX_PARTS).div_ceil(1 << 20) << 20;
        part_size = part_size.max(needed as usize);
    }
    let plan = PartPlan { part_size, ..plan };
    let mut reader = PartReader::new(data);
    let first = reader.next_part(part_size).await?.unwrap_or_default();
    check_size(reader.total, size, false)?;
    let second = if reader.finished() { None } else { reader.next_part(part_size).await? };
    match second {
        None => {
            check_size(reader.total, size, true)?;
            client.put_bytes(path, first, &[]).await?;
        }
        Some(second) => {
            check_size(reader.total, size, false)?;
            let initial = vec![first, second];
            let reader = &mut reader;
            in_multipart(client, path, |upload_id| async move {
                upload_parts(client, path, &upload_id, initial, reader, plan, size).await
            })
            .await?;
        }
    }
    Ok(reader.total)
}

/// One multipart upload to `path`: `parts` gets the upload id and sends
/// the parts, returning their numbers and ETags; then the upload is
/// completed. Any failure aborts it, so no invisible parts are left on
/// the server to pay for.
pub(super) async fn in_multipart<F, Fut>(client: &S3Client, path: &Path, parts: F) -> Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<(u16, String)>>>,
{
    let k = key(path);
    let url =
        client.bucket.create_multipart_upload(client.creds.as_ref(), &k).sign(SIGN_FOR).to_string();
    let resp = client.send(Method::POST, url, Body::Empty, &[]).await?;
    if !resp.status().is_success() {
        return Err(client.fail(resp, path).await);
    }
    let xml = resp.text().await?;
    let created = rusty_s3::actions::CreateMultipartUpload::parse_response(&xml).map_err(|e| {
        let line: String = xml.chars().take(200).collect();
        Error::parse("CreateMultipartUpload", format!("invalid XML: {e}"), line).with_source(e)
    })?;
    let upload_id = created.upload_id().to_owned();
    let abort_url = client
        .bucket
        .abort_multipart_upload(client.creds.as_ref(), &k, &upload_id)
        .sign(SIGN_FOR)
        .to_string();
    let mut guard = AbortGuard::new(client.http.clone(), abort_url);
    let done = async {
        let etags = parts(upload_id.clone()).await?;
        complete_upload(client, path, &k, &upload_id, etags).await
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

/// The parts of a multipart upload: `initial` first, then the rest of
/// `reader`, `plan.concurrency` in flight; their numbers and ETags.
async fn upload_parts(
    client: &S3Client,
    path: &Path,
    upload_id: &str,
    initial: Vec<Bytes>,
    reader: &mut PartReader,
    plan: PartPlan,
    size: Option<u64>,
) -> Result<Vec<(u16, String)>> {
    let k = key(path);
    let k = &k;
    let upload = |number: u16, data: Bytes| async move {
        let url = client
            .bucket
            .upload_part(client.creds.as_ref(), k, number, upload_id)
            .sign(SIGN_FOR)
            .to_string();
        let resp = client.send_data(Method::PUT, url, Body::Bytes(data), &[]).await?;
        if !resp.status().is_success() {
            return Err(client.fail(resp, path).await);
        }
        let etag = resp.header("etag").map(str::to_owned).ok_or_else(|| {
            Error::parse(format!("UploadPart {number}"), "no ETag in the answer", String::new())
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
        while !exhausted && in_flight.len() < plan.concurrency {
            match reader.next_part(plan.part_size).await? {
                Some(data) => {
                    check_size(reader.total, size, false)?;
                    if u64::from(number) >= MAX_PARTS {
                        return Err(Error::InvalidInput(format!(
                            "{path} needs more than {MAX_PARTS} parts of {} MiB; raise part_size",
                            plan.part_size >> 20
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
    client: &S3Client,
    path: &Path,
    k: &str,
    upload_id: &str,
    mut etags: Vec<(u16, String)>,
) -> Result<()> {
    etags.sort_by_key(|(n, _)| *n);
    let action = client.bucket.complete_multipart_upload(
        client.creds.as_ref(),
        k,
        upload_id,
        etags.iter().map(|(_, e)| e.as_str()),
    );
    let url = action.sign(SIGN_FOR).to_string();
    let body = action.body();
    let resp = client.send(Method::POST, url, Body::bytes(body), &[]).await?;
    if !resp.status().is_success() {
        return Err(client.fail(resp, path).await);
    }
    error_in_body(&resp.text().await?, &format!("completing the upload of {path}"))
}

/// Cuts a byte stream into parts of a fixed size (the last may be shorter).
pub(crate) struct PartReader {
    stream: ByteStream,
    carry: Option<Bytes>,
    done: bool,
    /// Bytes handed out so far.
    pub(crate) total: u64,
}

impl PartReader {
    pub(crate) fn new(stream: ByteStream) -> Self {
        PartReader { stream, carry: None, done: false, total: 0 }
    }

    /// The next part of `size` bytes, or fewer at the end; `None` after the end.
    pub(crate) async fn next_part(&mut self, size: usize) -> Result<Option<Bytes>> {
        let mut buf = BytesMut::new();
        loop {
            let chunk = match self.carry.take() {
                Some(c) => c,
                None if self.done => break,
                None => match self.stream.next().await {
                    Some(c) => c?,
                    None => {
                        self.done = true;
                        break;
                    }
                },
            };
            let room = size - buf.len();
            if chunk.len() > room {
                if buf.is_empty() && room == size {
                    // A chunk larger than a part: split without copying.
                    let mut chunk = chunk;
                    let rest = chunk.split_off(room);
                    self.carry = Some(rest);
                    self.total += chunk.len() as u64;
                    return Ok(Some(chunk));
                }
                buf.extend_from_slice(&chunk[..room]);
                self.carry = Some(chunk.slice(room..));
            } else {
                if buf.is_empty() && chunk.len() == size {
                    self.total += size as u64;
                    return Ok(Some(chunk));
                }
                if buf.capacity() == 0 {
                    buf.reserve(size);
                }
                buf.extend_from_slice(&chunk);
            }
            if buf.len() == size {
                break;
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        self.total += buf.len() as u64;
        Ok(Some(buf.freeze()))
    }

    /// Whether the stream has ended (and nothing is left over).
    pub(crate) fn finished(&self) -> bool {
        self.done && self.carry.is_none()
    }
}

/// Check the byte count against the size the caller announced.
pub(crate) fn check_size(total: u64, expected: Option<u64>, finished: bool) -> Result<()> {
    match expected {
        Some(n) if total > n => {
            Err(Error::InvalidInput(format!("the data is longer than the announced {n} bytes")))
        }
        Some(n) if finished && total < n => Err(Error::InvalidInput(format!(
            "the data ended after {total} of the announced {n} bytes"
        ))),
        _ => Ok(()),
    }
}

/// Aborts a multipart upload unless disarmed, also when the future that owns
/// it is dropped (then in a spawned task, so the parts do not linger).
pub(crate) struct AbortGuard {
    pending: Option<(HttpClient, String)>,
}

impl AbortGuard {
    pub(crate) fn new(client: HttpClient, abort_url: String) -> Self {
        AbortGuard { pending: Some((client, abort_url)) }
    }

    pub(crate) fn disarm(&mut self) {
        self.pending = None;
    }

    pub(crate) async fn abort_now(&mut self) {
        if let Some((client, url)) = self.pending.take() {
            let _ = client.send(Request::delete(&url)).await;
        }
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some((client, url)) = self.pending.take() {
            // Counted, so that a program ending on a signal waits for it.
            hpc_core::cleanup::spawn(async move {
                let _ = client.send(Request::delete(&url)).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_have_the_right_sizes_whatever_the_chunking() {
        for chunk in [1usize, 3, 7, 10, 25] {
            let data: Vec<u8> = (0..53u8).collect();
            let chunks: Vec<Result<Bytes>> =
                data.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            let mut r = PartReader::new(futures::stream::iter(chunks).boxed());
            let mut sizes = Vec::new();
            let mut back = Vec::new();
            while let Some(p) = r.next_part(10).await.unwrap() {
                sizes.push(p.len());
                back.extend_from_slice(&p);
            }
            assert_eq!(sizes, [10, 10, 10, 10, 10, 3], "chunk {chunk}");
            assert_eq!(back, data);
            assert!(r.finished());
            assert_eq!(r.total, 53);
        }
    }

    #[test]
    fn sizes() {
        assert!(check_size(5, Some(5), true).is_ok());
        assert!(check_size(4, Some(5), false).is_ok());
        assert!(check_size(4, Some(5), true).is_err());
        assert!(check_size(6, Some(5), false).is_err());
        assert!(check_size(6, None, true).is_ok());
    }
}
