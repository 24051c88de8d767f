//! Turning a `Depth: 1` PROPFIND answer into directory entries, checking
//! that every href names a direct child of the listed collection.

use hpc_core::{EntryKind, Error, Path, PathAttributes, Result};

use super::parse::DavEntry;

/// The entries of a Depth 1 answer for `dir` on the server at `endpoint`
/// (`http[s]://host[:port]`), each checked to be a direct child on that
/// same server (built with `join_entry`); anything else becomes an error item.
pub(super) fn children(
    dir: &Path,
    endpoint: &str,
    entries: Vec<DavEntry>,
) -> Result<Vec<Result<PathAttributes>>> {
    let dir_text = dir.to_string();
    let prefix = if dir.is_root() { "/".to_owned() } else { format!("{dir_text}/") };
    let mut saw_self = false;
    let mut out = Vec::new();
    for e in entries {
        let decoded = match href_path(&e.href, endpoint) {
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

/// The decoded path of an href: an absolute path, or a full URL on the
/// server at `endpoint` (another host's URL is refused, whatever its path).
fn href_path(href: &str, endpoint: &str) -> Result<String> {
    let path = match href.split_once("://") {
        Some((scheme, after)) => {
            let (authority, path) = after.find('/').map_or((after, "/"), |j| after.split_at(j));
            if origin(scheme, authority) != origin_of(endpoint) {
                return Err(Error::InvalidInput(format!(
                    "the server listed {href:?}, which is on another server than {endpoint}; refusing to use it"
                )));
            }
            path
        }
        None => href,
    };
    if !path.starts_with('/') {
        return Err(Error::InvalidInput(format!("the server sent a relative href {href:?}")));
    }
    hpc_http::url::decode(path)
}

/// `(scheme, host, port)` of an URL's parts, lower-case, with the scheme's
/// default port filled in, so `http://H:80` and `http://h` compare equal.
fn origin(scheme: &str, authority: &str) -> (String, String, String) {
    let scheme = scheme.to_ascii_lowercase();
    let host_port = authority.rsplit('@').next().unwrap_or(authority).to_ascii_lowercase();
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h.to_owned(), p.to_owned()),
        _ => (host_port.clone(), String::new()),
    };
    let port = if port.is_empty() {
        if scheme == "https" { "443".to_owned() } else { "80".to_owned() }
    } else {
        port
    };
    (scheme, host, port)
}

fn origin_of(endpoint: &str) -> (String, String, String) {
    let (scheme, authority) = endpoint.split_once("://").unwrap_or(("http", endpoint));
    origin(scheme, authority.trim_end_matches('/'))
}

pub(super) fn attrs(path: Path, e: &DavEntry) -> PathAttributes {
    let kind = if e.is_collection { EntryKind::Directory } else { EntryKind::File };
    let mut a = PathAttributes::new(path, kind, e.size.unwrap_or(0));
    a.modified = e.modified;
    a.created = e.created;
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webdav::parse;

    const ENDPOINT: &str = "http://dav.example";

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
            "http://evil.example/dav/d/f2",
            "http://dav.example:8080/dav/d/f3",
            "https://dav.example/dav/d/f4",
            "http://DAV.example:80/dav/d/fine",
        ]);
        let items = children(&dir, ENDPOINT, parse::parse(&xml).unwrap()).unwrap();
        let ok: Vec<String> =
            items.iter().filter_map(|r| r.as_ref().ok()).map(|a| a.path.to_string()).collect();
        assert_eq!(ok, ["/dav/d/ok file", "/dav/d/sub", "/dav/d/fine"]);
        assert_eq!(items.iter().filter(|r| r.is_err()).count(), 11);
        let other =
            items.iter().filter_map(|r| r.as_ref().err()).find(|e| e.to_string().contains("f2"));
        assert!(other.unwrap().to_string().contains("another server"));
        for a in items.iter().flatten() {
            assert!(a.path.starts_with(&dir));
        }
        assert!(items[1].as_ref().unwrap().is_directory());
    }

    #[test]
    fn listing_a_file_or_nothing() {
        let dir = Path::new("/dav/f").unwrap();
        let xml = r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/f</D:href><D:propstat><D:prop><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"#;
        let e = children(&dir, ENDPOINT, parse::parse(xml).unwrap()).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        assert!(children(&dir, ENDPOINT, Vec::new()).unwrap_err().is_not_found());
        let root = children(&Path::root(), ENDPOINT, parse::parse(&listing(&["/", "/a"])).unwrap())
            .unwrap();
        assert_eq!(root[0].as_ref().unwrap().path.to_string(), "/a");
    }

    #[test]
    fn hrefs() {
        assert_eq!(href_path("/dav/a%20b/", ENDPOINT).unwrap(), "/dav/a b/");
        assert_eq!(href_path("http://h:1/dav/%c3%a9", "http://h:1").unwrap(), "/dav/é");
        assert_eq!(href_path("https://u@H/x", "https://h:443").unwrap(), "/x");
        assert!(href_path("http://other.host/dav/dir/f2", "http://h:1").is_err());
        assert!(href_path("http://h:2/x", "http://h:1").is_err());
        assert!(href_path("relative", ENDPOINT).is_err());
        assert!(href_path("/dav/a%00b", ENDPOINT).is_err());
    }
}
