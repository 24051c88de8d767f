//! [`Worker`]: the claim–run–record loop and its stop conditions.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hpc_core::Result;
use tokio::sync::watch;

use super::config::{Hooks, NoHooks, StopReason, WorkerConfig};
use super::run_one::{self, Logs, Outcome};
use crate::claim::{ClaimStats, Claimer, Held, LeaseState};
use crate::couch::ChangesQuery;
use crate::host::now_secs;
use crate::pool::{TokenPool, log_names};
use crate::token::{Token, TokenState};

/// What a worker reports while it runs (for progress lines and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A token was claimed and its command starts.
    Started {
        /// The token.
        id: String,
    },
    /// A token's result was written.
    Recorded {
        /// The token.
        id: String,
        /// The state it is in now (todo again when scrubbed for a retry).
        state: TokenState,
        /// The command's exit code, if it exited.
        exit_code: Option<i64>,
        /// How long it ran.
        elapsed: Duration,
    },
    /// The token was taken away while it ran; nothing was recorded.
    LeaseLost {
        /// The token.
        id: String,
    },
    /// The pool is empty; waiting for new tokens.
    Waiting,
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Tokens whose result was recorded.
    pub recorded: u64,
    /// ... of which exited with 0.
    pub succeeded: u64,
    /// ... of which failed (exit code, time limit, malformed, not started).
    pub failed: u64,
    /// Tokens taken away while running (not recorded).
    pub lost: u64,
    /// Why it stopped.
    pub stop: Option<StopReason>,
    /// Claim counters.
    pub claims: ClaimStats,
    /// HTTP requests sent.
    pub requests: u64,
    /// Seconds from start to stop.
    pub seconds: f64,
}

/// Where events go.
type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// Runs tokens of one pool until a stop condition holds.
pub struct Worker {
    pool: TokenPool,
    config: WorkerConfig,
    hooks: Arc<dyn Hooks>,
    events: Option<EventSink>,
    stop: watch::Receiver<bool>,
    /// The sender of `new`'s own stop channel, kept so that the channel stays
    /// open: a closed one reads as "stop now" (`changed()` fails at once),
    /// which cancelled every token of a worker without `stop_signal`.
    _never_stops: Option<watch::Sender<bool>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("pool", &self.pool)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker for `pool` with `config`, no hooks, not stoppable from outside.
    pub fn new(pool: TokenPool, config: WorkerConfig) -> Self {
        let (never_stops, stop) = watch::channel(false);
        let _never_stops = Some(never_stops);
        Worker { pool, config, hooks: Arc::new(NoHooks), events: None, stop, _never_stops }
    }

    /// Application hooks.
    pub fn hooks(mut self, hooks: Arc<dyn Hooks>) -> Self {
        self.hooks = hooks;
        self
    }

