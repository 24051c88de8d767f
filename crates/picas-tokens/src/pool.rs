//! [`TokenPool`]: a database of tokens with its design document: push, read,
//! count, and change tokens in bulk (reset, scrub, unlock, delete, recover).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use hpc_core::{Error, Result};
use serde_json::{Map, Value};

use crate::couch::{BulkOutcome, CouchDb, ViewQuery, WriteOutcome};
use crate::host::now_secs;
use crate::token::{ClaimInfo, Token, TokenState};
use crate::views::{DesignDoc, STATE_VIEWS, ViewsOutcome, ensure_views};

/// Documents per `_bulk_docs` request and per page of a view.
pub(crate) const PAGE: usize = 500;

/// A token pool: one CouchDB database and the design document whose views
/// sort its tokens.
#[derive(Debug, Clone)]
pub struct TokenPool {
    pub(crate) db: CouchDb,
    pub(crate) design: DesignDoc,
    pub(crate) claim: ClaimInfo,
    pub(crate) lease: Duration,
}

/// Counts per state view (`overview_total`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Waiting.
    pub todo: u64,
    /// Claimed.
    pub locked: u64,
    /// Finished with exit code 0.
    pub done: u64,
    /// Failed.
    pub error: u64,
}

impl Counts {
    /// All four together.
    pub fn total(&self) -> u64 {
        // Saturating: the numbers are the server's, and a hostile one could
        // send four that overflow together.
        self.todo.saturating_add(self.locked).saturating_add(self.done).saturating_add(self.error)
    }

    /// The rows of `overview_total` grouped by key.
    pub(crate) fn from_rows(rows: &[crate::couch::ViewRow]) -> Counts {
        let mut c = Counts::default();
        for row in rows {
            let n = row.value.as_u64().unwrap_or(0);
            match row.key.as_str() {
                Some("todo") => c.todo = n,
                Some("locked") => c.locked = n,
                Some("done") => c.done = n,
                Some("error") => c.error = n,
                _ => {}
            }
        }
        c
    }
}

/// What a bulk push or change did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BulkReport {
    /// Ids written.
    pub written: Vec<String>,
    /// Ids that conflicted (already exist, or changed meanwhile).
    pub conflicts: Vec<String>,
    /// Ids refused, with the reason.
    pub failed: Vec<(String, String)>,
}

impl BulkReport {
    fn add(&mut self, outcomes: Vec<BulkOutcome>) {
        for o in outcomes {
            match o {
                BulkOutcome::Written { id, .. } => self.written.push(id),
                BulkOutcome::Conflict { id, .. } => self.conflicts.push(id),
                BulkOutcome::Failed { id, reason } => self.failed.push((id, reason)),
            }
        }
    }
}

/// One token in the error view, for monitoring.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErroredToken {
    /// Its id.
    pub id: String,
    /// Its exit code, if any.
    pub exit_code: Option<i64>,
    /// How often it was scrubbed.
    pub scrub_count: i64,
    /// Where it ran last.
    pub hostname: String,
    /// The last recorded reason (the newest `error` entry, else the exit code).
    pub reason: String,
}

/// Which tokens a bulk change touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The view to take them from (`locked`, `error`, ...).
    pub view: String,
    /// Only tokens locked longer than this (picas' `resetTokens.py` hours).
    pub older_than: Option<Duration>,
}

impl Selection {
    /// Every token of `view`.
    pub fn view(view: impl Into<String>) -> Self {
        Selection { view: view.into(), older_than: None }
    }

    /// Only those locked more than `age` ago.
    pub fn older_than(mut self, age: Duration) -> Self {
        self.older_than = Some(age);
        self
    }

    fn matches(&self, token: &Token, now: i64) -> bool {
        match self.older_than {
            None => true,
            Some(age) => now - token.lock() > age.as_secs() as i64,
        }
    }
}

/// What `recover` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecoverReport {
    /// Tokens whose lease had expired, now back in todo.
    pub returned: Vec<String>,
    /// Locked tokens with a live lease.
    pub alive: usize,
    /// Expired, but changed meanwhile (their worker came back): left alone.
    pub raced: Vec<String>,
    /// Locked without any lease (claimed by a client without leases).
    pub without_lease: usize,
}

impl TokenPool {
    /// The pool in `db` with `_design/Monitor`, a claim id for this process
    /// and a 10-minute lease.
    pub fn new(db: CouchDb) -> Self {
        TokenPool {
            db,
            design: DesignDoc::monitor(),
            claim: ClaimInfo::for_this_process(),
            lease: Duration::from_secs(600),
        }
    }

    /// Use another design document (its views must exist).
    pub fn with_design(mut self, design: DesignDoc) -> Self {
        self.design = design;
        self
    }

