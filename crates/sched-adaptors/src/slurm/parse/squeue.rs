//! `squeue`: the queue as the controller holds it, asked every poll cycle.

use hpc_core::{Error, JobId, JobState, JobStatus, Result};

use super::{
    SQUEUE_FIELDS, check_state_word, error_text, map_state, set_exit, split_wait_status, usage,
};
use crate::batch::time::{parse_duration, parse_utc};

/// Array task part of a `squeue` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrayTask {
    /// Not an array job.
    None,
    /// One task.
    One(u32),
    /// The pending remainder of an array, as Slurm prints it (`2-4%1`, `1,3-5`).
    Pending(String),
}

impl ArrayTask {
    fn contains(&self, t: u32) -> bool {
        match self {
            ArrayTask::None => false,
            ArrayTask::One(x) => *x == t,
            ArrayTask::Pending(spec) => {
                let spec = spec.split('%').next().unwrap_or("");
                spec.split(',').any(|part| {
                    let (range, step) = match part.split_once(':') {
                        Some((r, s)) => (r, s.parse::<u32>().unwrap_or(1).max(1)),
                        None => (part, 1),
                    };
                    match range.split_once('-') {
                        Some((a, b)) => match (a.parse::<u32>(), b.parse::<u32>()) {
                            (Ok(a), Ok(b)) => t >= a && t <= b && (t - a).is_multiple_of(step),
                            _ => false,
                        },
                        None => range.parse::<u32>() == Ok(t),
                    }
                })
            }
        }
    }
}

/// One line of [`SQUEUE_FORMAT`](super::SQUEUE_FORMAT) output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    /// Numeric record id.
    pub raw_id: String,
    /// Array job id (equals `raw_id` for plain jobs).
    pub array_job: String,
    /// Array task.
    pub array_task: ArrayTask,
    /// State word (`RUNNING`).
    pub state: String,
    /// Reason (`None`, `Resources`, `NonZeroExitCode`).
    pub reason: String,
    /// Raw wait status, once the job has ended.
    pub exit_raw: Option<i32>,
    /// Partition(s).
    pub partition: String,
    /// Start time text.
    pub start: String,
    /// End time text.
    pub end: String,
    /// Time used.
    pub used: String,
    /// Time limit.
    pub limit: String,
    /// Node count.
    pub nodes: String,
    /// Owner.
    pub user: String,
    /// Job name (may contain `|` and spaces).
    pub name: String,
}

/// Parse `squeue -h -O SQUEUE_FORMAT` output.
pub fn parse_squeue(text: &str) -> Result<Vec<QueueRow>> {
    const CMD: &str = "squeue";
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.splitn(SQUEUE_FIELDS, '|').collect();
        if f.len() != SQUEUE_FIELDS {
            return Err(Error::parse(
                CMD,
                format!("expected {SQUEUE_FIELDS} '|'-separated fields"),
                line,
            ));
        }
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(f[0]) || !digits(f[1]) {
            return Err(Error::parse(CMD, "expected numeric job ids", line));
        }
        check_state_word(CMD, f[3], line)?;
        let array_task = match f[2] {
            "N/A" => ArrayTask::None,
            t if digits(t) => ArrayTask::One(
                t.parse().map_err(|_| Error::parse(CMD, "array task id too large", line))?,
            ),
            t if !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b',' | b'%' | b':')) =>
            {
                ArrayTask::Pending(t.to_owned())
            }
            _ => return Err(Error::parse(CMD, "expected an array task id", line)),
        };
        let exit_raw = match f[5] {
            "" | "N/A" => None,
            v => Some(
                v.parse::<i32>()
                    .map_err(|_| Error::parse(CMD, "expected a numeric exit status", line))?,
            ),
        };
        // Slurm prints `INVALID` for a time it cannot tell; a number too
        // large for a duration is a broken line, not an unknown time.
        if f[9].bytes().all(|b| b.is_ascii_digit() || b":-.".contains(&b))
            && !f[9].is_empty()
            && parse_duration(f[9]).is_none()
        {
            return Err(Error::parse(CMD, "TimeUsed is not a duration of at most 100 years", line));
        }
        rows.push(QueueRow {
            raw_id: f[0].to_owned(),
            array_job: f[1].to_owned(),
            array_task,
            state: f[3].to_owned(),
            reason: f[4].to_owned(),
            exit_raw,
            partition: f[6].to_owned(),
            start: f[7].to_owned(),
            end: f[8].to_owned(),
            used: f[9].to_owned(),
            limit: f[10].to_owned(),
            nodes: f[11].to_owned(),
            user: f[12].to_owned(),
            name: f[13].to_owned(),
        });
    }
    Ok(rows)
}

