//! The embedded queue's bookkeeping: which jobs wait, run and have finished.
//! Pure data behind one mutex; the tasks that run processes live in `run.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

use hpc_core::{Error, JobId, JobState, JobStatus, JobUsage, QueueStatus, Result};
use hpc_exec::{Command, ExitStatus};
use tokio::sync::oneshot;

/// The three queues (Xenon's design): one job at a time, up to the
/// configured concurrency, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queue {
    Single,
    Multi,
    Unlimited,
}

impl Queue {
    pub(crate) const ALL: [Queue; 3] = [Queue::Single, Queue::Multi, Queue::Unlimited];
    pub(crate) const DEFAULT: Queue = Queue::Multi;

    pub(crate) fn name(self) -> &'static str {
        match self {
            Queue::Single => "single",
            Queue::Multi => "multi",
            Queue::Unlimited => "unlimited",
        }
    }

    pub(crate) fn by_name(name: &str) -> Result<Queue> {
        Queue::ALL.into_iter().find(|q| q.name() == name).ok_or_else(|| Error::NotFound {
            kind: hpc_core::NotFoundKind::Queue,
            name: format!("{name} (local queues: single, multi, unlimited)"),
        })
    }

    fn index(self) -> usize {
        self as usize
    }

    fn limit(self, max_concurrent: usize) -> usize {
        match self {
            Queue::Single => 1,
            Queue::Multi => max_concurrent,
            Queue::Unlimited => usize::MAX,
        }
    }
}

/// One job as the queue knows it.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) name: Option<String>,
    pub(crate) queue: Queue,
    pub(crate) state: JobState,
    pub(crate) exit: Option<ExitStatus>,
    pub(crate) error: Option<String>,
    /// Set by `cancel`: the final state is Cancelled whatever the exit status.
    pub(crate) cancel_requested: bool,
    /// Tells the running task to stop the process group.
    pub(crate) kill: Option<oneshot::Sender<()>>,
    /// What a queued batch job runs; taken when it starts.
    pub(crate) command: Option<Command>,
    pub(crate) submitted: SystemTime,
    pub(crate) started: Option<SystemTime>,
    pub(crate) ended: Option<SystemTime>,
}

impl Job {
    pub(crate) fn new(name: Option<String>, queue: Queue) -> Self {
        Job {
            name,
            queue,
            state: JobState::Pending,
            exit: None,
            error: None,
            cancel_requested: false,
            kill: None,
            command: None,
            submitted: SystemTime::now(),
            started: None,
            ended: None,
        }
    }

    pub(crate) fn status(&self, id: u64) -> JobStatus {
        let mut s = JobStatus::new(JobId::new(format_id(id)), self.state)
            .with_name(self.name.clone())
            .with_queue(Some(self.queue.name().to_owned()))
            .with_raw_state(self.state.as_str().to_uppercase());
        if let Some(exit) = self.exit {
            s = s.with_exit_code(exit.code).with_signal(exit.signal);
        }
        s.error = self.error.clone();
        let mut usage = JobUsage::default();
        usage.start = self.started;
        usage.end = self.ended;
        usage.elapsed = match (self.started, self.ended) {
            (Some(a), Some(b)) => b.duration_since(a).ok(),
            _ => None,
        };
        s.usage = Some(usage);
        if let Ok(t) = self.submitted.duration_since(SystemTime::UNIX_EPOCH) {
            s.info.insert("submit_time".into(), t.as_secs().to_string());
        }
        s
    }
}

/// `local-<n>`.
pub(crate) fn format_id(n: u64) -> String {
    format!("local-{n}")
}

/// The number in `local-<n>`, if `id` has that form.
pub(crate) fn parse_id(id: &JobId) -> Option<u64> {
    let n = id.as_str().strip_prefix("local-")?;
    // Reject `local-+1`, `local-01`: one spelling per job.
    if n.starts_with(['+', '0']) {
        return None;
    }
    n.parse().ok()
}

/// Every job of one scheduler.
#[derive(Debug)]
pub(crate) struct State {
    next: u64,
    pub(crate) jobs: BTreeMap<u64, Job>,
    pending: [VecDeque<u64>; 3],
    running: [usize; 3],
    finished: VecDeque<u64>,
    max_concurrent: usize,
    history: usize,
}

impl State {
    pub(crate) fn new(max_concurrent: usize, history: usize) -> Self {
        State {
            next: 1,
            jobs: BTreeMap::new(),
            pending: Default::default(),
            running: [0; 3],
            finished: VecDeque::new(),
            max_concurrent: max_concurrent.max(1),
            history,
        }
    }

    /// Add a job waiting in its queue; returns its number.
    pub(crate) fn enqueue(&mut self, job: Job) -> u64 {
        let n = self.insert(job);
        let q = self.jobs[&n].queue;
        self.pending[q.index()].push_back(n);
        n
    }

    /// Add a job that starts at once (interactive jobs: the caller is waiting
    /// for its streams, so they do not queue).
    pub(crate) fn start_now(&mut self, mut job: Job) -> u64 {
        job.state = JobState::Running;
        job.started = Some(SystemTime::now());
        let q = job.queue;
        let n = self.insert(job);
        self.running[q.index()] += 1;
        n
    }

    fn insert(&mut self, job: Job) -> u64 {
        let n = self.next;
        self.next += 1;
        self.jobs.insert(n, job);
        n
    }

    /// Jobs that may start now (marked running; the caller starts them).
    pub(crate) fn dispatch(&mut self) -> Vec<u64> {
        let mut start = Vec::new();
        for q in Queue::ALL {
            let i = q.index();
            while self.running[i] < q.limit(self.max_concurrent) {
                let Some(n) = self.pending[i].pop_front() else { break };
                if let Some(job) = self.jobs.get_mut(&n) {
                    job.state = JobState::Running;
                    job.started = Some(SystemTime::now());
                    self.running[i] += 1;
                    start.push(n);
                }
            }
        }
        start
    }