    /// Lease length of claims: a worker renews it every third of it; a
    /// token whose lease ran out may be returned to todo by `recover`.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(3));
        self
    }

    /// Claim as someone else (tests, wrappers).
    pub fn with_claim_info(mut self, claim: ClaimInfo) -> Self {
        self.claim = claim;
        self
    }

    /// The database client.
    pub fn db(&self) -> &CouchDb {
        &self.db
    }

    /// The design document.
    pub fn design(&self) -> &DesignDoc {
        &self.design
    }

    /// Who claims (owner id, host, job id).
    pub fn claim_info(&self) -> &ClaimInfo {
        &self.claim
    }

    /// The lease length.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Create the database if needed (as a server admin) and write the views.
    pub async fn ensure_views(&self) -> Result<ViewsOutcome> {
        ensure_views(&self.db, &self.design).await
    }

    /// Save new tokens in `_bulk_docs` requests of 500. An id that exists is a
    /// conflict (nothing is overwritten).
    pub async fn push(&self, tokens: Vec<Token>) -> Result<BulkReport> {
        let mut report = BulkReport::default();
        for chunk in tokens.chunks(PAGE) {
            let docs: Vec<Value> = chunk.iter().map(|t| t.clone().into_value()).collect();
            report.add(self.db.bulk(&docs).await?);
        }
        Ok(report)
    }

    /// Save new tokens named `<prefix><n>`, numbered from the database's
    /// document count as picas' push script does; ids already taken are
    /// skipped by numbering on, so no token is dropped.
    pub async fn push_numbered(
        &self,
        prefix: &str,
        fields: Vec<Map<String, Value>>,
    ) -> Result<BulkReport> {
        let mut next = self.db.db_info().await?.doc_count;
        let mut pending: Vec<Map<String, Value>> = fields;
        let mut report = BulkReport::default();
        for _ in 0..20 {
            if pending.is_empty() {
                return Ok(report);
            }
            let mut batch = Vec::with_capacity(pending.len());
            let mut by_id = BTreeMap::new();
            for f in pending.drain(..) {
                let id = format!("{prefix}{next}");
                next += 1;
                batch.push(Token::from_fields(id.clone(), f.clone())?);
                by_id.insert(id, f);
            }
            let mut round = self.push(batch).await?;
            report.written.append(&mut round.written);
            report.failed.append(&mut round.failed);
            for id in round.conflicts {
                if let Some(f) = by_id.remove(&id) {
                    pending.push(f);
                }
            }
        }
        let message = format!("{} tokens found no free id after 20 rounds", pending.len());
        Err(Error::remote("couchdb", Some(409), message))
    }

    /// One token.
    pub async fn get(&self, id: &str) -> Result<Option<Token>> {
        self.db.get(id).await?.map(Token::from_value).transpose()
    }

    /// Write a token with its `_rev` (its new revision is set on success).
    pub async fn save(&self, token: &mut Token) -> Result<WriteOutcome> {
        let outcome = self.db.put(&token.clone().into_value()).await?;
        if let WriteOutcome::Written { rev } = &outcome {
            token.set_rev(rev.clone());
        }
        Ok(outcome)
    }

    /// Tokens of a view of this pool's design document, with their documents,
    /// in pages of 500 (`limit` caps the total).
    pub async fn tokens_in(&self, view: &str, limit: Option<usize>) -> Result<Vec<Token>> {
        let mut out = Vec::new();
        let mut start: Option<Value> = None;
        loop {
            let want = limit.map_or(PAGE, |l| (l - out.len()).min(PAGE));
            if want == 0 {
                return Ok(out);
            }
            let mut q = ViewQuery::new().include_docs().limit(want as u64);
            if let Some(k) = start.take() {
                q = q.start_key(k).skip(1);
            }
            let res = self.db.view(&self.design.name, view, &q).await?;
            let n = res.rows.len();
            for row in res.rows {
                start = Some(row.key.clone());
                if let Some(doc) = row.doc.filter(Value::is_object) {
                    out.push(Token::from_value(doc)?);
                }
            }
            if n < want {
                return Ok(out);
            }
        }
    }

    /// Tokens per state (`overview_total` grouped by key).
    pub async fn counts(&self) -> Result<Counts> {
        let res =
            self.db.view(&self.design.name, "overview_total", &ViewQuery::new().group()).await?;
        Ok(Counts::from_rows(&res.rows))
    }

    /// Rows per view counted one by one (for checks against `overview_total`).
    pub async fn view_sizes(&self) -> Result<BTreeMap<String, u64>> {
        let mut sizes = BTreeMap::new();
        for v in STATE_VIEWS {
            let res = self.db.view(&self.design.name, v, &ViewQuery::new().limit(0)).await?;
            sizes.insert(v.to_owned(), res.total_rows.unwrap_or(0));
        }
        Ok(sizes)
    }

    /// The tokens in `error`, each with its last reason.
    pub async fn errored(&self, limit: Option<usize>) -> Result<Vec<ErroredToken>> {
        let tokens = self.tokens_in("error", limit).await?;
        Ok(tokens
            .into_iter()
            .map(|t| {
                let reason =
                    t.errors().last().map(|e| e.message.clone()).unwrap_or_else(|| {
                        match t.exit_code() {
                            Some(c) => format!("exit code {c}"),
                            None => "no exit code recorded".into(),
                        }
                    });
                ErroredToken {
                    id: t.id().to_owned(),
                    exit_code: t.exit_code(),
                    scrub_count: t.scrub_count(),
                    hostname: t.hostname().to_owned(),
                    reason,
                }
            })
            .collect())
    }

    /// Apply `change` to every selected token and write them back in bulk.
    /// Tokens changed by someone else meanwhile are reported as conflicts.
    pub async fn modify(
        &self,
        selection: &Selection,
        change: impl Fn(&mut Token),
    ) -> Result<BulkReport> {
        let now = now_secs();
        let tokens = self.tokens_in(&selection.view, None).await?;
        let docs: Vec<Token> = tokens
            .into_iter()
            .filter(|t| selection.matches(t, now))
            .map(|mut t| {
                change(&mut t);
                t
            })
            .collect();
        self.write_all(docs).await
    }

    async fn write_all(&self, docs: Vec<Token>) -> Result<BulkReport> {
        let mut report = BulkReport::default();
        for chunk in docs.chunks(PAGE) {
            let values: Vec<Value> = chunk.iter().map(|t| t.clone().into_value()).collect();
            report.add(self.db.bulk(&values).await?);
        }
        Ok(report)
    }

    /// picas' `resetTokens.py`: selected tokens back to todo, `scrub_count` + 1,
    /// host name, exit code and attachments cleared.
    pub async fn reset(&self, selection: &Selection) -> Result<BulkReport> {
        self.modify(selection, Token::reset).await
    }

    /// picas' `scrub`: selected tokens back to todo, `scrub_count` + 1; exit
    /// code, errors and logs are kept.
    pub async fn scrub(&self, selection: &Selection) -> Result<BulkReport> {
        let host = self.claim.hostname.clone();
        self.modify(selection, |t| t.scrub(&host)).await
    }

    /// picas' `unlock`: `lock` 0 and job ids removed.
    pub async fn unlock(&self, selection: &Selection) -> Result<BulkReport> {
        self.modify(selection, Token::unlock).await
    }

    /// Delete the selected tokens (in bulk, not one DELETE each).
    pub async fn delete(&self, selection: &Selection) -> Result<BulkReport> {
        self.modify(selection, |t| {
            let (id, rev) = (t.id().to_owned(), t.rev().map(str::to_owned));
            let mut gone = Map::new();
            gone.insert("_id".into(), id.into());
            if let Some(rev) = rev {
                gone.insert("_rev".into(), rev.into());
            }
            gone.insert("_deleted".into(), true.into());
            *t = Token::from_value(Value::Object(gone)).expect("has an _id");
        })
        .await
    }

    /// Return tokens whose lease ran out to todo (`scrub_count` + 1). With
    /// `without_lease_older_than`, also tokens claimed without a lease (by
    /// Python picas) whose `lock` is older than that.
    pub async fn recover(
        &self,
        without_lease_older_than: Option<Duration>,
    ) -> Result<RecoverReport> {
        let now = now_secs();
        let mut report = RecoverReport::default();
        let host = self.claim.hostname.clone();
        let mut expired = Vec::new();
        for mut t in self.tokens_in("locked", None).await? {
            if t.state() != TokenState::Locked {
                continue;
            }
            let stale = match t.lease() {
                Some((_, until)) => until < now,
                None => {
                    report.without_lease += 1;
                    without_lease_older_than
                        .is_some_and(|age| now - t.lock() > age.as_secs() as i64)
                }
            };
            if stale {
                t.scrub(&host);
                expired.push(t);
            } else {
                report.alive += 1;
            }
        }
        let written = self.write_all(expired).await?;
        report.returned = written.written;
        report.raced = written.conflicts;
        report.raced.extend(written.failed.into_iter().map(|(id, _)| id));
        Ok(report)
    }

    /// A token's attachment (`logs_<id>.out`, `logs_<id>.err`, or any name).
    pub async fn attachment(&self, id: &str, name: &str) -> Result<Option<Bytes>> {
        self.db.get_attachment(id, name).await
    }
}

/// The attachment names picas' example gives a token's logs.
pub fn log_names(id: &str) -> (String, String) {
    (format!("logs_{id}.out"), format!("logs_{id}.err"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::couch::ViewResult;

    /// Found by the `couch_responses` fuzz target: four huge counts from the
    /// server overflowed `total` (a panic in debug builds).
    #[test]
    fn counts_of_a_hostile_server_do_not_overflow() {
        let res: ViewResult = serde_json::from_str(
            r#"{"rows":[{"key":"todo","value":18446744073709551615},{"key":"done","value":7},
                        {"key":"locked","value":-1},{"key":"other","value":5}]}"#,
        )
        .unwrap();
        let c = Counts::from_rows(&res.rows);
        assert_eq!((c.todo, c.done, c.locked, c.error), (u64::MAX, 7, 0, 0));
        assert_eq!(c.total(), u64::MAX);
    }
}
