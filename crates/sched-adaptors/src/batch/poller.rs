//! The coalescing poller: one status query per cycle for every job that any
//! caller is waiting for.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use hpc_core::scheduler::{ProgressFn, WaitProgress, WaitUntil};
use hpc_core::{Error, JobId, JobStatus, Result};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::{PollSettings, dup_error};

/// Answers "how are these jobs?" with one scheduler query.
#[async_trait]
pub trait StatusSource: Send + Sync + 'static {
    /// Status of every id, in order; [`Error::NotFound`] for unknown ids. The
    /// outer error is a failure of the query itself.
    async fn query(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>>;
}

/// Shares one poll loop between all concurrent waits on one scheduler.
///
/// The loop runs only while somebody waits. Each cycle asks the
/// [`StatusSource`] once about every watched job that is not final yet. The
/// interval lies between [`PollSettings::poll_interval`] and
/// [`PollSettings::max_poll_interval`]: a quarter of the time the watched jobs
/// are expected to need to drain, judged from how many finished in the last
/// 30 s; without finishes, an eighth of the time since anything last changed.
/// A job seen for the first time wakes the loop early (never sooner than
/// `poll_interval` after the previous query).
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
    settings: PollSettings,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    wake: Notify,
}

#[derive(Default)]
struct State {
    jobs: HashMap<JobId, Entry>,
    loop_running: bool,
    queries: u64,
    finishes: VecDeque<(Instant, usize)>,
    last_change: Option<Instant>,
}

struct Entry {
    watchers: usize,
    last: Option<Result<JobStatus>>,
}

impl Entry {
    fn is_final(&self) -> bool {
        match &self.last {
            Some(Ok(s)) => s.is_done(),
            Some(Err(_)) => true,
            None => false,
        }
    }
}

const RATE_WINDOW: Duration = Duration::from_secs(30);

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
        drop(st);
        self.inner.wake.notify_one();
    }
}

impl Poller {
    /// A poller over `source`.
    pub fn new(source: Arc<dyn StatusSource>, settings: PollSettings) -> Self {
        let (changed, _) = watch::channel(0);
        Poller {
            inner: Arc::new(Inner {
                source,
                settings,
                state: Mutex::new(State::default()),
                changed,
                wake: Notify::new(),
            }),
        }
    }

    /// Number of status queries made so far (for tests and benchmarks).
    pub fn queries(&self) -> u64 {
        self.inner.lock().queries
    }

    /// Wait until every job meets `until` or `timeout` passes; same contract
    /// as `Scheduler::wait`. Many concurrent calls share one poll loop.
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
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut rx = self.inner.changed.subscribe();
        let _reg = self.register(ids);
        loop {
            let snapshot = self.snapshot(ids);
            if let Some(progress) = progress {
                progress(&tally(&snapshot));
            }
            let met = snapshot.iter().all(|s| match s {
                Some(Ok(s)) => until.is_met(s),
                Some(Err(_)) => true,
                None => false,
            });
            if met {
                return Ok(finish(snapshot));
            }
            match deadline {
                Some(d) => {
                    tokio::select! {
                        r = rx.changed() => r.map_err(|_| Error::Cancelled("poller stopped".into()))?,
                        _ = tokio::time::sleep_until(d) => return Ok(finish(self.snapshot(ids))),
                    }
                }
                None => {
                    rx.changed().await.map_err(|_| Error::Cancelled("poller stopped".into()))?
                }
            }
        }
    }

    fn snapshot(&self, ids: &[JobId]) -> Vec<Option<Result<JobStatus>>> {
        let st = self.inner.lock();
        ids.iter()
            .map(|id| {
                st.jobs.get(id).and_then(|e| e.last.as_ref()).map(|r| match r {
                    Ok(s) => Ok(s.clone()),
                    Err(e) => Err(dup_error(e)),
                })
            })
            .collect()
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
        if !st.loop_running {
            st.loop_running = true;
            tokio::spawn(run(self.inner.clone()));
        } else if fresh {
            self.inner.wake.notify_one();
        }
        Registration { inner: self.inner.clone(), ids: ids.to_vec() }
    }
}

fn finish(snapshot: Vec<Option<Result<JobStatus>>>) -> Vec<Result<JobStatus>> {
    snapshot
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Err(Error::Cancelled("no status yet".into()))))
        .collect()
}

