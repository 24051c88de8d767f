//! What a `unicore://` location means for a file system: which storage it
//! opens, and where a URL's storage ends and the path on it begins.

use hpc_core::{Error, Location, Path, Result};

pub use crate::scheduler::UnicoreConfig;

impl UnicoreConfig {
    /// The storage id of a file-system location (`/storages/ID`, or
    /// `JOB-uspace` for `/jobs/JOB`).
    pub fn storage_id(&self) -> Result<&str> {
        self.storage.as_deref().ok_or_else(|| Error::InvalidLocation {
            location: self.location.clone(),
            reason: "a file system needs a storage: unicore://HOST/SITE/storages/ID or /jobs/JOB"
                .into(),
        })
    }

    /// Splits a `unicore://` URL whose path was taken off (`raw`) into the
    /// storage to open and the path on it: `/S/storages/HOME/a/b` is storage
    /// `/S/storages/HOME` and path `/a/b`; `.../jobs/JOB/x` likewise. A URL
    /// without a storage keeps its whole path (opening it then says why not).
    pub fn storage_location(location: &Location, raw: &str) -> Result<(Location, Path)> {
        let parts: Vec<&str> = raw.split('/').filter(|p| !p.is_empty()).collect();
        let at = parts
            .iter()
            .position(|p| *p == "storages" || *p == "jobs")
            .map_or(parts.len(), |i| (i + 2).min(parts.len()));
        let (storage, rest) = parts.split_at(at);
        let mut location = location.clone();
        location.path = Some(format!("/{}", storage.join("/")));
        Ok((location, Path::new(&format!("/{}", rest.join("/")))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (String, String) {
        let mut loc: Location = url.parse().unwrap();
        let raw = loc.path.take().unwrap_or_default();
        let (loc, path) = UnicoreConfig::storage_location(&loc, &raw).unwrap();
        (loc.to_string(), path.to_string())
    }

    #[test]
    fn storage_and_path_of_a_url() {
        assert_eq!(
            split("unicore://h:8443/S/storages/HOME/a/b.txt?ca=/c.pem"),
            ("unicore://h:8443/S/storages/HOME?ca=%2Fc.pem".into(), "/a/b.txt".into())
        );
        assert_eq!(
            split("unicore+https://h/S/rest/core/jobs/j1"),
            ("unicore+https://h/S/rest/core/jobs/j1".into(), "/".into())
        );
        // A directory called `jobs` inside a storage belongs to the path.
        assert_eq!(split("unicore://h/S/storages/W/jobs/x").1, "/jobs/x");
        assert_eq!(split("unicore://h/S/storages").0, "unicore://h/S/storages");
    }
}
