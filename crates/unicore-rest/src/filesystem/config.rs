//! Which storage a `unicore://` file-system location opens.

use hpc_core::{Error, Result};

pub use crate::scheduler::UnicoreConfig;

/// The storage id of a file-system location (`/storages/ID` or `/jobs/JOB`).
pub(crate) fn storage_id(config: &UnicoreConfig) -> Result<&str> {
    config.storage.as_deref().ok_or_else(|| Error::InvalidLocation {
        location: config.location.clone(),
        reason: "a file system needs a storage: unicore://HOST/SITE/storages/ID or /jobs/JOB"
            .into(),
    })
}
