//! Parsers for Torque's outputs: `qsub`, `qstat -x`, `qstat -Qf`, `qstat -Bf`.
//! Pure functions over text, tested on fixtures written from the facts in
//! `shared/reference/SCHEDULERS.md` (both XML flavours, one-line and
//! pretty-printed) and on the stand-in's output.

use std::collections::BTreeMap;
use std::time::Duration;

use hpc_core::{Error, JobId, QueueStatus, Result};

use crate::batch::xml::{self, Element};

/// The sequence number of a Torque job id (`8921165.batch1.lisa.surfsara.nl`,
/// `12`, `12[].server`): what `qstat` and `qdel` match on, since short
/// listings may cut the server part.
pub(crate) fn seq_of(id: &str) -> Option<u64> {
    let digits: &str = &id[..id.find(|c: char| !c.is_ascii_digit()).unwrap_or(id.len())];
    let rest = &id[digits.len()..];
    if digits.is_empty()
        || digits.len() > 19
        || !(rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
    {
        return None;
    }
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    digits.parse().ok()
}

/// The id `qsub` printed: the last non-empty line (sites may print notices first).
pub(crate) fn parse_submit(command: &str, stdout: &str) -> Result<JobId> {
    let line = stdout.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("");
    match seq_of(line) {
        Some(_) => Ok(JobId::new(line)),
        None => Err(Error::parse(command, "expected the job id printed by qsub", line)),
    }
}

/// One `<Job>` of `qstat -x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TorqueJob {
    pub(crate) id: String,
    pub(crate) seq: u64,
    pub(crate) name: Option<String>,
    /// `job_state`: one of `TQHWRECS`.
    pub(crate) state: char,
    pub(crate) queue: Option<String>,
    pub(crate) exit_status: Option<i32>,
    /// Every attribute, nested ones as `Resource_List.walltime`.
    pub(crate) fields: BTreeMap<String, String>,
}

fn render(el: &Element) -> String {
    let mut s = format!("<{}>", el.name);
    for c in &el.children {
        s.push_str(&format!("<{}>{}</{}>", c.name, c.text, c.name));
    }
    s.chars().take(300).collect()
}

fn flatten(prefix: &str, el: &Element, out: &mut BTreeMap<String, String>) {
    for c in &el.children {
        let key = if prefix.is_empty() { c.name.clone() } else { format!("{prefix}.{}", c.name) };
        if c.children.is_empty() {
            out.insert(key, c.text.clone());
        } else {
            flatten(&key, c, out);
        }
    }
}

/// `qstat -x`: Torque 6.1+ prints `<?xml version="1.0"?><Data>...</Data>`
/// (an empty `<Data>` without jobs); 6.0 and older no declaration and NO
/// output at all without jobs. Both, one-line or pretty-printed.
pub(crate) fn parse_qstat(command: &str, out: &str) -> Result<Vec<TorqueJob>> {
    let root = match xml::parse(out) {
        Err(e) => return Err(e.into_error(command, out)),
        Ok(None) => return Ok(Vec::new()),
        Ok(Some(root)) => root,
    };
    if root.name != "Data" {
        return Err(Error::parse(
            command,
            format!("expected <Data> as the root element, found <{}>", root.name),
            xml::fragment(out, 0),
        ));
    }
    let mut jobs = Vec::new();
    for el in &root.children {
        if el.name != "Job" {
            continue;
        }
        let bad = |reason: &str| Error::parse(command, reason, render(el));
        let id = el.child_text("Job_Id").map(str::trim).ok_or_else(|| bad("job without Job_Id"))?;
        let seq = seq_of(id).ok_or_else(|| bad("Job_Id does not start with a sequence number"))?;
        let state = el.child_text("job_state").map(str::trim).unwrap_or("");
        let mut letters = state.chars();
        let (Some(state), None) = (letters.next(), letters.next()) else {
            return Err(bad("job_state is not one letter"));
        };
        if !"TQHWRECSB".contains(state) {
            return Err(bad("job_state is not a Torque state letter"));
        }
        let exit_status = match el.child_text("exit_status").map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(v.parse().map_err(|_| bad("exit_status is not a number"))?),
        };
        let mut fields = BTreeMap::new();
        flatten("", el, &mut fields);
        jobs.push(TorqueJob {
            id: id.to_owned(),
            seq,
            name: el.child_text("Job_Name").map(str::to_owned),
            state,
            queue: el.child_text("queue").map(str::to_owned),
            exit_status,
            fields,
        });
    }
    Ok(jobs)
}

