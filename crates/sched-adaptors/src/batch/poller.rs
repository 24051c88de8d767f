//! The coalescing poller: one status query per cycle for every job that any
//! caller is waiting for.
//!
//! There is no background task: the waiters take turns. Whichever waiter
//! finds a query due and nobody else asking becomes the one that asks, for
//! every watched job, and shares the statuses (plain data) with all the
//! others. A query that fails ends the wait of the waiter that made it, with
//! the error as it came (nothing is copied, so nothing loses its kind); the
//! other waiters each ask once more themselves and so get an error of their
//! own, or an answer if the failure has passed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use hpc_core::scheduler::{ProgressFn, WaitProgress, WaitUntil};
use hpc_core::{Error, JobId, JobStatus, Result};
use tokio::sync::watch;
use tokio::time::Instant;

use super::PollConfig;

/// What a status query says about one job: its status, or `None` when the
/// scheduler does not know the id.
pub type Lookup = Option<JobStatus>;

/// Answers "how are these jobs?" with one scheduler query.
#[async_trait]
pub trait StatusSource: Send + Sync + 'static {
    /// One [`Lookup`] per id, in order (an id left without one counts as
    /// unknown). The error is a failure of the query itself.
    async fn query(&self, ids: &[JobId]) -> Result<Vec<Lookup>>;
}

/// One lookup per id: the source's answers, `None` for ids it left out.
pub(crate) fn lookup_each(ids: &[JobId], answers: Vec<Lookup>) -> Vec<Lookup> {
    let mut answers = answers.into_iter();
    ids.iter().map(|_| answers.next().flatten()).collect()
}

/// The public form of a lookup: the status, or [`Error::NotFound`].
pub(crate) fn found(id: &JobId, lookup: Lookup) -> Result<JobStatus> {
    lookup.ok_or_else(|| Error::job_not_found(id))
}

/// Shares one poll loop between all concurrent waits on one scheduler.
///
/// Each cycle asks the [`StatusSource`] once about every watched job that is
/// not final yet. The interval lies between [`PollConfig::poll_interval`] and
/// [`PollConfig::max_poll_interval`]: a quarter of the time the watched jobs
/// are expected to need to drain, judged from how many finished in the last
/// 30 s; without finishes, an eighth of the time since anything last changed.
/// A job seen for the first time makes a query due early (never sooner than
/// `poll_interval` after the previous one).
#[derive(Clone)]
pub struct Poller {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("Poller")
            .field("watched", &st.jobs.len())
            .field("queries", &st.queries)
            .finish_non_exhaustive()
    }
}

struct Inner {
    source: Arc<dyn StatusSource>,
    config: PollConfig,
    state: Mutex<State>,
    /// Bumped whenever statuses or the turn to ask change.
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    jobs: HashMap<JobId, Entry>,
    /// A waiter is asking right now.
    asking: bool,
    /// When the next query is due (`None`: now).
    due: Option<Instant>,
    last_query: Option<Instant>,
    queries: u64,
    consecutive_errors: u32,
    finishes: VecDeque<(Instant, usize)>,
    last_change: Option<Instant>,
}

struct Entry {
    watchers: usize,
    /// `None` until the first query that asked about the job.
    last: Option<Lookup>,
}

impl Entry {
    fn is_final(&self) -> bool {
        match &self.last {
            Some(Some(s)) => s.is_done(),
            Some(None) => true,
            None => false,
        }
    }
}

const RATE_WINDOW: Duration = Duration::from_secs(30);

/// Query failures in a row that count as transport hiccups and are retried.
const RETRIES: u32 = 3;

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }
}

/// Unregisters a waiter's ids when the wait ends or is dropped.
struct Registration {
    inner: Arc<Inner>,
    ids: Vec<JobId>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        for id in &self.ids {
            if let Some(e) = st.jobs.get_mut(id) {
                e.watchers -= 1;
                if e.watchers == 0 {
                    st.jobs.remove(id);
                }
            }
        }
    }
}

