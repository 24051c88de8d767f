//! Parsers for Slurm's command output. Every format is explicit and
//! `|`-delimited with the free-text job name LAST, so a name containing `|`
//! or spaces stays intact (see `docs/adr/0401-slurm-output-formats.md`).
//! Anything that does not fit gives [`Error::Parse`] with the raw line.

use std::collections::BTreeMap;
use std::time::Duration;

use hpc_core::{Error, JobId, JobState, JobStatus, JobUsage, QueueStatus, Result};

use crate::batch::time::{parse_duration, parse_utc};

/// `squeue -O` fields: no padding (`:0`), `|` after each, name last without suffix.
pub const SQUEUE_FORMAT: &str = "JobID:0|,ArrayJobID:0|,ArrayTaskID:0|,State:0|,Reason:0|,\
exit_code:0|,Partition:0|,StartTime:0|,EndTime:0|,TimeUsed:0|,TimeLimit:0|,NumNodes:0|,UserName:0|,Name:0";
const SQUEUE_FIELDS: usize = 14;

/// `sacct --format` fields (with `-P`: `|`-separated), name last.
pub const SACCT_FORMAT: &str =
    "JobIDRaw,JobID,State,ExitCode,Start,End,Elapsed,MaxRSS,TotalCPU,Partition,JobName";
const SACCT_FIELDS: usize = 11;

/// `sinfo -o` format: one line per partition.
pub const SINFO_FORMAT: &str = "%R|%a|%l|%D|%F|%C|%P";

/// `squeue -O` fields for counting jobs per partition.
pub const SQUEUE_COUNT_FORMAT: &str = "State:0|,Partition:0";

fn parse_err(command: &str, reason: impl Into<String>, line: &str) -> Error {
    Error::Parse { command: command.to_owned(), reason: reason.into(), line: line.to_owned() }
}

/// The id `sbatch --parsable` printed (`12`, or `12;cluster`): the last
/// non-empty line of its standard output.
pub fn parse_sbatch(stdout: &str) -> Result<JobId> {
    let line = stdout.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("");
    let id = line.split(';').next().unwrap_or("");
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(JobId::new(id))
    } else {
        Err(parse_err("sbatch --parsable", "expected a job id", line))
    }
}

/// Whether `id` has a form Slurm accepts: `N`, `N_T` (array task).
pub fn valid_job_id(id: &str) -> bool {
    let (base, task) = match id.split_once('_') {
        Some((b, t)) => (b, Some(t)),
        None => (id, None),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit());
    digits(base) && task.is_none_or(digits)
}

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

/// One line of [`SQUEUE_FORMAT`] output.
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

fn check_state_word(command: &str, s: &str, line: &str) -> Result<()> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        Ok(())
    } else {
        Err(parse_err(command, "expected a job state word", line))
    }
}

/// Parse `squeue -h -O SQUEUE_FORMAT` output.
pub fn parse_squeue(text: &str) -> Result<Vec<QueueRow>> {
    const CMD: &str = "squeue";
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.splitn(SQUEUE_FIELDS, '|').collect();
        if f.len() != SQUEUE_FIELDS {
            return Err(parse_err(
                CMD,
                format!("expected {SQUEUE_FIELDS} '|'-separated fields"),
                line,
            ));
        }
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(f[0]) || !digits(f[1]) {
            return Err(parse_err(CMD, "expected numeric job ids", line));
        }
        check_state_word(CMD, f[3], line)?;
        let array_task = match f[2] {
            "N/A" => ArrayTask::None,
            t if digits(t) => ArrayTask::One(
                t.parse().map_err(|_| parse_err(CMD, "array task id too large", line))?,
            ),
            t if !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b',' | b'%' | b':')) =>
            {
                ArrayTask::Pending(t.to_owned())
            }
            _ => return Err(parse_err(CMD, "expected an array task id", line)),
        };
        let exit_raw = match f[5] {
            "" | "N/A" => None,
            v => Some(
                v.parse::<i32>()
                    .map_err(|_| parse_err(CMD, "expected a numeric exit status", line))?,
            ),
        };
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

