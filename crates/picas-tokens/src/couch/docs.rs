//! Databases, documents, `_bulk_docs` and attachments.

use bytes::Bytes;
use hpc_core::{Error, Result};
use hpc_http::url::encode_segment;
use hpc_http::{Body, Request, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::CouchDb;

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Saved; the document's new revision.
    Written {
        /// The new `_rev`.
        rev: String,
    },
    /// 409: the revision sent is not the current one (someone else wrote first).
    Conflict {
        /// The request was repeated after a network failure or 5xx: the first
        /// attempt may have landed, so the conflict may be with ourselves.
        retried: bool,
    },
}

impl WriteOutcome {
    /// The new revision, if written.
    pub fn rev(&self) -> Option<&str> {
        match self {
            WriteOutcome::Written { rev } => Some(rev),
            WriteOutcome::Conflict { .. } => None,
        }
    }
}

/// What `_bulk_docs` did with one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkOutcome {
    /// Saved with this revision.
    Written {
        /// The document id.
        id: String,
        /// The new `_rev`.
        rev: String,
    },
    /// A conflict: a stale `_rev`, or a new document whose id exists.
    Conflict {
        /// The document id.
        id: String,
        /// As in [`WriteOutcome::Conflict`].
        retried: bool,
    },
    /// Refused for another reason (`forbidden`, `unauthorized`, ...).
    Failed {
        /// The document id.
        id: String,
        /// CouchDB's `error` and `reason`.
        reason: String,
    },
}

impl BulkOutcome {
    /// The document id.
    pub fn id(&self) -> &str {
        match self {
            BulkOutcome::Written { id, .. }
            | BulkOutcome::Conflict { id, .. }
            | BulkOutcome::Failed { id, .. } => id,
        }
    }
}

/// `GET /db`: what the pool needs of the database's info.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct DbInfo {
    /// Database name.
    #[serde(default)]
    pub db_name: String,
    /// Documents, design documents included (picas numbers new tokens from it).
    #[serde(default)]
    pub doc_count: u64,
    /// Deleted documents.
    #[serde(default)]
    pub doc_del_count: u64,
    /// The current update sequence (a number or a string).
    #[serde(default)]
    pub update_seq: Value,
}

#[derive(Deserialize)]
pub(super) struct Saved {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    rev: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct BulkItem {
    #[serde(default)]
    id: String,
    #[serde(default)]
    rev: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

impl CouchDb {
    /// `GET /`: the server's welcome (its name and version).
    pub async fn server_info(&self) -> Result<Value> {
        let url = format!("{}/", self.url.server());
        self.call_json("GET /", || Request::get(&url)).await
    }

    /// `PUT /db` (needs a server admin). `Ok(false)`: it existed already.
    pub async fn create_db(&self) -> Result<bool> {
        let url = self.db_path("");
        let what = format!("creating database {}", self.url.db());
        let (resp, retried) = self.call(&what, || Request::put(&url)).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            // 412: it exists; after a repeat, our first attempt may have made it.
            StatusCode::PRECONDITION_FAILED => Ok(retried),
            _ => Err(self.error_from(&what, resp).await),
        }
    }

    /// `GET /db`.
    pub async fn db_info(&self) -> Result<DbInfo> {
        let url = self.db_path("");
        let what = format!("database {}", self.url.db());
        self.call_json(&what, || Request::get(&url)).await
    }

    /// `DELETE /db`. `Ok(false)`: there was none.
    pub async fn delete_db(&self) -> Result<bool> {
        let url = self.db_path("");
        let what = format!("deleting database {}", self.url.db());
        let (resp, retried) = self.call(&what, || Request::delete(&url)).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(retried),
            _ => Err(self.error_from(&what, resp).await),
        }
    }

    /// `GET /db/id`; `None` when there is no such (live) document.
    pub async fn get(&self, id: &str) -> Result<Option<Value>> {
        let url = self.db_path(&doc_path(id));
        let what = format!("GET {}/{id}", self.url.db());
        let (resp, _) = self.call(&what, || Request::get(&url)).await?;
        match resp.status() {
            s if s.is_success() => {
                let doc: Value = self.json(resp).await?;
                match doc.get("_id").and_then(Value::as_str) {
                    Some(got) if got == id => Ok(Some(doc)),
                    got => {
                        let reason = format!("asked for document {id:?}, got {got:?}");
                        Err(Error::parse(what, reason, ""))
                    }
                }
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.error_from(&what, resp).await),
        }
    }

