//! Claiming tokens, keeping the lease and writing the result.
//!
//! A [`Claimer`] reads a page of candidates with their documents (at a
//! random place, so that workers spread over the pool), picks a few todo
//! tokens of it at random and locks them in one `_bulk_docs` request, each
//! with the revision it read: the write itself is the check, so no token can
//! be claimed twice. A 409 means another worker was first; the candidate is
//! dropped without a further request (unless the request had to be repeated:
//! then the first attempt may have been ours, and the token is read). When
//! most of a batch was lost, the page is stale (another worker works the same
//! stretch): the claimer jumps to a random place. Results of finished tokens
//! travel in the same request as the next claims ([`Claimer::exchange`]).
//!
//! Candidates of the `todo` view come from pages of the primary index
//! (`_all_docs`), filtered here by the view's own condition
//! ([`Token::state`], JavaScript comparisons included): the same tokens,
//! but the server need not update the view's index after each of the two
//! writes a token gets, which took most of pouchdb-server's time per token
//! (about 0.6 ms per changed document, against 0.08 ms per document read
//! from `_all_docs`). Any other view is queried as a view, with documents.

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

    /// Seconds left of its lease (negative once expired; 0 without one).
    pub fn lease_left(&self, now: i64) -> i64 {
        self.token.lease().map_or(0, |(_, until)| until - now)
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
    /// `_bulk_docs` requests that claimed or recorded tokens.
    pub writes: u64,
}

