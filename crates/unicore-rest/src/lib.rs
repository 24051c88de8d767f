#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod client;
pub mod credential;
mod description;
mod error;
#[cfg(feature = "adaptors")]
pub mod filesystem;
#[cfg(feature = "forward")]
mod forward;
#[doc(hidden)]
pub mod fuzzing;
mod job;
mod preferences;
mod registry;
mod resource;
#[cfg(feature = "adaptors")]
pub mod scheduler;
mod state;
mod storage;
mod transfer;
mod transport;
mod url;
mod workflow;

pub use client::{Client, JobInput, TokenRequest};
pub use description::{Export, Import, JobDescription, JobType, Resources};
#[cfg(feature = "forward")]
pub use forward::{ForwardTarget, Forwarder, Io, UPGRADE};
/// The HTTP client underneath (for an OIDC server's token endpoint).
pub use hpc_http::{Body, HttpClient, Request, Timeouts};
pub use job::{Allocation, Backoff, Job, JobProperties};
pub use preferences::UserPreferences;
pub use registry::Registry;
pub use resource::{Page, Properties};
pub use state::{JobState, ResourceStatus, TransferState, WorkflowState};
pub use storage::{FileInfo, Storage, mode_to_text, text_to_mode};
pub use transfer::{Transfer, TransferProperties};
pub use transport::{MAX_JSON, PREFERENCES_HEADER, SESSION_HEADER, Transport, TransportBuilder};
pub use workflow::{Workflow, WorkflowService};

#[cfg(all(test, feature = "adaptors"))]
mod tests {
    /// The `| capability | value |` tables of the two docs.md say what the
    /// `capabilities()` functions say.
    #[test]
    fn docs_checklists_agree_with_the_capabilities() {
        let mut wrong = Vec::new();
        for (docs, rows) in [
            (include_str!("scheduler/docs.md"), crate::scheduler::capabilities().rows()),
            (include_str!("filesystem/docs.md"), crate::filesystem::capabilities().rows()),
        ] {
            wrong.extend(hpc_testkit::checklist::disagreements(docs, &rows));
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