/// Blocks of `qstat -Qf` / `qstat -Bf`: a header line (`Queue: NAME`,
/// `Server: NAME`), then 4-space indented `key = value` lines; long values
/// continue on lines starting with a TAB.
pub(crate) fn parse_full(
    command: &str,
    out: &str,
    header: &str,
) -> Result<Vec<(String, BTreeMap<String, String>)>> {
    let mut blocks: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let mut last_key: Option<String> = None;
    for line in out.lines() {
        if line.trim().is_empty() {
            last_key = None;
            continue;
        }
        if let Some(name) = line.strip_prefix(header) {
            blocks.push((name.trim().to_owned(), BTreeMap::new()));
            last_key = None;
            continue;
        }
        let Some((_, fields)) = blocks.last_mut() else {
            return Err(Error::parse(command, format!("expected a `{header}` line first"), line));
        };
        if let Some(cont) = line.strip_prefix('\t') {
            match last_key.as_ref().and_then(|k| fields.get_mut(k)) {
                Some(v) => v.push_str(cont.trim()),
                None => {
                    return Err(Error::parse(
                        command,
                        "continuation line without an attribute",
                        line,
                    ));
                }
            }
            continue;
        }
        let Some((k, v)) = line.trim().split_once(" = ") else {
            return Err(Error::parse(command, "expected `name = value`", line));
        };
        fields.insert(k.trim().to_owned(), v.trim().to_owned());
        last_key = Some(k.trim().to_owned());
    }
    Ok(blocks)
}

/// `HH:MM:SS` (hours may exceed 24) or seconds.
pub(crate) fn parse_hms(s: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    for p in parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        total = total.checked_mul(60)?.checked_add(p.parse().ok()?)?;
    }
    Some(Duration::from_secs(total))
}

/// Queue statuses from `qstat -Qf`.
pub(crate) fn parse_queues(command: &str, out: &str) -> Result<Vec<QueueStatus>> {
    parse_full(command, out, "Queue:")?
        .into_iter()
        .map(|(name, fields)| {
            let mut q = QueueStatus::new(name);
            let enabled = fields.get("enabled").map(|v| v == "True");
            let started = fields.get("started").map(|v| v == "True");
            q.state = Some(match (enabled, started) {
                (Some(false), _) => "disabled".into(),
                (_, Some(false)) => "stopped".into(),
                _ => "enabled".into(),
            });
            if let Some(counts) = fields.get("state_count") {
                for item in counts.split_whitespace() {
                    let Some((k, v)) = item.split_once(':') else {
                        return Err(Error::parse(
                            command,
                            "state_count item is not Name:count",
                            item,
                        ));
                    };
                    let n: u32 = v
                        .parse()
                        .map_err(|_| Error::parse(command, "state_count is not a number", item))?;
                    // Saturating: the counts are the server's, and two near
                    // u32::MAX overflowed the sum (found by the fuzz target).
                    let sum = match k {
                        "Running" | "Exiting" => &mut q.running_jobs,
                        "Queued" | "Held" | "Waiting" | "Transit" => &mut q.pending_jobs,
                        _ => continue,
                    };
                    *sum = Some(sum.unwrap_or(0).saturating_add(n));
                }
            }
            q.max_runtime = fields.get("resources_max.walltime").and_then(|w| parse_hms(w));
            q.info = fields;
            Ok(q)
        })
        .collect()
}

#[cfg(test)]
mod tests;
