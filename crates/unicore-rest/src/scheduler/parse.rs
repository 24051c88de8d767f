//! UNICORE job properties as a portable [`JobStatus`].

use hpc_core::{JobId, JobState as Portable, JobStatus};

use crate::job::JobProperties;
use crate::state::JobState;

/// The portable status of a job. A SUCCESSFUL job with a non-zero exit code
/// (`IgnoreNonZeroExitCode`) counts as failed; a FAILED one whose message says
/// it was aborted counts as cancelled.
pub(crate) fn status(id: &JobId, p: &JobProperties) -> JobStatus {
    let state = match p.status {
        JobState::Undefined | JobState::Ready | JobState::StagingIn | JobState::Queued => {
            Portable::Pending
        }
        JobState::Running | JobState::StagingOut => Portable::Running,
        JobState::Successful if p.exit_code.unwrap_or(0) == 0 => Portable::Completed,
        JobState::Successful => Portable::Failed,
        JobState::Failed if p.status_message.to_ascii_lowercase().contains("abort") => {
            Portable::Cancelled
        }
        JobState::Failed => Portable::Failed,
    };
    let mut s = JobStatus::new(id.clone(), state)
        .with_exit_code(p.exit_code)
        .with_name(p.name.clone())
        .with_raw_state(p.status.as_str())
        .with_queue(p.queue.clone());
    if matches!(state, Portable::Failed | Portable::Cancelled) && !p.status_message.is_empty() {
        s = s.with_error(p.status_message.clone());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Properties;

    fn props(v: serde_json::Value) -> JobProperties {
        JobProperties::from_properties(Properties::new("https://h/S/rest/core/jobs/j", v)).unwrap()
    }

    #[test]
    fn states_map_to_portable_ones() {
        let id = JobId::new("j");
        let s = status(&id, &props(serde_json::json!({"status": "QUEUED"})));
        assert_eq!(s.state, Portable::Pending);
        let s = status(
            &id,
            &props(serde_json::json!({"status": "SUCCESSFUL", "exitCode": "0", "name": "n"})),
        );
        assert_eq!(
            (s.state, s.exit_code, s.name.as_deref()),
            (Portable::Completed, Some(0), Some("n"))
        );
        let s = status(
            &id,
            &props(
                serde_json::json!({"status": "FAILED", "exitCode": "2", "statusMessage": "Job failed"}),
            ),
        );
        assert_eq!((s.state, s.error.as_deref()), (Portable::Failed, Some("Job failed")));
        let s = status(
            &id,
            &props(
                serde_json::json!({"status": "FAILED", "statusMessage": "Job was aborted by the user"}),
            ),
        );
        assert_eq!(s.state, Portable::Cancelled);
    }
}
