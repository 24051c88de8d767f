//! Typed states of jobs, transfers, workflows and resources, in PyUNICORE's
//! order (waiting for a state means "this one or a later one").

use std::fmt;
use std::str::FromStr;

use hpc_core::{Error, Result};

macro_rules! states {
    ($(#[$doc:meta])* $name:ident, $kind:literal, [$($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)?]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every state, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The server's name of the state.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            /// Parses the server's name (case-insensitive); an unknown name is
            /// a typed error, not a guess.
            fn from_str(s: &str) -> Result<Self> {
                let t = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(t))
                    .ok_or_else(|| crate::error::unknown_state($kind, s))
            }
        }
    };
}

states!(
    /// A job's state. Lifecycle: READY → STAGINGIN → READY → QUEUED → RUNNING
    /// → STAGINGOUT → SUCCESSFUL or FAILED.
    JobState, "job", [
        /// Not known yet.
        Undefined = "UNDEFINED",
        /// Created, waiting for `start` (client stage-in).
        Ready = "READY",
        /// Importing input files.
        StagingIn = "STAGINGIN",
        /// Waiting in the batch system.
        Queued = "QUEUED",
        /// Running.
        Running = "RUNNING",
        /// Exporting output files.
        StagingOut = "STAGINGOUT",
        /// Finished well.
        Successful = "SUCCESSFUL",
        /// Finished badly (or aborted).
        Failed = "FAILED",
    ]
);

impl JobState {
    /// SUCCESSFUL or FAILED.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Successful | JobState::Failed)
    }
}

states!(
    /// A server-to-server transfer's state.
    TransferState, "transfer", [
        /// Accepted, not started.
        Created = "CREATED",
        /// Moving bytes.
        Running = "RUNNING",
        /// Finished well.
        Done = "DONE",
        /// Finished badly.
        Failed = "FAILED",
        /// Stopped by the user.
        Aborted = "ABORTED",
    ]
);

impl TransferState {
    /// DONE, FAILED or ABORTED.
    pub fn is_final(self) -> bool {
        self >= TransferState::Done
    }
}

states!(
    /// A workflow's state.
    WorkflowState, "workflow", [
        /// Not known yet.
        Undefined = "UNDEFINED",
        /// Running.
        Running = "RUNNING",
        /// Held (waiting for `continue`).
        Held = "HELD",
        /// Finished well.
        Successful = "SUCCESSFUL",
        /// Finished badly.
        Failed = "FAILED",
        /// Aborted by the user.
        Aborted = "ABORTED",
    ]
);

impl WorkflowState {
    /// SUCCESSFUL, FAILED or ABORTED.
    pub fn is_final(self) -> bool {
        self >= WorkflowState::Successful
    }
}

states!(
    /// A site's or storage's `resourceStatus`.
    ResourceStatus, "resource", [
        /// Not known.
        Undefined = "UNDEFINED",
        /// Being set up.
        Initializing = "INITIALIZING",
        /// Usable.
        Ready = "READY",
        /// Switched off.
        Disabled = "DISABLED",
        /// Broken.
        Error = "ERROR",
        /// Going away.
        ShuttingDown = "SHUTTING_DOWN",
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_parsing() {
        assert!(JobState::Failed > JobState::Successful);
        assert!(JobState::Running < JobState::Successful);
        assert_eq!("stagingin".parse::<JobState>().unwrap(), JobState::StagingIn);
        let e = "UNKNOWN".parse::<JobState>().unwrap_err();
        assert_eq!(e.kind(), hpc_core::ErrorKind::Parse);
        assert!(e.to_string().contains("unknown job state"), "{e}");
        assert!(TransferState::Aborted.is_final() && !TransferState::Running.is_final());
        assert!(WorkflowState::Held < WorkflowState::Successful);
        assert_eq!(ResourceStatus::ShuttingDown.to_string(), "SHUTTING_DOWN");
    }
}