/// Map Slurm's state word (`CANCELLED by 1001` included) to the portable state.
pub fn map_state(raw: &str) -> JobState {
    let word = raw.split_whitespace().next().unwrap_or("").trim_end_matches('+');
    match word {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
        | "RESV_DEL_HOLD" => JobState::Pending,
        "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" | "RESIZING" => JobState::Running,
        "SUSPENDED" | "STOPPED" => JobState::Suspended,
        "COMPLETED" => JobState::Completed,
        "CANCELLED" => JobState::Cancelled,
        "FAILED" | "TIMEOUT" | "NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL" | "DEADLINE"
        | "OUT_OF_MEMORY" | "SPECIAL_EXIT" => JobState::Failed,
        _ => JobState::Unknown,
    }
}

/// Exit code and signal from a raw wait status (`768` = exit 3, `15` = SIGTERM).
pub fn split_wait_status(raw: i32) -> (Option<i32>, Option<i32>) {
    let sig = raw & 0x7f;
    if sig == 0 { (Some((raw >> 8) & 0xff), None) } else { (None, Some(sig)) }
}

/// Exit code and signal from sacct's `code:signal`.
pub fn split_exit_pair(s: &str) -> Option<(i32, i32)> {
    let (c, g) = s.split_once(':')?;
    Some((c.parse().ok()?, g.parse().ok()?))
}

fn set_exit(st: &mut JobStatus, code: i32, signal: i32) {
    if signal > 0 {
        st.exit_code = None;
        st.signal = Some(signal);
    } else {
        st.exit_code = Some(code);
        st.signal = None;
    }
}

