//! Entry point for the WebDAV fuzz target of `crates/hpc-fuzz`; not part of
//! the stable interface.

use hpc_core::Path;

use super::{lister, parse};

/// A `207 Multi-Status` body as the answer to a `Depth: 1` PROPFIND of
/// `/dav/dir`: every entry that is accepted names a direct child of it.
pub fn multistatus(xml: &str) {
    let Ok(entries) = parse::parse(xml) else {
        return;
    };
    let dir = Path::new("/dav/dir").expect("a valid path");
    if let Ok(items) = lister::children(&dir, "http://127.0.0.1:8081", entries) {
        for attrs in items.into_iter().flatten() {
            assert_eq!(attrs.path.parent().as_ref(), Some(&dir), "{xml:?} escapes {dir}");
        }
    }
}