impl QueueRow {
    /// The id users know this job by: `N`, or `A_T` for an array task.
    pub fn job_id(&self) -> String {
        match &self.array_task {
            ArrayTask::One(t) => format!("{}_{t}", self.array_job),
            ArrayTask::Pending(spec) => format!("{}_[{spec}]", self.array_job),
            ArrayTask::None => self.raw_id.clone(),
        }
    }

    /// This row as a status under the id `id`.
    pub fn to_status(&self, id: &JobId) -> JobStatus {
        let state = map_state(&self.state);
        let mut st = JobStatus::new(id.clone(), state)
            .with_name(Some(self.name.clone()))
            .with_raw_state(self.state.clone())
            .with_queue(Some(self.partition.clone()).filter(|p| !p.is_empty()));
        if let Some(e) = error_text(state, &self.state, &self.reason) {
            st = st.with_error(e);
        }
        if state.is_final()
            && let Some(raw) = self.exit_raw
        {
            let (code, sig) = split_wait_status(raw);
            set_exit(&mut st, code.unwrap_or(0), sig.unwrap_or(0));
        }
        if state != JobState::Pending {
            st.usage = Some(usage(
                parse_utc(&self.start),
                if state.is_final() { parse_utc(&self.end) } else { None },
                parse_duration(&self.used),
                None,
                None,
            ));
        }
        for (k, v) in [
            ("raw_id", &self.raw_id),
            ("reason", &self.reason),
            ("time_used", &self.used),
            ("time_limit", &self.limit),
            ("nodes", &self.nodes),
            ("user", &self.user),
            ("job_id", &self.job_id()),
        ] {
            st.info.insert(k.to_owned(), v.clone());
        }
        st
    }
}

/// The status of `id` from `squeue` rows: a plain job, an array task
/// (`A_T`, or the task's own numeric id), or a whole array (`A`, combining
/// its tasks). `None` if `squeue` does not list it.
pub fn status_from_rows(rows: &[QueueRow], id: &JobId) -> Option<JobStatus> {
    let text = id.as_str();
    if let Some((a, t)) = text.split_once('_') {
        let t: u32 = t.parse().ok()?;
        return rows
            .iter()
            .find(|r| r.array_job == a && r.array_task.contains(t))
            .map(|r| r.to_status(id));
    }
    let tasks: Vec<&QueueRow> =
        rows.iter().filter(|r| r.array_job == text && r.array_task != ArrayTask::None).collect();
    if tasks.is_empty() {
        return rows.iter().find(|r| r.raw_id == text).map(|r| r.to_status(id));
    }
    let statuses: Vec<JobStatus> = tasks.iter().map(|r| r.to_status(id)).collect();
    Some(combine_array(id, statuses))
}

