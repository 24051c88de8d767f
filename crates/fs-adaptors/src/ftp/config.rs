//! [`FtpConfig`]: server, login, TLS, pool size, time limits and listing bounds.

use std::fmt;
use std::path::PathBuf;

use hpc_auth::{Credential, CredentialKind, CredentialKinds, Secret};
use hpc_core::{Error, Location, Path, Result};

/// What an FTP login takes: a user and password (`basic` alike), or
/// anonymous (so is `default` without a user name).
pub(crate) const CREDENTIALS: CredentialKinds = CredentialKinds::of(&[
    CredentialKind::Default,
    CredentialKind::Password,
    CredentialKind::Basic,
    CredentialKind::Anonymous,
]);
use crate::remote::NetTimeouts;

/// Default longest line of a directory listing (bytes): a 255-byte name
/// and a symbolic link's target take far less.
const DEFAULT_MAX_LINE: usize = 8192;
/// Default most entries of one directory listing.
const DEFAULT_MAX_ENTRIES: u64 = 10_000_000;

/// Settings of an FTP file system.
#[derive(Clone)]
#[non_exhaustive]
pub struct FtpConfig {
    /// Host name or address.
    pub host: String,
    /// Port (21 if not given).
    pub port: u16,
    /// Login name (`anonymous` without a credential).
    pub user: String,
    /// Password.
    pub password: Secret,
    /// Explicit TLS (`AUTH TLS`, then protected data connections).
    pub tls: bool,
    /// Extra CA certificates (PEM) to trust for TLS.
    pub ca_file: Option<PathBuf>,
    /// The working directory; `None`: the login directory.
    pub root: Option<Path>,
    /// Logged-in control connections kept at most (one per transfer in flight).
    pub pool_size: usize,
    /// Connect (control and data connections), idle (each reply, each read
    /// or write of a transfer) and metadata (a whole listing or stat) limits.
    pub timeouts: NetTimeouts,
    /// Longest line of a listing, in bytes; a longer one ends the listing
    /// with an error.
    pub max_line: usize,
    /// Most entries of one directory listing; more end it with an error.
    pub max_entries: u64,
}

impl FtpConfig {
    /// From `ftp://[user@]host[:port][/path]` or `ftps://...` (explicit TLS).
    /// Options: `tls=explicit|none` (`none` only on `ftp://`), `ca=<PEM
    /// file>`, `pool=<n>` (default 4), the time limits of [`NetTimeouts`]
    /// (`connect_timeout`, `idle_timeout`, `timeout`), `max_line=<bytes>`
    /// (default 8192) and `max_entries=<n>` (default 10 000 000) per listing.
    pub fn from_location(loc: &Location, credential: &Credential) -> Result<Self> {
        let bad = |reason: String| Error::InvalidLocation { location: loc.to_string(), reason };
        let secure_scheme = match loc.scheme.as_str() {
            "ftp" => false,
            "ftps" | "ftpes" => true,
            other => return Err(bad(format!("{other}:// is not an FTP scheme (ftp://, ftps://)"))),
        };
        let host = loc.host.clone().ok_or_else(|| bad("an FTP location needs a host".into()))?;
        let (user, password) = match credential {
            Credential::Password { username, password }
            | Credential::Basic { username, password } => (username.clone(), password.clone()),
            Credential::Default { username: None } | Credential::Anonymous => match &loc.user {
                Some(u) if u != "anonymous" && u != "ftp" => {
                    return Err(Error::InvalidInput(format!(
                        "the location names user {u:?}; give a password credential for it"
                    )));
                }
                _ => ("anonymous".to_owned(), Secret::new("hpckit@")),
            },
            other => {
                return Err(Error::InvalidInput(format!(
                    "a {} credential cannot log in to FTP (it takes {CREDENTIALS})",
                    other.kind()
                )));
            }
        };
        if let Some(u) = &loc.user
            && *u != user
            && user != "anonymous"
        {
            return Err(bad(format!(
                "the location names user {u:?} but the credential is for {user:?}"
            )));
        }
        let mut config = FtpConfig {
            host,
            port: loc.port.unwrap_or(21),
            user,
            password,
            tls: secure_scheme,
            ca_file: None,
            root: loc.path.as_deref().filter(|p| !p.is_empty()).map(Path::new).transpose()?,
            pool_size: 4,
            timeouts: NetTimeouts::default(),
            max_line: DEFAULT_MAX_LINE,
            max_entries: DEFAULT_MAX_ENTRIES,
        };
        let mut known = vec!["tls", "ca", "pool", "max_line", "max_entries"];
        known.extend(NetTimeouts::OPTIONS);
        loc.check_params(&known)?;
        for (k, v) in &loc.query {
            if config.timeouts.set(k, v).map_err(&bad)? {
                continue;
            }
            match k.as_str() {
                "tls" => {
                    config.tls = match v.as_str() {
                        "explicit" | "yes" | "true" => true,
                        "none" | "no" | "false" if secure_scheme => {
                            return Err(bad(format!(
                                "{}:// means TLS; tls={v} contradicts it (use ftp:// for plain FTP)",
                                loc.scheme
                            )));
                        }
                        "none" | "no" | "false" => false,
                        other => return Err(bad(format!("tls={other} (use explicit or none)"))),
                    };
                }
                "ca" => config.ca_file = Some(PathBuf::from(v)),
                "pool" => {
                    config.pool_size = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or_else(|| bad(format!("pool={v} is not 1 to 64")))?;
                }
                "max_line" => {
                    config.max_line =
                        v.parse().ok().filter(|n| (256..=1 << 20).contains(n)).ok_or_else(
                            || bad(format!("max_line={v} is not 256 to 1048576 (bytes)")),
                        )?;
                }
                "max_entries" => {
                    config.max_entries =
                        v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                            bad(format!("max_entries={v} is not a positive number"))
                        })?;
                }
                _ => {} // refused by check_params above
            }
        }
        Ok(config)
    }
}

