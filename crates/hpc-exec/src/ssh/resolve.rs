//! Turning [`SshOptions`] and the ssh config into the list of hops to connect.

use std::path::{Path, PathBuf};

use hpc_core::{Error, Hop, Result};

use super::config::{HostConfig, SshConfig};
use super::options::SshOptions;

/// One SSH server on the way (jump hosts first, the target last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HopPlan {
    /// The name as the user gave it (credential lookup, messages).
    pub alias: String,
    /// What to connect to (`HostName` from the config, else the alias).
    pub host: String,
    pub port: u16,
    /// Login name from the location or `via:` hop.
    pub user: Option<String>,
    /// Login name from the ssh config (weaker than the credential's).
    pub config_user: Option<String>,
    /// `IdentityFile`s from the ssh config, expanded.
    pub identity_files: Vec<PathBuf>,
    /// known_hosts files to read; the first one learns new keys.
    pub known_hosts: Vec<PathBuf>,
    /// The ssh-agent socket, if any.
    pub agent: Option<PathBuf>,
}

impl HopPlan {
    /// `host:port` for messages and the credential map.
    pub(crate) fn label(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The key under which [`hpc_auth::CredentialMap`] is asked: the alias and port.
    pub(crate) fn credential_key(&self) -> String {
        format!("{}:{}", self.alias, self.port)
    }
}

pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// The local login name (`$USER`, `$LOGNAME`, else the passwd entry of the uid).
pub(crate) fn local_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return u;
        }
    }
    let uid = rustix::process::getuid().as_raw();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_owned())
            })
        })
        .unwrap_or_else(|| "root".to_owned())
}

const MAX_JUMPS: usize = 16;

/// The hops for `opts`, jump hosts first.
pub(crate) fn plan(opts: &SshOptions) -> Result<Vec<HopPlan>> {
    let home = home_dir();
    let config = if opts.load_ssh_config {
        let path = match (&opts.ssh_config, &home) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(h)) => Some(h.join(".ssh").join("config")),
            (None, None) => None,
        };
        match path {
            Some(p) => SshConfig::load(&p, home.as_deref()).map_err(Error::InvalidInput)?,
            None => SshConfig::default(),
        }
    } else {
        SshConfig::default()
    };
    let target = Hop { user: opts.user.clone(), host: opts.host.clone(), port: opts.port };
    let mut out = Vec::new();
    if opts.via.is_empty() {
        expand(&config, opts, home.as_deref(), &target, true, &mut out, 0)?;
    } else {
        for hop in &opts.via {
            expand(&config, opts, home.as_deref(), hop, true, &mut out, 0)?;
        }
        expand(&config, opts, home.as_deref(), &target, false, &mut out, 0)?;
    }
    Ok(out)
}

/// Append `hop` to `out`, preceded by its `ProxyJump` chain when `follow_jump`.
fn expand(
    config: &SshConfig,
    opts: &SshOptions,
    home: Option<&Path>,
    hop: &Hop,
    follow_jump: bool,
    out: &mut Vec<HopPlan>,
    depth: usize,
) -> Result<()> {
    if depth > MAX_JUMPS || out.len() > MAX_JUMPS {
        return Err(Error::InvalidInput(format!(
            "more than {MAX_JUMPS} jump hosts for {} (a ProxyJump loop in {}?)",
            hop.host,
            config.source()
        )));
    }
    let hc = config.lookup(&hop.host);
    if follow_jump && let Some(jumps) = hc.proxy_jump.as_deref().filter(|j| *j != "none") {
        for spec in jumps.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let jump = parse_jump(spec).map_err(|reason| {
                Error::InvalidInput(format!("ProxyJump {spec:?} in {}: {reason}", config.source()))
            })?;
            expand(config, opts, home, &jump, true, out, depth + 1)?;
        }
    }
    out.push(hop_plan(&hc, opts, home, hop));
    Ok(())
}

