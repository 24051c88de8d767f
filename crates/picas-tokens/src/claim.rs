//! Claiming tokens, keeping the lease and writing the result.
//!
//! A [`Claimer`] reads a batch of candidate ids (at a random place, so that
//! workers spread over the pool), fetches a few of
//! their documents at a time (`_all_docs` with keys and `include_docs`: cheap,
//! and fresh), re-checks each one's state and locks it with a write of the
//! revision it read. A 409 means another worker was first: the candidate is
//! dropped and the next one tried; three conflicts in a row make it read the
//! view again. No token can be claimed twice: the write only lands on the
//! revision that was still todo. A worker records a result and claims its
//! next token in one `_bulk_docs` request ([`Claimer::finish_and_next`]).
//!
//! Candidates of the `todo` view come from pages of the primary index
//! (`_all_docs`), filtered here by the view's own condition
//! ([`Token::state`], JavaScript comparisons included): the same tokens,
//! but the server need not update the view's index after each of the two
//! writes a token gets, which took most of pouchdb-server's time per token
//! (about 0.6 ms per changed document, against 0.08 ms per document read
//! from `_all_docs`). Any other view is queried as a view.

use hpc_core::Result;
use serde_json::Value;

use crate::couch::{BulkOutcome, ViewQuery, WriteOutcome};
use crate::host::{Rng, now_secs};
use crate::pool::TokenPool;
use crate::token::{LEASE_OWNER, LEASE_UNTIL, Token, TokenState};

/// Fields compared to decide whether a write that was repeated landed anyway.
const WRITE_MARKS: [&str; 6] =
    ["lock", "done", "exit_code", "scrub_count", LEASE_OWNER, LEASE_UNTIL];

/// A token this worker holds (its latest revision).
#[derive(Debug, Clone)]
pub struct Held {
    token: Token,
}

impl Held {
    /// The token as last written by us.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// Its id.
    pub fn id(&self) -> &str {
        self.token.id()
    }
}

/// Whether a write kept the token ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Written: the token is (or was, for a final write) ours.
    Held,
    /// Someone else changed the token (`recover`, a reset, an admin): this
    /// worker must not record anything on it.
    Lost,
}

/// Claim statistics of one [`Claimer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClaimStats {
    /// Tokens claimed.
    pub claimed: u64,
    /// Claims lost to another worker (409).
    pub conflicts: u64,
    /// Candidate lists read (view queries or pages of `_all_docs`).
    pub view_reads: u64,
}

/// Claims tokens from a view, one at a time.
#[derive(Debug)]
pub struct Claimer {
    pool: TokenPool,
    view: String,
    /// Where the next page of `_all_docs` starts (todo claims only).
    scan: Scan,
    batch: usize,
    /// Ids of todo tokens from the last view read, not yet tried.
    ids: Vec<String>,
    /// Fetched documents of some of them, tried first.
    docs: Vec<Token>,
    rng: Rng,
    view_size: u64,
    streak: u32,
    stats: ClaimStats,
}

/// Documents fetched at once (`_all_docs` with keys): few, so they are fresh.
const FETCH: usize = 8;

/// The view whose candidates are read from `_all_docs` instead.
const TODO: &str = "todo";

/// A walk over `_all_docs` in pages from a random place, wrapping around at
/// the end, so that a round covers every row.
#[derive(Debug, Default)]
struct Scan {
    /// Whether the first page (at a random place) was read.
    started: bool,
    /// The id after which the next page starts; `None`: at the start.
    after: Option<String>,
    /// Rows read since the last page that had a todo token.
    rows_without_todo: u64,
}

impl Claimer {
    /// Claims from the pool's `todo` view, 100 candidate ids per read.
    pub fn new(pool: TokenPool) -> Self {
        Claimer {
            pool,
            view: TODO.into(),
            scan: Scan::default(),
            batch: 100,
            ids: Vec::new(),
            docs: Vec::new(),
            rng: Rng::new(),
            view_size: 0,
            streak: 0,
            stats: ClaimStats::default(),
        }
    }

    /// Claim from another view of the design document (its tokens must still
    /// be in todo state: `lock` and `done` 0).
    pub fn view(mut self, view: impl Into<String>) -> Self {
        self.view = view.into();
        self
    }

    /// Candidate ids per view read (at least 1).
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// The pool.
    pub fn pool(&self) -> &TokenPool {
        &self.pool
    }

    /// Counters so far.
    pub fn stats(&self) -> ClaimStats {
        self.stats
    }

    /// Forget the cached candidates (the next claim reads the view).
    pub fn forget_candidates(&mut self) {
        self.ids.clear();
        self.docs.clear();
    }

    /// Claim one token; `None` when the view is empty.
    pub async fn next(&mut self) -> Result<Option<Held>> {
        loop {
            let Some(mut token) = self.candidate().await? else { return Ok(None) };
            self.lock(&mut token);
            let state = self.pool.write_held(&mut token).await?;
            if let Some(held) = self.count(state, token) {
                return Ok(Some(held));
            }
        }
    }

