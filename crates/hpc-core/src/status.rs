//! What a job and a queue are doing: [`JobStatus`], [`JobState`], [`QueueStatus`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::job::JobId;

/// The portable state of a job. The scheduler's own word is kept in
/// [`JobStatus::raw_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, waiting for resources (also held, staging in).
    Pending,
    /// Running (also completing, exiting, staging out).
    Running,
    /// Stopped by the scheduler or an administrator; may resume.
    Suspended,
    /// Finished with exit code 0.
    Completed,
    /// Finished unsuccessfully: non-zero exit, killed by a signal, time or memory
    /// limit, node failure, rejected after submission.
    Failed,
    /// Cancelled by a user or administrator.
    Cancelled,
    /// The scheduler reports a state that has no portable meaning; see `raw_state`.
    Unknown,
}

impl JobState {
    /// Whether the job can no longer change state.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Completed | JobState::Failed | JobState::Cancelled)
    }

    /// Lower-case name as used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Suspended => "suspended",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Unknown => "unknown",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Resource use reported by accounting, where the scheduler has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct JobUsage {
    /// When the job started running (serialized as whole seconds since the
    /// Unix epoch, like every timestamp in hpckit's JSON).
    #[serde(with = "epoch_secs")]
    pub start: Option<SystemTime>,
    /// When it ended (seconds since the Unix epoch when serialized).
    #[serde(with = "epoch_secs")]
    pub end: Option<SystemTime>,
    /// Wall-clock time used (seconds when serialized).
    #[serde(with = "crate::job::opt_secs")]
    pub elapsed: Option<Duration>,
    /// Peak resident memory of the largest task, in bytes.
    pub max_rss_bytes: Option<u64>,
    /// CPU time used (seconds when serialized).
    #[serde(with = "crate::job::opt_secs")]
    pub cpu_time: Option<Duration>,
}

impl JobUsage {
    /// Each figure from `self`, or from `other` where `self` lacks it.
    ///
    /// Two sources of one job rarely know the same: accounting may already
    /// hold the steps' peak memory while the job's end has not reached it,
    /// which the queue still shows.
    #[must_use]
    pub fn or(self, other: JobUsage) -> JobUsage {
        JobUsage {
            start: self.start.or(other.start),
            end: self.end.or(other.end),
            elapsed: self.elapsed.or(other.elapsed),
            max_rss_bytes: self.max_rss_bytes.or(other.max_rss_bytes),
            cpu_time: self.cpu_time.or(other.cpu_time),
        }
    }
}

/// `Option<SystemTime>` as whole seconds since the Unix epoch (times before
/// it, which no scheduler reports, become `null`).
mod epoch_secs {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(|secs| UNIX_EPOCH + Duration::from_secs(secs)))
    }
}

/// A snapshot of one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobStatus {
    /// The job's id.
    pub id: JobId,
    /// The job's name, if the scheduler reports it.
    pub name: Option<String>,
    /// Portable state.
    pub state: JobState,
    /// Exit code of the job's main process, once it is known.
    pub exit_code: Option<i32>,
    /// Signal that ended the job, if one did.
    pub signal: Option<i32>,
    /// Why the job failed or is held, in the scheduler's words.
    pub error: Option<String>,
    /// The scheduler's own state text (`PENDING`, `qw`, `C`, ...).
    pub raw_state: Option<String>,
    /// Queue or partition.
    pub queue: Option<String>,
    /// Accounting data.
    pub usage: Option<JobUsage>,
    /// Everything else the scheduler reported, by its own key names.
    pub info: BTreeMap<String, String>,
}

impl JobStatus {
    /// A status with only id and state set.
    pub fn new(id: JobId, state: JobState) -> Self {
        JobStatus {
            id,
            name: None,
            state,
            exit_code: None,
            signal: None,
            error: None,
            raw_state: None,
            queue: None,
            usage: None,
            info: BTreeMap::new(),
        }
    }

    /// Whether the job has finished (successfully or not).
    pub fn is_done(&self) -> bool {
        self.state.is_final()
    }

