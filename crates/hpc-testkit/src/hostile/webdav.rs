//! WebDAV answers for [`HttpServer`]: a
//! collection whose `Depth: 1` listing is whatever a test wants it to be
//! (hrefs on other hosts, the same entry twice, a body that is not XML).

use super::http::{Answer, HttpServer, RequestHead};

/// One `<response>` of a multistatus answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The `href` exactly as sent (a path or a full URL).
    pub href: String,
    /// A collection (directory).
    pub collection: bool,
    /// `getcontentlength`.
    pub size: u64,
}

impl Entry {
    /// A file of `size` bytes.
    pub fn file(href: impl Into<String>, size: u64) -> Entry {
        Entry { href: href.into(), collection: false, size }
    }

    /// A collection.
    pub fn collection(href: impl Into<String>) -> Entry {
        Entry { href: href.into(), collection: true, size: 0 }
    }
}

/// A `207 Multi-Status` body listing `entries`.
pub fn multistatus(entries: &[Entry]) -> String {
    let mut xml =
        String::from(r#"<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">"#);
    for e in entries {
        let rt = if e.collection { "<D:collection/>" } else { "" };
        xml.push_str(&format!(
            "<D:response><D:href>{}</D:href><D:propstat><D:prop><D:resourcetype>{rt}</D:resourcetype>\
             <D:getcontentlength>{}</D:getcontentlength></D:prop>\
             <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
            e.href, e.size
        ));
    }
    xml + "</D:multistatus>"
}

/// How the collection at `dir` answers `PROPFIND`.
#[derive(Debug, Clone)]
pub enum Listing {
    /// `Depth: 0` names `dir`; `Depth: 1` names `dir` and these entries.
    Entries(Vec<Entry>),
    /// Every `PROPFIND` gets `207` with this body, whatever it is.
    Raw(String),
}

/// A WebDAV server with one collection `dir` (`/dav/dir/`): PROPFIND as
/// `listing` says, `GET` of any other path answers `content` (so the
/// entries can be copied).
pub async fn server(dir: &str, listing: Listing, content: &'static [u8]) -> HttpServer {
    let dir = format!("/{}/", dir.trim_matches('/'));
    HttpServer::start(move |req: &RequestHead| match req.method.as_str() {
        "PROPFIND" => {
            let body = match &listing {
                Listing::Raw(text) => text.clone(),
                Listing::Entries(entries) => {
                    let path = req.path();
                    let trimmed = path.trim_end_matches('/');
                    let mut all = vec![Entry::collection(dir.clone())];
                    if trimmed == dir.trim_end_matches('/') {
                        if req.header("depth") == Some("1") {
                            all.extend(entries.iter().cloned());
                        }
                    } else if let Some(e) =
                        entries.iter().find(|e| e.href.trim_end_matches('/').ends_with(trimmed))
                    {
                        all = vec![Entry { href: path.to_owned(), ..e.clone() }];
                    } else if !dir.starts_with(&format!("{trimmed}/")) {
                        return Answer::status(404);
                    }
                    multistatus(&all)
                }
            };
            Answer::full(207, "application/xml; charset=utf-8", body)
        }
        "GET" => Answer::full(200, "application/octet-stream", content),
        _ => Answer::status(405),
    })
    .await
}
