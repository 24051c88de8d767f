//! [`UnicoreConfig`]: a UNICORE location, its TLS options and credential.

use std::path::PathBuf;

use hpc_auth::{Credential, CredentialMap};
use hpc_core::{Error, Location, Result};

use crate::transport::Transport;

/// What a `unicore://` location says.
///
/// Forms: `unicore://HOST[:PORT]/SITE[/storages/ID | /jobs/JOB][/PATH]` (HTTPS
/// implied) and `unicore+https://HOST[:PORT]/SITE/rest/core[/storages/ID | /jobs/JOB]`.
/// Query: `ca=FILE` (trust this CA; repeatable), `insecure=true` (accept any
/// certificate: insecure, logged), `sessions=false`.
#[derive(Clone)]
#[non_exhaustive]
pub struct UnicoreConfig {
    /// The location as given (never holds a secret).
    pub location: String,
    /// The site's base URL, `https://HOST:PORT/SITE/rest/core`.
    pub site_url: String,
    /// The storage a file system opens: a storage id, or `<job>-uspace`.
    pub storage: Option<String>,
    /// A path below the storage given in the location.
    pub path: Option<String>,
    /// CA files to trust.
    pub ca_files: Vec<PathBuf>,
    /// Accept any server certificate.
    pub insecure: bool,
    /// Reuse security sessions.
    pub sessions: bool,
    /// How to log in.
    pub credential: Credential,
}

impl std::fmt::Debug for UnicoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnicoreConfig")
            .field("location", &self.location)
            .field("site_url", &self.site_url)
            .field("storage", &self.storage)
            .field("credential", &self.credential)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

impl UnicoreConfig {
    /// Reads `loc`; the credential for its host comes from `creds` (password,
    /// basic, bearer or OIDC; none or `default` is anonymous).
    pub fn from_location(loc: &Location, creds: &CredentialMap) -> Result<Self> {
        let bad = |reason: String| Error::InvalidLocation { location: loc.to_string(), reason };
        if loc.scheme != "unicore" {
            return Err(bad("not a unicore:// location".into()));
        }
        let scheme = match loc.transport.as_deref() {
            None | Some("https") => "https",
            Some("http") => "http",
            Some(other) => {
                return Err(bad(format!(
                    "unicore+{other}:// is not supported (unicore://, unicore+https://)"
                )));
            }
        };
        let host = loc
            .host
            .as_deref()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("a host is needed".into()))?;
        let authority = match loc.port {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let path = loc.path.clone().unwrap_or_default();
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (site, rest): (&str, &[&str]) = match segs.iter().position(|s| *s == "rest") {
            Some(i) if i >= 1 && segs.get(i + 1) == Some(&"core") => (segs[i - 1], &segs[i + 2..]),
            Some(_) => return Err(bad("the path must be /SITE/rest/core[/...]".into())),
            None => match segs.split_first() {
                Some((site, rest)) => (site, rest),
                None => return Err(bad("the path must name a site: unicore://HOST/SITE".into())),
            },
        };
        let (storage, sub) = match rest {
            ["storages", id, more @ ..] => (Some((*id).to_owned()), more),
            ["jobs", id, more @ ..] => (Some(format!("{id}-uspace")), more),
            [] => (None, &[][..]),
            _ => {
                return Err(bad("after the site only /storages/ID or /jobs/JOB may follow".into()));
            }
        };
        let mut config = UnicoreConfig {
            location: loc.to_string(),
            site_url: format!("{scheme}://{authority}/{site}/rest/core"),
            storage,
            path: (!sub.is_empty()).then(|| format!("/{}", sub.join("/"))),
            ca_files: Vec::new(),
            insecure: false,
            sessions: true,
            credential: creds.get(&authority).cloned().unwrap_or(Credential::Anonymous),
        };
        if matches!(config.credential, Credential::Default { .. }) {
            config.credential = Credential::Anonymous;
        }
        loc.check_params(&["ca", "insecure", "sessions"])?;
        for (k, v) in &loc.query {
            match k.as_str() {
                "ca" => config.ca_files.push(PathBuf::from(v)),
                "insecure" => {
                    config.insecure = flag(v)
                        .ok_or_else(|| bad(format!("insecure must be true or false, not {v:?}")))?
                }
                "sessions" => {
                    config.sessions = flag(v)
                        .ok_or_else(|| bad(format!("sessions must be true or false, not {v:?}")))?
                }
                _ => {} // refused by check_params above
            }
        }
        Ok(config)
    }

    /// The transport these settings describe.
    pub fn transport(&self) -> Result<Transport> {
        let mut b = Transport::builder()
            .credential(self.credential.clone())
            .security_sessions(self.sessions);
        for c in &self.ca_files {
            b = b.add_ca_file(c);
        }
        if self.insecure {
            b = b.insecure_accept_any_certificate();
        }
        b.build()
    }
}

fn flag(v: &str) -> Option<bool> {
    match v {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<UnicoreConfig> {
        let mut creds = CredentialMap::new();
        creds.insert("h:8443", Credential::password("u", "secret-pw"));
        UnicoreConfig::from_location(&text.parse().unwrap(), &creds)
    }

    #[test]
    fn location_forms() {
        let c = cfg("unicore://h:8443/DEMO-SITE").unwrap();
        assert_eq!(c.site_url, "https://h:8443/DEMO-SITE/rest/core");
        assert_eq!(c.credential.kind(), hpc_core::CredentialKind::Password);
        let c =
            cfg("unicore+https://h:8443/DEMO-SITE/rest/core/storages/HOME/a/b?ca=/ca.pem").unwrap();
        assert_eq!((c.storage.as_deref(), c.path.as_deref()), (Some("HOME"), Some("/a/b")));
        assert_eq!(c.ca_files, [PathBuf::from("/ca.pem")]);
        let c = cfg("unicore://other/S/jobs/j1").unwrap();
        assert_eq!(c.storage.as_deref(), Some("j1-uspace"));
        assert_eq!(c.credential.kind(), hpc_core::CredentialKind::Anonymous);
        assert!(!format!("{:?}", cfg("unicore://h:8443/S").unwrap()).contains("secret-pw"));
        for bad in [
            "unicore://h",
            "unicore+ftp://h/S",
            "unicore://h/S/rest/x",
            "unicore://h/S/queues/x",
            "unicore://h/S?colour=red",
            "unicore://h/S?insecure=maybe",
        ] {
            assert!(cfg(bad).is_err(), "{bad}");
        }
    }

    /// Unknown parameters go through the one check of every scheme, which
    /// names the key and never shows a value (`?password=` is refused, not echoed).
    #[test]
    fn unknown_parameters_are_named_without_their_values() {
        for url in
            ["unicore://h:8443/S?password=S3CRET", "unicore+https://h/S?ca=/c&kown_hosts=S3CRET"]
        {
            let e = cfg(url).unwrap_err();
            assert_eq!(e.kind(), hpc_core::ErrorKind::InvalidInput);
            let text = e.to_string();
            assert!(
                text.contains("unknown parameter")
                    && text.contains("known: ca, insecure, sessions"),
                "{text}"
            );
            assert!(!text.contains("S3CRET"), "{text}");
        }
    }
}
