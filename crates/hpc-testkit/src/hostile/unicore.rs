//! UNICORE storage answers for [`HttpServer`]: storage `HOME` of site
//! `SITE`, whose directory `/dir` lists whatever a test wants (keys that
//! climb, absolute paths elsewhere, NUL, huge sizes) or answers with a
//! hostile body (endless, a huge `Content-Length`, not JSON).

use serde_json::{Map, Value, json};

use super::http::{Answer, HttpServer, RequestHead};

/// The site's name in every URL.
pub const SITE: &str = "SITE";
/// The listed directory on the storage.
pub const DIR: &str = "/dir";

/// One entry of a storage listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key of `content`, exactly as sent (UNICORE sends storage-absolute
    /// paths, directories with a trailing `/`).
    pub key: String,
    /// `isDirectory`.
    pub is_dir: bool,
    /// `size`.
    pub size: u64,
}

impl Entry {
    /// A file of `size` bytes.
    pub fn file(key: impl Into<String>, size: u64) -> Entry {
        Entry { key: key.into(), is_dir: false, size }
    }

    /// A directory.
    pub fn dir(key: impl Into<String>) -> Entry {
        Entry { key: key.into(), is_dir: true, size: 0 }
    }
}

/// The JSON a storage answers for a directory holding `entries`.
pub fn listing(entries: &[Entry]) -> String {
    let mut content = Map::new();
    for e in entries {
        content.insert(e.key.clone(), json!({"isDirectory": e.is_dir, "size": e.size}));
    }
    json!({"isDirectory": true, "size": 0, "content": Value::Object(content)}).to_string()
}

/// How `GET .../files/dir` (and every directory below it) answers.
#[derive(Debug, Clone)]
pub enum Listing {
    /// A listing of these entries (the same for `/dir` and every directory
    /// in it, as a server that ignores the path would answer).
    Entries(Vec<Entry>),
    /// This answer, whatever it is.
    Raw(Answer),
}

/// A storage whose `/dir` answers as `listing` says; a file entry's stat
/// gives its size, and reading any file gives `content`.
pub async fn storage(listing: Listing, content: &'static [u8]) -> HttpServer {
    let files = format!("/{SITE}/rest/core/storages/HOME/files");
    HttpServer::start(move |req: &RequestHead| {
        if req.method != "GET" {
            return Answer::status(405);
        }
        let path = req.path();
        let Some(rest) = path.strip_prefix(&files) else {
            // The storage itself: ready.
            return Answer::full(200, "application/json", r#"{"resourceStatus":"READY"}"#);
        };
        if req.header("accept").is_some_and(|a| a.contains("octet-stream")) {
            return Answer::full(200, "application/octet-stream", content);
        }
        let entries = match &listing {
            Listing::Raw(answer) => return answer.clone(),
            Listing::Entries(entries) => entries,
        };
        let wanted = rest.trim_end_matches('/');
        let file = entries
            .iter()
            .find(|e| !e.is_dir && wanted != DIR && e.key.trim_end_matches('/') == wanted);
        match file {
            Some(e) => Answer::full(
                200,
                "application/json",
                json!({"isDirectory": false, "size": e.size}).to_string(),
            ),
            None => Answer::full(200, "application/json", self::listing(entries)),
        }
    })
    .await
}

/// `unicore+http://127.0.0.1:port/SITE/storages/HOME{path}`.
pub fn url(server: &HttpServer, path: &str) -> String {
    format!("unicore+http://{}/{SITE}/storages/HOME{path}", server.authority())
}