    /// Record `held`'s result and claim the next token in ONE `_bulk_docs`
    /// request. Returns whether the result was written (`Lost`: the token
    /// had been taken away) and the next token, if the pool had one.
    pub async fn finish_and_next(
        &mut self,
        held: &mut Held,
        record: impl FnOnce(&mut Token),
    ) -> Result<(LeaseState, Option<Held>)> {
        let mut done = held.token.clone();
        record(&mut done);
        let Some(mut next) = self.candidate().await? else {
            let state = self.pool.write_held(&mut done).await?;
            held.token = done;
            return Ok((state, None));
        };
        self.lock(&mut next);
        let docs = [done.clone().into_value(), next.clone().into_value()];
        let outcomes = self.pool.db.bulk(&docs).await?;
        let finished = self.pool.bulk_state(&mut done, &outcomes[0]).await?;
        held.token = done;
        let claimed = self.pool.bulk_state(&mut next, &outcomes[1]).await?;
        let next = match self.count(claimed, next) {
            Some(h) => Some(h),
            None => self.next().await?,
        };
        Ok((finished, next))
    }

    fn lock(&self, token: &mut Token) {
        let now = now_secs();
        token.lock_for(&self.pool.claim, now, now + self.pool.lease.as_secs() as i64);
    }

    /// Book a claim attempt; the held token when it was won.
    fn count(&mut self, state: LeaseState, token: Token) -> Option<Held> {
        match state {
            LeaseState::Held => {
                self.stats.claimed += 1;
                self.streak = 0;
                Some(Held { token })
            }
            LeaseState::Lost => {
                self.stats.conflicts += 1;
                self.streak += 1;
                if self.streak >= 3 {
                    // The cached ids are stale: others are working the same part of the view.
                    self.forget_candidates();
                    self.streak = 0;
                }
                None
            }
        }
    }

    /// A candidate still in todo state, with its current revision.
    async fn candidate(&mut self) -> Result<Option<Token>> {
        loop {
            if !self.docs.is_empty() {
                let t = self.docs.swap_remove(self.rng.below(self.docs.len()));
                if t.state() == TokenState::Todo {
                    return Ok(Some(t));
                }
                continue;
            }
            if self.ids.is_empty() && !self.refill().await? {
                return Ok(None);
            }
            // Walk the ids in order from where this worker stands: workers that
            // started at different places work different stretches of the pool.
            let n = FETCH.min(self.ids.len());
            let keys: Vec<Value> = self.ids.drain(..n).map(Value::String).collect();
            let res = self.pool.db.all_docs(&ViewQuery::new().include_docs().keys(keys)).await?;
            self.docs = res
                .rows
                .into_iter()
                .filter_map(|r| r.doc.filter(Value::is_object))
                .filter_map(|d| Token::from_value(d).ok())
                .filter(|t| t.state() == TokenState::Todo)
                .collect();
            if self.docs.len() < n && !self.ids.is_empty() {
                // Someone else works here: jump elsewhere.
                let k = self.rng.below(self.ids.len());
                self.ids.rotate_left(k);
            }
        }
    }

    /// Read candidate ids at a random place, so that workers spread over the
    /// pool; false when there is no todo token.
    async fn refill(&mut self) -> Result<bool> {
        let ids =
            if self.view == TODO { self.scan_page().await? } else { self.view_page().await? };
        self.ids = ids;
        if !self.ids.is_empty() {
            let k = self.rng.below(self.ids.len());
            self.ids.rotate_left(k);
        }
        Ok(!self.ids.is_empty())
    }

    /// Ids of the next view page (no documents: cheap).
    async fn view_page(&mut self) -> Result<Vec<String>> {
        let skip = self.random_skip();
        let mut ids = self.read_view(skip).await?;
        if ids.is_empty() && skip > 0 {
            ids = self.read_view(0).await?;
        }
        Ok(ids)
    }

    async fn read_view(&mut self, skip: u64) -> Result<Vec<String>> {
        self.stats.view_reads += 1;
        let q = ViewQuery::new().limit(self.batch as u64).skip(skip);
        let res = self.pool.db.view(&self.pool.design.name, &self.view, &q).await?;
        self.view_size = res.total_rows.unwrap_or(0);
        Ok(res.rows.into_iter().filter_map(|r| r.id).collect())
    }