/// Claims tokens from a view, a few at a time.
#[derive(Debug)]
pub struct Claimer {
    pool: TokenPool,
    view: String,
    /// Where the next page of `_all_docs` starts (todo claims only).
    scan: Scan,
    batch: usize,
    /// Todo tokens of the last page read, not yet tried.
    candidates: Vec<Token>,
    rng: Rng,
    view_size: u64,
    stats: ClaimStats,
}

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
    /// Claims from the pool's `todo` view, 100 candidates per read.
    pub fn new(pool: TokenPool) -> Self {
        Claimer {
            pool,
            view: TODO.into(),
            scan: Scan::default(),
            batch: 100,
            candidates: Vec::new(),
            rng: Rng::new(),
            view_size: 0,
            stats: ClaimStats::default(),
        }
    }

    /// Claim from another view of the design document (its tokens must still
    /// be in todo state: `lock` and `done` 0).
    pub fn view(mut self, view: impl Into<String>) -> Self {
        self.view = view.into();
        self
    }

    /// Candidates per view read (at least 1).
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
        self.candidates.clear();
    }

    /// Claim one token; `None` when the view is empty.
    pub async fn next(&mut self) -> Result<Option<Held>> {
        let (_, mut held) = self.exchange(&mut [], 1).await?;
        Ok(held.pop())
    }

    /// Write `results` (tokens we hold, with their revision) and claim up to
    /// `claim` tokens, in ONE `_bulk_docs` request when that request claims
    /// at least one. Returns each result's [`LeaseState`] (`Lost`: the token
    /// had been taken away, nothing was written) and the tokens claimed:
    /// none when the view had no todo token left. Only when every claim of
    /// the request was lost to other workers does it try again (the results
    /// are not written twice).
    pub async fn exchange(
        &mut self,
        results: &mut [Token],
        claim: usize,
    ) -> Result<(Vec<LeaseState>, Vec<Held>)> {
        let mut states: Option<Vec<LeaseState>> = None;
        loop {
            let mut picks = self.take(claim).await?;
            let pending: &mut [Token] = if states.is_none() { &mut *results } else { &mut [] };
            if picks.is_empty() && pending.is_empty() {
                return Ok((states.unwrap_or_default(), Vec::new()));
            }
            let now = now_secs();
            let until = now + self.pool.lease.as_secs() as i64;
            for p in &mut picks {
                p.lock_for(&self.pool.claim, now, until);
            }
            let docs: Vec<Value> =
                pending.iter().chain(picks.iter()).map(|t| t.clone().into_value()).collect();
            self.stats.writes += 1;
            let outcomes = self.pool.db.bulk(&docs).await?;
            let (done, claims) = outcomes.split_at(pending.len());
            let mut written = Vec::with_capacity(pending.len());
            for (t, o) in pending.iter_mut().zip(done) {
                written.push(self.pool.bulk_state(t, o).await?);
            }
            if states.is_none() {
                states = Some(written);
            }
            let mut held = Vec::new();
            let tried = picks.len();
            for (mut t, o) in picks.into_iter().zip(claims) {
                let state = match o {
                    // Not repeated: the server's answer is the whole truth.
                    BulkOutcome::Conflict { retried: false, .. } => LeaseState::Lost,
                    o => self.pool.bulk_state(&mut t, o).await?,
                };
                match state {
                    LeaseState::Held => held.push(Held { token: t }),
                    LeaseState::Lost => self.stats.conflicts += 1,
                }
            }
            self.stats.claimed += held.len() as u64;
            if held.len() * 2 < tried {
                // Another worker works this stretch: go elsewhere.
                self.jump();
            }
            if !held.is_empty() || tried == 0 {
                return Ok((states.unwrap_or_default(), held));
            }
        }
    }

    /// Up to `n` todo candidates from the current page (read when used up),
    /// picked at random so that workers on the same page rarely pick alike;
    /// none when the view has no todo token.
    async fn take(&mut self, n: usize) -> Result<Vec<Token>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.candidates.is_empty() && !self.refill().await? {
            return Ok(Vec::new());
        }
        let mut picks = Vec::with_capacity(n.min(self.candidates.len()));
        while picks.len() < n && !self.candidates.is_empty() {
            picks.push(self.candidates.swap_remove(self.rng.below(self.candidates.len())));
        }
        Ok(picks)
    }

    /// Drop the candidates and go on at a random place of the pool.
    fn jump(&mut self) {
        self.candidates.clear();
        if self.view == TODO && self.view_size > 0 {
            self.scan.after = None;
            self.scan.started = false;
        }
    }

    /// Read candidates at a random place, so that workers spread over the
    /// pool; false when there is no todo token.
    async fn refill(&mut self) -> Result<bool> {
        let docs =
            if self.view == TODO { self.scan_page().await? } else { self.view_page().await? };
        self.candidates = docs;
        Ok(!self.candidates.is_empty())
    }

    /// Todo tokens of a view page at a random place.
    async fn view_page(&mut self) -> Result<Vec<Token>> {
        let skip = self.random_skip();
        let mut docs = self.read_view(skip).await?;
        if docs.is_empty() && skip > 0 {
            docs = self.read_view(0).await?;
        }
        Ok(docs)
    }

    async fn read_view(&mut self, skip: u64) -> Result<Vec<Token>> {
        self.stats.view_reads += 1;
        let q = ViewQuery::new().limit(self.batch as u64).skip(skip).include_docs();
        let res = self.pool.db.view(&self.pool.design.name, &self.view, &q).await?;
        self.view_size = res.total_rows.unwrap_or(0);
        Ok(todo_tokens(res.rows.into_iter().filter_map(|r| r.doc)))
    }

    /// The todo tokens on the next pages of `_all_docs`; empty once a whole
    /// round over the database found none.
    async fn scan_page(&mut self) -> Result<Vec<Token>> {
        loop {
            let mut q = ViewQuery::new().limit(self.batch as u64).include_docs();
            q = match &self.scan.after {
                Some(id) => q.start_key(id.clone()).skip(1),
                None if self.scan.started => q,
                None => {
                    self.scan.started = true;
                    if self.view_size == 0 {
                        let size = self.pool.db.all_docs(&ViewQuery::new().limit(0)).await?;
                        self.view_size = size.total_rows.unwrap_or(0);
                    }
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
            let docs = todo_tokens(res.rows.into_iter().filter_map(|r| r.doc));
            if !docs.is_empty() {
                self.scan.rows_without_todo = 0;
                return Ok(docs);
            }
            self.scan.rows_without_todo += rows.max(1);
            if self.scan.rows_without_todo > self.view_size {
                self.scan.rows_without_todo = 0;
                return Ok(docs);
            }
        }
    }

    /// A random start within the last candidate list's size.
    fn random_skip(&mut self) -> u64 {
        let span = self.view_size.saturating_sub(self.batch as u64);
        if span == 0 {
            0
        } else {
            // total_rows comes from the server: any size, never an overflow.
            self.rng.below(usize::try_from(span).unwrap_or(usize::MAX).saturating_add(1)) as u64
        }
    }
}

/// The documents that are tokens in todo state.
fn todo_tokens(docs: impl Iterator<Item = Value>) -> Vec<Token> {
    docs.filter(Value::is_object)
        .filter_map(|d| Token::from_value(d).ok())
        .filter(|t| t.state() == TokenState::Todo)
        .collect()
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
