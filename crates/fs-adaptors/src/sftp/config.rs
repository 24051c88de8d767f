//! [`SftpConfig`]: what an SFTP file system shows, where it starts, and how
//! far it pipelines.

use hpc_core::{Error, Location, Result};

/// How many requests are in flight and how large each is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SftpTuning {
    /// Outstanding read or write requests per transfer.
    pub in_flight: usize,
    /// Bytes per request (capped by the server's `limits@openssh.com`).
    pub chunk: u32,
    /// Seconds to wait for any one reply before the connection counts as lost.
    pub request_timeout_secs: u64,
}

impl Default for SftpTuning {
    fn default() -> Self {
        // 64 x 252 KiB keeps ~16 MiB in flight: enough for 1 GiB/s at 15 ms RTT,
        // well inside the 64 MiB memory budget of a transfer.
        SftpTuning { in_flight: 64, chunk: 252 * 1024, request_timeout_secs: 120 }
    }
}

/// Options of an SFTP file system (the SSH connection itself is configured
/// by `hpc_exec::ssh::SshOptions` from the same location).
#[derive(Debug, Clone)]
pub struct SftpConfig {
    /// Shown in errors and as the location of `FileSystem::info` (never holds a secret).
    pub location: String,
    /// `host[:port]`, for error messages.
    pub host: String,
    /// Working directory: absolute, or relative to the login directory.
    pub working_directory: Option<String>,
    /// Pipelining.
    pub tuning: SftpTuning,
}

impl SftpConfig {
    /// From `sftp://[user@]host[:port][/dir][?in_flight=N&chunk=BYTES]`. The
    /// path, if any, becomes the working directory (`/~/x` is `x` below the
    /// login directory); the query (SSH options included) is not shown.
    pub fn from_location(location: &Location) -> Result<Self> {
        let known: Vec<&str> = ["in_flight", "chunk"]
            .into_iter()
            .chain(hpc_exec::SSH_LOCATION_PARAMS.iter().copied())
            .collect();
        location.check_params(&known)?;
        let mut tuning = SftpTuning::default();
        let bad = |k: &str, v: &str| Error::InvalidLocation {
            location: location.to_string(),
            reason: format!("{k}={v:?} is not a positive number"),
        };
        if let Some(v) = location.param("in_flight") {
            tuning.in_flight =
                v.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad("in_flight", v))?;
        }
        if let Some(v) = location.param("chunk") {
            tuning.chunk = v.parse().ok().filter(|n| *n >= 512).ok_or_else(|| bad("chunk", v))?;
        }
        let host = match location.port {
            Some(p) => format!("{}:{p}", location.host.as_deref().unwrap_or("")),
            None => location.host.clone().unwrap_or_default(),
        };
        let working_directory = location.path.as_deref().filter(|p| *p != "/").map(|p| {
            p.strip_prefix("/~/").or_else(|| (p == "/~").then_some("")).unwrap_or(p).to_owned()
        });
        let mut shown = location.clone();
        shown.query.clear();
        Ok(SftpConfig { location: shown.to_string(), host, working_directory, tuning })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> Result<SftpConfig> {
        SftpConfig::from_location(&url.parse().unwrap())
    }

    #[test]
    fn locations_and_tuning() {
        let c = cfg("sftp://alice@hpc:2222/~/data?in_flight=8&chunk=4096&known_hosts=/k").unwrap();
        assert_eq!(
            (c.host.as_str(), c.location.as_str()),
            ("hpc:2222", "sftp://alice@hpc:2222/~/data")
        );
        assert_eq!(c.working_directory.as_deref(), Some("data"));
        assert_eq!((c.tuning.in_flight, c.tuning.chunk), (8, 4096));
        assert_eq!(cfg("sftp://h/~").unwrap().working_directory.as_deref(), Some(""));
        assert_eq!(cfg("sftp://h/").unwrap().working_directory, None);
        assert_eq!(cfg("sftp://h/scratch").unwrap().working_directory.as_deref(), Some("/scratch"));
        assert_eq!(cfg("sftp://h").unwrap().tuning, SftpTuning::default());
        assert!(cfg("sftp://h?in_flight=0").unwrap_err().to_string().contains("in_flight"));
        assert!(cfg("sftp://h?chunk=100").is_err());
    }
}
