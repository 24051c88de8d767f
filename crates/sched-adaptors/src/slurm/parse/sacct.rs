//! `sacct`: accounting records of jobs that have left the controller.

use hpc_core::{Error, JobId, JobState, JobStatus, Result};

use super::squeue::combine_array;
use super::{
    SACCT_FIELDS, check_state_word, error_text, map_state, set_exit, split_exit_pair, usage,
};
use crate::batch::time::{parse_duration, parse_utc};

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
            return Err(Error::parse(
                CMD,
                format!("expected {SACCT_FIELDS} '|'-separated fields"),
                line,
            ));
        }
        let state_word = f[2].split_whitespace().next().unwrap_or("");
        check_state_word(CMD, state_word, line)?;
        let (code, sig) = split_exit_pair(f[3])
            .ok_or_else(|| Error::parse(CMD, "expected ExitCode code:signal", line))?;
        let _ = code;
        if let Some((raw_base, _step)) = f[0].split_once('.') {
            // A step of the allocation listed before it.
            let Some(rec) = out.iter_mut().rev().find(|r| r.raw_id == raw_base) else {
                return Err(Error::parse(CMD, "step line without its job line", line));
            };
            rec.step_signal = rec.step_signal.max(sig);
            if let Some(m) = parse_mem(f[7]) {
                rec.max_rss = Some(rec.max_rss.map_or(m, |x| x.max(m)));
            }
            continue;
        }
        if f[0].is_empty() || !f[0].bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::parse(CMD, "expected a numeric JobIDRaw", line));
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
/// [`status_from_rows`](super::status_from_rows)).
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

    const SACCT_STEPS: &str = testdata!("sacct_steps.txt");
    const SACCT_ALLOC: &str = testdata!("sacct_alloc.txt");

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
}
