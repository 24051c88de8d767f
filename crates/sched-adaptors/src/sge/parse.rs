//! Parsers for Grid Engine's outputs: `qsub -terse`, `qstat -xml`,
//! `qstat -g c -xml` and `qacct -j`. Pure functions over text, tested on
//! outputs recorded from Grid Engine 8.1.9 (`testdata/sge/`).
//!
//! Every parser either understands the whole output or fails with
//! [`Error::Parse`] carrying the raw fragment: a truncated `qstat` must never
//! read as "job gone".

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hpc_core::{Error, JobId, JobState, QueueStatus, Result};

use crate::batch::xml::{self, Element};

/// A job id as the adaptor hands it out: `N` (a job, all its tasks) or `N.T`
/// (task `T` of array job `N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SgeId {
    pub(crate) job: u64,
    pub(crate) task: Option<u32>,
}

impl SgeId {
    /// `None` for text that cannot be a Grid Engine id.
    pub(crate) fn parse(id: &str) -> Option<SgeId> {
        let (job, task) = match id.split_once('.') {
            Some((j, t)) => (j, Some(t)),
            None => (id, None),
        };
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(job) || task.is_some_and(|t| !digits(t) || t.len() > 9) {
            return None;
        }
        let job = job.parse().ok().filter(|&j| j > 0)?;
        let task = match task {
            Some(t) => Some(t.parse().ok().filter(|&t| t > 0)?),
            None => None,
        };
        Some(SgeId { job, task })
    }
}

/// The id `qsub -terse` printed: `2`, or `3.1-3:1` for an array.
pub(crate) fn parse_submit(command: &str, stdout: &str) -> Result<JobId> {
    // Sites may print notices first: the id is the last non-empty line.
    let line = stdout.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("");
    let job = line.split_once('.').map_or(line, |(j, _)| j);
    match SgeId::parse(job) {
        Some(id) if id.task.is_none() => Ok(JobId::new(id.job.to_string())),
        _ => Err(Error::parse(command, "expected the job id printed by qsub -terse", line)),
    }
}

/// Task ids of an array job as qstat prints them: `3`, `1-4:1`, `1,3,5-9:2`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TaskSet(Vec<(u32, u32, u32)>);

impl TaskSet {
    pub(crate) fn parse(text: &str) -> Option<TaskSet> {
        let mut ranges = Vec::new();
        for part in text.trim().split(',') {
            let num = |s: &str| s.parse::<u32>().ok();
            let (range, step) = match part.split_once(':') {
                Some((r, s)) => (r, num(s)?),
                None => (part, 1),
            };
            let (a, b) = match range.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None => (num(range)?, num(range)?),
            };
            if step == 0 || b < a {
                return None;
            }
            ranges.push((a, b, step));
        }
        Some(TaskSet(ranges))
    }

    pub(crate) fn contains(&self, task: u32) -> bool {
        self.0.iter().any(|&(a, b, s)| task >= a && task <= b && (task - a).is_multiple_of(s))
    }
}

/// Which list of `qstat -xml` an entry came from (its `state` attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListKind {
    Running,
    Pending,
    /// Finished, still remembered by the qmaster (`qstat -s z`).
    Zombie,
    Other(String),
}

/// One `<job_list>` entry: a job, a task, or a range of pending tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueEntry {
    pub(crate) job: u64,
    pub(crate) tasks: Option<TaskSet>,
    pub(crate) name: String,
    pub(crate) owner: Option<String>,
    /// State letters (`qw`, `hqw`, `r`, `dr`, `Eqw`, `z`, ...).
    pub(crate) state: String,
    pub(crate) list: ListKind,
    /// Cluster queue (`all.q`), without the host part.
    pub(crate) queue: Option<String>,
    /// Queue instance (`all.q@host`).
    pub(crate) queue_instance: Option<String>,
    pub(crate) slots: Option<u32>,
    /// `JAT_start_time` or `JB_submission_time`, as printed (local time).
    pub(crate) time: Option<String>,
}

impl QueueEntry {
    /// Whether this entry speaks for task `task` (or for the whole job).
    pub(crate) fn covers(&self, task: Option<u32>) -> bool {
        match (task, &self.tasks) {
            (None, _) => true,
            (Some(t), Some(set)) => set.contains(t),
            (Some(_), None) => false,
        }
    }
}