fn error_text(state: JobState, raw_state: &str, reason: &str) -> Option<String> {
    match state {
        JobState::Failed | JobState::Cancelled => Some(match reason {
            "" | "None" => raw_state.to_owned(),
            r => format!("{raw_state} ({r})"),
        }),
        JobState::Pending if !matches!(reason, "" | "None") => Some(reason.to_owned()),
        _ => None,
    }
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

fn usage(
    start: Option<std::time::SystemTime>,
    end: Option<std::time::SystemTime>,
    elapsed: Option<Duration>,
    max_rss: Option<u64>,
    cpu: Option<Duration>,
) -> JobUsage {
    let mut u = JobUsage::default();
    u.start = start;
    u.end = end;
    u.elapsed = elapsed;
    u.max_rss_bytes = max_rss;
    u.cpu_time = cpu;
    u
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

/// One job's accounting record: the allocation line plus its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcctRecord {
    /// Numeric record id.
    pub raw_id: String,
    /// Display id (`12`, `7_1`).
    pub job_id: String,
    /// State text (`CANCELLED by 1001` included).
    pub state: String,
    /// `code:signal` of the allocation.
    pub exit: String,
    /// Largest signal any step reported.
    pub step_signal: i32,
    /// Start time text.
    pub start: String,
    /// End time text.
    pub end: String,
    /// Elapsed text.
    pub elapsed: String,
    /// Largest MaxRSS of any step, in bytes.
    pub max_rss: Option<u64>,
    /// TotalCPU text.
    pub total_cpu: String,
    /// Partition.
    pub partition: String,
    /// Job name.
    pub name: String,
}

/// `123K`, `5.5M`, `2G` (binary units, as sacct prints them) in bytes.
pub fn parse_mem(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (num, mult) = match s.as_bytes()[s.len() - 1] {
        b'K' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' => (&s[..s.len() - 1], 1 << 20),
        b'G' => (&s[..s.len() - 1], 1 << 30),
        b'T' => (&s[..s.len() - 1], 1 << 40),
        b'0'..=b'9' => (s, 1),
        _ => return None,
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some((v * mult as f64) as u64)
}

/// Parse `sacct -P -n --format=SACCT_FORMAT` output (with step lines).
pub fn parse_sacct(text: &str) -> Result<Vec<AcctRecord>> {
    const CMD: &str = "sacct";
    let mut out: Vec<AcctRecord> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.splitn(SACCT_FIELDS, '|').collect();
        if f.len() != SACCT_FIELDS {
            return Err(parse_err(
                CMD,
                format!("expected {SACCT_FIELDS} '|'-separated fields"),
                line,
            ));
        }
        let state_word = f[2].split_whitespace().next().unwrap_or("");
        check_state_word(CMD, state_word, line)?;
        let (code, sig) = split_exit_pair(f[3])
            .ok_or_else(|| parse_err(CMD, "expected ExitCode code:signal", line))?;
        let _ = code;
        if let Some((raw_base, _step)) = f[0].split_once('.') {
            // A step of the allocation listed before it.
            let Some(rec) = out.iter_mut().rev().find(|r| r.raw_id == raw_base) else {
                return Err(parse_err(CMD, "step line without its job line", line));
            };
            rec.step_signal = rec.step_signal.max(sig);
            if let Some(m) = parse_mem(f[7]) {
                rec.max_rss = Some(rec.max_rss.map_or(m, |x| x.max(m)));
            }
            continue;
        }
        if f[0].is_empty() || !f[0].bytes().all(|b| b.is_ascii_digit()) {
            return Err(parse_err(CMD, "expected a numeric JobIDRaw", line));
        }
        out.push(AcctRecord {
            raw_id: f[0].to_owned(),
            job_id: f[1].to_owned(),
            state: f[2].to_owned(),
            exit: f[3].to_owned(),
            step_signal: 0,
            start: f[4].to_owned(),
            end: f[5].to_owned(),
            elapsed: f[6].to_owned(),
            max_rss: parse_mem(f[7]),
            total_cpu: f[8].to_owned(),
            partition: f[9].to_owned(),
            name: f[10].to_owned(),
        });
    }
    Ok(out)
}

impl AcctRecord {
    /// This record as a status under the id `id`.
    pub fn to_status(&self, id: &JobId) -> JobStatus {
        let state = map_state(&self.state);
        let word = self.state.split_whitespace().next().unwrap_or("").to_owned();
        let mut st = JobStatus::new(id.clone(), state)
            .with_name(Some(self.name.clone()))
            .with_raw_state(self.state.clone())
            .with_queue(Some(self.partition.clone()).filter(|p| !p.is_empty()));
        if let Some(e) = error_text(state, &word, "") {
            st = st.with_error(e);
        }
        if state.is_final() {
            let (code, mut sig) = split_exit_pair(&self.exit).unwrap_or((0, 0));
            // Cancelled and timed-out allocations say 0:0; the batch step
            // carries the signal that ended them.
            if sig == 0 && code == 0 && matches!(state, JobState::Cancelled | JobState::Failed) {
                sig = self.step_signal;
            }
            set_exit(&mut st, code, sig);
        }
        if state != JobState::Pending {
            st.usage = Some(usage(
                parse_utc(&self.start),
                parse_utc(&self.end),
                parse_duration(&self.elapsed),
                self.max_rss,
                parse_duration(&self.total_cpu),
            ));
        }
        st.info.insert("raw_id".into(), self.raw_id.clone());
        st.info.insert("job_id".into(), self.job_id.clone());
        st
    }
}

/// The status of `id` from accounting records (same id rules as
/// [`status_from_rows`]).
pub fn status_from_acct(recs: &[AcctRecord], id: &JobId) -> Option<JobStatus> {
    let text = id.as_str();
    if let Some(r) = recs.iter().find(|r| r.job_id == text) {
        return Some(r.to_status(id));
    }
    let prefix = format!("{text}_");
    let tasks: Vec<JobStatus> =
        recs.iter().filter(|r| r.job_id.starts_with(&prefix)).map(|r| r.to_status(id)).collect();
    if !tasks.is_empty() {
        return Some(combine_array(id, tasks));
    }
    recs.iter().find(|r| r.raw_id == text).map(|r| r.to_status(id))
}

/// Keys `scontrol show job -o` prints in 22.05; a value runs until the next
/// ` Key=` of this list, since values (WorkDir, Command, Comment) may hold spaces.
const SCONTROL_KEYS: &[&str] = &[
    "JobId",
    "ArrayJobId",
    "ArrayTaskId",
    "ArrayTaskThrottle",
    "HetJobId",
    "HetJobOffset",
    "HetJobIdSet",
    "JobName",
    "UserId",
    "GroupId",
    "MCS_label",
    "Priority",
    "Nice",
    "Account",
    "QOS",
    "JobState",
    "Reason",
    "Dependency",
    "Requeue",
    "Restarts",
    "BatchFlag",
    "Reboot",
    "ExitCode",
    "DerivedExitCode",
    "RunTime",
    "TimeLimit",
    "TimeMin",
    "SubmitTime",
    "EligibleTime",
    "AccrueTime",
    "StartTime",
    "EndTime",
    "Deadline",
    "SuspendTime",
    "SecsPreSuspend",
    "LastSchedEval",
    "Scheduler",
    "Partition",
    "AllocNode:Sid",
    "ReqNodeList",
    "ExcNodeList",
    "NodeList",
    "BatchHost",
    "NumNodes",
    "NumCPUs",
    "NumTasks",
    "CPUs/Task",
    "ReqB:S:C:T",
    "TRES",
    "Socks/Node",
    "NtasksPerN:B:S:C",
    "CoreSpec",
    "MinCPUsNode",
    "MinMemoryCPU",
    "MinMemoryNode",
    "MinTmpDiskNode",
    "Features",
    "DelayBoot",
    "OverSubscribe",
    "Contiguous",
    "Licenses",
    "Network",
    "Command",
    "WorkDir",
    "Comment",
    "StdErr",
    "StdIn",
    "StdOut",
    "Power",
    "Reservation",
    "TresPerNode",
    "TresPerJob",
    "MailUser",
    "MailType",
    "NtasksPerTRES",
    "CpusPerTres",
    "MemPerTres",
    "TresBind",
    "TresFreq",
    "AdminComment",
    "SystemComment",
];

/// One `scontrol show job -o` line as key/value pairs.
pub fn parse_scontrol_line(line: &str) -> Result<BTreeMap<String, String>> {
    let line = line.trim_end();
    if !line.starts_with("JobId=") {
        return Err(parse_err(
            "scontrol show job -o",
            "expected a line starting with JobId=",
            line,
        ));
    }
    // Start offsets of every known ` Key=` (and the first key at 0).
    let mut starts: Vec<(usize, &str)> = vec![(0, "JobId")];
    for (i, _) in line.match_indices(' ') {
        let rest = &line[i + 1..];
        if let Some(k) = SCONTROL_KEYS
            .iter()
            .find(|k| rest.strip_prefix(**k).is_some_and(|r| r.starts_with('=')))
        {
            starts.push((i + 1, k));
        }
    }
    let mut map = BTreeMap::new();
    for (n, (pos, key)) in starts.iter().enumerate() {
        let vstart = pos + key.len() + 1;
        let vend = starts.get(n + 1).map(|(p, _)| p - 1).unwrap_or(line.len());
        map.insert((*key).to_owned(), line.get(vstart..vend).unwrap_or("").to_owned());
    }
    Ok(map)
}

/// A status from one `scontrol show job -o` line.
pub fn status_from_scontrol(map: &BTreeMap<String, String>, id: &JobId) -> JobStatus {
    let get = |k: &str| map.get(k).map(String::as_str).unwrap_or("");
    let raw = get("JobState");
    let state = map_state(raw);
    let mut st = JobStatus::new(id.clone(), state)
        .with_name(Some(get("JobName").to_owned()))
        .with_raw_state(raw)
        .with_queue(Some(get("Partition").to_owned()).filter(|p| !p.is_empty()));
    if let Some(e) = error_text(state, raw, get("Reason")) {
        st = st.with_error(e);
    }
    if state.is_final()
        && let Some((code, sig)) = split_exit_pair(get("ExitCode"))
    {
        set_exit(&mut st, code, sig);
    }
    if state != JobState::Pending {
        st.usage = Some(usage(
            parse_utc(get("StartTime")),
            if state.is_final() { parse_utc(get("EndTime")) } else { None },
            parse_duration(get("RunTime")),
            None,
            None,
        ));
    }
    for k in ["StdOut", "StdErr", "WorkDir", "NodeList", "Reason", "JobId", "UserId"] {
        if let Some(v) = map.get(k) {
            st.info.insert(k.to_owned(), v.clone());
        }
    }
    st
}

/// One line of [`SINFO_FORMAT`] output.
pub fn parse_sinfo(text: &str) -> Result<Vec<QueueStatus>> {
    const CMD: &str = "sinfo";
    let mut out: Vec<QueueStatus> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() != 7 {
            return Err(parse_err(CMD, "expected 7 '|'-separated fields", line));
        }
        let nodes: u32 = f[3].parse().map_err(|_| parse_err(CMD, "expected a node count", line))?;
        let mut q = QueueStatus::new(f[0]);
        q.is_default = f[6].ends_with('*');
        q.state = Some(f[1].to_owned());
        q.nodes = Some(nodes);
        q.max_runtime = parse_duration(f[2]);
        q.info.insert("time_limit".into(), f[2].to_owned());
        q.info.insert("nodes_alloc_idle_other_total".into(), f[4].to_owned());
        q.info.insert("cpus_alloc_idle_other_total".into(), f[5].to_owned());
        // A partition whose nodes differ in some printed field shows on
        // several lines: add them up.
        if let Some(prev) = out.iter_mut().find(|p| p.name == q.name) {
            prev.nodes = Some(prev.nodes.unwrap_or(0) + nodes);
        } else {
            out.push(q);
        }
    }
    Ok(out)
}

