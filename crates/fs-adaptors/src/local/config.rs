//! [`LocalConfig`]: the working directory a `file://` location names.

use hpc_core::{Error, Location, Path, Result};

/// Options of the local file system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalConfig {
    /// The directory relative paths start from (absolute); `None`: the
    /// process's current directory.
    pub working_directory: Option<Path>,
}

impl LocalConfig {
    /// From `file:///dir` or `local:///dir`: no host (`localhost` is
    /// allowed), no jump hosts; the path becomes the working directory.
    pub fn from_location(location: &Location) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidLocation {
            location: location.to_string(),
            reason: reason.into(),
        };
        if !matches!(location.scheme.as_str(), "file" | "local") {
            return Err(bad("the local adaptor takes file:// or local:// locations"));
        }
        if location.host.as_deref().is_some_and(|h| h != "localhost") || !location.via.is_empty() {
            return Err(bad("file:// takes no host; use sftp://user@host/path for a remote one"));
        }
        location.check_params(&[])?;
        let working_directory = location.path.as_deref().map(Path::new).transpose()?;
        if let Some(cwd) = &working_directory
            && !cwd.is_absolute()
        {
            return Err(Error::InvalidInput(format!(
                "working directory {cwd} must be an absolute path"
            )));
        }
        Ok(LocalConfig { working_directory })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let c = |s: &str| LocalConfig::from_location(&s.parse().unwrap());
        let dir = |s: &str| c(s).unwrap().working_directory.map(|p| p.to_string());
        assert_eq!(dir("file:///tmp/x").as_deref(), Some("/tmp/x"));
        assert_eq!(dir("local://localhost/tmp").as_deref(), Some("/tmp"));
        assert_eq!(dir("file://"), None);
        assert!(c("file://elsewhere/tmp").unwrap_err().to_string().contains("sftp://"));
        assert!(c("ssh://h/x").unwrap_err().to_string().contains("file:// or local://"));
        for q in ["bogus=1", "kown_hosts=x", "password=S3cret"] {
            let e = c(&format!("file:///tmp?{q}")).unwrap_err().to_string();
            assert!(e.contains("unknown parameter") && !e.contains("S3cret"), "{e}");
        }
    }
}
