//! Entry points for the S3 fuzz target of `crates/hpc-fuzz`; not part of the
//! stable interface.

use std::collections::HashSet;

use hpc_core::Path;
use rusty_s3::actions::ListObjectsV2;

use super::{lister, uploads};

/// A ListObjectsV2, ListMultipartUploads or ListParts answer. Every listed
/// entry that is accepted lies below the listed directory.
pub fn answers(xml: &str) {
    let _ = uploads::parse_page(xml);
    let _ = uploads::parse_parts(xml);
    let Ok(page) = ListObjectsV2::parse_response(xml) else {
        return;
    };
    let dir = Path::new("/data/d").expect("a valid path");
    for recursive in [false, true] {
        let entries = lister::page_entries(&dir, "data/d/", &page, recursive, &mut HashSet::new());
        for attrs in entries.into_iter().flatten() {
            assert!(attrs.path.starts_with(&dir) && attrs.path != dir, "{xml:?} escapes {dir}");
        }
    }
}