/// Count running and pending jobs per partition from
/// `squeue -h -O SQUEUE_COUNT_FORMAT` output and store them in `queues`.
pub fn add_job_counts(queues: &mut [QueueStatus], text: &str) -> Result<()> {
    for q in queues.iter_mut() {
        q.running_jobs = Some(0);
        q.pending_jobs = Some(0);
    }
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (state, parts) = line
            .split_once('|')
            .ok_or_else(|| parse_err("squeue", "expected STATE|PARTITION", line))?;
        check_state_word("squeue", state, line)?;
        for p in parts.split(',') {
            if let Some(q) = queues.iter_mut().find(|q| q.name == p) {
                match map_state(state) {
                    JobState::Running | JobState::Suspended => {
                        q.running_jobs = Some(q.running_jobs.unwrap_or(0) + 1)
                    }
                    JobState::Pending => q.pending_jobs = Some(q.pending_jobs.unwrap_or(0) + 1),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str = include_str!("testdata/squeue_running.txt");
    const AFTER_CANCEL: &str = include_str!("testdata/squeue_after_cancel.txt");
    const ACCT_FINAL: &str = include_str!("testdata/squeue_acct_final.txt");
    const SACCT_STEPS: &str = include_str!("testdata/sacct_steps.txt");
    const SACCT_ALLOC: &str = include_str!("testdata/sacct_alloc.txt");
    const SINFO: &str = include_str!("testdata/sinfo.txt");

    fn st(rows: &[QueueRow], id: &str) -> JobStatus {
        status_from_rows(rows, &JobId::from(id)).unwrap_or_else(|| panic!("{id} missing"))
    }

    #[test]
    fn sbatch_ids() {
        assert_eq!(parse_sbatch("12\n").unwrap().as_str(), "12");
        assert_eq!(parse_sbatch("9;test\n").unwrap().as_str(), "9");
        assert_eq!(parse_sbatch("warning line\n13\n\n").unwrap().as_str(), "13");
        for bad in ["", "Submitted batch job 1", "abc", ";x"] {
            let e = parse_sbatch(bad).unwrap_err();
            assert!(matches!(e, Error::Parse { .. }), "{bad}");
        }
    }

    #[test]
    fn ids() {
        for ok in ["1", "12_3", "999999"] {
            assert!(valid_job_id(ok), "{ok}");
        }
        for bad in ["", "abc", "1_", "_1", "1;rm", "1 2", "1_[1-3]", "-1"] {
            assert!(!valid_job_id(bad), "{bad}");
        }
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

    #[test]
    fn sacct_real_output_with_steps() {
        let recs = parse_sacct(SACCT_STEPS).unwrap();
        let s = |id: &str| status_from_acct(&recs, &JobId::from(id)).unwrap();
        let c = s("6");
        assert_eq!((c.state, c.signal), (JobState::Cancelled, Some(15)));
        assert_eq!(c.raw_state.as_deref(), Some("CANCELLED by 1002"));
        let t = s("8");
        assert_eq!((t.state, t.signal), (JobState::Failed, Some(15)));
        assert_eq!(t.usage.as_ref().unwrap().elapsed, Some(Duration::from_secs(70)));
        assert_eq!((s("9").state, s("9").signal), (JobState::Failed, Some(9)));
        assert_eq!((s("11").state, s("11").exit_code), (JobState::Failed, Some(3)));
        let m = s("10");
        assert_eq!(m.exit_code, Some(0));
        assert_eq!(m.usage.as_ref().unwrap().max_rss_bytes, Some(91536 * 1024));
        assert_eq!(s("2").name.as_deref(), Some("a|b c"));
        assert_eq!(s("7_1").state, JobState::Completed);
        assert_eq!(s("12").info["job_id"], "7_1");
        let arr = s("7");
        assert_eq!(arr.info["array_tasks"], "2");
        assert!(status_from_acct(&recs, &"404".into()).is_none());
        assert_eq!(parse_sacct(SACCT_ALLOC).unwrap().len(), 7);
        assert_eq!(parse_sacct("").unwrap().len(), 0);
    }

    #[test]
    fn scontrol_real_output() {
        for (file, id, state) in [
            (include_str!("testdata/scontrol_cancelled.txt"), "7", JobState::Cancelled),
            (include_str!("testdata/scontrol_failed.txt"), "1", JobState::Failed),
            (include_str!("testdata/scontrol_held.txt"), "11", JobState::Pending),
            (include_str!("testdata/scontrol_timeout.txt"), "8", JobState::Failed),
        ] {
            let map = parse_scontrol_line(file.lines().next().unwrap()).unwrap();
            let s = status_from_scontrol(&map, &id.into());
            assert_eq!(s.state, state, "{id}");
        }
        let map = parse_scontrol_line(include_str!("testdata/scontrol_cancelled.txt")).unwrap();
        assert_eq!(map["WorkDir"], "/tmp/cap");
        assert_eq!(map["ExitCode"], "0:15");
        let arr: Vec<_> = include_str!("testdata/scontrol_array.txt")
            .lines()
            .map(|l| parse_scontrol_line(l).unwrap())
            .collect();
        assert_eq!(arr[0]["JobName"], "arr|x y");
        let line = "JobId=5 JobName=a b Reason=None WorkDir=/tmp/my dir x=y StdOut=/o";
        let map = parse_scontrol_line(line).unwrap();
        assert_eq!(map["JobName"], "a b");
        assert_eq!(map["WorkDir"], "/tmp/my dir x=y");
        assert!(parse_scontrol_line("slurm_load_jobs error: Invalid job id specified").is_err());
    }

    #[test]
    fn sinfo_and_counts() {
        let mut q = parse_sinfo(SINFO).unwrap();
        assert_eq!(q.len(), 2);
        assert!(q[0].is_default && !q[1].is_default);
        assert_eq!(q[0].max_runtime, None);
        assert_eq!(q[1].max_runtime, Some(Duration::from_secs(3600)));
        assert_eq!(q[0].state.as_deref(), Some("up"));
        add_job_counts(&mut q, "RUNNING|debug\nPENDING|debug,batch\nCOMPLETED|batch\n").unwrap();
        assert_eq!((q[0].running_jobs, q[0].pending_jobs), (Some(1), Some(1)));
        assert_eq!((q[1].running_jobs, q[1].pending_jobs), (Some(0), Some(1)));
        assert!(add_job_counts(&mut q, "garbage").is_err());
    }

    #[test]
    fn garbage_is_a_parse_error_with_the_raw_line() {
        for bad in [
            "1|2|3",
            "x|1|N/A|RUNNING|None|0|debug|a|b|c|d|e|f|name",
            "1|1|N/A|running|None|0|debug|a|b|c|d|e|f|name",
            "1|1|N/A|RUNNING|None|zero|debug|a|b|c|d|e|f|name",
            "1|1|??|RUNNING|None|0|debug|a|b|c|d|e|f|name",
        ] {
            match parse_squeue(bad) {
                Err(Error::Parse { line, .. }) => assert_eq!(line, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
        // A truncated line (connection lost mid-way) is rejected too.
        let cut = &AFTER_CANCEL[..AFTER_CANCEL.len() / 2];
        let cut = &cut[..cut.rfind('|').unwrap()];
        assert!(parse_squeue(cut).is_err());
        for bad in
            ["1|1|FAILED", "1.batch|1.batch|FAILED|0:0|a|b|c|d|e|f|g", "1|1|FAILED|x|a|b|c|d|e|f|g"]
        {
            assert!(matches!(parse_sacct(bad), Err(Error::Parse { .. })), "{bad}");
        }
        assert!(parse_sinfo("debug|up").is_err());
    }

    #[test]
    fn mem_and_wait_status() {
        assert_eq!(parse_mem("3032K"), Some(3032 * 1024));
        assert_eq!(parse_mem("1.5M"), Some(1572864));
        assert_eq!(parse_mem(""), None);
        assert_eq!(parse_mem("12Q"), None);
        assert_eq!(split_wait_status(768), (Some(3), None));
        assert_eq!(split_wait_status(0), (Some(0), None));
        assert_eq!(split_wait_status(9), (None, Some(9)));
        assert_eq!(map_state("CANCELLED by 1001"), JobState::Cancelled);
        assert_eq!(map_state("NEW_STATE_FROM_FUTURE"), JobState::Unknown);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "[ -~\n|]{0,200}") {
            let _ = parse_squeue(&s);
            let _ = parse_sacct(&s);
            let _ = parse_sinfo(&s);
            let _ = parse_sbatch(&s);
            for l in s.lines() { let _ = parse_scontrol_line(l); }
            if let Ok(rows) = parse_squeue(&s) {
                for r in &rows { let _ = status_from_rows(&rows, &JobId::from(r.raw_id.as_str())); }
            }
        }

        #[test]
        fn names_with_delimiters_round_trip(name in "[ -~]{0,40}") {
            let line = format!("5|5|N/A|RUNNING|None|0|debug|N/A|N/A|0:01|UNLIMITED|1|u|{name}");
            let rows = parse_squeue(&line).unwrap();
            proptest::prop_assert_eq!(&rows[0].name, &name);
        }
    }
}
