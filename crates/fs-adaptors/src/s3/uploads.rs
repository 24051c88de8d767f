//! Unfinished multipart uploads: ListMultipartUploads (signed here, as
//! rusty-s3 has no action for it), ListParts for each (its size and newest
//! part) and AbortMultipartUpload.

use std::time::SystemTime;

use hpc_core::{Error, Path, PendingUpload, Result};
use hpc_http::{Body, Method};
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use rusty_s3::S3Action;
use rusty_s3::actions::ListParts;

use super::client::{S3Client, SIGN_FOR, dir_prefix, key};
use crate::remote::parse_iso8601;

/// One page of ListMultipartUploads.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Page {
    /// (key, upload id, initiated) of each upload.
    uploads: Vec<(String, String, Option<SystemTime>)>,
    /// Where the next page starts (key marker, upload id marker), when truncated.
    next: Option<(String, String)>,
}

/// Walk an S3 answer: `on_end(parent, name, text)` for every element that
/// ends, with its text (entities resolved).
fn walk(
    xml: &str,
    what: &str,
    mut on_end: impl FnMut(Option<&str>, &str, String) -> std::result::Result<(), String>,
) -> Result<()> {
    let bad = |e: &dyn std::fmt::Display| {
        let line: String = xml.chars().take(200).collect();
        Error::parse(what, format!("invalid XML: {e}"), line)
    };
    let mut reader = Reader::from_str(xml);
    let (mut path, mut text) = (Vec::<String>::new(), String::new());
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            Event::Start(e) => {
                path.push(e.local_name().as_ref().to_owned());
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => text.push(c),
                _ => {
                    let name = r.xml10_content();
                    let c = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| bad(&format!("unknown entity &{name};")))?;
                    text.push_str(c);
                }
            },
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                on_end(path.last().map(String::as_str), &name, std::mem::take(&mut text))
                    .map_err(|e| bad(&e))?;
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// The `ListMultipartUploadsResult` document.
pub(super) fn parse_page(xml: &str) -> Result<Page> {
    let mut page = Page::default();
    let (mut k, mut id, mut initiated) = (None, None, None);
    let (mut truncated, mut next_key, mut next_id) = (false, String::new(), String::new());
    walk(xml, "ListMultipartUploads", |parent, name, text| {
        match (parent, name) {
            (Some("Upload"), "Key") => k = Some(text),
            (Some("Upload"), "UploadId") => id = Some(text),
            (Some("Upload"), "Initiated") => initiated = parse_iso8601(text.trim()),
            (_, "Upload") => match (k.take(), id.take()) {
                (Some(k), Some(id)) => page.uploads.push((k, id, initiated.take())),
                _ => return Err("an Upload without Key or UploadId".into()),
            },
            (Some(_), "IsTruncated") => truncated = text.trim() == "true",
            (Some(_), "NextKeyMarker") => next_key = text,
            (Some(_), "NextUploadIdMarker") => next_id = text,
            _ => {}
        }
        Ok(())
    })?;
    if truncated {
        if next_key.is_empty() {
            let line: String = xml.chars().take(200).collect();
            return Err(Error::parse(
                "ListMultipartUploads",
                "truncated without NextKeyMarker",
                line,
            ));
        }
        page.next = Some((next_key, next_id));
    }
    Ok(page)
}

/// One page of ListParts: bytes, the newest part's time, where to go on.
/// (rusty-s3's parser wants the root `ListPartsResult`; moto answers
/// `ListPartsResponse`, so the root is not checked here.)
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct PartsPage {
    bytes: u64,
    newest: Option<SystemTime>,
    next: Option<u16>,
}

pub(super) fn parse_parts(xml: &str) -> Result<PartsPage> {
    let mut page = PartsPage::default();
    let (mut truncated, mut marker) = (false, None);
    walk(xml, "ListParts", |parent, name, text| {
        match (parent, name) {
            (Some("Part"), "Size") => {
                let n: u64 = text.trim().parse().map_err(|_| format!("part size {text:?}"))?;
                page.bytes = page.bytes.saturating_add(n);
            }
            (Some("Part"), "LastModified") => {
                if let Some(t) = parse_iso8601(text.trim()) {
                    page.newest = Some(page.newest.map_or(t, |n| n.max(t)));
                }
            }
            (Some(_), "IsTruncated") => truncated = text.trim() == "true",
            (Some(_), "NextPartNumberMarker") => marker = text.trim().parse::<u16>().ok(),
            _ => {}
        }
        Ok(())
    })?;
    if truncated {
        // Part numbers start at 1: going on from 0 (or nothing) would loop.
        page.next = Some(marker.filter(|m| *m > 0).ok_or_else(|| {
            let line: String = xml.chars().take(200).collect();
            Error::parse("ListParts", "truncated without NextPartNumberMarker", line)
        })?);
    }
    Ok(page)
}