/// One status for a whole array: running while any task runs, pending while
/// any waits, else failed if any failed, cancelled if any was cancelled,
/// completed otherwise.
pub fn combine_array(id: &JobId, tasks: Vec<JobStatus>) -> JobStatus {
    let count = |s: JobState| tasks.iter().filter(|t| t.state == s).count();
    let state = if count(JobState::Running) + count(JobState::Suspended) > 0 {
        JobState::Running
    } else if count(JobState::Pending) + count(JobState::Unknown) > 0 {
        JobState::Pending
    } else if count(JobState::Failed) > 0 {
        JobState::Failed
    } else if count(JobState::Cancelled) > 0 {
        JobState::Cancelled
    } else {
        JobState::Completed
    };
    let pick = tasks.iter().find(|t| t.state == state).or(tasks.first());
    let mut st = JobStatus::new(id.clone(), state);
    if let Some(p) = pick {
        st.name = p.name.clone();
        st.queue = p.queue.clone();
        st.raw_state = p.raw_state.clone();
        st.error = p.error.clone();
        if state.is_final() {
            st.exit_code = p.exit_code;
            st.signal = p.signal;
        }
    }
    st.info.insert("array_tasks".into(), tasks.len().to_string());
    for s in [
        JobState::Pending,
        JobState::Running,
        JobState::Completed,
        JobState::Failed,
        JobState::Cancelled,
    ] {
        st.info.insert(format!("array_{s}"), count(s).to_string());
    }
    st
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A file of recorded output in `testdata/slurm/`.
    macro_rules! testdata {
        ($name:literal) => {
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/slurm/", $name))
        };
    }

    const RUNNING: &str = testdata!("squeue_running.txt");
    const AFTER_CANCEL: &str = testdata!("squeue_after_cancel.txt");
    const ACCT_FINAL: &str = testdata!("squeue_acct_final.txt");

    fn st(rows: &[QueueRow], id: &str) -> JobStatus {
        status_from_rows(rows, &JobId::from(id)).unwrap_or_else(|| panic!("{id} missing"))
    }

    #[test]
    fn squeue_real_output() {
        let rows = parse_squeue(AFTER_CANCEL).unwrap();
        assert_eq!(rows.len(), 13);
        // Cancelled while running: raw status 15 = SIGTERM.
        let c = st(&rows, "7");
        assert_eq!((c.state, c.exit_code, c.signal), (JobState::Cancelled, None, Some(15)));
        // Name with '|' and spaces survives.
        assert_eq!(st(&rows, "2").name.as_deref(), Some("my job|x y"));
        let f = st(&rows, "1");
        assert_eq!((f.state, f.exit_code, f.signal), (JobState::Failed, Some(3), None));
        assert_eq!(f.error.as_deref(), Some("FAILED (NonZeroExitCode)"));
        let held = st(&rows, "11");
        assert_eq!(held.state, JobState::Pending);
        assert_eq!(held.error.as_deref(), Some("JobHeldUser"));
        // Array 3: all three tasks completed.
        let a = st(&rows, "3");
        assert_eq!(a.state, JobState::Completed);
        assert_eq!(a.info["array_tasks"], "3");
        assert_eq!(st(&rows, "3_2").info["raw_id"], "6");
        // Array 8: task 1 running, 2-4 pending (throttled).
        assert_eq!(st(&rows, "8").state, JobState::Running);
        assert_eq!(st(&rows, "8_1").state, JobState::Running);
        let p = st(&rows, "8_3");
        assert_eq!(p.state, JobState::Pending);
        assert_eq!(p.name.as_deref(), Some("arr|x y"));
        assert!(status_from_rows(&rows, &"8_5".into()).is_none());
        assert!(status_from_rows(&rows, &"99".into()).is_none());
        // Running job: start time and time used, no end yet.
        let r = st(&rows, "9");
        let u = r.usage.unwrap();
        assert!(u.start.is_some() && u.end.is_none());
        assert_eq!(u.elapsed, Some(Duration::from_secs(1)));
        assert_eq!(parse_squeue(RUNNING).unwrap().len(), 13);
    }

    #[test]
    fn squeue_accounting_cluster_final_states() {
        let rows = parse_squeue(ACCT_FINAL).unwrap();
        let t = st(&rows, "8");
        assert_eq!((t.state, t.signal), (JobState::Failed, Some(15)));
        assert_eq!(t.raw_state.as_deref(), Some("TIMEOUT"));
        let k = st(&rows, "9");
        assert_eq!((k.state, k.signal), (JobState::Failed, Some(9)));
        assert_eq!(st(&rows, "7_1").state, JobState::Completed);
        assert_eq!(st(&rows, "7").info["array_tasks"], "2");
    }
}