/// Gives up the turn to ask when the asking waiter finishes or is dropped
/// (its wait timed out or was cancelled), so another waiter takes over.
struct Turn<'a> {
    inner: &'a Inner,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.inner.lock().asking = false;
        self.inner.bump();
    }
}

/// What a waiter does next.
enum Step {
    /// Ask about these jobs now.
    Ask(Vec<JobId>),
    /// Wait for news, or until the given time (a query falls due).
    Sleep(Option<Instant>),
}

impl Poller {
    /// A poller over `source`.
    pub fn new(source: Arc<dyn StatusSource>, config: PollConfig) -> Self {
        let (changed, _) = watch::channel(0);
        Poller {
            inner: Arc::new(Inner { source, config, state: Mutex::new(State::default()), changed }),
        }
    }

    /// Number of status queries made so far (for tests and benchmarks).
    pub fn queries(&self) -> u64 {
        self.inner.lock().queries
    }

    /// Wait until every job meets `until` or `timeout` passes; same contract
    /// as `Scheduler::wait`. Many concurrent calls share one query per cycle.
    pub async fn wait(
        &self,
        ids: &[JobId],
        until: WaitUntil,
        timeout: Option<Duration>,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Vec<Result<JobStatus>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A timeout too large for a deadline means no deadline.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut news = self.inner.changed.subscribe();
        let _registration = self.register(ids);
        loop {
            // Mark the current version seen before looking, so no change is missed.
            news.borrow_and_update();
            let snapshot = self.snapshot(ids);
            if let Some(progress) = progress {
                progress(&tally(&snapshot));
            }
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            // Every job has an answer from some query: done when the
            // condition holds or time is up. (A job nobody has asked about
            // yet is asked about even after the timeout, so that every
            // job has a status to return.)
            if let Some(known) = snapshot.iter().cloned().collect::<Option<Vec<Lookup>>>() {
                let met = known.iter().all(|s| s.as_ref().is_none_or(|s| until.is_met(s)));
                if met || timed_out {
                    return Ok(ids.iter().zip(known).map(|(id, s)| found(id, s)).collect());
                }
            }
            match self.next_step(timed_out) {
                Step::Ask(open) => {
                    let turn = Turn { inner: &self.inner };
                    let query = self.inner.source.query(&open);
                    tokio::pin!(query);
                    let answer = match deadline.filter(|_| !timed_out) {
                        Some(d) => tokio::select! {
                            a = &mut query => a,
                            () = tokio::time::sleep_until(d) => {
                                let snapshot = self.snapshot(ids);
                                if let Some(known) =
                                    snapshot.into_iter().collect::<Option<Vec<Lookup>>>()
                                {
                                    drop(turn);
                                    return Ok(ids.iter().zip(known).map(|(id, s)| found(id, s)).collect());
                                }
                                // Some job of ours has no status yet: this answer is needed.
                                query.await
                            }
                        },
                        None => query.await,
                    };
                    self.record(&open, answer)?;
                    drop(turn);
                }
                Step::Sleep(due) => {
                    let wake = match (due, deadline.filter(|_| !timed_out)) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    match wake {
                        Some(at) => {
                            tokio::select! {
                                _ = news.changed() => {}
                                () = tokio::time::sleep_until(at) => {}
                            }
                        }
                        // The sender lives as long as `self`: this ends with news.
                        None => {
                            let _ = news.changed().await;
                        }
                    }
                }
            }
        }
    }

    fn snapshot(&self, ids: &[JobId]) -> Vec<Option<Lookup>> {
        let st = self.inner.lock();
        ids.iter().map(|id| st.jobs.get(id).and_then(|e| e.last.clone())).collect()
    }

