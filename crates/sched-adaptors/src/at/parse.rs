//! Parsers for `atq` and the adaptor's status program.

use std::collections::HashMap;

use hpc_core::{Error, JobId, JobState, JobStatus, JobUsage, Result};

use crate::batch::time::parse_utc;

/// One `atq` line: `ID<TAB>Fri Nov 27 14:05:00 2026 QUEUE USER`; queue `=`
/// means running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtqRow {
    /// Job id.
    pub id: String,
    /// When it runs (at's text).
    pub when: String,
    /// Queue letter, or `=` while running.
    pub queue: String,
    /// Owner.
    pub user: String,
}

/// Parse `atq` output.
pub fn parse_atq(text: &str) -> Result<Vec<AtqRow>> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || Error::parse("atq", "expected ID<TAB>DATE QUEUE USER", line);
        let (id, rest) = line.split_once('\t').ok_or_else(bad)?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let mut parts = rest.rsplitn(3, ' ');
        let (Some(user), Some(queue), Some(when)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if !(queue == "=" || super::config::valid_queue(queue)) || user.is_empty() {
            return Err(bad());
        }
        rows.push(AtqRow {
            id: id.into(),
            when: when.into(),
            queue: queue.into(),
            user: user.into(),
        });
    }
    Ok(rows)
}

/// What the wrapper recorded for one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The job's directory does not exist.
    pub missing: bool,
    /// `name=value` of each file present.
    pub files: HashMap<String, String>,
}

/// Split the status program's output into atq rows and recorded files per id.
pub fn parse_status(text: &str) -> Result<(Vec<AtqRow>, HashMap<String, Recorded>)> {
    let (atq, files) = text.split_once("\u{1e}files\n").ok_or_else(|| {
        Error::parse(
            "sh -s (at status)",
            "missing the files marker",
            text.lines().last().unwrap_or(""),
        )
    })?;
    let rows = parse_atq(atq)?;
    let mut out: HashMap<String, Recorded> = HashMap::new();
    let mut current: Option<String> = None;
    for line in files.lines() {
        if let Some(id) = line.strip_prefix("\u{1e}job ") {
            current = Some(id.to_owned());
            out.entry(id.to_owned()).or_default();
            continue;
        }
        let Some(id) = &current else {
            return Err(Error::parse("sh -s (at status)", "line before any job marker", line));
        };
        let rec = out.entry(id.clone()).or_default();
        if line == "missing" {
            rec.missing = true;
        } else if let Some((k, v)) = line.split_once('=') {
            rec.files.insert(k.to_owned(), v.to_owned());
        } else {
            return Err(Error::parse("sh -s (at status)", "expected name=value", line));
        }
    }
    Ok((rows, out))
}

/// The status of `id` from atq and the wrapper's files; `None` if neither knows it.
pub fn status_of(id: &JobId, rows: &[AtqRow], rec: Option<&Recorded>) -> Result<Option<JobStatus>> {
    let row = rows.iter().find(|r| r.id == id.as_str());
    let files = rec.filter(|r| !r.missing).map(|r| &r.files);
    let cancelled = files.is_some_and(|f| f.contains_key("cancelled"));
    let exit = match files.and_then(|f| f.get("exit")) {
        Some(v) => Some(
            v.trim()
                .parse::<i32>()
                .map_err(|_| Error::parse("at wrapper", "exit file is not a number", v))?,
        ),
        None => None,
    };
    let started = files.is_some_and(|f| f.contains_key("start"));
    let (state, raw) = match (exit, row, cancelled) {
        (_, _, true) if exit.is_some() || row.is_none() => {
            (JobState::Cancelled, "cancelled".to_owned())
        }
        (Some(0), _, _) => (JobState::Completed, "done".to_owned()),
        (Some(_), _, _) => (JobState::Failed, "done".to_owned()),
        (None, Some(r), _) if r.queue == "=" => (JobState::Running, "=".to_owned()),
        (None, Some(r), _) => (JobState::Pending, r.queue.clone()),
        // atd already took it off its queue but the wrapper has not finished.
        (None, None, _) if started || files.is_some() => (JobState::Running, "running".to_owned()),
        (None, None, _) => return Ok(None),
    };
    let mut st = JobStatus::new(id.clone(), state).with_raw_state(raw);
    if state.is_final() && state != JobState::Cancelled {
        let code = exit.unwrap_or(0);
        // The wrapper's shell reports death by signal N as 128+N.
        if code > 128 && code < 160 {
            st.signal = Some(code - 128);
        }
        st.exit_code = Some(code);
        if state == JobState::Failed {
            st.error = Some(format!("exit code {code}"));
        }
    }
    if state == JobState::Cancelled {
        st.exit_code = exit;
        st.signal = exit.filter(|c| *c > 128 && *c < 160).map(|c| c - 128);
    }
    if let Some(f) = files {
        if let Some(hex) = f.get("name") {
            let name = decode_hex(hex)
                .ok_or_else(|| Error::parse("at status", "name is not hex-encoded", hex))?;
            st.name = Some(String::from_utf8_lossy(&name).into_owned());
        }
        let mut u = JobUsage::default();
        u.start = f.get("start").and_then(|s| parse_utc(s));
        u.end = f.get("end").and_then(|s| parse_utc(s));
        if let (Some(a), Some(b)) = (u.start, u.end) {
            u.elapsed = b.duration_since(a).ok();
        }
        st.usage = Some(u);
    }
    if let Some(r) = row {
        st.queue = Some(r.queue.clone()).filter(|q| q != "=");
        st.info.insert("when".into(), r.when.clone());
        st.info.insert("user".into(), r.user.clone());
    }
    Ok(Some(st))
}

