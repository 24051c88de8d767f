//! [`SshOptions`]: where and how to connect.

use std::path::PathBuf;
use std::time::Duration;

use hpc_core::{Error, Hop, Location, Result};

/// What to do with a host key that no known_hosts file lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse unknown and changed keys (OpenSSH `StrictHostKeyChecking yes`).
    #[default]
    Strict,
    /// Record unknown keys in the first known_hosts file; still refuse
    /// changed ones (OpenSSH `StrictHostKeyChecking accept-new`).
    AcceptNew,
}

/// Where to connect and how: target, jump hosts, host-key policy, files, limits.
///
/// Built with [`SshOptions::new`] or [`SshOptions::from_location`] and the
/// setters. Values from the ssh config file fill in whatever is not set here.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    pub(crate) user: Option<String>,
    pub(crate) via: Vec<Hop>,
    pub(crate) host_key_policy: HostKeyPolicy,
    pub(crate) known_hosts: Vec<PathBuf>,
    pub(crate) ssh_config: Option<PathBuf>,
    pub(crate) load_ssh_config: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_sessions: usize,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) session_wait: Duration,
    pub(crate) identity_agent: Option<PathBuf>,
}

impl SshOptions {
    /// Connect to `host` (an ssh config alias, a name or an address) on the
    /// port and as the user the ssh config gives, else 22 and the credential's
    /// or local user.
    pub fn new(host: impl Into<String>) -> Self {
        SshOptions {
            host: host.into(),
            port: None,
            user: None,
            via: Vec::new(),
            host_key_policy: HostKeyPolicy::Strict,
            known_hosts: Vec::new(),
            ssh_config: None,
            load_ssh_config: true,
            connect_timeout: Duration::from_secs(30),
            max_sessions: 10,
            keepalive: Some(Duration::from_secs(30)),
            session_wait: Duration::from_secs(600),
            identity_agent: None,
        }
    }

