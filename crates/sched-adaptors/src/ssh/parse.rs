//! Reading the lines the remote programs print.

use std::time::{Duration, SystemTime};

use hpc_core::{Error, JobId, JobState, JobStatus, JobUsage, Result};

use super::script::SEP;
use crate::batch::Lookup;

/// Whether `id` can name a job of this adaptor (digits, no leading zero).
/// Anything else is unknown without asking the host, and never reaches a path.
pub(crate) fn valid_id(id: &JobId) -> bool {
    let s = id.as_str();
    !s.is_empty() && s.len() <= 18 && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())
}

fn time(text: &str) -> Option<SystemTime> {
    // Checked: a time past `SystemTime`'s range from a hostile host is no time,
    // not a panic (found by the `batch_outputs` fuzz target).
    text.parse::<u64>()
        .ok()
        .and_then(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s)))
}

/// One status line (see `script::STATUS`) into the job's status (`None`:
/// the host has no record of the job).
pub(crate) fn status_line(command: &str, line: &str) -> Result<(JobId, Lookup)> {
    let bad = |reason: &str| Error::parse(command, reason, line);
    let fields: Vec<&str> = line.splitn(11, SEP).collect();
    let id = JobId::new(fields[0]);
    match fields.get(1).copied() {
        Some("missing") if fields.len() == 2 => return Ok((id, None)),
        Some("ok") if fields.len() == 11 => {}
        _ => return Err(bad("expected 11 fields separated by \\x1f")),
    }
    let [_, _, pid, alive, code, cancelled, submitted, start, end, err, name] = fields[..] else {
        return Err(bad("expected 11 fields"));
    };
    let flag = |f: &str| match f {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(bad("expected 0 or 1")),
    };
    let (alive, cancelled) = (flag(alive)?, flag(cancelled)?);
    let exit_code = match code {
        "" => None,
        c => Some(c.parse::<i32>().map_err(|_| bad("exit code is not a number"))?),
    };
    let (state, raw, error) = match (exit_code, pid.is_empty(), alive) {
        (Some(_), _, _) if cancelled => (JobState::Cancelled, "cancelled", None),
        (Some(0), _, _) => (JobState::Completed, "exited", None),
        (Some(_), _, _) => {
            (JobState::Failed, "exited", Some(err.to_owned()).filter(|e| !e.is_empty()))
        }
        (None, _, true) => {
            (JobState::Running, if cancelled { "cancelling" } else { "running" }, None)
        }
        (None, _, false) if cancelled => (JobState::Cancelled, "cancelled", None),
        (None, true, false) => (JobState::Pending, "starting", None),
        (None, false, false) => (
            JobState::Failed,
            "lost",
            Some(
                "the job's wrapper ended without recording an exit code \
                 (killed, or the host rebooted)"
                    .to_owned(),
            ),
        ),
    };
    let mut status = JobStatus::new(id.clone(), state)
        .with_exit_code(exit_code)
        .with_raw_state(raw)
        .with_name(Some(name.to_owned()).filter(|n| !n.is_empty()))
        .with_queue(Some(super::QUEUE.to_owned()));
    status.error = error;
    let mut usage = JobUsage::default();
    usage.start = time(start);
    usage.end = time(end);
    usage.elapsed = match (usage.start, usage.end) {
        (Some(a), Some(b)) => b.duration_since(a).ok(),
        _ => None,
    };
    status.usage = Some(usage);
    if !pid.is_empty() {
        status.info.insert("pid".into(), pid.to_owned());
    }
    if !submitted.is_empty() {
        status.info.insert("submit_time".into(), submitted.to_owned());
    }
    Ok((id, Some(status)))
}

/// The first word pair of a submit answer: `ok ID` or `error CODE [message]`.
pub(crate) enum Submitted {
    Ok(JobId),
    Error(i32, String),
}