    /// `PUT /db/id` with the whole document (its `_rev` decides: none for a new
    /// document, the current one for an update).
    pub async fn put(&self, doc: &Value) -> Result<WriteOutcome> {
        let id = doc
            .get("_id")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::InvalidInput("a document to PUT needs a string _id".into()))?;
        let url = self.db_path(&doc_path(id));
        let what = format!("PUT {}/{id}", self.url.db());
        let sent = Sent { id, rev: doc.get("_rev").and_then(Value::as_str) };
        let body = serde_json::to_vec(doc)
            .map_err(|e| Error::InvalidInput(format!("cannot encode document {id}: {e}")))?;
        let body = Bytes::from(body);
        let (resp, retried) = self
            .call(&what, || {
                Request::put(&url)
                    .header("content-type", "application/json")
                    .body(Body::bytes(body.clone()))
            })
            .await?;
        self.write_outcome(&what, resp, retried, sent).await
    }

    /// `DELETE /db/id?rev=`.
    pub async fn delete(&self, id: &str, rev: &str) -> Result<WriteOutcome> {
        let url = format!("{}?rev={}", self.db_path(&doc_path(id)), encode_segment(rev));
        let what = format!("DELETE {}/{id}", self.url.db());
        let (resp, retried) = self.call(&what, || Request::delete(&url)).await?;
        self.write_outcome(&what, resp, retried, Sent { id, rev: Some(rev) }).await
    }

    /// `POST /db/_bulk_docs`: one outcome per document, in order. Documents
    /// are independent: some may be written while others conflict.
    pub async fn bulk(&self, docs: &[Value]) -> Result<Vec<BulkOutcome>> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let url = self.db_path("_bulk_docs");
        let what = format!("POST {}/_bulk_docs ({} documents)", self.url.db(), docs.len());
        let body = serde_json::to_vec(&json!({ "docs": docs }))
            .map_err(|e| Error::InvalidInput(format!("cannot encode documents: {e}")))?;
        let body = Bytes::from(body);
        let (resp, retried) = self
            .call(&what, || {
                Request::post(&url)
                    .header("content-type", "application/json")
                    .body(Body::bytes(body.clone()))
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.error_from(&what, resp).await);
        }
        let items: Vec<BulkItem> = self.json(resp).await?;
        if items.len() != docs.len() {
            let reason = format!("{} answers for {} documents", items.len(), docs.len());
            return Err(Error::parse(what, reason, ""));
        }
        let items = answers_in_order(&what, docs, items)?;
        // A revision that cannot follow the one sent is not believed: the
        // caller would take a token it never wrote as written.
        for (doc, item) in docs.iter().zip(&items) {
            let sent = Sent { id: &item.id, rev: doc.get("_rev").and_then(Value::as_str) };
            if let (Some(rev), None) = (&item.rev, &item.error) {
                sent.check_rev(&what, rev)?;
            }
        }
        Ok(items
            .into_iter()
            .map(|item| match (item.rev, item.error) {
                (Some(rev), None) => BulkOutcome::Written { id: item.id, rev },
                (_, Some(e)) if e == "conflict" => BulkOutcome::Conflict { id: item.id, retried },
                (_, e) => BulkOutcome::Failed {
                    id: item.id,
                    reason: format!(
                        "{}: {}",
                        e.unwrap_or_else(|| "no revision".into()),
                        item.reason.unwrap_or_default()
                    ),
                },
            })
            .collect())
    }

    /// `PUT /db/id/name?rev=`: a standalone attachment write.
    pub async fn put_attachment(
        &self,
        id: &str,
        rev: &str,
        name: &str,
        content_type: &str,
        data: Bytes,
    ) -> Result<WriteOutcome> {
        let url = format!(
            "{}/{}?rev={}",
            self.db_path(&doc_path(id)),
            encode_segment(name),
            encode_segment(rev)
        );
        let what = format!("PUT {}/{id}/{name}", self.url.db());
        let sent = Sent { id, rev: Some(rev) };
        let (resp, retried) = self
            .call(&what, || {
                Request::put(&url)
                    .header("content-type", content_type)
                    .body(Body::bytes(data.clone()))
            })
            .await?;
        self.write_outcome(&what, resp, retried, sent).await
    }

    /// `GET /db/id/name`: the attachment's bytes, `None` if absent.
    pub async fn get_attachment(&self, id: &str, name: &str) -> Result<Option<Bytes>> {
        let url = format!("{}/{}", self.db_path(&doc_path(id)), encode_segment(name));
        let what = format!("GET {}/{id}/{name}", self.url.db());
        let (resp, _) = self.call(&what, || Request::get(&url)).await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(resp.bytes_at_most(self.max_answer).await?)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.error_from(&what, resp).await),
        }
    }

    async fn write_outcome(
        &self,
        what: &str,
        resp: hpc_http::Response,
        retried: bool,
        sent: Sent<'_>,
    ) -> Result<WriteOutcome> {
        match resp.status() {
            StatusCode::CONFLICT => Ok(WriteOutcome::Conflict { retried }),
            s if s.is_success() => {
                let saved: Saved = self.json(resp).await?;
                if let Some(id) = saved.id.as_deref().filter(|id| *id != sent.id) {
                    let reason = format!("the answer for document {:?} names {id:?}", sent.id);
                    return Err(Error::parse(what, reason, ""));
                }
                sent.check_rev(what, &saved.rev)?;
                Ok(WriteOutcome::Written { rev: saved.rev })
            }
            _ => Err(self.error_from(what, resp).await),
        }
    }
}

