//! `sinfo`: partitions, and the job counts per partition from `squeue`.

use hpc_core::{Error, JobState, QueueStatus, Result};

use super::{check_state_word, map_state};
use crate::batch::time::parse_duration;

/// One line of [`SINFO_FORMAT`](super::SINFO_FORMAT) output.
pub fn parse_sinfo(text: &str) -> Result<Vec<QueueStatus>> {
    const CMD: &str = "sinfo";
    let mut out: Vec<QueueStatus> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() != 7 {
            return Err(Error::parse(CMD, "expected 7 '|'-separated fields", line));
        }
        let nodes: u32 =
            f[3].parse().map_err(|_| Error::parse(CMD, "expected a node count", line))?;
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
            let sum = prev.nodes.unwrap_or(0).checked_add(nodes);
            prev.nodes =
                Some(sum.ok_or_else(|| Error::parse(CMD, "node counts add up past 2^32", line))?);
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
            .ok_or_else(|| Error::parse("squeue", "expected STATE|PARTITION", line))?;
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
    use std::time::Duration;

    use super::*;

    /// A file of recorded output in `testdata/slurm/`.
    macro_rules! testdata {
        ($name:literal) => {
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/slurm/", $name))
        };
    }

    const SINFO: &str = testdata!("sinfo.txt");

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
    fn node_counts_that_do_not_add_up_are_an_error() {
        let line = "p|up|infinite|4294967295|0/0/0/1|0/0/0/2|p";
        let e = parse_sinfo(&format!("{line}\n{line}\n")).unwrap_err();
        assert!(e.to_string().contains("node counts add up past 2^32"), "{e}");
        let e = parse_sinfo("p|up|infinite|4294967296|0/0/0/1|0/0/0/2|p").unwrap_err();
        assert!(e.to_string().contains("node count"), "{e}");
    }
}
