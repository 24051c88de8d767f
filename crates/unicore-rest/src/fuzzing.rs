//! Entry point for the UNICORE fuzz target of `crates/hpc-fuzz`: the JSON
//! documents a UNICORE server answers. Not part of the stable interface.

use serde_json::Value;

use crate::state::{JobState, TransferState, WorkflowState};
use crate::{
    FileInfo, JobProperties, Properties, UserPreferences, error, mode_to_text, text_to_mode,
};

const URL: &str = "https://unicore.invalid/SITE/rest/core/jobs/1";

/// A response body as a job's properties, a directory listing, a file's
/// properties, an error answer and the links of a resource.
pub fn responses(body: &[u8]) {
    let _ = error::server_message(body);
    for status in [400, 404, 500] {
        let _ = error::from_status(status, "GET /rest/core/jobs/1", body).to_string();
    }
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let props = Properties::new(URL, doc.clone());
    let _ = (props.links(), props.link("self"), props.link("next"));
    for key in ["status", "statusMessage", "permissions", "lastAccessed"] {
        if let Some(text) = props.str(key) {
            words(text);
        }
    }
    if let Ok(job) = JobProperties::from_properties(props) {
        #[cfg(feature = "adaptors")]
        let _ = crate::scheduler::parse::status(&hpc_core::JobId::new("1"), &job);
        #[cfg(not(feature = "adaptors"))]
        let _ = job;
    }
    let _ = FileInfo::from_json("/dir/file", &doc);
    if let Some(content) = doc.get("content").and_then(Value::as_object) {
        for (path, meta) in content {
            if let Ok(info) = FileInfo::from_json(path, meta) {
                let _ = hpc_core::Path::new(&info.path);
                if let Some(p) = &info.permissions {
                    words(p);
                }
                if let Some(t) = &info.last_accessed {
                    words(t);
                }
            }
        }
    }
}

/// One string field of a document, read as each kind of word it may be.
fn words(text: &str) {
    let _ = text.parse::<JobState>();
    let _ = text.parse::<TransferState>();
    let _ = text.parse::<WorkflowState>();
    let _ = UserPreferences::parse(text);
    if let Some(mode) = text_to_mode(text) {
        assert!(mode <= 0o777, "{text:?}");
        assert_eq!(text_to_mode(&mode_to_text(mode)), Some(mode), "{text:?}");
    }
    #[cfg(feature = "adaptors")]
    let _ = crate::filesystem::backend::parse_date(text);
}