/// Bytes of an even-length string of hex digits (as `od -tx1` prints them).
/// The ids the cancel program (`script::cancel_program`) found no job for.
pub fn cancel_missing(text: &str) -> std::collections::HashSet<String> {
    text.lines().filter_map(|l| l.strip_prefix("missing ")).map(|id| id.trim().to_owned()).collect()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from Debian 12's at 3.2.5.
    const ATQ: &str =
        "1\tFri Nov 27 14:05:00 2026 = hpctest\n2\tFri Nov 27 14:10:00 2026 a hpctest\n";

    #[test]
    fn cancel_names_the_missing_jobs() {
        let missing = cancel_missing("missing 12\nother\nmissing 7\n");
        assert!(missing.contains("12") && missing.contains("7") && missing.len() == 2);
        assert!(cancel_missing("").is_empty());
    }

    #[test]
    fn atq_rows() {
        let rows = parse_atq(ATQ).unwrap();
        assert_eq!(rows[0].queue, "=");
        assert_eq!(
            rows[1],
            AtqRow {
                id: "2".into(),
                when: "Fri Nov 27 14:10:00 2026".into(),
                queue: "a".into(),
                user: "hpctest".into()
            }
        );
        for bad in
            ["x\tFri a u", "1 Fri Nov 27 a u", "1\tFri Nov 27 14:10:00 2026 ab hpctest", "1\t"]
        {
            assert!(matches!(parse_atq(bad), Err(Error::Parse { .. })), "{bad}");
        }
    }

    #[test]
    fn states_from_queue_and_files() {
        let text = format!(
            "{ATQ}\u{1e}files\n\u{1e}job 1\nstart=2026-11-27T14:05:00\nchild=77\nname=6974277320e2809c0a7c\n\u{1e}job 2\nmissing\n\u{1e}job 3\nstart=2026-11-27T14:00:00\nend=2026-11-27T14:00:02\nexit=3\n\u{1e}job 4\nexit=143\ncancelled=\n\u{1e}job 5\nmissing\n\u{1e}job 6\nstart=2026-11-27T14:00:00\nend=2026-11-27T14:00:00\nexit=0\n"
        );
        let (rows, recs) = parse_status(&text).unwrap();
        let s = |id: &str| status_of(&id.into(), &rows, recs.get(id)).unwrap();
        let r = s("1").unwrap();
        assert_eq!((r.state, r.name.as_deref()), (JobState::Running, Some("it's \u{201c}\n|")));
        for bad in ["abc", "zz"] {
            let text = format!("\u{1e}files\n\u{1e}job 9\nstart=x\nname={bad}\n");
            let (rows, recs) = parse_status(&text).unwrap();
            let e = status_of(&"9".into(), &rows, recs.get("9")).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        assert_eq!(s("2").unwrap().state, JobState::Pending);
        let f = s("3").unwrap();
        assert_eq!((f.state, f.exit_code), (JobState::Failed, Some(3)));
        assert_eq!(f.usage.unwrap().elapsed.unwrap().as_secs(), 2);
        let c = s("4").unwrap();
        assert_eq!((c.state, c.signal), (JobState::Cancelled, Some(15)));
        assert!(s("5").is_none());
        assert_eq!(s("6").unwrap().state, JobState::Completed);
        assert!(parse_status("no marker").is_err());
        assert!(parse_status("\u{1e}files\nstray\n").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[ -~\t\n\u{1e}=]{0,200}") {
            let _ = parse_atq(&s);
            if let Ok((rows, recs)) = parse_status(&s) {
                for id in recs.keys() { let _ = status_of(&JobId::from(id.as_str()), &rows, recs.get(id)); }
            }
        }
    }
}