    /// Options for an `ssh://` (or `x+ssh://`) location: its user, host, port
    /// and `via:` hops. Query parameters understood here:
    /// `host_key=accept-new|strict`, `known_hosts=<file>`,
    /// `ssh_config=<file>|none`, `connect_timeout=<seconds>`,
    /// `max_sessions=<n>`; others belong to the adaptor and are ignored.
    pub fn from_location(location: &Location) -> Result<Self> {
        let bad =
            |reason: String| Error::InvalidLocation { location: location.to_string(), reason };
        let host = location
            .host
            .clone()
            .ok_or_else(|| bad("an SSH location needs a host (ssh://[user@]host[:port])".into()))?;
        let mut opts = SshOptions::new(host);
        opts.port = location.port;
        opts.user = location.user.clone();
        opts.via = location.via.clone();
        for (key, value) in &location.query {
            match key.as_str() {
                "host_key" => {
                    opts.host_key_policy = match value.as_str() {
                        "strict" | "yes" => HostKeyPolicy::Strict,
                        "accept-new" => HostKeyPolicy::AcceptNew,
                        _ => {
                            return Err(bad(format!(
                                "host_key={value:?}: use strict or accept-new"
                            )));
                        }
                    }
                }
                "known_hosts" => opts.known_hosts.push(PathBuf::from(value)),
                "ssh_config" if value == "none" => opts.load_ssh_config = false,
                "ssh_config" => opts.ssh_config = Some(PathBuf::from(value)),
                "connect_timeout" => {
                    opts.connect_timeout = hpc_core::duration::parse_seconds(value)
                        .map_err(|e| bad(format!("connect_timeout: {e}")))?;
                }
                "max_sessions" => {
                    opts.max_sessions = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad(format!("max_sessions={value:?} is not a count")))?;
                }
                other => debug_assert!(
                    !crate::SSH_LOCATION_PARAMS.contains(&other),
                    "{other} is listed in SSH_LOCATION_PARAMS but not handled"
                ),
            }
        }
        Ok(opts)
    }

    /// Port (default: ssh config, else 22).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Login name (default: the credential's, else ssh config, else the local user).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Append a jump host; the first one added is connected to first.
    /// Explicit hops replace the target's `ProxyJump` from the ssh config.
    pub fn via(mut self, hop: Hop) -> Self {
        self.via.push(hop);
        self
    }

    /// How unknown host keys are treated (default [`HostKeyPolicy::Strict`]).
    pub fn host_key_policy(mut self, policy: HostKeyPolicy) -> Self {
        self.host_key_policy = policy;
        self
    }

    /// Add a known_hosts file. Once one is added, only the added files are
    /// read (instead of `~/.ssh/known_hosts` and `/etc/ssh/ssh_known_hosts`);
    /// accepted keys go into the first.
    pub fn known_hosts_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts.push(path.into());
        self
    }

    /// Read this ssh config file instead of `~/.ssh/config`.
    pub fn ssh_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ssh_config = Some(path.into());
        self.load_ssh_config = true;
        self
    }

    /// Whether to read an ssh config file at all (default true).
    pub fn load_ssh_config(mut self, load: bool) -> Self {
        self.load_ssh_config = load;
        self
    }

    /// Limit for TCP connect, key exchange and login of each hop (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Session channels (commands, subsystems) open at once on the connection
    /// (default 10, OpenSSH's `MaxSessions`). More wait for a free one. One is
    /// kept for signalling, so at most `n - 1` commands run at once.
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n.max(1);
        self
    }

    /// Keepalive interval (default 30 s; `None` turns keepalives off). Three
    /// unanswered keepalives close the connection.
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.keepalive = interval;
        self
    }

    /// How long a command may wait for a session the server keeps refusing
    /// (default 10 minutes).
    pub fn session_wait(mut self, wait: Duration) -> Self {
        self.session_wait = wait;
        self
    }

    /// The ssh-agent socket for agent and default credentials (default
    /// `$SSH_AUTH_SOCK`; OpenSSH's `IdentityAgent`).
    pub fn identity_agent(mut self, socket: impl Into<PathBuf>) -> Self {
        self.identity_agent = Some(socket.into());
        self
    }

    /// The target host as given.
    pub fn host(&self) -> &str {
        &self.host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_location_takes_hops_and_params() {
        let loc: Location =
            "ssh://bob@inner:2201?host_key=accept-new&max_sessions=4&poll=1 via:gw via:alice@gw2:2022"
                .parse()
                .unwrap();
        let o = SshOptions::from_location(&loc).unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, o.user.as_deref()),
            ("inner", Some(2201), Some("bob"))
        );
        assert_eq!(o.via.len(), 2);
        assert_eq!(o.via[1].user.as_deref(), Some("alice"));
        assert_eq!(o.host_key_policy, HostKeyPolicy::AcceptNew);
        assert_eq!(o.max_sessions, 4);
    }

    #[test]
    fn from_location_rejects_bad_values() {
        for s in [
            "ssh://",
            "ssh://h?host_key=maybe",
            "ssh://h?connect_timeout=x",
            "ssh://h?connect_timeout=inf",
            "ssh://h?connect_timeout=1e308",
            "ssh://h?connect_timeout=1e20",
            "ssh://h?connect_timeout=18446744073709551616",
            "ssh://h?max_sessions=0",
        ] {
            let loc: Location = s.parse().unwrap();
            let e = SshOptions::from_location(&loc).unwrap_err();
            assert!(matches!(e, Error::InvalidLocation { .. }), "{s}: {e}");
        }
    }

    proptest::proptest! {
        /// Whatever `connect_timeout` says: options within bounds or an
        /// InvalidLocation, never a panic.
        #[test]
        fn any_connect_timeout_is_checked(v in "\\PC{0,24}|[0-9.e+-]{1,24}") {
            let mut loc: Location = "ssh://h".parse().unwrap();
            loc.query.push(("connect_timeout".into(), v));
            match SshOptions::from_location(&loc) {
                Ok(o) => proptest::prop_assert!(o.connect_timeout <= hpc_core::duration::MAX),
                Err(e) => proptest::prop_assert!(matches!(e, Error::InvalidLocation { .. }), "{}", e),
            }
        }
    }
}