impl S3Client {
    /// One page of ListMultipartUploads below `prefix` (with the `/` delimiter unless `recursive`).
    async fn uploads_page(
        &self,
        prefix: &str,
        recursive: bool,
        marker: Option<&(String, String)>,
        path: &Path,
    ) -> Result<Page> {
        let mut query = vec![("uploads", ""), ("prefix", prefix)];
        if !recursive {
            query.push(("delimiter", "/"));
        }
        if let Some((k, id)) = marker {
            query.push(("key-marker", k.as_str()));
            if !id.is_empty() {
                query.push(("upload-id-marker", id.as_str()));
            }
        }
        query.sort();
        let base = self.bucket.base_url().clone();
        let url = match &self.creds {
            Some(c) => rusty_s3::signing::sign(
                &jiff::Timestamp::now(),
                rusty_s3::Method::Get,
                base,
                c.key(),
                c.secret(),
                c.token(),
                self.bucket.region(),
                SIGN_FOR.as_secs(),
                query.iter().copied(),
                std::iter::empty(),
            ),
            None => {
                let mut url = base;
                url.query_pairs_mut().extend_pairs(query.iter().copied());
                url
            }
        };
        let resp = self.send(Method::GET, url.to_string(), Body::Empty, &[]).await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, path).await);
        }
        parse_page(&resp.text().await?)
    }

    /// Bytes stored for an upload and when its newest part came.
    async fn parts_of(&self, k: &str, id: &str, path: &Path) -> Result<(u64, Option<SystemTime>)> {
        let (mut bytes, mut newest) = (0u64, None::<SystemTime>);
        let mut marker = None;
        loop {
            let mut action = ListParts::new(&self.bucket, self.creds.as_ref(), k, id);
            if let Some(m) = marker {
                action.set_part_number_marker(m);
            }
            let url = action.sign(SIGN_FOR).to_string();
            let resp = self.send(Method::GET, url, Body::Empty, &[]).await?;
            if !resp.status().is_success() {
                return Err(self.fail(resp, path).await);
            }
            let page = parse_parts(&resp.text().await?)?;
            bytes = bytes.saturating_add(page.bytes);
            newest = newest.max(page.newest);
            match page.next {
                Some(m) => marker = Some(m),
                None => return Ok((bytes, newest)),
            }
        }
    }

    /// The unfinished uploads below `dir` (absolute), with their sizes.
    pub(super) async fn pending_uploads(
        &self,
        dir: &Path,
        recursive: bool,
    ) -> Result<Vec<PendingUpload>> {
        let prefix = dir_prefix(dir);
        let mut found = Vec::new();
        let mut marker = None;
        loop {
            let page = self.uploads_page(&prefix, recursive, marker.as_ref(), dir).await?;
            for (k, id, started) in page.uploads {
                // Keys that are no path (`a//b`, `../x`) are not ours to touch.
                let Some(path) = k
                    .strip_prefix(&prefix)
                    .filter(|rest| !rest.is_empty())
                    .and_then(|rest| dir.join(rest).ok())
                    .filter(|p| key(p) == k)
                else {
                    continue;
                };
                let (bytes, newest) = match self.parts_of(&k, &id, &path).await {
                    Ok(v) => v,
                    // Completed or aborted meanwhile.
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e),
                };
                let last_activity = match (newest, started) {
                    (Some(n), Some(s)) => Some(n.max(s)),
                    (n, s) => n.or(s),
                };
                found.push(PendingUpload { path, id, started, last_activity, bytes });
            }
            match page.next {
                Some(next) => marker = Some(next),
                None => return Ok(found),
            }
        }
    }

    /// AbortMultipartUpload; an upload that is gone already is fine.
    pub(super) async fn abort_upload(&self, upload: &PendingUpload) -> Result<()> {
        let k = key(&upload.path);
        let url = self
            .bucket
            .abort_multipart_upload(self.creds.as_ref(), &k, &upload.id)
            .sign(SIGN_FOR)
            .to_string();
        let resp = self.send(Method::DELETE, url, Body::Empty, &[]).await?;
        if resp.status().is_success() || resp.status() == hpc_http::StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(self.fail(resp, &upload.path).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_with_markers_and_entities() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>d/b&amp;c</NextKeyMarker><NextUploadIdMarker>id2</NextUploadIdMarker>
  <Prefix>d/</Prefix><MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>d/a</Key><UploadId>id1</UploadId><Initiator><ID>x</ID></Initiator>
    <Initiated>2026-01-02T03:04:05.000Z</Initiated></Upload>
  <Upload><Key>d/b&amp;c</Key><UploadId>id2</UploadId></Upload>
</ListMultipartUploadsResult>"#;
        let page = parse_page(xml).unwrap();
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[0].0, "d/a");
        assert_eq!(page.uploads[0].1, "id1");
        assert!(page.uploads[0].2.is_some());
        assert_eq!((page.uploads[1].0.as_str(), page.uploads[1].2), ("d/b&c", None));
        assert_eq!(page.next, Some(("d/b&c".into(), "id2".into())));
    }

    #[test]
    fn parts_add_up_whatever_the_root_is_called() {
        let xml = r#"<ListPartsResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker>
  <Part><PartNumber>1</PartNumber><LastModified>2026-01-02T03:04:05Z</LastModified><Size>5</Size></Part>
  <Part><PartNumber>2</PartNumber><LastModified>2026-01-02T03:04:09Z</LastModified><Size>7</Size></Part>
</ListPartsResponse>"#;
        let page = parse_parts(xml).unwrap();
        assert_eq!((page.bytes, page.next), (12, Some(2)));
        assert_eq!(page.newest, parse_iso8601("2026-01-02T03:04:09Z"));
        assert!(
            parse_parts("<ListPartsResult><IsTruncated>true</IsTruncated></ListPartsResult>")
                .is_err()
        );
        assert!(
            parse_parts("<ListPartsResult><Part><Size>x</Size></Part></ListPartsResult>").is_err()
        );
    }

    #[test]
    fn broken_pages_are_errors() {
        assert!(parse_page("<ListMultipartUploadsResult><Upload><Key>a</Key></Upload></ListMultipartUploadsResult>").is_err());
        assert!(
            parse_page("<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>")
                .is_err()
        );
        assert_eq!(parse_page("<ListMultipartUploadsResult/>").unwrap(), Page::default());
    }
}