fn hop_plan(hc: &HostConfig, opts: &SshOptions, home: Option<&Path>, hop: &Hop) -> HopPlan {
    let host =
        hc.hostname.as_deref().map(|h| h.replace("%h", &hop.host)).unwrap_or(hop.host.clone());
    let port = hop.port.or(hc.port).unwrap_or(22);
    let remote_user = hop.user.clone().or(hc.user.clone()).unwrap_or_else(local_user);
    let expand = |p: &str| expand_path(p, home, &host, port, &remote_user);
    let known_hosts = if !opts.known_hosts.is_empty() {
        opts.known_hosts.clone()
    } else if !hc.user_known_hosts.is_empty() {
        hc.user_known_hosts.iter().filter(|p| *p != "none").map(|p| expand(p)).collect()
    } else {
        let mut v: Vec<PathBuf> =
            home.map(|h| h.join(".ssh").join("known_hosts")).into_iter().collect();
        v.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
        v
    };
    let identity_files = hc.identity_files.iter().map(|p| expand(p)).collect();
    HopPlan {
        alias: hop.host.clone(),
        host,
        port,
        user: hop.user.clone(),
        config_user: hc.user.clone(),
        identity_files,
        known_hosts,
        agent: opts.identity_agent.clone().or_else(|| {
            std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()).map(PathBuf::from)
        }),
    }
}

/// Expand `~` and the `%` tokens ssh_config allows in file names.
fn expand_path(p: &str, home: Option<&Path>, host: &str, port: u16, user: &str) -> PathBuf {
    let home_s = home.map(|h| h.display().to_string()).unwrap_or_default();
    let mut s = match p.strip_prefix("~/") {
        Some(rest) => format!("{home_s}/{rest}"),
        None => p.to_owned(),
    };
    if s.contains('%') {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some('h') => out.push_str(host),
                Some('p') => out.push_str(&port.to_string()),
                Some('r') => out.push_str(user),
                Some('u') => out.push_str(&local_user()),
                Some('d') => out.push_str(&home_s),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        s = out;
    }
    PathBuf::from(s)
}

/// `[user@]host[:port]` or `ssh://[user@]host[:port]`.
fn parse_jump(spec: &str) -> std::result::Result<Hop, String> {
    let text = spec.strip_prefix("ssh://").unwrap_or(spec).trim_end_matches('/');
    let loc: hpc_core::Location =
        format!("ssh://{text}").parse().map_err(|e: Error| e.to_string())?;
    loc.hop().ok_or_else(|| "no host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts_with(config: &str, host: &str) -> (tempfile::TempDir, SshOptions) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, config).unwrap();
        (dir, SshOptions::new(host).ssh_config_file(path).known_hosts_file("/kh"))
    }

    #[test]
    fn config_fills_in_and_proxyjump_chains() {
        let (_d, o) = opts_with(
            "Host inner\n HostName 10.0.0.5\n Port 2201\n User bob\n ProxyJump alice@gw1:2022,gw2\n IdentityFile /k/%r@%h:%p\nHost gw2\n HostName gw2.example\n ProxyJump gw0\n",
            "inner",
        );
        let p = plan(&o).unwrap();
        let names: Vec<String> = p.iter().map(HopPlan::label).collect();
        assert_eq!(names, ["gw1:2022", "gw0:22", "gw2.example:22", "10.0.0.5:2201"]);
        assert_eq!(p[0].user.as_deref(), Some("alice"));
        assert_eq!(p[3].config_user.as_deref(), Some("bob"));
        assert_eq!(p[3].identity_files, [PathBuf::from("/k/bob@10.0.0.5:2201")]);
        assert_eq!(p[3].credential_key(), "inner:2201");
        assert_eq!(p[3].known_hosts, [PathBuf::from("/kh")]);
    }

    #[test]
    fn explicit_via_replaces_target_proxyjump() {
        let (_d, o) = opts_with("Host inner\n ProxyJump gwx\n", "inner");
        let o = o.via(Hop { user: None, host: "gw".into(), port: Some(2) }).port(7);
        let names: Vec<String> = plan(&o).unwrap().iter().map(HopPlan::label).collect();
        assert_eq!(names, ["gw:2", "inner:7"]);
    }

    #[test]
    fn loops_and_bad_jumps_are_errors() {
        let (_d, o) = opts_with("Host a\n ProxyJump b\nHost b\n ProxyJump a\n", "a");
        let e = plan(&o).unwrap_err();
        assert!(e.to_string().contains("ProxyJump loop"), "{e}");
        let (_d, o) = opts_with("Host a\n ProxyJump x:notaport\n", "a");
        assert!(plan(&o).unwrap_err().to_string().contains("ProxyJump"));
        let o = SshOptions::new("plain").load_ssh_config(false).known_hosts_file("/kh");
        let p = plan(&o).unwrap();
        assert_eq!((p.len(), p[0].port), (1, 22));
    }
}
