//! [`Worker`]: the claim–run–record loop and its stop conditions.

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
        let (_, stop) = watch::channel(false);
        Worker { pool, config, hooks: Arc::new(NoHooks), events: None, stop }
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
        let result = self.run_loop(&mut claimer, started).await;
        self.hooks.cleanup_env();
        let mut summary = result?;
        summary.claims = claimer.stats();
        summary.requests = self.pool.db().request_count();
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    async fn run_loop(&mut self, claimer: &mut Claimer, started: Instant) -> Result<Summary> {
        let mut s = Summary::default();
        let mut longest = Duration::ZERO;
        // A token claimed together with the previous result: it must run.
        let mut next: Option<Held> = None;
        loop {
            let mut held = match next.take() {
                Some(h) if *self.stop.borrow() => {
                    let mut h = h;
                    self.pool.release(&mut h).await?;
                    s.stop = Some(StopReason::Cancelled);
                    return Ok(s);
                }
                Some(h) => h,
                None => {
                    if let Some(reason) = self.should_stop(&s, started, longest) {
                        s.stop = Some(reason);
                        return Ok(s);
                    }
                    match claimer.next().await? {
                        Some(h) => h,
                        None => {
                            if self.config.recover_when_empty
                                && !self.pool.recover(None).await?.returned.is_empty()
                            {
                                claimer.forget_candidates();
                                continue;
                            }
                            if !self.config.wait_for_work {
                                s.stop = Some(StopReason::PoolEmpty);
                                return Ok(s);
                            }
                            self.emit(Event::Waiting);
                            self.wait_for_change().await?;
                            continue;
                        }
                    }
                }
            };
            let t0 = Instant::now();
            let id = held.id().to_owned();
            self.emit(Event::Started { id: id.clone() });
            let plan = Plan { summary: s.clone(), started, longest, t0 };
            let (recorded, claimed) = self.process(&mut held, claimer, &plan).await?;
            next = claimed;
            let elapsed = t0.elapsed();
            longest = longest.max(elapsed);
            match recorded {
                None => {
                    s.lost += 1;
                    self.emit(Event::LeaseLost { id });
                }
                Some(Recorded::Cancelled) => {
                    s.stop = Some(StopReason::Cancelled);
                    return Ok(s);
                }
                Some(Recorded::Written { ok, exit_code }) => {
                    s.recorded += 1;
                    if ok {
                        s.succeeded += 1;
                    } else {
                        s.failed += 1;
                    }
                    self.hooks.cleanup_run(held.token());
                    self.emit(Event::Recorded {
                        id,
                        state: held.token().state(),
                        exit_code,
                        elapsed,
                    });
                }
            }
        }
    }

    fn should_stop(&self, s: &Summary, started: Instant, longest: Duration) -> Option<StopReason> {
        if *self.stop.borrow() {
            return Some(StopReason::Cancelled);
        }
        let c = &self.config;
        if c.max_tokens.is_some_and(|m| s.recorded + s.lost >= m) {
            return Some(StopReason::MaxTokens);
        }
        let elapsed = started.elapsed();
        if c.max_total_time.is_some_and(|m| elapsed >= m) {
            return Some(StopReason::MaxTotalTime);
        }
        if let Some(wall) = c.wall_time {
            let estimate = c.token_estimate.unwrap_or(longest);
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

    /// Run and record one held token (`None`: the lease was lost), and claim
    /// the next one in the same request when the worker goes on.
    async fn process(
        &mut self,
        held: &mut Held,
        claimer: &mut Claimer,
        plan: &Plan,
    ) -> Result<(Option<Recorded>, Option<Held>)> {
        let now = now_secs;
        let command = match held.token().command() {
            Ok(c) => c.to_owned(),
            Err(e) => {
                let reason = e.to_string();
                let rec = move |t: &mut Token| t.set_error(&reason, "", now());
                return self.write(held, claimer, plan, false, None, rec).await;
            }
        };
        if let Err(e) = self.hooks.prepare_run(held.token()) {
            let reason = format!("prepare_run failed: {e}");
            let rec = move |t: &mut Token| t.set_error(&reason, "", now());
            return self.write(held, claimer, plan, false, None, rec).await;
        }
        let outcome =
            run_one::run(&self.pool, held, &command, &self.config, &mut self.stop).await?;
        let max_scrub = self.config.max_scrub;
        let host = self.pool.claim_info().hostname.clone();
        let retry = move |t: &mut Token| {
            if t.scrub_count() < max_scrub {
                t.scrub(&host);
            }
        };
        match outcome {
            Outcome::Exited { status, logs } => {
                let code = i64::from(status.shell_code());
                let ok = status.success();
                self.write(held, claimer, plan, ok, Some(code), move |t: &mut Token| {
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
                .await
            }
            Outcome::TimedOut { limit, logs } => {
                let reason =
                    format!("token execution exceeded its time limit of {} s", limit.as_secs());
                self.write(held, claimer, plan, false, None, move |t: &mut Token| {
                    t.set_error(&reason, &tail(&logs.stderr), now());
                    attach_logs(t, &logs);
                    retry(t);
                })
                .await
            }
            Outcome::NotStarted(e) => {
                let reason = format!("the command did not start: {e}");
                self.write(held, claimer, plan, false, None, move |t: &mut Token| {
                    t.set_error(&reason, "", now());
                    retry(t);
                })
                .await
            }
            Outcome::LeaseLost => Ok((None, None)),
            Outcome::Cancelled => {
                self.pool.release(held).await?;
                Ok((Some(Recorded::Cancelled), None))
            }
        }
    }

    async fn write(
        &self,
        held: &mut Held,
        claimer: &mut Claimer,
        plan: &Plan,
        ok: bool,
        exit_code: Option<i64>,
        record: impl FnOnce(&mut Token),
    ) -> Result<(Option<Recorded>, Option<Held>)> {
        // Would the worker go on after this token? Then claim in the same request.
        let mut after = plan.summary.clone();
        after.recorded += 1;
        let longest = plan.longest.max(plan.t0.elapsed());
        let go_on = self.should_stop(&after, plan.started, longest).is_none();
        let (state, next) = if go_on {
            claimer.finish_and_next(held, record).await?
        } else {
            (self.pool.complete(held, record).await?, None)
        };
        let recorded = match state {
            LeaseState::Held => Some(Recorded::Written { ok, exit_code }),
            LeaseState::Lost => None,
        };
        Ok((recorded, next))
    }
}

/// Where the worker stands when a token's result is written.
struct Plan {
    summary: Summary,
    started: Instant,
    longest: Duration,
    t0: Instant,
}

enum Recorded {
    Written { ok: bool, exit_code: Option<i64> },
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
