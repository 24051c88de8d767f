//! Parsers for Slurm's command output. Every format is explicit and
//! `|`-delimited with the free-text job name LAST, so a name containing `|`
//! or spaces stays intact (see `docs/adr/0401-slurm-output-formats.md`).
//! Anything that does not fit gives [`Error::Parse`] with the raw line.
//!
//! One file per command: `squeue` (the queue, every poll), `sacct`
//! (accounting), `scontrol` (finished jobs without accounting), `sinfo`
//! (partitions); the states, exit codes and ids they share are here.

mod sacct;
mod scontrol;
mod sinfo;
mod squeue;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use hpc_core::{Error, JobId, JobState, JobStatus, JobUsage, Result};

pub use sacct::{AcctRecord, parse_mem, parse_sacct, status_from_acct};
pub use scontrol::{parse_scontrol_line, status_from_scontrol};
pub use sinfo::{add_job_counts, parse_sinfo};
pub use squeue::{ArrayTask, QueueRow, combine_array, parse_squeue, status_from_rows};

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

/// The id `sbatch --parsable` printed (`12`, or `12;cluster`): the last
/// non-empty line of its standard output.
pub fn parse_sbatch(stdout: &str) -> Result<JobId> {
    let line = stdout.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("");
    let id = line.split(';').next().unwrap_or("");
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(JobId::new(id))
    } else {
        Err(Error::parse("sbatch --parsable", "expected a job id", line))
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

fn check_state_word(command: &str, s: &str, line: &str) -> Result<()> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        Ok(())
    } else {
        Err(Error::parse(command, "expected a job state word", line))
    }
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

fn usage(
    start: Option<SystemTime>,
    end: Option<SystemTime>,
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

/// The jobs `scancel` could not cancel and why, from its standard error
/// (`scancel: error: Kill job error on job id 12: Invalid job id specified`).
/// A job that had already ended is not among them.
pub fn scancel_refusals(stderr: &str) -> HashMap<String, String> {
    stderr
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("on job id ")?;
            let (id, reason) = rest.split_once(':')?;
            let (id, reason) = (id.trim(), reason.trim());
            let ended = reason.contains("already completing or completed");
            (valid_job_id(id) && !ended).then(|| (id.to_owned(), reason.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of recorded output in `testdata/slurm/`.
    macro_rules! testdata {
        ($name:literal) => {
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/slurm/", $name))
        };
    }

    const AFTER_CANCEL: &str = testdata!("squeue_after_cancel.txt");

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
    fn scancel_names_the_jobs_it_refused() {
        let stderr = "scancel: error: Kill job error on job id 12: Invalid job id specified\n\
                      scancel: error: Kill job error on job id 13_2: Access/permission denied\n\
                      scancel: error: Kill job error on job id 14: Job/step already completing or completed\n\
                      scancel: error: something else entirely\n";
        let refused = scancel_refusals(stderr);
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert_eq!(refused["12"], "Invalid job id specified");
        assert_eq!(refused["13_2"], "Access/permission denied");
        assert!(scancel_refusals("").is_empty());
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