    /// Whether the job is running now.
    pub fn is_running(&self) -> bool {
        self.state == JobState::Running
    }

    /// Whether the job has finished with exit code 0.
    pub fn succeeded(&self) -> bool {
        self.state == JobState::Completed
    }

    /// Set the exit code.
    pub fn with_exit_code(mut self, code: Option<i32>) -> Self {
        self.exit_code = code;
        self
    }

    /// Set the signal.
    pub fn with_signal(mut self, signal: Option<i32>) -> Self {
        self.signal = signal;
        self
    }

    /// Set the name.
    pub fn with_name(mut self, name: Option<String>) -> Self {
        self.name = name;
        self
    }

    /// Set the raw state.
    pub fn with_raw_state(mut self, raw: impl Into<String>) -> Self {
        self.raw_state = Some(raw.into());
        self
    }

    /// Set the error text.
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    /// Set the queue.
    pub fn with_queue(mut self, queue: Option<String>) -> Self {
        self.queue = queue;
        self
    }
}

/// A snapshot of one queue (partition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QueueStatus {
    /// Queue name.
    pub name: String,
    /// Whether jobs without a queue go here.
    pub is_default: bool,
    /// The scheduler's state word (`up`, `enabled`, ...).
    pub state: Option<String>,
    /// Jobs running now, if known.
    pub running_jobs: Option<u32>,
    /// Jobs waiting, if known.
    pub pending_jobs: Option<u32>,
    /// Nodes in the queue, if known.
    pub nodes: Option<u32>,
    /// Wall-clock limit for jobs, if any.
    pub max_runtime: Option<Duration>,
    /// Everything else, by the scheduler's key names.
    pub info: BTreeMap<String, String>,
}

impl QueueStatus {
    /// A status with only the name set.
    pub fn new(name: impl Into<String>) -> Self {
        QueueStatus {
            name: name.into(),
            is_default: false,
            state: None,
            running_jobs: None,
            pending_jobs: None,
            nodes: None,
            max_runtime: None,
            info: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_json_is_plain_seconds_and_round_trips() {
        let u = JobUsage {
            start: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_800_134)),
            elapsed: Some(Duration::from_secs(2)),
            max_rss_bytes: Some(4096),
            ..Default::default()
        };
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"start": 1_795_800_134u64, "end": null, "elapsed": 2,
                               "max_rss_bytes": 4096, "cpu_time": null})
        );
        assert_eq!(serde_json::from_value::<JobUsage>(v).unwrap(), u);
    }

    #[test]
    fn usage_or_takes_each_missing_figure_from_the_other_source() {
        let t = |s| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        // Accounting: steps recorded, the job's end not yet.
        let acct = JobUsage {
            start: t(100),
            elapsed: Some(Duration::from_secs(3)),
            max_rss_bytes: Some(50 << 20),
            ..Default::default()
        };
        // The queue: start and end, no memory.
        let queue = JobUsage { start: t(99), end: t(103), ..Default::default() };
        let both = acct.clone().or(queue.clone());
        assert_eq!(both.start, t(100), "the first source wins where both know");
        assert_eq!(both.end, t(103));
        assert_eq!(both.max_rss_bytes, Some(50 << 20));
        assert_eq!(both.cpu_time, None);
        assert_eq!(JobUsage::default().or(queue.clone()), queue);
        assert_eq!(acct.clone().or(JobUsage::default()), acct);
    }

    #[test]
    fn finality() {
        for (s, fin) in [
            (JobState::Pending, false),
            (JobState::Running, false),
            (JobState::Suspended, false),
            (JobState::Unknown, false),
            (JobState::Completed, true),
            (JobState::Failed, true),
            (JobState::Cancelled, true),
        ] {
            assert_eq!(s.is_final(), fin, "{s}");
        }
    }

    #[test]
    fn json_names() {
        let s = JobStatus::new("7".into(), JobState::Cancelled).with_exit_code(Some(143));
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["state"], "cancelled");
        assert_eq!(v["id"], "7");
        assert_eq!(v["exit_code"], 143);
    }
}