    /// Called for each [`Event`].
    pub fn on_event(mut self, f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(f));
        self
    }

    /// Stop when `stop` turns true: the running command is terminated and its
    /// token given back to todo (picas' SIGTERM handler).
    pub fn stop_signal(mut self, stop: watch::Receiver<bool>) -> Self {
        self.stop = stop;
        self
    }

    fn emit(&self, e: Event) {
        if let Some(f) = &self.events {
            f(&e);
        }
    }

    /// Run until a stop condition holds.
    pub async fn run(mut self) -> Result<Summary> {
        let started = Instant::now();
        self.hooks.prepare_env()?;
        let mut claimer =
            Claimer::new(self.pool.clone()).view(self.config.view.clone()).batch(self.config.batch);
        let mut work = Work::default();
        let mut result = self.run_loop(&mut claimer, &mut work, started).await;
        if result.is_ok() {
            // Stopped cleanly: record what ran, give back what did not start.
            if let Err(e) = self.shut_down(&mut claimer, &mut work).await {
                result = Err(e);
            }
        }
        self.hooks.cleanup_env();
        result?;
        let mut summary = work.summary;
        summary.claims = claimer.stats();
        summary.requests = self.pool.db().request_count();
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    async fn run_loop(
        &mut self,
        claimer: &mut Claimer,
        work: &mut Work,
        started: Instant,
    ) -> Result<()> {
        loop {
            if let Some(reason) = self.should_stop(work, started) {
                work.summary.stop = Some(reason);
                return Ok(());
            }
            let mut held = match work.queue.pop_front() {
                Some(h) => h,
                None => {
                    let k = self.claim_size(work, started);
                    let claimed = self.flush(claimer, work, k).await?;
                    if claimed.is_empty() {
                        if self.config.recover_when_empty
                            && !self.pool.recover(None).await?.returned.is_empty()
                        {
                            claimer.forget_candidates();
                            continue;
                        }
                        if !self.config.wait_for_work {
                            work.summary.stop = Some(StopReason::PoolEmpty);
                            return Ok(());
                        }
                        self.emit(Event::Waiting);
                        self.wait_for_change().await?;
                        continue;
                    }
                    work.queue.extend(claimed);
                    continue;
                }
            };
            // Claimed in a batch and waited: never start on a lease near its end.
            let lease = self.pool.lease().as_secs() as i64;
            if held.lease_left(now_secs()) < lease / 2
                && self.pool.renew(&mut held).await? == LeaseState::Lost
            {
                work.summary.lost += 1;
                self.emit(Event::LeaseLost { id: held.id().to_owned() });
                continue;
            }
            let t0 = Instant::now();
            let id = held.id().to_owned();
            self.emit(Event::Started { id: id.clone() });
            let step = self.process(&mut held).await?;
            let elapsed = t0.elapsed();
            work.longest = work.longest.max(elapsed);
            work.last = Some(elapsed);
            match step {
                Step::Lost => {
                    work.summary.lost += 1;
                    self.emit(Event::LeaseLost { id });
                }
                Step::Cancelled => {
                    let host = self.pool.claim_info().hostname.clone();
                    let mut token = held.token().clone();
                    token.scrub(&host);
                    work.give_back.push(token);
                    work.summary.stop = Some(StopReason::Cancelled);
                    return Ok(());
                }
                Step::Finished { token, ok, exit_code } => {
                    work.pending.push(Pending {
                        token,
                        ok,
                        exit_code,
                        elapsed,
                        at: Instant::now(),
                    });
                    // Another token queued, but the oldest result would wait
                    // too long for the next claim: write the results now.
                    if !work.queue.is_empty() && self.record_due(work) {
                        self.flush(claimer, work, 0).await?;
                    }
                }
            }
        }
    }

    /// Whether the oldest unwritten result must be written before the next
    /// token ends (it would be older than `record_every` by then).
    fn record_due(&self, work: &Work) -> bool {
        let next = work.last.unwrap_or_default();
        work.pending.first().is_some_and(|p| p.at.elapsed() + next >= self.config.record_every)
    }

    /// How many tokens to claim at once: as many as are expected to run
    /// within `record_every` (one until a token's time is known), at most
    /// `claim_batch`, and never more than the stop conditions leave room for.
    fn claim_size(&self, work: &Work, started: Instant) -> usize {
        let c = &self.config;
        let Some(last) = work.last else { return 1 };
        let per = last.max(Duration::from_millis(1)).as_secs_f64();
        let fits = |d: Duration| (d.as_secs_f64() / per) as usize;
        let mut k = fits(c.record_every).min(c.claim_batch);
        // Unstarted tokens must be started well within their lease.
        k = k.min(fits(self.pool.lease() / 4));
        let elapsed = started.elapsed();
        if let Some(max) = c.max_total_time {
            k = k.min(fits(max.saturating_sub(elapsed)));
        }
        if let Some(wall) = c.wall_time {
            let per = c.token_estimate.unwrap_or(work.longest).max(Duration::from_millis(1));
            k = k.min((wall.saturating_sub(elapsed).as_secs_f64() / per.as_secs_f64()) as usize);
        }
        if let Some(max) = c.max_tokens {
            k = k.min(max.saturating_sub(work.taken()) as usize);
        }
        k.max(1)
    }

    /// Write the pending results and claim up to `claim` tokens, in one request.
    async fn flush(
        &self,
        claimer: &mut Claimer,
        work: &mut Work,
        claim: usize,
    ) -> Result<Vec<Held>> {
        let mut tokens: Vec<Token> = work.pending.iter().map(|p| p.token.clone()).collect();
        let (states, claimed) = claimer.exchange(&mut tokens, claim).await?;
        for ((p, token), state) in work.pending.drain(..).zip(tokens).zip(states) {
            let id = token.id().to_owned();
            match state {
                LeaseState::Lost => {
                    work.summary.lost += 1;
                    self.emit(Event::LeaseLost { id });
                }
                LeaseState::Held => {
                    let s = &mut work.summary;
                    s.recorded += 1;
                    if p.ok {
                        s.succeeded += 1;
                    } else {
                        s.failed += 1;
                    }
                    self.hooks.cleanup_run(&token);
                    self.emit(Event::Recorded {
                        id,
                        state: token.state(),
                        exit_code: p.exit_code,
                        elapsed: p.elapsed,
                    });
                }
            }
        }
        Ok(claimed)
    }

    /// The last write of a stopping worker, one request: the pending results,
    /// the tokens claimed but not started back to todo as they were (they
    /// never ran), and a token stopped while running scrubbed back to todo.
    async fn shut_down(&self, claimer: &mut Claimer, work: &mut Work) -> Result<()> {
        let mut back: Vec<Token> = work
            .queue
            .drain(..)
            .map(|h| {
                let mut t = h.token().clone();
                t.unlock();
                t
            })
            .collect();
        back.append(&mut work.give_back);
        if back.is_empty() {
            self.flush(claimer, work, 0).await?;
            return Ok(());
        }
        let results = work.pending.len();
        let mut tokens: Vec<Token> = work.pending.iter().map(|p| p.token.clone()).collect();
        tokens.extend(back);
        let (states, _) = claimer.exchange(&mut tokens, 0).await?;
        let mut written = states.into_iter();
        for (p, state) in work.pending.drain(..).zip(written.by_ref().take(results)) {
            let s = &mut work.summary;
            match state {
                LeaseState::Held => {
                    s.recorded += 1;
                    if p.ok {
                        s.succeeded += 1;
                    } else {
                        s.failed += 1;
                    }
                    self.emit(Event::Recorded {
                        id: p.token.id().to_owned(),
                        state: p.token.state(),
                        exit_code: p.exit_code,
                        elapsed: p.elapsed,
                    });
                }
                LeaseState::Lost => s.lost += 1,
            }
        }
        Ok(())
    }

    fn should_stop(&self, work: &Work, started: Instant) -> Option<StopReason> {
        if *self.stop.borrow() {
            return Some(StopReason::Cancelled);
        }
        let c = &self.config;
        if c.max_tokens.is_some_and(|m| work.ran() >= m) {
            return Some(StopReason::MaxTokens);
        }
        let elapsed = started.elapsed();
        if c.max_total_time.is_some_and(|m| elapsed >= m) {
            return Some(StopReason::MaxTotalTime);
        }
        if let Some(wall) = c.wall_time {
            let estimate = c.token_estimate.unwrap_or(work.longest);
            if elapsed + estimate >= wall {
                return Some(StopReason::WallTime);
            }
        }
        None
    }

    /// Wait (long poll on `_changes`) until something changes in the
    /// database, or until a stop condition could hold.
    async fn wait_for_change(&mut self) -> Result<()> {
        let wait = Duration::from_secs(30);
        let db = self.pool.db().clone();
        let query = ChangesQuery {
            since: Some("now".into()),
            wait: Some(wait),
            limit: Some(1),
            ..Default::default()
        };
        tokio::select! {
            r = db.changes(&query) => r.map(drop),
            _ = self.stop.changed() => Ok(()),
        }
    }

    /// Run one held token; its result is written later, with the next claims.
    async fn process(&mut self, held: &mut Held) -> Result<Step> {
        let now = now_secs;
        let finished = |held: &Held, ok, exit_code, record: &dyn Fn(&mut Token)| {
            let mut token = held.token().clone();
            record(&mut token);
            Step::Finished { token, ok, exit_code }
        };
        let command = match held.token().command() {
            Ok(c) => c.to_owned(),
            Err(e) => {
                let reason = e.to_string();
                return Ok(finished(held, false, None, &|t| t.set_error(&reason, "", now())));
            }
        };
        if let Err(e) = self.hooks.prepare_run(held.token()) {
            let reason = format!("prepare_run failed: {e}");
            return Ok(finished(held, false, None, &|t| t.set_error(&reason, "", now())));
        }
        let outcome =
            run_one::run(&self.pool, held, &command, &self.config, &mut self.stop).await?;
        let max_scrub = self.config.max_scrub;
        let host = self.pool.claim_info().hostname.clone();
        let retry = |t: &mut Token| {
            if t.scrub_count() < max_scrub {
                t.scrub(&host);
            }
        };
        Ok(match outcome {
            Outcome::Exited { status, logs } => {
                let code = i64::from(status.shell_code());
                let ok = status.success();
                finished(held, ok, Some(code), &|t| {
                    t.finish(code, now());
                    if !ok {
                        t.push_error(
                            &format!("command ended with {status}"),
                            &tail(&logs.stderr),
                            now(),
                        );
                    }
                    attach_logs(t, &logs);
                    if !ok {
                        retry(t);
                    }
                })
            }
            Outcome::TimedOut { limit, logs } => {
                let reason =
                    format!("token execution exceeded its time limit of {} s", limit.as_secs());
                finished(held, false, None, &|t| {
                    t.set_error(&reason, &tail(&logs.stderr), now());
                    attach_logs(t, &logs);
                    retry(t);
                })
            }
            Outcome::NotStarted(e) => {
                let reason = format!("the command did not start: {e}");
                finished(held, false, None, &|t| {
                    t.set_error(&reason, "", now());
                    retry(t);
                })
            }
            Outcome::LeaseLost => Step::Lost,
            Outcome::Cancelled => Step::Cancelled,
        })
    }
}