fn render(el: &Element) -> String {
    let mut s = format!("<{}", el.name);
    for (k, v) in &el.attrs {
        s.push_str(&format!(" {k}={v:?}"));
    }
    s.push('>');
    for c in &el.children {
        s.push_str(&format!("<{}>{}</{}>", c.name, c.text, c.name));
    }
    s.chars().take(300).collect()
}

fn document(command: &str, out: &str, root_name: &str) -> Result<Element> {
    let root = xml::parse(out).map_err(|e| e.into_error(command, out))?.ok_or_else(|| {
        Error::parse(command, "no XML document in the output", xml::fragment(out, 0))
    })?;
    if root.name != root_name {
        return Err(Error::parse(
            command,
            format!("expected <{root_name}> as the root element, found <{}>", root.name),
            xml::fragment(out, 0),
        ));
    }
    Ok(root)
}

/// Every job entry of `qstat -xml` (any `-s` selection).
pub(crate) fn parse_qstat(command: &str, out: &str) -> Result<Vec<QueueEntry>> {
    let root = document(command, out, "job_info")?;
    let mut lists = Vec::new();
    root.descendants("job_list", &mut lists);
    lists.into_iter().map(|el| entry(command, el)).collect()
}

fn entry(command: &str, el: &Element) -> Result<QueueEntry> {
    let bad = |reason: &str| Error::parse(command, reason, render(el));
    let job = el
        .child_text("JB_job_number")
        .ok_or_else(|| bad("job entry without JB_job_number"))?
        .trim()
        .parse::<u64>()
        .map_err(|_| bad("JB_job_number is not a number"))?;
    let state = el.child_text("state").ok_or_else(|| bad("job entry without state"))?.trim();
    if state.is_empty() || !state.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad("state is not a set of state letters"));
    }
    let tasks = match el.child_text("tasks").map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(TaskSet::parse(t).ok_or_else(|| bad("tasks is not a task range"))?),
    };
    let slots = match el.child_text("slots").map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(s.parse().map_err(|_| bad("slots is not a number"))?),
    };
    let queue_instance =
        el.child_text("queue_name").map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned);
    let queue = queue_instance.as_ref().map(|q| q.split('@').next().unwrap_or(q).to_owned());
    let list = match el.attr("state") {
        Some("running") => ListKind::Running,
        Some("pending") => ListKind::Pending,
        Some("zombie") => ListKind::Zombie,
        other => ListKind::Other(other.unwrap_or("").to_owned()),
    };
    Ok(QueueEntry {
        job,
        tasks,
        name: el.child_text("JB_name").unwrap_or("").to_owned(),
        owner: el.child_text("JB_owner").map(str::to_owned),
        state: state.to_owned(),
        list,
        queue,
        queue_instance,
        slots,
        time: el
            .child_text("JAT_start_time")
            .or_else(|| el.child_text("JB_submission_time"))
            .map(str::to_owned),
    })
}

/// The portable meaning of a combination of state letters (qstat(1)).
///
/// `E` (error) wins: such a job stays queued until an administrator clears
/// it, so for the user it has failed. `z` means finished (the exit code is in
/// the accounting). Suspension (`s`, `S`, `T`) beats running, and `d`
/// (deletion requested) does not end anything by itself.
pub(crate) fn portable_state(letters: &str) -> JobState {
    let has = |c: char| letters.contains(c);
    if has('E') {
        JobState::Failed
    } else if has('z') {
        // Finished; the caller decides the outcome from the accounting.
        JobState::Unknown
    } else if has('s') || has('S') || has('T') {
        JobState::Suspended
    } else if has('r') || has('t') {
        JobState::Running
    } else if has('q') || has('w') || has('h') {
        JobState::Pending
    } else {
        JobState::Unknown
    }
}