impl fmt::Debug for FtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("tls", &self.tls)
            .field("root", &self.root)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str, cred: Credential) -> Result<FtpConfig> {
        FtpConfig::from_location(&url.parse().unwrap(), &cred)
    }

    #[test]
    fn forms() {
        let c = cfg("ftps://alice@h:2121/home/alice?pool=2", Credential::password("alice", "pw"))
            .unwrap();
        assert!(c.tls);
        assert_eq!((c.port, c.pool_size, c.user.as_str()), (2121, 2, "alice"));
        assert_eq!(c.root.unwrap().to_string(), "/home/alice");
        assert!(
            !format!("{:?}", cfg("ftp://h", Credential::password("a", "pw")).unwrap())
                .contains("pw")
        );
        let anon = cfg("ftp://h", Credential::Anonymous).unwrap();
        assert_eq!((anon.user.as_str(), anon.port, anon.root), ("anonymous", 21, None));
        assert!(cfg("ftp://bob@h", Credential::password("alice", "x")).is_err());
        assert!(cfg("ftp://bob@h", Credential::Anonymous).is_err());
        assert!(cfg("ftp://h?tls=maybe", Credential::Anonymous).is_err());
        assert!(cfg("sftp://h", Credential::Anonymous).is_err());
        assert!(cfg("ftp://h", Credential::key_file("u", "/k", None)).is_err());
        assert!(cfg("ftp://h?tls=explicit", Credential::Anonymous).unwrap().tls);
        assert!(!cfg("ftp://h?tls=none", Credential::Anonymous).unwrap().tls);
        let c = cfg("ftp://h?max_line=1024&max_entries=10&idle_timeout=2", Credential::Anonymous)
            .unwrap();
        assert_eq!((c.max_line, c.max_entries), (1024, 10));
        assert_eq!(c.timeouts.idle, std::time::Duration::from_secs(2));
        for bad in ["max_line=1", "max_entries=0", "timeout=inf", "connect_timeout=-1"] {
            assert!(cfg(&format!("ftp://h?{bad}"), Credential::Anonymous).is_err(), "{bad}");
        }
    }

    #[test]
    fn ftps_with_tls_none_is_a_contradiction() {
        for url in ["ftps://h?tls=none", "ftpes://h?tls=no", "ftps://h/x?tls=false"] {
            let e = cfg(url, Credential::Anonymous).unwrap_err().to_string();
            assert!(e.contains("contradicts"), "{url}: {e}");
        }
        assert!(cfg("ftps://h?tls=explicit", Credential::Anonymous).unwrap().tls);
    }

    /// What `CREDENTIALS` (the capability table's row) says is what the code takes.
    #[test]
    fn the_declared_kinds_are_the_accepted_ones() {
        for kind in CredentialKind::ALL {
            let taken = cfg("ftp://h", Credential::example(kind)).is_ok();
            assert_eq!(taken, CREDENTIALS.contains(kind), "{kind}");
        }
    }
}