/// What the worker holds and has done.
#[derive(Default)]
struct Work {
    summary: Summary,
    /// Claimed, not started yet.
    queue: VecDeque<Held>,
    /// Finished, result not written yet.
    pending: Vec<Pending>,
    /// Tokens to give back to todo at the stop (one stopped while running).
    give_back: Vec<Token>,
    /// How long the last token took.
    last: Option<Duration>,
    /// The longest token so far.
    longest: Duration,
}

impl Work {
    /// Tokens that ran (recorded, lost or waiting to be written).
    fn ran(&self) -> u64 {
        self.summary.recorded + self.summary.lost + self.pending.len() as u64
    }

    /// Tokens that ran or are claimed to run.
    fn taken(&self) -> u64 {
        self.ran() + self.queue.len() as u64
    }
}

/// A finished token whose result is not written yet.
struct Pending {
    /// The token with its result.
    token: Token,
    ok: bool,
    exit_code: Option<i64>,
    elapsed: Duration,
    /// When it finished.
    at: Instant,
}

/// How running one token went.
enum Step {
    Finished { token: Token, ok: bool, exit_code: Option<i64> },
    Lost,
    Cancelled,
}

fn attach_logs(t: &mut Token, logs: &Logs) {
    let (out, err) = log_names(t.id());
    // picas guesses the type from the name, which fails for .out/.err: text/plain.
    t.attach(&out, "text/plain", &logs.stdout);
    t.attach(&err, "text/plain", &logs.stderr);
}

/// The last lines of stderr (at most 2 KiB), for the error entry.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim_end();
    let mut start = text.len().saturating_sub(2048);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}