    fn register(&self, ids: &[JobId]) -> Registration {
        let mut st = self.inner.lock();
        let mut fresh = false;
        for id in ids {
            let e = st.jobs.entry(id.clone()).or_insert_with(|| {
                fresh = true;
                Entry { watchers: 0, last: None }
            });
            e.watchers += 1;
        }
        if fresh {
            // A job nobody has asked about yet: ask soon, but never sooner
            // than `poll_interval` after the previous query.
            let soonest = st.last_query.map(|t| t + self.inner.config.poll_interval);
            st.due = match (st.due, soonest) {
                (Some(due), Some(s)) => Some(due.min(s.max(Instant::now()))),
                (_, s) => s,
            };
        }
        Registration { inner: self.inner.clone(), ids: ids.to_vec() }
    }

    /// Take the turn to ask if a query is due (or `urgent`) and nobody is asking.
    fn next_step(&self, urgent: bool) -> Step {
        let mut st = self.inner.lock();
        if st.asking {
            return Step::Sleep(None);
        }
        let now = Instant::now();
        if !urgent && st.due.is_some_and(|d| d > now) {
            return Step::Sleep(st.due);
        }
        let open: Vec<JobId> =
            st.jobs.iter().filter(|(_, e)| !e.is_final()).map(|(id, _)| id.clone()).collect();
        if open.is_empty() {
            // Everything watched is final: the waiters see it in their snapshots.
            return Step::Sleep(None);
        }
        st.asking = true;
        st.last_query = Some(now);
        Step::Ask(open)
    }

    /// Record a query's answer for everyone; a failure is returned to the
    /// waiter that asked (after retries for transport hiccups).
    fn record(&self, open: &[JobId], answer: Result<Vec<Lookup>>) -> Result<()> {
        let inner = &self.inner;
        let config = &inner.config;
        let now = Instant::now();
        let mut st = inner.lock();
        st.queries += 1;
        let started = st.last_query.unwrap_or(now);
        let results = match answer {
            Ok(results) => results,
            Err(err) => {
                st.consecutive_errors += 1;
                tracing::warn!(error = %err, "status query failed");
                // Transport hiccups are retried a few times; anything else (or
                // a persistent failure) ends this wait with the error, and the
                // other waiters ask again at once, each for itself.
                if err.is_retryable() && st.consecutive_errors < RETRIES {
                    st.due = Some(started + config.poll_interval);
                    return Ok(());
                }
                st.due = None;
                return Err(err);
            }
        };
        st.consecutive_errors = 0;
        let mut finished = 0;
        let mut changed = false;
        for (id, r) in open.iter().zip(lookup_each(open, results)) {
            let Some(e) = st.jobs.get_mut(id) else { continue };
            changed |= match (&e.last, &r) {
                (Some(Some(a)), Some(b)) => a.state != b.state,
                _ => true,
            };
            e.last = Some(r);
            if e.is_final() {
                finished += 1;
            }
        }
        if changed || st.last_change.is_none() {
            st.last_change = Some(now);
        }
        st.finishes.push_back((now, finished));
        while st.finishes.front().is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW) {
            st.finishes.pop_front();
        }
        let still_open = st.jobs.values().filter(|e| !e.is_final()).count();
        let since_change = st.last_change.map(|t| now.duration_since(t)).unwrap_or_default();
        let interval = next_interval(config, still_open, rate(&st.finishes, now), since_change);
        st.due = Some(started + interval);
        Ok(())
    }
}

fn tally(snapshot: &[Option<Lookup>]) -> WaitProgress {
    let mut p = WaitProgress { total: snapshot.len(), ..Default::default() };
    for s in snapshot {
        match s {
            Some(Some(s)) if s.is_done() => p.done += 1,
            Some(Some(s)) if s.state != hpc_core::JobState::Pending => p.running += 1,
            Some(None) => p.done += 1,
            _ => p.pending += 1,
        }
    }
    p
}

