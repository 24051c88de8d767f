#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod claim;
pub mod couch;
#[doc(hidden)]
pub mod fuzzing;
mod host;
mod pool;
mod push;
mod token;
mod url;
mod views;
#[cfg(feature = "worker")]
pub mod worker;

pub use claim::{ClaimStats, Claimer, Held, LeaseState};
pub use couch::{CouchConfig, CouchDb, WriteOutcome};
pub use host::now_secs;
pub use pool::{BulkReport, Counts, ErroredToken, RecoverReport, Selection, TokenPool, log_names};
pub use push::{InputFormat, NewToken, parse_tokens};
pub use token::{
    ClaimInfo, ERROR_MARK, JOB_ID_FIELDS, LEASE_OWNER, LEASE_UNTIL, Token, TokenError, TokenState,
    job_id_from,
};
pub use url::DbUrl;
pub use views::{DesignDoc, MONITOR, STATE_VIEWS, ViewsOutcome, ensure_views};
