//! [`WebdavConfig`]: where the server is and how to log in.

use std::fmt;
use std::path::PathBuf;

use hpc_auth::Credential;
use hpc_core::{Error, Location, Path, Result};
use hpc_http::RetryConfig;

use crate::remote::NetTimeouts;

/// Settings of a WebDAV file system.
#[derive(Clone)]
#[non_exhaustive]
pub struct WebdavConfig {
    /// `http://host:port` or `https://host:port` (no path).
    pub endpoint: String,
    /// The working directory (the location's path, `/` if none).
    pub root: Path,
    /// Basic (password) or bearer/OIDC credential; anonymous if none.
    pub credential: Credential,
    /// Extra CA certificates (PEM) to trust for `webdavs://`.
    pub ca_file: Option<PathBuf>,
    /// Retry policy for idempotent requests.
    pub retry: RetryConfig,
    /// Connect, idle and metadata-request limits.
    pub timeouts: NetTimeouts,
}

impl WebdavConfig {
    /// From `webdav://[user@]host[:port][/path]` (plain HTTP) or `webdavs://...`
    /// (HTTPS). Query options: `ca=<PEM file>` and the time limits of
    /// [`NetTimeouts`] (`connect_timeout`, `idle_timeout`, `timeout`).
    pub fn from_location(loc: &Location, credential: Credential) -> Result<Self> {
        let bad = |reason: String| Error::InvalidLocation { location: loc.to_string(), reason };
        let scheme = match loc.scheme.as_str() {
            "webdav" | "dav" | "http" => "http",
            "webdavs" | "davs" | "https" => "https",
            other => {
                return Err(bad(format!(
                    "{other}:// is not a WebDAV scheme (webdav://, webdavs://)"
                )));
            }
        };
        let host =
            loc.host.as_deref().ok_or_else(|| bad("a WebDAV location needs a host".into()))?;
        let host = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
        let endpoint = match loc.port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        };
        let root = Path::new(loc.path.as_deref().unwrap_or("/"))?;
        let root = if root.is_absolute() { root } else { root.resolve(&Path::root()) };
        let mut config = WebdavConfig {
            endpoint,
            root,
            credential,
            ca_file: None,
            retry: RetryConfig::default(),
            timeouts: NetTimeouts::default(),
        };
        let mut known = vec!["ca"];
        known.extend(NetTimeouts::OPTIONS);
        loc.check_params(&known)?;
        for (k, v) in &loc.query {
            if config.timeouts.set(k, v).map_err(&bad)? {
                continue;
            }
            if k == "ca" {
                config.ca_file = Some(PathBuf::from(v));
            }
        }
        if let (Some(user), Some(cred_user)) = (&loc.user, config.credential.username())
            && user != cred_user
        {
            return Err(bad(format!(
                "the location names user {user:?} but the credential is for {cred_user:?}"
            )));
        }
        Ok(config)
    }

    /// The location to open for `path` of a `webdav://` URL, whose own path
    /// was taken off: the collection `?root=` names, else the first element
    /// of `path` (`/dav` of `webdav://host/dav/x`), else `/`. The `root`
    /// option is consumed; everything else of `location` is kept.
    pub fn collection_location(location: &Location, path: &Path) -> Location {
        let mut location = location.clone();
        let root = match location.param("root") {
            Some(r) => r.to_owned(),
            None => path.elements().first().map(|e| format!("/{e}")).unwrap_or_else(|| "/".into()),
        };
        location.query.retain(|(k, _)| k != "root");
        location.path = Some(root);
        location
    }
}

impl fmt::Debug for WebdavConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebdavConfig")
            .field("endpoint", &self.endpoint)
            .field("root", &self.root)
            .field("credential", &self.credential.kind())
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> Result<WebdavConfig> {
        WebdavConfig::from_location(&url.parse().unwrap(), Credential::password("u", "pw"))
    }

    #[test]
    fn schemes_and_paths() {
        let c = cfg("webdavs://dav.example.org/data/a%20b?ca=/etc/ca.pem").unwrap();
        assert_eq!(c.endpoint, "https://dav.example.org");
        assert_eq!(c.root.to_string(), "/data/a b");
        assert_eq!(c.ca_file.unwrap(), PathBuf::from("/etc/ca.pem"));
        let c = cfg("webdav://127.0.0.1:8081").unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.root.to_string().as_str()),
            ("http://127.0.0.1:8081", "/")
        );
        assert!(!format!("{c:?}").contains("pw"));
        assert!(cfg("sftp://h/").unwrap_err().to_string().contains("not a WebDAV scheme"));
        assert!(cfg("webdav:///x").is_err());
        assert!(cfg("webdav://h/?depth=9").unwrap_err().to_string().contains("unknown parameter"));
        assert!(cfg("webdav://bob@h/").unwrap_err().to_string().contains("credential is for"));
        let c = cfg("webdav://h/?connect_timeout=2&idle_timeout=0.5&timeout=10").unwrap();
        assert_eq!(c.timeouts.connect, std::time::Duration::from_secs(2));
        assert_eq!(c.timeouts.idle, std::time::Duration::from_millis(500));
        assert_eq!(c.timeouts.metadata, std::time::Duration::from_secs(10));
        for v in ["0", "-1", "inf", "NaN", "1e308", "x"] {
            let e = cfg(&format!("webdav://h/?timeout={v}")).unwrap_err().to_string();
            assert!(e.contains("number of seconds"), "{v}: {e}");
        }
    }

    #[test]
    fn the_collection_to_open_for_a_path() {
        let at = |url: &str, path: &str| {
            let loc: Location = url.parse().unwrap();
            WebdavConfig::collection_location(&loc, &Path::new(path).unwrap()).to_string()
        };
        assert_eq!(at("webdav://h:8081", "/dav/a/b.txt"), "webdav://h:8081/dav");
        assert_eq!(at("webdavs://h?root=/x/y&ca=/c.pem", "/x/y/z"), "webdavs://h/x/y?ca=%2Fc.pem");
        assert_eq!(at("webdav://h", "/"), "webdav://h/");
    }
}
