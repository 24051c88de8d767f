//! Listings: ListObjectsV2 pages as a stream of directory entries, every key
//! checked to lie below the listed prefix.

use std::collections::{HashSet, VecDeque};

use futures::StreamExt;
use futures::stream::BoxStream;
use hpc_core::{EntryKind, Error, Path, PathAttributes, Result};
use rusty_s3::actions::ListObjectsV2Response;

use super::client::{S3Client, dir_prefix};
use crate::remote::parse_iso8601;

/// The entries below `dir` (absolute) as a stream, page by page: flat
/// listings ask with the `/` delimiter, recursive ones without.
pub(super) fn list(
    client: &S3Client,
    dir: Path,
    recursive: bool,
) -> BoxStream<'_, Result<PathAttributes>> {
    struct State {
        token: Option<String>,
        started: bool,
        finished: bool,
        ready: VecDeque<Result<PathAttributes>>,
        seen: HashSet<String>,
    }
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
            match next_entries(client, &dir, recursive, st.token.take(), &mut st.seen).await {
                Ok((entries, token, empty)) => {
                    if first && empty && !dir.is_root() {
                        st.finished = true;
                        let e = match client.head(&dir).await {
                            Ok(Some(_)) => Error::InvalidInput(format!("{dir} is not a directory")),
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

/// One listing page's worth of work for [`list`].
async fn next_entries(
    client: &S3Client,
    dir: &Path,
    recursive: bool,
    token: Option<String>,
    seen: &mut HashSet<String>,
) -> Result<(Vec<Result<PathAttributes>>, Option<String>, bool)> {
    let prefix = dir_prefix(dir);
    let page = client.list_page(&prefix, !recursive, token.as_deref(), None, dir).await?;
    let empty = page.contents.is_empty() && page.common_prefixes.is_empty();
    let entries = page_entries(dir, &prefix, &page, recursive, seen);
    Ok((entries, page.next_continuation_token.clone(), empty))
}

/// Key, size and ETag of every object below `prefix` (a listing of `path`).
pub(super) async fn all_objects(
    client: &S3Client,
    prefix: &str,
    path: &Path,
) -> Result<Vec<(String, u64, Option<String>)>> {
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client.list_page(prefix, false, token.as_deref(), None, path).await?;
        objects.extend(
            page.contents.iter().map(|o| (o.key.clone(), o.size.unwrap_or(0), o.etag.clone())),
        );
        token = page.next_continuation_token.clone();
        if token.is_none() {
            return Ok(objects);
        }
    }
}

/// Entries of one page for a listing of `dir` (key prefix `prefix`, empty for
/// the bucket root). Flat listings (`recursive == false`) were asked with the
/// `/` delimiter. Directories that only exist as key prefixes are reported
/// once (`seen`). Keys that do not map to children of `dir` (`..`, empty
/// elements, another prefix) become error items.
pub(crate) fn page_entries(
    dir: &Path,
    prefix: &str,
    page: &ListObjectsV2Response,
    recursive: bool,
    seen: &mut HashSet<String>,
) -> Vec<Result<PathAttributes>> {
    let mut out = Vec::new();
    let mut add_dir = |rel: &str, out: &mut Vec<Result<PathAttributes>>| -> Result<Path> {
        let path = join_all(dir, rel)?;
        if seen.insert(rel.to_owned()) {
            out.push(Ok(PathAttributes::new(path.clone(), EntryKind::Directory, 0)));
        }
        Ok(path)
    };
    for obj in &page.contents {
        let Some(rel) = obj.key.strip_prefix(prefix) else {
            out.push(Err(outside(&obj.key, dir)));
            continue;
        };
        if rel.is_empty() {
            // The directory's own marker.
            continue;
        }
        // `dirs`: the directory part, if the key has one (possibly empty,
        // as in `a//b` or `/x`, which join_entry then refuses).
        let (dirs, file) = match rel.strip_suffix('/') {
            Some(marker) => (Some(marker), None),
            None => match rel.rsplit_once('/') {
                Some((d, f)) => (Some(d), Some(f)),
                None => (None, Some(rel)),
            },
        };
        if !recursive && (dirs.is_some() && file.is_some() || dirs.is_some_and(|d| d.contains('/')))
        {
            out.push(Err(outside(&obj.key, dir)));
            continue;
        }
        // Every directory level on the way, each checked as an entry name.
        let mut parent = Ok(dir.clone());
        if let Some(dirs) = dirs {
            let mut acc = String::new();
            for (i, element) in dirs.split('/').enumerate() {
                if i > 0 {
                    acc.push('/');
                }
                acc.push_str(element);
                parent = add_dir(&acc, &mut out);
                if parent.is_err() {
                    break;
                }
            }
        }
        let parent = match parent {
            Ok(p) => p,
            Err(e) => {
                out.push(Err(e));
                continue;
            }
        };
        if let Some(name) = file {
            match parent.join_entry(name) {
                Ok(path) => {
                    let mut a = PathAttributes::new(path, EntryKind::File, obj.size.unwrap_or(0));
                    a.modified = obj.last_modified.as_deref().and_then(parse_iso8601);
                    out.push(Ok(a));
                }
                Err(e) => out.push(Err(e)),
            }
        }
    }
    for cp in &page.common_prefixes {
        match cp.prefix.strip_prefix(prefix).and_then(|r| r.strip_suffix('/')) {
            Some(name) if !name.contains('/') => {
                if let Err(e) = add_dir(name, &mut out) {
                    out.push(Err(e));
                }
            }
            _ => out.push(Err(outside(&cp.prefix, dir))),
        }
    }
    out
}

fn join_all(dir: &Path, rel: &str) -> Result<Path> {
    let mut p = dir.clone();
    for element in rel.split('/') {
        p = p.join_entry(element)?;
    }
    Ok(p)
}

fn outside(key: &str, dir: &Path) -> Error {
    Error::InvalidInput(format!(
        "the server listed key {key:?} for {dir}, which is not a child of it; refusing to use it"
    ))
}

#[cfg(test)]
mod tests {
    use rusty_s3::actions::ListObjectsV2;

    use super::*;

    fn page(keys: &[&str], prefixes: &[&str]) -> ListObjectsV2Response {
        let mut xml = String::from(
            r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><EncodingType>url</EncodingType>"#,
        );
        for k in keys {
            xml.push_str(&format!(
                "<Contents><Key>{k}</Key><LastModified>2026-11-27T13:21:05.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>"
            ));
        }
        for p in prefixes {
            xml.push_str(&format!("<CommonPrefixes><Prefix>{p}</Prefix></CommonPrefixes>"));
        }
        xml.push_str("</ListBucketResult>");
        ListObjectsV2::parse_response(&xml).unwrap()
    }

    fn run(keys: &[&str], prefixes: &[&str], recursive: bool) -> (Vec<String>, usize) {
        let dir = Path::new("/data/d").unwrap();
        let items =
            page_entries(&dir, "data/d/", &page(keys, prefixes), recursive, &mut HashSet::new());
        let ok = items
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|a| {
                assert!(a.path.starts_with(&dir));
                format!(
                    "{}{}",
                    a.path.strip_prefix(&dir).unwrap(),
                    if a.is_directory() { "/" } else { "" }
                )
            })
            .collect();
        (ok, items.iter().filter(|r| r.is_err()).count())
    }

    #[test]
    fn flat_listing_with_markers_and_prefixes() {
        let (ok, bad) = run(&["data/d/", "data/d/a b.txt", "data/d/ü"], &["data/d/sub/"], false);
        assert_eq!(ok, ["a b.txt", "ü", "sub/"]);
        assert_eq!(bad, 0);
    }

    #[test]
    fn recursive_listing_synthesises_directories_once() {
        let (ok, bad) = run(&["data/d/x/", "data/d/x/y/f", "data/d/x/y/g", "data/d/z"], &[], true);
        assert_eq!(ok, ["x/", "x/y/", "x/y/f", "x/y/g", "z"]);
        assert_eq!(bad, 0);
    }

    #[test]
    fn hostile_keys_are_rejected() {
        let keys = [
            "data/d/..",
            "data/d/../../etc/passwd",
            "data/d/a//b",
            "data/d/./x",
            "data/d/nul%00byte",
            "other/key",
            "data/dx",
            "data/d/fine",
        ];
        let (ok, bad) = run(&keys, &["data/d/../", "elsewhere/"], true);
        // `a/` is a real prefix (the `a//b` key lies below it); `b` is not used.
        assert_eq!(ok, ["a/", "fine"]);
        assert_eq!(bad, 9);
        let (ok, bad) = run(&["data/d//lead", "data/d/x//", "data/d/y/"], &[], true);
        assert_eq!((ok, bad), (vec!["x/".to_owned(), "y/".to_owned()], 2));
        // Flat listings must not contain nested keys at all.
        let (ok, bad) = run(&["data/d/deep/er", "data/d/fine"], &["data/d/a/b/"], false);
        assert_eq!((ok, bad), (vec!["fine".to_owned()], 2));
    }
}