    /// Ids of the todo tokens on the next pages of `_all_docs`; empty once a
    /// whole round over the database found none.
    async fn scan_page(&mut self) -> Result<Vec<String>> {
        loop {
            let mut q = ViewQuery::new().limit(self.batch as u64).include_docs();
            q = match &self.scan.after {
                Some(id) => q.start_key(id.clone()).skip(1),
                None if self.scan.started => q,
                None => {
                    self.scan.started = true;
                    let size = self.pool.db.all_docs(&ViewQuery::new().limit(0)).await?;
                    self.view_size = size.total_rows.unwrap_or(0);
                    q.skip(self.random_skip())
                }
            };
            self.stats.view_reads += 1;
            let res = self.pool.db.all_docs(&q).await?;
            self.view_size = res.total_rows.unwrap_or(0);
            let rows = res.rows.len() as u64;
            self.scan.after = res.rows.last().and_then(|r| r.id.clone());
            if rows < self.batch as u64 {
                // The end: go on from the start.
                self.scan.after = None;
            }
            let ids: Vec<String> = res
                .rows
                .into_iter()
                .filter_map(|r| r.doc.filter(Value::is_object))
                .filter_map(|d| Token::from_value(d).ok())
                .filter(|t| t.state() == TokenState::Todo)
                .map(|t| t.id().to_owned())
                .collect();
            if !ids.is_empty() {
                self.scan.rows_without_todo = 0;
                return Ok(ids);
            }
            self.scan.rows_without_todo += rows.max(1);
            if self.scan.rows_without_todo > self.view_size {
                self.scan.rows_without_todo = 0;
                return Ok(ids);
            }
        }
    }

    /// A random start within the last candidate list's size.
    fn random_skip(&mut self) -> u64 {
        let span = self.view_size.saturating_sub(self.batch as u64);
        if span == 0 { 0 } else { self.rng.below(span as usize + 1) as u64 }
    }
}

impl TokenPool {
    /// What one document of a `_bulk_docs` write means for a token we hold
    /// (or claim): its new revision is set when written.
    async fn bulk_state(&self, token: &mut Token, outcome: &BulkOutcome) -> Result<LeaseState> {
        match outcome {
            BulkOutcome::Written { rev, .. } => {
                token.set_rev(rev.clone());
                Ok(LeaseState::Held)
            }
            BulkOutcome::Conflict { .. } => self.reconcile(token).await,
            BulkOutcome::Failed { id, reason } => Err(hpc_core::Error::remote(
                "couchdb",
                None,
                format!("writing token {id}: {reason}"),
            )),
        }
    }

    /// After a conflict: is the token still ours? Yes when the server has
    /// exactly what we sent (a repeated write whose first attempt landed), or
    /// when it is still locked under our lease at a revision we never saw (an
    /// answer lost in a server restart): then our write goes on top of it.
    async fn reconcile(&self, token: &mut Token) -> Result<LeaseState> {
        let Some(server) = self.get(token.id()).await? else {
            return Ok(LeaseState::Lost);
        };
        let Some(rev) = server.rev().map(str::to_owned) else { return Ok(LeaseState::Lost) };
        if WRITE_MARKS.iter().all(|f| server.get(f) == token.get(f)) {
            token.set_rev(rev);
            return Ok(LeaseState::Held);
        }
        let owner = token.get(LEASE_OWNER).filter(|o| o.is_string());
        if owner.is_some()
            && server.get(LEASE_OWNER) == owner
            && server.state() == TokenState::Locked
        {
            token.set_rev(rev);
            return Ok(match self.save(token).await? {
                WriteOutcome::Written { .. } => LeaseState::Held,
                WriteOutcome::Conflict { .. } => LeaseState::Lost,
            });
        }
        Ok(LeaseState::Lost)
    }

    /// Write `token` (with the revision we hold). A conflict means it is no
    /// longer ours, unless the write was repeated and our first attempt is
    /// what the server has: then it is ours with that revision.
    pub(crate) async fn write_held(&self, token: &mut Token) -> Result<LeaseState> {
        match self.save(token).await? {
            WriteOutcome::Written { .. } => Ok(LeaseState::Held),
            WriteOutcome::Conflict { .. } => self.reconcile(token).await,
        }
    }

    /// Renew the lease of a held token (the worker's heartbeat).
    pub async fn renew(&self, held: &mut Held) -> Result<LeaseState> {
        held.token.extend_lease(now_secs() + self.lease.as_secs() as i64);
        self.write_held(&mut held.token).await
    }

    /// The final write: apply `record` (exit code, logs, output) and save the
    /// token in one request. [`LeaseState::Lost`]: nothing was written.
    pub async fn complete(
        &self,
        held: &mut Held,
        record: impl FnOnce(&mut Token),
    ) -> Result<LeaseState> {
        let mut token = held.token.clone();
        record(&mut token);
        let state = self.write_held(&mut token).await?;
        held.token = token;
        Ok(state)
    }

    /// Give a held token back to todo (picas' signal handler: scrub, then
    /// `lock`/`done` 0), for a worker that stops before finishing it.
    pub async fn release(&self, held: &mut Held) -> Result<LeaseState> {
        let host = self.claim.hostname.clone();
        self.complete(held, |t| t.scrub(&host)).await
    }
}