    /// Record that job `n`'s process ended (or never started).
    pub(crate) fn finish(&mut self, n: u64, exit: Option<ExitStatus>, error: Option<String>) {
        let Some(job) = self.jobs.get_mut(&n) else { return };
        if job.state.is_final() {
            return;
        }
        self.running[job.queue.index()] = self.running[job.queue.index()].saturating_sub(1);
        job.state = if job.cancel_requested {
            JobState::Cancelled
        } else if exit.is_some_and(|e| e.success()) {
            JobState::Completed
        } else {
            JobState::Failed
        };
        job.exit = exit;
        job.error = error;
        job.kill = None;
        job.command = None;
        job.ended = Some(SystemTime::now());
        self.retire(n);
    }

    /// Cancel a job that has not started; `false` if it is not pending.
    pub(crate) fn cancel_pending(&mut self, n: u64) -> bool {
        let Some(job) = self.jobs.get_mut(&n) else { return false };
        if job.state != JobState::Pending {
            return false;
        }
        job.state = JobState::Cancelled;
        job.cancel_requested = true;
        job.command = None;
        job.ended = Some(SystemTime::now());
        let q = job.queue.index();
        self.pending[q].retain(|&p| p != n);
        self.retire(n);
        true
    }

    /// Keep at most `history` finished jobs; the oldest are forgotten.
    fn retire(&mut self, n: u64) {
        self.finished.push_back(n);
        while self.finished.len() > self.history {
            if let Some(old) = self.finished.pop_front() {
                self.jobs.remove(&old);
            }
        }
    }

    pub(crate) fn status(&self, id: &JobId) -> Result<JobStatus> {
        parse_id(id)
            .and_then(|n| self.jobs.get(&n).map(|j| j.status(n)))
            .ok_or_else(|| Error::job_not_found(id))
    }

    pub(crate) fn queue_status(&self, q: Queue) -> QueueStatus {
        let mut s = QueueStatus::new(q.name());
        s.is_default = q == Queue::DEFAULT;
        s.state = Some("up".into());
        s.running_jobs = u32::try_from(self.running[q.index()]).ok();
        s.pending_jobs = u32::try_from(self.pending[q.index()].len()).ok();
        s.nodes = Some(1);
        let limit = match q {
            Queue::Unlimited => "unlimited".to_owned(),
            q => q.limit(self.max_concurrent).to_string(),
        };
        s.info.insert("max_concurrent".into(), limit);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Option<ExitStatus> {
        Some(ExitStatus { code: Some(0), signal: None })
    }

    #[test]
    fn queues_respect_their_limits() {
        let mut s = State::new(2, 100);
        let multi: Vec<u64> = (0..3).map(|_| s.enqueue(Job::new(None, Queue::Multi))).collect();
        let single: Vec<u64> = (0..2).map(|_| s.enqueue(Job::new(None, Queue::Single))).collect();
        let unl: Vec<u64> = (0..5).map(|_| s.enqueue(Job::new(None, Queue::Unlimited))).collect();
        let started = s.dispatch();
        assert_eq!(started.len(), 1 + 2 + 5);
        assert!(started.contains(&single[0]) && !started.contains(&single[1]));
        assert!(!started.contains(&multi[2]));
        assert!(unl.iter().all(|n| started.contains(n)));
        assert!(s.dispatch().is_empty());
        s.finish(multi[0], ok(), None);
        assert_eq!(s.dispatch(), vec![multi[2]]);
        assert_eq!(s.jobs[&multi[0]].state, JobState::Completed);
        let q = s.queue_status(Queue::Single);
        assert_eq!((q.running_jobs, q.pending_jobs), (Some(1), Some(1)));
    }

    #[test]
    fn final_states_are_never_guessed() {
        let mut s = State::new(1, 100);
        let a = s.enqueue(Job::new(None, Queue::Multi));
        let b = s.enqueue(Job::new(None, Queue::Multi));
        s.dispatch();
        assert!(s.cancel_pending(b));
        assert_eq!(s.jobs[&b].state, JobState::Cancelled);
        assert!(!s.cancel_pending(a), "running jobs are killed, not dequeued");
        s.jobs.get_mut(&a).unwrap().cancel_requested = true;
        s.finish(a, Some(ExitStatus { code: None, signal: Some(15) }), None);
        assert_eq!(s.jobs[&a].state, JobState::Cancelled);
        let c = s.enqueue(Job::new(None, Queue::Multi));
        s.dispatch();
        s.finish(c, Some(ExitStatus { code: Some(3), signal: None }), None);
        let st = s.status(&JobId::new(format_id(c))).unwrap();
        assert_eq!((st.state, st.exit_code), (JobState::Failed, Some(3)));
    }

    #[test]
    fn history_is_bounded_and_ids_are_strict() {
        let mut s = State::new(4, 2);
        let ids: Vec<u64> = (0..3).map(|_| s.enqueue(Job::new(None, Queue::Multi))).collect();
        s.dispatch();
        for &n in &ids {
            s.finish(n, ok(), None);
        }
        assert!(s.status(&JobId::new(format_id(ids[0]))).unwrap_err().is_not_found());
        assert!(s.status(&JobId::new(format_id(ids[2]))).is_ok());
        for bad in ["local-01", "local-+3", "3", "local-", "local-x"] {
            assert_eq!(parse_id(&JobId::from(bad)), None, "{bad}");
        }
    }
}