/// `qstat -g c -xml`: one status per cluster queue.
pub(crate) fn parse_queue_summary(command: &str, out: &str) -> Result<Vec<QueueStatus>> {
    let root = document(command, out, "job_info")?;
    let mut queues = Vec::new();
    root.descendants("cluster_queue_summary", &mut queues);
    queues
        .into_iter()
        .map(|el| {
            let bad = |reason: &str| Error::parse(command, reason, render(el));
            let name = el.child_text("name").map(str::trim).filter(|n| !n.is_empty());
            let mut q = QueueStatus::new(name.ok_or_else(|| bad("queue summary without name"))?);
            let num = |key: &str| -> Result<Option<u32>> {
                match el.child_text(key).map(str::trim) {
                    None | Some("") => Ok(None),
                    Some(v) => {
                        v.parse().map(Some).map_err(|_| bad(&format!("{key} is not a number")))
                    }
                }
            };
            let used = num("used")?;
            let total = num("total")?;
            let disabled =
                num("temp_disabled")?.unwrap_or(0) + num("manual_intervention")?.unwrap_or(0);
            q.running_jobs = None;
            q.state = Some(match (total, disabled) {
                (Some(t), d) if t > 0 && d >= t => "disabled".to_owned(),
                _ => "enabled".to_owned(),
            });
            for c in &el.children {
                if c.name != "name" {
                    q.info.insert(c.name.clone(), c.text.trim().to_owned());
                }
            }
            if let Some(u) = used {
                q.info.insert("used_slots".into(), u.to_string());
            }
            Ok(q)
        })
        .collect()
}

/// One record of `qacct -j` (one per job, or per array task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AcctRecord {
    pub(crate) job: u64,
    pub(crate) task: Option<u32>,
    /// `failed`: 0, or Grid Engine's failure code (100: ended by a signal).
    pub(crate) failed: i32,
    /// The text after the failure code (`assumedly after job`).
    pub(crate) failed_reason: String,
    /// `exit_status`: the script's exit code, 128 + signal when killed.
    pub(crate) exit_status: i32,
    pub(crate) fields: BTreeMap<String, String>,
}

impl AcctRecord {
    /// Wall-clock and CPU time as `qacct` reports them (`22s`, `0.006s`).
    pub(crate) fn usage(&self) -> (Option<Duration>, Option<Duration>) {
        let secs = |k: &str| {
            self.fields
                .get(k)
                .and_then(|v| v.strip_suffix('s').unwrap_or(v).parse::<f64>().ok())
                .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e12)
                .map(Duration::from_secs_f64)
        };
        (secs("ru_wallclock"), secs("cpu"))
    }
}

const RECORD_SEPARATOR: &str = "==============================================================";

/// `qacct -j <id>` output: one record per job or task.
pub(crate) fn parse_qacct(command: &str, text: &str) -> Result<Vec<AcctRecord>> {
    let mut records = Vec::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    let finish = |fields: BTreeMap<String, String>, records: &mut Vec<AcctRecord>| {
        records.push(record(command, fields)?);
        Ok::<_, Error>(())
    };
    for line in text.lines() {
        if line.trim_end() == RECORD_SEPARATOR {
            if let Some(fields) = current.take() {
                finish(fields, &mut records)?;
            }
            current = Some(BTreeMap::new());
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let Some(fields) = current.as_mut() else {
            return Err(Error::parse(command, "expected a record separator line", line));
        };
        // `key<spaces>value`: keys never contain spaces, values may.
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::parse(command, "expected `key value`", line));
        }
        fields.insert(key.to_owned(), value.trim().to_owned());
    }
    if let Some(fields) = current.take() {
        finish(fields, &mut records)?;
    }
    Ok(records)
}

fn record(command: &str, fields: BTreeMap<String, String>) -> Result<AcctRecord> {
    let line = || {
        let s: String = fields.iter().map(|(k, v)| format!("{k} {v}; ")).collect();
        // By characters: a byte limit cut a multi-byte one in half (a panic
        // the `sge_outputs` fuzz target found).
        hpc_core::text::cap(&s, 300).into_owned()
    };
    let first_int = |key: &str| -> Result<(i32, String)> {
        let v = fields
            .get(key)
            .ok_or_else(|| Error::parse(command, format!("record without {key}"), line()))?;
        let (num, rest) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
        let n = num.parse().map_err(|_| {
            Error::parse(command, format!("{key} does not start with a number"), v.clone())
        })?;
        Ok((n, rest.trim().trim_start_matches(':').trim().to_owned()))
    };
    let job = fields
        .get("jobnumber")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| Error::parse(command, "record without a numeric jobnumber", line()))?;
    let task =
        match fields.get("taskid").map(String::as_str) {
            None | Some("undefined") => None,
            Some(t) => Some(t.parse().map_err(|_| {
                Error::parse(command, "taskid is neither a number nor undefined", t)
            })?),
        };
    let (failed, failed_reason) = first_int("failed")?;
    let (exit_status, _) = first_int("exit_status")?;
    Ok(AcctRecord { job, task, failed, failed_reason, exit_status, fields })
}