fn tally(snapshot: &[Option<Result<JobStatus>>]) -> WaitProgress {
    let mut p = WaitProgress { total: snapshot.len(), ..Default::default() };
    for s in snapshot {
        match s {
            Some(Ok(s)) if s.is_done() => p.done += 1,
            Some(Ok(s)) if s.state != hpc_core::JobState::Pending => p.running += 1,
            Some(Err(_)) => p.done += 1,
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
    settings: &PollSettings,
    open: usize,
    rate: Option<f64>,
    since_change: Duration,
) -> Duration {
    let estimate = match rate {
        Some(r) if r > 0.0 => Duration::from_secs_f64((open as f64 / r / 4.0).min(1e6)),
        _ => since_change / 8,
    };
    estimate.clamp(settings.poll_interval, settings.max_poll_interval)
}

async fn run(inner: Arc<Inner>) {
    let mut consecutive_errors = 0u32;
    let mut last_query: Option<Instant> = None;
    loop {
        let open: Vec<JobId> = {
            let mut st = inner.lock();
            if st.jobs.is_empty() {
                st.loop_running = false;
                return;
            }
            st.jobs.iter().filter(|(_, e)| !e.is_final()).map(|(id, _)| id.clone()).collect()
        };
        if open.is_empty() {
            // Everything watched is final: sleep until a waiter leaves or comes.
            inner.wake.notified().await;
            continue;
        }
        if let Some(prev) = last_query {
            tokio::time::sleep_until(prev + inner.settings.poll_interval).await;
        }
        let started = Instant::now();
        last_query = Some(started);
        let answer = inner.source.query(&open).await;
        let now = Instant::now();
        let (still_open, since_change, rate) = {
            let mut st = inner.lock();
            st.queries += 1;
            let mut finished = 0;
            let mut changed = false;
            match answer {
                Ok(results) => {
                    consecutive_errors = 0;
                    for (id, r) in open.iter().zip(results) {
                        let Some(e) = st.jobs.get_mut(id) else { continue };
                        let differs = match (&e.last, &r) {
                            (Some(Ok(a)), Ok(b)) => a.state != b.state,
                            (None, _) => true,
                            _ => true,
                        };
                        changed |= differs;
                        e.last = Some(r);
                        if e.is_final() {
                            finished += 1;
                        }
                    }
                }
                Err(err) => {
                    consecutive_errors += 1;
                    tracing::warn!(error = %err, "status query failed");
                    // Transport hiccups are retried a few times; anything else
                    // (or a persistent failure) ends the waits with the error.
                    if !err.is_retryable() || consecutive_errors >= 3 {
                        for id in &open {
                            if let Some(e) = st.jobs.get_mut(id) {
                                e.last = Some(Err(dup_error(&err)));
                            }
                        }
                        changed = true;
                    }
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
            let since = st.last_change.map(|t| now.duration_since(t)).unwrap_or_default();
            (still_open, since, rate(&st.finishes, now))
        };
        inner.changed.send_modify(|g| *g += 1);
        if still_open == 0 {
            continue;
        }
        let interval = next_interval(&inner.settings, still_open, rate, since_change);
        let deadline = started + interval;
        // Waiters leaving do not shorten the sleep; a never-polled id or
        // nobody left waiting does.
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                _ = inner.wake.notified() => {
                    let st = inner.lock();
                    if st.jobs.is_empty() || st.jobs.values().any(|e| e.last.is_none()) {
                        break;
                    }
                }
            }
        }
    }
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
        async fn query(&self, ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
            let q = self.queries.fetch_add(1, Ordering::SeqCst) + 1;
            self.sizes.lock().unwrap().push(ids.len());
            Ok(ids
                .iter()
                .map(|id| {
                    let n: usize = id.as_str().parse().map_err(|_| Error::job_not_found(id))?;
                    let st = if q >= n { JobState::Completed } else { JobState::Running };
                    Ok(JobStatus::new(id.clone(), st))
                })
                .collect())
        }
    }

    fn fast() -> PollSettings {
        PollSettings {
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

    struct Failing(AtomicUsize);

    #[async_trait]
    impl StatusSource for Failing {
        async fn query(&self, _ids: &[JobId]) -> Result<Vec<Result<JobStatus>>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(Error::CommandFailed {
                command: "squeue".into(),
                exit_code: Some(1),
                stderr: "boom".into(),
            })
        }
    }

    #[tokio::test]
    async fn a_failing_query_ends_the_waits_with_its_error() {
        let src = Arc::new(Failing(AtomicUsize::new(0)));
        let poller = Poller::new(src.clone(), fast());
        let r = poller.wait(&["1".into()], WaitUntil::Done, None, None).await.unwrap();
        let e = r[0].as_ref().unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        assert_eq!(src.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn interval_follows_the_drain_estimate() {
        let s = PollSettings {
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