/// Completions per second over the last [`RATE_WINDOW`], if any.
fn rate(finishes: &VecDeque<(Instant, usize)>, now: Instant) -> Option<f64> {
    let total: usize = finishes.iter().map(|(_, n)| n).sum();
    let first = finishes.front()?.0;
    if total == 0 {
        return None;
    }
    // At least one second, so that a burst right after the first query does
    // not look like an enormous rate.
    let span = now.saturating_duration_since(first).max(Duration::from_secs(1));
    Some(total as f64 / span.as_secs_f64())
}

/// The interval policy (pure, so it can be tested without a clock).
pub(crate) fn next_interval(
    config: &PollConfig,
    open: usize,
    rate: Option<f64>,
    since_change: Duration,
) -> Duration {
    let estimate = match rate {
        Some(r) if r > 0.0 => Duration::from_secs_f64((open as f64 / r / 4.0).min(1e6)),
        _ => since_change / 8,
    };
    estimate.clamp(config.poll_interval, config.max_poll_interval)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hpc_core::JobState;

    use super::*;

    /// Job `n` finishes at query number `n`; records the size of each query.
    #[derive(Default)]
    struct Countdown {
        queries: AtomicUsize,
        sizes: Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl StatusSource for Countdown {
        async fn query(&self, ids: &[JobId]) -> Result<Vec<Lookup>> {
            let q = self.queries.fetch_add(1, Ordering::SeqCst) + 1;
            self.sizes.lock().unwrap().push(ids.len());
            Ok(ids
                .iter()
                .map(|id| {
                    let n: usize = id.as_str().parse().ok()?;
                    let st = if q >= n { JobState::Completed } else { JobState::Running };
                    Some(JobStatus::new(id.clone(), st))
                })
                .collect())
        }
    }

    fn fast() -> PollConfig {
        PollConfig {
            poll_interval: Duration::from_millis(5),
            max_poll_interval: Duration::from_millis(20),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn many_concurrent_waits_share_one_query_per_cycle() {
        let src = Arc::new(Countdown::default());
        let poller = Poller::new(src.clone(), fast());
        let mut tasks = Vec::new();
        for n in 1..=40usize {
            let p = poller.clone();
            tasks.push(tokio::spawn(async move {
                let id = JobId::from((n % 8 + 1).to_string());
                p.wait(&[id], WaitUntil::Done, None, None).await
            }));
        }
        for t in tasks {
            let r = t.await.unwrap().unwrap();
            assert!(r[0].as_ref().unwrap().is_done());
        }
        let sizes = src.sizes.lock().unwrap().clone();
        // 40 waiters on 8 distinct jobs: never more than 8 ids per query, and
        // far fewer queries than waiters.
        assert!(sizes.iter().all(|&s| s <= 8), "{sizes:?}");
        assert!(sizes.len() < 40, "{sizes:?}");
        assert_eq!(poller.queries() as usize, sizes.len());
    }

    #[tokio::test]
    async fn unknown_ids_end_the_wait_as_not_found() {
        let poller = Poller::new(Arc::new(Countdown::default()), fast());
        let ids = [JobId::from("2"), JobId::from("nope")];
        let seen = Mutex::new(Vec::new());
        let progress = |p: &WaitProgress| seen.lock().unwrap().push(*p);
        let r = poller.wait(&ids, WaitUntil::Done, None, Some(&progress)).await.unwrap();
        assert!(r[0].as_ref().unwrap().is_done());
        assert!(r[1].as_ref().unwrap_err().is_not_found());
        assert_eq!(seen.lock().unwrap().last().unwrap().done, 2);
    }

    #[tokio::test]
    async fn timeout_returns_the_last_statuses() {
        let poller = Poller::new(Arc::new(Countdown::default()), fast());
        let r = poller
            .wait(&["100000".into()], WaitUntil::Done, Some(Duration::from_millis(30)), None)
            .await
            .unwrap();
        assert_eq!(r[0].as_ref().unwrap().state, JobState::Running);
    }

    #[tokio::test]
    async fn a_timeout_before_any_query_still_answers_for_every_job() {
        let src = Arc::new(Countdown::default());
        let poller = Poller::new(src.clone(), fast());
        let ids = [JobId::from("3"), JobId::from("x")];
        let r = poller.wait(&ids, WaitUntil::Done, Some(Duration::ZERO), None).await.unwrap();
        assert_eq!(r[0].as_ref().unwrap().state, JobState::Running);
        assert!(r[1].as_ref().unwrap_err().is_not_found());
        assert_eq!(src.queries.load(Ordering::SeqCst), 1);
    }

    /// Fails every query with `error()`; counts them.
    struct Failing {
        queries: AtomicUsize,
        error: fn() -> Error,
    }

    #[async_trait]
    impl StatusSource for Failing {
        async fn query(&self, _ids: &[JobId]) -> Result<Vec<Lookup>> {
            self.queries.fetch_add(1, Ordering::SeqCst);
            Err((self.error)())
        }
    }

    #[tokio::test]
    async fn a_failing_query_ends_the_waits_with_its_error() {
        let boom = || Error::CommandFailed {
            command: "squeue".into(),
            exit_code: Some(1),
            stderr: "boom".into(),
        };
        let src = Arc::new(Failing { queries: AtomicUsize::new(0), error: boom });
        let poller = Poller::new(src.clone(), fast());
        let e = poller.wait(&["1".into()], WaitUntil::Done, None, None).await.unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        assert_eq!(src.queries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn every_waiter_gets_the_failure_with_its_kind() {
        let denied = || Error::Authentication {
            user: "u".into(),
            host: "h".into(),
            reason: "key refused".into(),
        };
        let src = Arc::new(Failing { queries: AtomicUsize::new(0), error: denied });
        let poller = Poller::new(src.clone(), fast());
        let ids = [JobId::from("1"), JobId::from("2")];
        let (a, b) = tokio::join!(
            poller.wait(&ids[..1], WaitUntil::Done, None, None),
            poller.wait(&ids, WaitUntil::Done, None, None),
        );
        for e in [a.unwrap_err(), b.unwrap_err()] {
            assert_eq!(e.kind(), hpc_core::ErrorKind::Authentication, "{e}");
        }
        // Not retried: one query per waiter.
        assert_eq!(src.queries.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn transport_hiccups_are_retried_then_reported() {
        let lost =
            || Error::ConnectionLost { host: "h".into(), reason: "reset".into(), source: None };
        let src = Arc::new(Failing { queries: AtomicUsize::new(0), error: lost });
        let poller = Poller::new(src.clone(), fast());
        let e = poller.wait(&["1".into()], WaitUntil::Done, None, None).await.unwrap_err();
        assert_eq!(e.kind(), hpc_core::ErrorKind::Connection, "{e}");
        assert_eq!(src.queries.load(Ordering::SeqCst), RETRIES as usize);
    }

    #[test]
    fn interval_follows_the_drain_estimate() {
        let s = PollConfig {
            poll_interval: Duration::from_millis(250),
            max_poll_interval: Duration::from_secs(3),
            ..Default::default()
        };
        let zero = Duration::ZERO;
        // Nothing known yet: the short interval.
        assert_eq!(next_interval(&s, 100, None, zero), s.poll_interval);
        // 100 jobs at 2/s: far from done, the long interval.
        assert_eq!(next_interval(&s, 100, Some(2.0), zero), s.max_poll_interval);
        // 4 left at 2/s: about 2 s to go, poll every 0.5 s.
        assert_eq!(next_interval(&s, 4, Some(2.0), zero), Duration::from_millis(500));
        // The last one: the short interval again.
        assert_eq!(next_interval(&s, 1, Some(2.0), zero), s.poll_interval);
        // A lone long job backs off with the time since the last change.
        assert_eq!(next_interval(&s, 1, None, Duration::from_secs(8)), Duration::from_secs(1));
        assert_eq!(next_interval(&s, 1, None, Duration::from_secs(600)), s.max_poll_interval);
    }
}
