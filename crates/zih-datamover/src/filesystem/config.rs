//! [`WsConfig`]: which workspace (or directory) a [`super::WsFileSystem`]
//! opens, where it stages data, and which directories only the datamover
//! may write.

use std::time::Duration;

use hpc_core::{Error, Location, Path, Result};

use crate::config::{DatamoverConfig, WorkspaceConfig};
use crate::workspace::validate_name;

/// Query keys of a `ws://` or `dm://` location (SSH options aside).
pub const WS_LOCATION_PARAMS: &[&str] =
    &["filesystem", "stage", "datamover", "bin", "time", "account", "linger_ms"];

/// The workspace whose directory is the root, or a plain directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsRoot {
    /// `ws://`: the directory `ws_find` names for this workspace.
    Workspace(String),
    /// `dm://`: a directory given as it is (`/` unless set).
    Directory(Path),
}

/// Which targets are written through the datamover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatamoverTargets {
    /// Directories where a write probe (`test -w`, run as the user on the
    /// login node) fails, and everything below these roots without asking.
    Probe(Vec<Path>),
    /// Every change, wherever it is (`?datamover=all`).
    All,
}

/// Options of a [`super::WsFileSystem`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WsConfig {
    /// Shown as `FileSystem::location` (never holds a secret).
    pub location: String,
    /// The root: a workspace or a directory.
    pub root: WsRoot,
    /// `-F` of the workspace tools: the workspace file system.
    pub filesystem: Option<String>,
    /// The workspace that holds data on its way through the datamover;
    /// `None`: the root workspace (`ws://`), or `cache` (`dm://`, allocated
    /// for a day when it does not exist).
    pub stage: Option<String>,
    /// Which targets need the datamover.
    pub targets: DatamoverTargets,
    /// How long a first datamover write waits for others to join its Slurm
    /// job (writes that arrive while a job runs join the next one anyway).
    pub linger: Duration,
    /// The datamover commands (directory, time limit, account).
    pub datamover: DatamoverConfig,
    /// The workspace tools.
    pub workspaces: WorkspaceConfig,
}

/// The staging workspace of `dm://` locations without `?stage=`.
pub const DEFAULT_STAGE: &str = "cache";

impl WsConfig {
    /// Workspace `name` as the root, everything else by default.
    pub fn workspace(name: impl Into<String>) -> Self {
        Self::with_root(WsRoot::Workspace(name.into()))
    }

    /// Directory `dir` as the root (every path on the login node reachable).
    pub fn directory(dir: Path) -> Self {
        Self::with_root(WsRoot::Directory(dir))
    }

    fn with_root(root: WsRoot) -> Self {
        let location = match &root {
            WsRoot::Workspace(w) => format!("ws:///{w}"),
            WsRoot::Directory(d) => format!("dm://{d}"),
        };
        WsConfig {
            location,
            root,
            filesystem: None,
            stage: None,
            targets: DatamoverTargets::Probe(Vec::new()),
            linger: Duration::from_millis(200),
            datamover: DatamoverConfig::default(),
            workspaces: WorkspaceConfig::default(),
        }
    }

    /// The tools (datamover and workspace alike) taken from `dir`.
    pub fn bin_dir(mut self, dir: impl Into<String>) -> Self {
        let dir = dir.into();
        self.datamover.bin_dir = Some(dir.clone());
        self.workspaces.bin_dir = Some(dir);
        self
    }

