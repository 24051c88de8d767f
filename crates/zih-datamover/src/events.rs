//! What srun and sbatch tell about the Slurm job behind a datamover command,
//! read line by line from the command's standard error as it comes.
//!
//! The datamover commands run their tool in a Slurm job on the data transfer
//! nodes. Slurm's client writes its own lines into the same stream as the
//! tool: the job id while it waits in the queue, the moment it gets its
//! node, two harmless complaints about the missing terminal (the commands ask
//! for `--pty`), and on a kill the reason. [`classify`] sorts each line into
//! an event, a line to hide, or the tool's own output.

use serde::Serialize;

/// Something the scheduler said about the job behind a datamover command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DtEvent {
    /// `sbatch` accepted the job (a call without `--blocking`); the command
    /// returns at once and the job runs on its own.
    Submitted {
        /// Slurm job id.
        job_id: u64,
    },
    /// The job waits in the queue (`srun: job N queued and waiting for resources`).
    Queued {
        /// Slurm job id.
        job_id: u64,
    },
    /// The job got its node and the tool starts now.
    Allocated {
        /// Slurm job id.
        job_id: u64,
    },
    /// Slurm killed the job because it ran into its time limit.
    TimeLimit {
        /// Slurm job id, when the message named it.
        job_id: Option<u64>,
    },
    /// The job was cancelled (by `dtcancel`/`scancel`, or by a kill of the command).
    Cancelled {
        /// Slurm job id, when the message named it.
        job_id: Option<u64>,
    },
}

impl DtEvent {
    /// The Slurm job id this event names, if any.
    pub fn job_id(&self) -> Option<u64> {
        match self {
            DtEvent::Submitted { job_id }
            | DtEvent::Queued { job_id }
            | DtEvent::Allocated { job_id } => Some(*job_id),
            DtEvent::TimeLimit { job_id } | DtEvent::Cancelled { job_id } => *job_id,
        }
    }
}

/// How one line of standard error is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// A scheduler event; the line itself is not the tool's output.
    Event(DtEvent),
    /// An event that also stays in the stderr the caller sees (kills and
    /// their reason belong in an error message).
    EventAndText(DtEvent),
    /// A harmless message of srun that only confuses: hidden.
    Hidden,
    /// The tool's own output (or a Slurm message worth reading).
    Text,
}

/// Sorts one line of standard error (without its newline).
pub(crate) fn classify(line: &str) -> Line {
    let line = line.trim_end_matches('\r');
    if let Some(rest) = line.strip_prefix("srun: ") {
        return classify_srun(rest);
    }
    if let Some(id) = line.strip_prefix("Submitted batch job ")
        && let Ok(job_id) = id.trim().parse()
    {
        return Line::Event(DtEvent::Submitted { job_id });
    }
    // slurmstepd: error: *** JOB 12 ON node CANCELLED AT 2024-05-01T10:00:00 DUE TO TIME LIMIT ***
    // slurmstepd: error: *** STEP 12.0 ON node CANCELLED AT ... ***
    if line.contains("*** ") && line.contains(" CANCELLED AT ") {
        let job_id = starred_job_id(line);
        return if line.contains("DUE TO TIME LIMIT") {
            Line::EventAndText(DtEvent::TimeLimit { job_id })
        } else {
            Line::EventAndText(DtEvent::Cancelled { job_id })
        };
    }
    Line::Text
}

fn classify_srun(rest: &str) -> Line {
    // The two complaints of `srun --pty` without a terminal: harmless.
    if rest == "error: ioctl(TIOCGWINSZ): Inappropriate ioctl for device"
        || rest == "error: Not using a pseudo-terminal, disregarding --pty option"
    {
        return Line::Hidden;
    }
    if let Some(id) = between(rest, "job ", " queued and waiting for resources") {
        return Line::Event(DtEvent::Queued { job_id: id });
    }
    if let Some(id) = between(rest, "job ", " has been allocated resources") {
        return Line::Event(DtEvent::Allocated { job_id: id });
    }
    // srun: Job allocation 12 has been revoked.
    // srun: Cancelled pending job allocation 12  /  srun: Force Terminated JobId=12
    if let Some(id) = between(rest, "Job allocation ", " has been revoked.") {
        return Line::EventAndText(DtEvent::Cancelled { job_id: Some(id) });
    }
    if let Some(id) = rest.strip_prefix("Cancelled pending job allocation ") {
        return Line::EventAndText(DtEvent::Cancelled { job_id: id.trim().parse().ok() });
    }
    Line::Text
}

fn between(text: &str, before: &str, after: &str) -> Option<u64> {
    text.strip_prefix(before)?.strip_suffix(after)?.trim().parse().ok()
}

/// The job id of `*** JOB 12 ON ...` or `*** STEP 12.0 ON ...`.
fn starred_job_id(line: &str) -> Option<u64> {
    let rest = &line[line.find("*** ")? + 4..];
    let mut words = rest.split_whitespace();
    match words.next()? {
        "JOB" | "STEP" => {}
        _ => return None,
    }
    let id = words.next()?;
    id.split(['.', '_', '+']).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srun_messages_of_the_seed_are_recognised() {
        assert_eq!(
            classify("srun: job 27549105 queued and waiting for resources"),
            Line::Event(DtEvent::Queued { job_id: 27_549_105 })
        );
        assert_eq!(
            classify("srun: job 27549105 has been allocated resources"),
            Line::Event(DtEvent::Allocated { job_id: 27_549_105 })
        );
        assert_eq!(
            classify("srun: error: ioctl(TIOCGWINSZ): Inappropriate ioctl for device"),
            Line::Hidden
        );
        assert_eq!(
            classify("srun: error: Not using a pseudo-terminal, disregarding --pty option\r"),
            Line::Hidden
        );
        assert_eq!(
            classify("Submitted batch job 7"),
            Line::Event(DtEvent::Submitted { job_id: 7 })
        );
    }

    #[test]
    fn kills_are_events_and_stay_readable() {
        let t = "slurmstepd: error: *** STEP 41.0 ON node1 CANCELLED AT 2024-05-01T10:00:00 DUE TO TIME LIMIT ***";
        assert_eq!(classify(t), Line::EventAndText(DtEvent::TimeLimit { job_id: Some(41) }));
        let t = "slurmstepd: error: *** JOB 42 ON node1 CANCELLED AT 2024-05-01T10:00:00 DUE TO TIME LIMIT ***";
        assert_eq!(classify(t), Line::EventAndText(DtEvent::TimeLimit { job_id: Some(42) }));
        let t = "slurmstepd: error: *** STEP 43.0 ON node1 CANCELLED AT 2024-05-01T10:00:00 ***";
        assert_eq!(classify(t), Line::EventAndText(DtEvent::Cancelled { job_id: Some(43) }));
        assert_eq!(
            classify("srun: Job allocation 44 has been revoked."),
            Line::EventAndText(DtEvent::Cancelled { job_id: Some(44) })
        );
    }

    #[test]
    fn everything_else_is_the_tools_output() {
        for l in [
            "ls: cannot access '/nope': No such file or directory",
            "srun: error: node1: task 0: Exited with exit code 2",
            "srun: job abc queued and waiting for resources",
            "Submitted batch job x",
            "",
        ] {
            assert_eq!(classify(l), Line::Text, "{l}");
        }
    }
}