/// The answers of a `_bulk_docs` call in the order of the documents sent.
/// CouchDB answers in that order, but pouchdb-server was seen answering out
/// of it (a worker's write across a server restart), so answers are matched
/// by id; documents without an `_id` (the server names them) take the
/// remaining answers in order. An answer for a document that was not sent,
/// or a document left without an answer, is an error: the caller would take
/// a token it never wrote as written.
fn answers_in_order(what: &str, docs: &[Value], items: Vec<BulkItem>) -> Result<Vec<BulkItem>> {
    let ids: Vec<Option<&str>> =
        docs.iter().map(|d| d.get("_id").and_then(Value::as_str)).collect();
    let mut slots: Vec<Option<BulkItem>> = docs.iter().map(|_| None).collect();
    let mut unnamed = std::collections::VecDeque::new();
    for item in items {
        let slot = (0..ids.len()).find(|&i| slots[i].is_none() && ids[i] == Some(item.id.as_str()));
        match slot {
            Some(i) => slots[i] = Some(item),
            None => unnamed.push_back(item),
        }
    }
    for (slot, id) in slots.iter_mut().zip(&ids) {
        if slot.is_none() && id.is_none() {
            *slot = unnamed.pop_front();
        }
    }
    if let Some(stray) = unnamed.front() {
        let reason = format!("an answer names {:?}, a document that was not sent", stray.id);
        return Err(Error::parse(what, reason, ""));
    }
    slots
        .into_iter()
        .zip(&ids)
        .map(|(slot, id)| {
            slot.ok_or_else(|| {
                let reason = format!("no answer for document {:?}", id.unwrap_or(""));
                Error::parse(what, reason, "")
            })
        })
        .collect()
}

/// What a write sent: the document id and the revision it replaces.
#[derive(Clone, Copy)]
struct Sent<'a> {
    id: &'a str,
    rev: Option<&'a str>,
}

impl Sent<'_> {
    /// A written document's new revision is `N+1-...` after `N-...`, any
    /// `N-...` for a new one (a document recreated over a deleted one goes on
    /// from its generation); anything else is not a revision CouchDB gives.
    fn check_rev(&self, what: &str, new: &str) -> Result<()> {
        let generation = |rev: &str| -> Option<u64> {
            let (n, hash) = rev.split_once('-')?;
            (!hash.is_empty()).then_some(())?;
            n.parse().ok().filter(|n| *n > 0)
        };
        let fits = match (self.rev.map(generation), generation(new)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(Some(old)), Some(n)) => old.checked_add(1) == Some(n),
            // A revision we cannot read ourselves: nothing to compare.
            (Some(None), Some(_)) => true,
        };
        if fits {
            return Ok(());
        }
        let reason = match self.rev {
            Some(old) => {
                format!("document {:?} written at revision {new:?} after {old:?}", self.id)
            }
            None => format!("document {:?} written at revision {new:?}", self.id),
        };
        Err(Error::parse(what, reason, ""))
    }
}

/// A document id as a path: `_design/x` keeps its slash, everything else is
/// one encoded segment.
fn doc_path(id: &str) -> String {
    match id.strip_prefix("_design/") {
        Some(name) => format!("_design/{}", encode_segment(name)),
        None => encode_segment(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str) -> BulkItem {
        BulkItem { id: id.into(), rev: Some("2-x".into()), error: None, reason: None }
    }

    /// Seen from pouchdb-server across a restart: the answers of a batch in
    /// another order than its documents. They are put back in order by id.
    #[test]
    fn bulk_answers_are_matched_to_documents_by_id() {
        let docs = [json!({"_id": "r03"}), json!({"_id": "r11"}), json!({"x": 1})];
        let ordered =
            answers_in_order("POST", &docs, vec![item("r11"), item("auto"), item("r03")]).unwrap();
        let ids: Vec<&str> = ordered.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["r03", "r11", "auto"]);

        let stray = answers_in_order("POST", &docs[..2], vec![item("r11"), item("r99")]);
        assert!(stray.unwrap_err().to_string().contains("names \"r99\""));
        let twice = answers_in_order("POST", &docs[..2], vec![item("r11"), item("r11")]);
        assert!(twice.unwrap_err().to_string().contains("not sent"));
    }

    #[test]
    fn new_revisions_follow_the_sent_ones() {
        let check = |sent: Option<&str>, new: &str| {
            Sent { id: "t", rev: sent }.check_rev("PUT db/t", new).is_ok()
        };
        assert!(check(None, "1-abc") && check(None, "3-abc"));
        assert!(check(Some("1-abc"), "2-def") && check(Some("41-x"), "42-y"));
        for (sent, new) in [
            (Some("1-abc"), "1-def"),
            (Some("3-abc"), "2-def"),
            (Some("3-abc"), "5-def"),
            (Some("18446744073709551615-a"), "0-b"),
            (None, ""),
            (None, "0-x"),
            (None, "x-y"),
            (None, "7-"),
        ] {
            assert!(!check(sent, new), "{sent:?} then {new:?}");
        }
    }

    #[test]
    fn design_documents_keep_their_slash() {
        assert_eq!(doc_path("_design/Monitor"), "_design/Monitor");
        assert_eq!(doc_path("a/b c"), "a%2Fb%20c");
    }
}