    /// From `ws://[user@host[:port]]/<workspace>` or
    /// `dm://[user@host[:port]][/dir]` (the path of a `dm://` location is its
    /// working directory; `hpckit::FsUrl` leaves it out). Query keys:
    /// [`WS_LOCATION_PARAMS`] and the SSH ones of `hpc-exec`.
    pub fn from_location(loc: &Location) -> Result<Self> {
        let bad = |reason: String| Error::InvalidLocation { location: loc.to_string(), reason };
        let path = loc.path.as_deref().unwrap_or("");
        let mut cfg = match loc.scheme.as_str() {
            "ws" => {
                let name = path.trim_matches('/');
                if name.is_empty() || name.contains('/') {
                    return Err(bad("ws:// needs one workspace name as its path: ws://[user@host]/<workspace>[/path]".into()));
                }
                validate_name(name).map_err(|e| bad(e.to_string()))?;
                WsConfig::workspace(name)
            }
            "dm" => {
                WsConfig::directory(if path.is_empty() { Path::root() } else { Path::new(path)? })
            }
            other => {
                return Err(bad(format!(
                    "{other}:// is not a workspace location (ws:// or dm://)"
                )));
            }
        };
        if let WsRoot::Directory(d) = &cfg.root
            && !d.is_absolute()
        {
            return Err(bad("a dm:// directory must be absolute".into()));
        }
        let mut shown = loc.clone();
        shown.query.clear();
        cfg.location = shown.to_string();
        loc.check_params(&[WS_LOCATION_PARAMS, hpc_exec::SSH_LOCATION_PARAMS].concat())?;
        for (key, value) in &loc.query {
            match key.as_str() {
                "filesystem" => {
                    if value.is_empty() || value.contains(char::is_whitespace) {
                        return Err(bad(format!("filesystem={value:?} is no file system name")));
                    }
                    cfg.filesystem = Some(value.clone());
                }
                "stage" => {
                    validate_name(value).map_err(|e| bad(e.to_string()))?;
                    cfg.stage = Some(value.clone());
                }
                "datamover" => cfg.targets = parse_targets(value).map_err(bad)?,
                "bin" => {
                    if !value.starts_with('/') {
                        return Err(bad(format!("bin={value:?} must be an absolute directory")));
                    }
                    cfg = cfg.bin_dir(value.clone());
                }
                "time" => {
                    let limit = value
                        .parse::<u64>()
                        .ok()
                        .filter(|m| *m > 0)
                        .and_then(|m| hpc_core::duration::from_secs(m.checked_mul(60)?));
                    cfg.datamover.time_limit = Some(limit.ok_or_else(|| {
                        bad(format!(
                            "time={value:?} is not a number of minutes (at most 100 years)"
                        ))
                    })?);
                }
                "account" => cfg.datamover.account = Some(value.clone()),
                "linger_ms" => {
                    let ms: u64 = value
                        .parse()
                        .map_err(|_| bad(format!("linger_ms={value:?} is not milliseconds")))?;
                    cfg.linger = Duration::from_millis(ms);
                }
                // The SSH ones; the rest is refused by check_params above.
                _ => {}
            }
        }
        cfg.datamover.validate().map_err(|e| bad(e.to_string()))?;
        Ok(cfg)
    }

    /// Whether every change goes through the datamover.
    pub fn all_through_datamover(&self) -> bool {
        self.targets == DatamoverTargets::All
    }
}

/// `all`, or absolute directories separated by commas.
fn parse_targets(value: &str) -> std::result::Result<DatamoverTargets, String> {
    if value == "all" {
        return Ok(DatamoverTargets::All);
    }
    let mut roots = Vec::new();
    for part in value.split(',').filter(|p| !p.is_empty()) {
        let p = Path::new(part).map_err(|e| e.to_string())?;
        if !p.is_absolute() {
            return Err(format!("datamover={part:?}: directories must be absolute (or `all`)"));
        }
        roots.push(p);
    }
    Ok(DatamoverTargets::Probe(roots))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> Result<WsConfig> {
        WsConfig::from_location(&url.parse()?)
    }

    #[test]
    fn workspace_locations() {
        let c = cfg("ws://me@login:2222/data?filesystem=scratch&stage=cache&bin=/sw/bin&time=90")
            .unwrap();
        assert_eq!(c.root, WsRoot::Workspace("data".into()));
        assert_eq!(c.filesystem.as_deref(), Some("scratch"));
        assert_eq!(c.stage.as_deref(), Some("cache"));
        assert_eq!(c.datamover.bin_dir.as_deref(), Some("/sw/bin"));
        assert_eq!(c.workspaces.bin_dir.as_deref(), Some("/sw/bin"));
        assert_eq!(c.datamover.time_limit, Some(Duration::from_secs(5400)));
        assert_eq!(c.location, "ws://me@login:2222/data");
        assert!(!c.all_through_datamover());
        let c = cfg("ws:///data?datamover=all&host_key=accept-new").unwrap();
        assert!(c.all_through_datamover());
        let c = cfg("dm://login?datamover=/projects,/archiv").unwrap();
        assert_eq!(c.root, WsRoot::Directory(Path::root()));
        assert_eq!(
            c.targets,
            DatamoverTargets::Probe(vec![
                Path::new("/projects").unwrap(),
                Path::new("/archiv").unwrap()
            ])
        );
    }

    #[test]
    fn bad_locations_are_refused_with_a_reason() {
        for (url, why) in [
            ("ws://login", "one workspace name"),
            ("ws://login/a/b", "one workspace name"),
            ("ws:///a%20b", "illegal workspace name"),
            ("ws:///a?stage=$(id)", "illegal workspace name"),
            ("ws:///a?datamover=projects", "must be absolute"),
            ("ws:///a?time=0", "minutes"),
            ("ws:///a?bin=sw", "absolute"),
            ("ws:///a?bogus=1", "unknown parameter \"bogus\""),
            ("ws:///a?time=307445734561825861", "minutes (at most 100 years)"),
            ("ws:///a?time=18446744073709551615", "minutes (at most 100 years)"),
            ("dm://h/x?password=S3CRET", "unknown parameter \"password\""),
            ("ws:///a?account=a%20b", "invalid Slurm account"),
            ("sftp://h/a", "not a workspace location"),
        ] {
            let e = cfg(url).unwrap_err();
            assert!(matches!(e, Error::InvalidLocation { .. }), "{url}: {e}");
            assert!(e.to_string().contains(why), "{url}: {e}");
            assert!(!e.to_string().contains("S3CRET"), "{url}: {e}");
        }
    }
}