pub(crate) fn submit_line(command: &str, line: &str) -> Result<Submitted> {
    let bad = |reason: &str| Error::parse(command, reason, line);
    let mut words = line.trim_end().splitn(3, ' ');
    match (words.next(), words.next()) {
        (Some("ok"), Some(id)) => {
            let id = JobId::new(id);
            if valid_id(&id) { Ok(Submitted::Ok(id)) } else { Err(bad("not a job id")) }
        }
        (Some("error"), Some(code)) => {
            let code = code.parse().map_err(|_| bad("error code is not a number"))?;
            Ok(Submitted::Error(code, words.next().unwrap_or("").to_owned()))
        }
        _ => Err(bad("expected `ok ID` or `error CODE`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(fields: &[&str]) -> Result<JobStatus> {
        let line = fields.join("\x1f");
        let (id, lookup) = status_line("status", &line).unwrap();
        lookup.ok_or_else(|| Error::job_not_found(id))
    }

    #[test]
    fn states() {
        let st = |f: &[&str]| parse(f).unwrap();
        let done = st(&["3", "ok", "10", "0", "0", "0", "100", "101", "105", "", "my | job"]);
        assert_eq!((done.state, done.exit_code), (JobState::Completed, Some(0)));
        assert_eq!(done.name.as_deref(), Some("my | job"));
        assert_eq!(done.usage.unwrap().elapsed, Some(Duration::from_secs(4)));
        let failed = st(&["3", "ok", "10", "0", "2", "0", "", "", "", "sh: cannot open x", ""]);
        assert_eq!((failed.state, failed.exit_code), (JobState::Failed, Some(2)));
        assert_eq!(failed.error.as_deref(), Some("sh: cannot open x"));
        assert_eq!(failed.name, None);
        assert_eq!(
            st(&["3", "ok", "10", "1", "", "0", "", "", "", "", ""]).state,
            JobState::Running
        );
        assert_eq!(st(&["3", "ok", "", "0", "", "0", "", "", "", "", ""]).state, JobState::Pending);
        let cancelled = st(&["3", "ok", "10", "0", "143", "1", "", "", "", "", ""]);
        assert_eq!((cancelled.state, cancelled.exit_code), (JobState::Cancelled, Some(143)));
        assert_eq!(
            st(&["3", "ok", "10", "0", "", "1", "", "", "", "", ""]).state,
            JobState::Cancelled
        );
        assert_eq!(
            st(&["3", "ok", "10", "1", "", "1", "", "", "", "", ""]).state,
            JobState::Running
        );
        let lost = st(&["3", "ok", "10", "0", "", "0", "", "", "", "", ""]);
        assert_eq!(lost.state, JobState::Failed);
        assert!(lost.error.unwrap().contains("without recording an exit code"));
        assert!(parse(&["3", "missing"]).unwrap_err().is_not_found());
    }

    /// Found by the `batch_outputs` fuzz target: a time past `SystemTime`'s
    /// range panicked while adding it to the epoch.
    #[test]
    fn times_past_the_range_are_no_times() {
        let huge = "18446744073709551615";
        let st = parse(&["3", "ok", "10", "0", "0", "0", "100", "101", huge, "", "j"]).unwrap();
        assert_eq!(st.state, JobState::Completed);
        assert!(parse(&["3", "ok", "10", "0", "0", "0", huge, huge, huge, "", "j"]).is_ok());
    }

    #[test]
    fn garbage_is_a_parse_error_with_the_line() {
        for line in [
            "",
            "3",
            "3\x1fok\x1f1",
            "3\x1fok\x1f1\x1f2\x1fx\x1f0\x1f\x1f\x1f\x1f\x1f",
            "3\x1fweird",
        ] {
            let e = status_line("status", line).unwrap_err();
            assert!(matches!(e, Error::Parse { .. }), "{line:?}: {e}");
        }
        assert!(
            matches!(submit_line("s", "ok 12").unwrap(), Submitted::Ok(id) if id.as_str() == "12")
        );
        assert!(
            matches!(submit_line("s", "error 82").unwrap(), Submitted::Error(82, m) if m.is_empty())
        );
        assert!(submit_line("s", "ok ../x").is_err());
        assert!(submit_line("s", "hello").is_err());
    }

    #[test]
    fn ids_are_plain_numbers() {
        for ok in ["1", "42", "123456789"] {
            assert!(valid_id(&JobId::from(ok)), "{ok}");
        }
        for bad in ["", "0", "01", "-1", "1/..", "../1", "local-1", "1 2", "9999999999999999999"] {
            assert!(!valid_id(&JobId::from(bad)), "{bad}");
        }
    }
}