/// What the accounting knows about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AcctLookup {
    /// Records (one per task for arrays).
    Found(Vec<AcctRecord>),
    /// No record (yet): unknown id, or not flushed to the accounting file.
    Missing,
}

/// Marker lines of the batched accounting query (see `backend::qacct_batch`).
pub(crate) const QACCT_BEGIN: &str = "#hpckit-qacct ";
pub(crate) const QACCT_END: &str = "#hpckit-rc ";

/// Output of the batched accounting query: for each job, a begin marker, the
/// merged output of `qacct -j`, and an end marker with its exit code.
pub(crate) fn parse_qacct_batch(command: &str, out: &str) -> Result<BTreeMap<u64, AcctLookup>> {
    let mut result = BTreeMap::new();
    let mut current: Option<(u64, String)> = None;
    for line in out.lines() {
        if let Some(id) = line.strip_prefix(QACCT_BEGIN) {
            if current.is_some() {
                return Err(Error::parse(command, "accounting section not closed", line));
            }
            let job = id
                .trim()
                .parse()
                .map_err(|_| Error::parse(command, "bad job number in marker", line))?;
            current = Some((job, String::new()));
        } else if let Some(rc) = line.strip_prefix(QACCT_END) {
            let Some((job, body)) = current.take() else {
                return Err(Error::parse(command, "end marker without a section", line));
            };
            let lookup = match rc.trim() {
                "0" => {
                    let records = parse_qacct(command, &body)?;
                    if records.iter().any(|r| r.job != job) {
                        return Err(Error::parse(command, "record for another job", body));
                    }
                    AcctLookup::Found(records)
                }
                _ if is_missing(&body) => AcctLookup::Missing,
                rc => {
                    return Err(Error::CommandFailed {
                        command: format!("{command} (qacct -j {job})"),
                        exit_code: rc.parse().ok(),
                        stderr: body,
                    });
                }
            };
            result.insert(job, lookup);
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        } else if !line.trim().is_empty() {
            return Err(Error::parse(command, "text outside an accounting section", line));
        }
    }
    if let Some((job, _)) = current {
        return Err(Error::parse(
            command,
            "output ends inside a section (truncated?)",
            job.to_string(),
        ));
    }
    Ok(result)
}

/// `qacct`'s ways of saying "no record": an unknown id, or no accounting
/// file yet because the qmaster has not flushed since it started.
fn is_missing(body: &str) -> bool {
    body.contains("not found")
        || body.contains("No such file or directory")
        || body.contains("no jobs running since startup")
}

/// What `qdel` said about one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QdelOutcome {
    /// "has deleted job N": it had not started.
    Deleted,
    /// "registered the job N for deletion": it is being killed.
    Registered,
    /// `job "N" does not exist`: finished, or never was.
    Missing,
}

/// What `qdel` (stdout and stderr) said about each job it names.
pub(crate) fn qdel_outcomes(text: &str) -> HashMap<u64, QdelOutcome> {
    let mut outcomes = HashMap::new();
    for line in text.lines() {
        let outcome = if line.contains("has deleted job") {
            QdelOutcome::Deleted
        } else if line.contains("for deletion") {
            QdelOutcome::Registered
        } else if line.contains("does not exist") {
            QdelOutcome::Missing
        } else {
            continue;
        };
        let mut words = line.split_whitespace();
        let job = words
            .by_ref()
            .find(|w| *w == "job")
            .and_then(|_| words.next())
            .and_then(|w| w.trim_matches(|c| c == '"' || c == ',').parse().ok());
        if let Some(job) = job {
            outcomes.insert(job, outcome);
        }
    }
    outcomes
}

#[cfg(test)]
mod tests;
