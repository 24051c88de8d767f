//! Claiming tokens, keeping the lease and writing the result.
//!
//! A [`Claimer`] reads a batch of candidates from the todo view with their
//! documents (`include_docs`, at a random offset so that workers spread over
//! the pool), re-checks each one's state and locks it with a PUT of the
//! revision it read. A 409 means another worker was first: the candidate is
//! dropped and the next one tried; two conflicts in a row make it read a fresh
//! batch. There is no GET between the view and the PUT, and no token can be
//! claimed twice: the PUT only lands on the revision that was still todo.

use hpc_core::Result;
use serde_json::Value;

use crate::couch::{ViewQuery, WriteOutcome};
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
    /// View queries made.
    pub view_reads: u64,
}

/// Claims tokens from a view, one at a time.
#[derive(Debug)]
pub struct Claimer {
    pool: TokenPool,
    view: String,
    batch: usize,
    candidates: Vec<Token>,
    rng: Rng,
    view_size: u64,
    streak: u32,
    stats: ClaimStats,
}

impl Claimer {
    /// Claims from the pool's `todo` view, 50 candidates per read.
    pub fn new(pool: TokenPool) -> Self {
        Claimer {
            pool,
            view: "todo".into(),
            batch: 50,
            candidates: Vec::new(),
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
        loop {
            if self.candidates.is_empty() && !self.refill().await? {
                return Ok(None);
            }
            let pick = self.rng.below(self.candidates.len());
            let mut token = self.candidates.swap_remove(pick);
            if token.state() != TokenState::Todo {
                continue;
            }
            let now = now_secs();
            let lease_until = now + self.pool.lease.as_secs() as i64;
            token.lock_for(&self.pool.claim, now, lease_until);
            match self.pool.write_held(&mut token).await? {
                LeaseState::Held => {
                    self.stats.claimed += 1;
                    self.streak = 0;
                    return Ok(Some(Held { token }));
                }
                LeaseState::Lost => {
                    self.stats.conflicts += 1;
                    self.streak += 1;
                    if self.streak >= 2 {
                        self.candidates.clear();
                    }
                }
            }
        }
    }

    /// Read a batch of candidates; false when the view is empty.
    async fn refill(&mut self) -> Result<bool> {
        self.streak = 0;
        let span = self.view_size.saturating_sub(self.batch as u64);
        let skip = if span == 0 { 0 } else { self.rng.below(span as usize + 1) as u64 };
        let mut rows = self.read(skip).await?;
        if rows.is_empty() && skip > 0 {
            rows = self.read(0).await?;
        }
        self.candidates = rows;
        Ok(!self.candidates.is_empty())
    }

    async fn read(&mut self, skip: u64) -> Result<Vec<Token>> {
        self.stats.view_reads += 1;
        let q = ViewQuery::new().include_docs().limit(self.batch as u64).skip(skip);
        let res = self.pool.db.view(&self.pool.design.name, &self.view, &q).await?;
        self.view_size = res.total_rows.unwrap_or(0);
        Ok(res
            .rows
            .into_iter()
            .filter_map(|r| r.doc.filter(Value::is_object))
            .filter_map(|d| Token::from_value(d).ok())
            .collect())
    }
}

impl TokenPool {
    /// Write `token` (with the revision we hold). A conflict means it is no
    /// longer ours, unless the write was repeated and our first attempt is
    /// what the server has: then it is ours with that revision.
    pub(crate) async fn write_held(&self, token: &mut Token) -> Result<LeaseState> {
        match self.save(token).await? {
            WriteOutcome::Written { .. } => Ok(LeaseState::Held),
            WriteOutcome::Conflict { retried: false } => Ok(LeaseState::Lost),
            WriteOutcome::Conflict { retried: true } => {
                let Some(server) = self.get(token.id()).await? else {
                    return Ok(LeaseState::Lost);
                };
                let ours = WRITE_MARKS.iter().all(|f| server.get(f) == token.get(f));
                match (ours, server.rev()) {
                    (true, Some(rev)) => {
                        token.set_rev(rev.to_owned());
                        Ok(LeaseState::Held)
                    }
                    _ => Ok(LeaseState::Lost),
                }
            }
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
