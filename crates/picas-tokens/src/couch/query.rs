//! Views, `_all_docs` and `_changes`.

use std::time::Duration;

use bytes::Bytes;
use hpc_core::{Error, Result};
use hpc_http::url::encode_segment;
use hpc_http::{Body, Request};
use serde::Deserialize;
use serde_json::{Value, json};

use super::CouchDb;

/// Options of a view or `_all_docs` query (JSON-encoded into the query
/// string, as CouchDB wants; `keys` goes into a POST body).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewQuery {
    /// Only rows with this key.
    pub key: Option<Value>,
    /// Only rows with these keys (sent as POST).
    pub keys: Option<Vec<Value>>,
    /// First key.
    pub start_key: Option<Value>,
    /// Last key (inclusive).
    pub end_key: Option<Value>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Skip this many rows first.
    pub skip: Option<u64>,
    /// Return rows in reverse order.
    pub descending: bool,
    /// Add each row's document.
    pub include_docs: bool,
    /// `Some(false)`: rows of a view that has a reduce function, unreduced.
    pub reduce: Option<bool>,
    /// Group reduced rows by key.
    pub group: bool,
}

impl ViewQuery {
    /// No options.
    pub fn new() -> Self {
        ViewQuery::default()
    }

    /// With `limit`.
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// With `skip`.
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = Some(n);
        self
    }

    /// With `include_docs=true`.
    pub fn include_docs(mut self) -> Self {
        self.include_docs = true;
        self
    }

    /// With `group=true`.
    pub fn group(mut self) -> Self {
        self.group = true;
        self
    }

    /// With `reduce=false`.
    pub fn no_reduce(mut self) -> Self {
        self.reduce = Some(false);
        self
    }

    /// With `startkey`.
    pub fn start_key(mut self, key: impl Into<Value>) -> Self {
        self.start_key = Some(key.into());
        self
    }

    /// With `keys` (POST).
    pub fn keys(mut self, keys: Vec<Value>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The query string (without `?`).
    pub fn to_query(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut json_param = |name: &str, v: &Value| {
            parts.push(format!("{name}={}", encode_segment(&v.to_string())));
        };
        if let Some(k) = &self.key {
            json_param("key", k);
        }
        if let Some(k) = &self.start_key {
            json_param("startkey", k);
        }
        if let Some(k) = &self.end_key {
            json_param("endkey", k);
        }
        if let Some(n) = self.limit {
            parts.push(format!("limit={n}"));
        }
        if let Some(n) = self.skip.filter(|n| *n > 0) {
            parts.push(format!("skip={n}"));
        }
        if self.descending {
            parts.push("descending=true".into());
        }
        if self.include_docs {
            parts.push("include_docs=true".into());
        }
        if let Some(r) = self.reduce {
            parts.push(format!("reduce={r}"));
        }
        if self.group {
            parts.push("group=true".into());
        }
        parts.join("&")
    }
}

/// A view or `_all_docs` answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct ViewResult {
    /// Rows in the whole view (absent for reduced answers).
    #[serde(default)]
    pub total_rows: Option<u64>,
    /// Index of the first row returned.
    #[serde(default)]
    pub offset: Option<u64>,
    /// The rows.
    #[serde(default)]
    pub rows: Vec<ViewRow>,
}

/// One row.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct ViewRow {
    /// The document id (absent for reduced rows).
    #[serde(default)]
    pub id: Option<String>,
    /// The emitted key.
    #[serde(default)]
    pub key: Value,
    /// The emitted value.
    #[serde(default)]
    pub value: Value,
    /// The document, with `include_docs` (null if deleted since).
    #[serde(default)]
    pub doc: Option<Value>,
}

/// Options of a `_changes` request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangesQuery {
    /// Changes after this sequence (`None`: from the start; `"now"` works too).
    pub since: Option<Value>,
    /// At most this many.
    pub limit: Option<u64>,
    /// Long poll: wait up to this long for a change when there is none.
    pub wait: Option<Duration>,
    /// Add each changed document.
    pub include_docs: bool,
}

/// A `_changes` answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct Changes {
    /// The changes.
    #[serde(default)]
    pub results: Vec<Change>,
    /// Where to continue from.
    #[serde(default)]
    pub last_seq: Value,
}

/// One changed document.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Change {
    /// Its id.
    pub id: String,
    /// Its sequence.
    #[serde(default)]
    pub seq: Value,
    /// Whether it was deleted.
    #[serde(default)]
    pub deleted: bool,
    /// The document, with `include_docs`.
    #[serde(default)]
    pub doc: Option<Value>,
}

impl CouchDb {
    /// Query `_design/<ddoc>/_view/<view>`.
    pub async fn view(&self, ddoc: &str, view: &str, query: &ViewQuery) -> Result<ViewResult> {
        let path = format!("_design/{}/_view/{}", encode_segment(ddoc), encode_segment(view));
        let what = format!("view {ddoc}/{view} of {}", self.url.db());
        self.rows(&what, &path, query).await
    }

    /// Query `_all_docs`.
    pub async fn all_docs(&self, query: &ViewQuery) -> Result<ViewResult> {
        let what = format!("_all_docs of {}", self.url.db());
        self.rows(&what, "_all_docs", query).await
    }

    async fn rows(&self, what: &str, path: &str, query: &ViewQuery) -> Result<ViewResult> {
        let qs = query.to_query();
        let url =
            if qs.is_empty() { self.db_path(path) } else { format!("{}?{qs}", self.db_path(path)) };
        match &query.keys {
            None => self.call_json(what, || Request::get(&url)).await,
            Some(keys) => {
                let body = Bytes::from(
                    serde_json::to_vec(&json!({ "keys": keys }))
                        .map_err(|e| Error::InvalidInput(format!("cannot encode keys: {e}")))?,
                );
                self.call_json(what, || {
                    Request::post(&url)
                        .header("content-type", "application/json")
                        .body(Body::bytes(body.clone()))
                })
                .await
            }
        }
    }

    /// `GET /db/_changes` (normal or long poll).
    pub async fn changes(&self, query: &ChangesQuery) -> Result<Changes> {
        let mut parts: Vec<String> = Vec::new();
        if let Some(since) = &query.since {
            let text = match since {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            parts.push(format!("since={}", encode_segment(&text)));
        }
        if let Some(n) = query.limit {
            parts.push(format!("limit={n}"));
        }
        if let Some(wait) = query.wait {
            parts.push("feed=longpoll".into());
            parts.push(format!("timeout={}", wait.as_millis().max(1)));
        }
        if query.include_docs {
            parts.push("include_docs=true".into());
        }
        let mut url = self.db_path("_changes");
        if !parts.is_empty() {
            url = format!("{url}?{}", parts.join("&"));
        }
        let what = format!("_changes of {}", self.url.db());
        self.call_json(&what, || Request::get(&url)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_json_encoded() {
        let q = ViewQuery::new().limit(5).include_docs().start_key("token_1").skip(0);
        assert_eq!(q.to_query(), "startkey=%22token_1%22&limit=5&include_docs=true");
        assert_eq!(ViewQuery::new().group().to_query(), "group=true");
        assert_eq!(ViewQuery::new().no_reduce().skip(3).to_query(), "skip=3&reduce=false");
    }
}
