//! What a `uftp://` location means: PyUNICORE's form
//! `uftp://user@host:port/rest/auth/SERVER:/base/dir`, the auth server at
//! `https://host:port/rest/auth/SERVER`, the session's base directory after
//! the `:`, and the transfer options and credential sources as parameters.

use std::path::PathBuf;

use hpc_auth::{Credential, CredentialMap, Secret};
use hpc_core::{Error, Location, NetTimeouts, Result};
use unicore_rest::Transport;

use crate::crypto::{Algorithm, EncryptionKey};
use crate::session::TransferOptions;

/// Settings of one UFTP file system.
#[derive(Clone)]
pub struct UftpConfig {
    /// The location as given (no secret: tokens come from files or variables).
    pub location: String,
    /// `https://host:port/…/rest/auth/SERVER`.
    pub auth_url: String,
    /// The session's base directory on the server (`""`: the user's home).
    pub base: String,
    /// Data streams per transfer.
    pub streams: usize,
    /// Encrypt data connections with this algorithm.
    pub encrypt: Option<Algorithm>,
    /// gzip data connections.
    pub compress: bool,
    /// Keep the data connection open from one transfer to the next
    /// (`KEEP-ALIVE`) where that is allowed: see [`UftpConfig::keeps_alive`].
    /// On unless `keep-alive=false`.
    pub keep_alive: bool,
    /// Extra CA certificates for the auth server.
    pub ca_files: Vec<PathBuf>,
    /// Accept any certificate of the auth server (named, logged, never default).
    pub insecure: bool,
    /// Primary group for the session.
    pub group: Option<String>,
    /// Time limits of the UFTPD connections (`connect_timeout`,
    /// `idle_timeout`, `timeout`; see [`crate::TransferOptions::timeouts`]).
    pub timeouts: NetTimeouts,
    credential: Credential,
}

impl std::fmt::Debug for UftpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UftpConfig")
            .field("location", &self.location)
            .field("auth_url", &self.auth_url)
            .field("base", &self.base)
            .field("streams", &self.streams)
            .field("encrypt", &self.encrypt)
            .field("compress", &self.compress)
            .field("keep_alive", &self.keep_alive)
            .field("timeouts", &self.timeouts)
            .field("credential", &self.credential.kind())
            .finish_non_exhaustive()
    }
}

impl UftpConfig {
    /// Parses `loc`. The credential is, in order: `token=` (literal, `@file`
    /// or `@@ENV`), `identity=` (an SSH key signing a JWT for the user, its
    /// passphrase from `password-env`), `password-env=VAR` (the user's
    /// password), else the credential map's entry for `host:port`.
    pub fn from_location(loc: &Location, creds: &CredentialMap) -> Result<Self> {
        // Values stay out of messages: a literal token is a secret.
        let bad = |reason: String| Error::InvalidLocation {
            location: loc.without_query_values(),
            reason,
        };
        if loc.scheme != "uftp" {
            return Err(bad("not a uftp:// location".into()));
        }
        let mut known = vec![
            "streams",
            "encrypt",
            "compress",
            "keep-alive",
            "ca",
            "insecure",
            "group",
            "token",
            "identity",
            "password-env",
        ];
        known.extend(NetTimeouts::OPTIONS);
        loc.check_params(&known)?;
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
        let (service, base) = path
            .split_once(':')
            .ok_or_else(|| bad("the path must be /rest/auth/SERVER:/base/dir (the base directory after a colon)".into()))?;
        let auth_url = format!("https://{authority}{}", service.trim_end_matches('/'));
        crate::auth::split_auth_url(&auth_url).map_err(|e| bad(e.to_string()))?;
        // A literal token is a secret: the location that shows in messages hides it.
        let mut shown = loc.clone();
        for (k, v) in &mut shown.query {
            if k == "token" && !v.starts_with('@') {
                *v = "***".into();
            }
        }
        let mut config = UftpConfig {
            location: shown.to_string(),
            auth_url,
            base: base.to_owned(),
            streams: 1,
            encrypt: None,
            compress: false,
            keep_alive: true,
            ca_files: Vec::new(),
            insecure: false,
            group: None,
            timeouts: NetTimeouts::default(),
            credential: Credential::Anonymous,
        };
        let flag = |v: &str| match v {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        };
        let (mut token, mut identity, mut password_env) = (None, None, None);
        for (k, v) in &loc.query {
            match k.as_str() {
                "streams" => {
                    config.streams = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=16).contains(n))
                        .ok_or_else(|| bad(format!("streams must be 1 to 16, not {v:?}")))?
                }
                "encrypt" => {
                    config.encrypt = Some(v.parse().map_err(|e: Error| bad(e.to_string()))?)
                }
                "compress" => {
                    config.compress = flag(v)
                        .ok_or_else(|| bad(format!("compress must be true or false, not {v:?}")))?
                }
                "keep-alive" => {
                    config.keep_alive = flag(v).ok_or_else(|| {
                        bad(format!("keep-alive must be true or false, not {v:?}"))
                    })?
                }
                "ca" => config.ca_files.push(PathBuf::from(v)),
                "insecure" => {
                    config.insecure = flag(v)
                        .ok_or_else(|| bad(format!("insecure must be true or false, not {v:?}")))?
                }
                "group" => config.group = Some(v.clone()),
                "token" => token = Some(v.clone()),
                "identity" => identity = Some(PathBuf::from(v)),
                "password-env" => password_env = Some(v.clone()),
                // Only the limits are left: the rest was refused by check_params above.
                _ => {
                    config.timeouts.set(k, v).map_err(bad)?;
                }
            }
        }
        let password = match &password_env {
            Some(var) => Some(Secret::new(
                std::env::var(var)
                    .map_err(|_| bad(format!("password-env: variable {var} is not set")))?,
            )),
            None => None,
        };
        let token = token.map(|t| read_token(&t)).transpose().map_err(|e| bad(e.to_string()))?;
        config.credential = if token.is_some() || identity.is_some() || password.is_some() {
            unicore_rest::credential::create_credential(
                loc.user.as_deref(),
                password,
                token,
                identity.as_deref(),
            )?
        } else {
            match creds.get(&authority).cloned() {
                Some(Credential::Default { .. }) | None => Credential::Anonymous,
                Some(c) => {
                    super::backend::CREDENTIALS.require(c.kind(), "uftp")?;
                    c
                }
            }
        };
        Ok(config)
    }

    /// Splits a `uftp://` URL whose path was taken off (`raw`) into the file
    /// system to open and the path on it: `/rest/auth/S:/data/x.txt` is the
    /// session on `/` of server `S` and path `/data/x.txt` (one session then
    /// serves every path of the server).
    pub fn split_location(location: &Location, raw: &str) -> Result<(Location, hpc_core::Path)> {
        let (service, path) = raw.split_once(':').ok_or_else(|| Error::InvalidLocation {
            location: location.to_string(),
            reason: "a uftp:// URL has the form uftp://USER@HOST:PORT/rest/auth/SERVER:/path"
                .into(),
        })?;
        let mut location = location.clone();
        location.path = Some(format!("{service}:/"));
        let path = if path.is_empty() { "/" } else { path };
        Ok((location, hpc_core::Path::new(path)?))
    }

    /// The credential for the auth server.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The transport to the auth server.
    pub fn transport(&self) -> Result<Transport> {
        let mut b = Transport::builder().credential(self.credential.clone());
        for c in &self.ca_files {
            b = b.add_ca_file(c);
        }
        if self.insecure {
            b = b.insecure_accept_any_certificate();
        }
        b.build()
    }

    /// Whether file transfers keep their data connection for the next one:
    /// asked for ([`UftpConfig::keep_alive`]) and plain data over one stream
    /// (a cipher or gzip stream ends only where its connection does, and
    /// UFTPD resets the stream count after each transfer).
    pub fn keeps_alive(&self) -> bool {
        self.keep_alive && self.streams == 1 && self.encrypt.is_none() && !self.compress
    }

    /// The transfer options (a fresh key per call when encrypting).
    pub fn options(&self) -> Result<TransferOptions> {
        Ok(TransferOptions {
            streams: self.streams,
            key: self.encrypt.map(EncryptionKey::generate).transpose()?,
            compress: self.compress,
            timeouts: self.timeouts,
        })
    }
}

/// PyUNICORE's token forms: literal, `@file`, `@@ENV`.
fn read_token(text: &str) -> Result<Secret> {
    if let Some(var) = text.strip_prefix("@@") {
        return std::env::var(var)
            .map(|t| Secret::new(t.trim()))
            .map_err(|_| Error::InvalidInput(format!("token: variable {var} is not set")));
    }
    if let Some(file) = text.strip_prefix('@') {
        return std::fs::read_to_string(file)
            .map(|t| Secret::new(t.trim()))
            .map_err(|e| Error::from_io_path("read token file", file, e));
    }
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<UftpConfig> {
        UftpConfig::from_location(&url.parse()?, &CredentialMap::new())
    }

    #[test]
    fn pyunicore_urls() {
        let c = parse("uftp://demouser@localhost:9443/rest/auth/TEST:/data/x?streams=4&encrypt=aes&compress=true").unwrap();
        assert_eq!(c.auth_url, "https://localhost:9443/rest/auth/TEST");
        assert_eq!(c.base, "/data/x");
        assert_eq!((c.streams, c.encrypt, c.compress), (4, Some(Algorithm::Aes), true));
        let c = parse("uftp://h:1/SITE/rest/auth/S:").unwrap();
        assert_eq!((c.auth_url.as_str(), c.base.as_str()), ("https://h:1/SITE/rest/auth/S", ""));
        assert!(parse("uftp://h:1/rest/auth/TEST").unwrap_err().to_string().contains("colon"));
        assert!(parse("uftp://h:1/rest/core:/x").is_err());
        assert!(parse("uftp://h:1/rest/auth/T:/x?streams=99").is_err());
        assert!(parse("uftp://h:1/rest/auth/T:/x?colour=red").is_err());
    }

    #[test]
    fn time_limits_from_the_url() {
        use std::time::Duration;
        let c = parse("uftp://h:1/rest/auth/T:/x?idle_timeout=2.5&connect_timeout=3").unwrap();
        assert_eq!(c.timeouts.idle, Duration::from_millis(2500));
        let o = c.options().unwrap();
        assert_eq!(
            (o.timeouts.connect, o.timeouts.metadata),
            (Duration::from_secs(3), Duration::from_secs(300))
        );
        let e = parse("uftp://h:1/rest/auth/T:/x?timeout=0").unwrap_err();
        assert!(matches!(e, Error::InvalidLocation { .. }), "{e:?}");
        assert!(e.to_string().contains("timeout=0 is not a number of seconds"), "{e}");
    }

    #[test]
    fn keep_alive_only_for_plain_single_stream_data() {
        assert!(parse("uftp://h:1/rest/auth/T:/x").unwrap().keeps_alive());
        for off in [
            "keep-alive=false",
            "streams=2",
            "encrypt=aes",
            "compress=true",
            "keep-alive=true&compress=true",
        ] {
            let c = parse(&format!("uftp://h:1/rest/auth/T:/x?{off}")).unwrap();
            assert!(!c.keeps_alive(), "{off}");
        }
        let e = parse("uftp://h:1/rest/auth/T:/x?keep-alive=maybe").unwrap_err();
        assert!(e.to_string().contains("keep-alive must be true or false"), "{e}");
    }

    #[test]
    fn tokens_and_password_env_stay_secret() {
        let c = parse("uftp://u@h:1/rest/auth/T:/x?token=abc123secret").unwrap();
        assert_eq!(c.credential().kind(), hpc_core::CredentialKind::Bearer);
        assert!(!format!("{c:?}").contains("abc123secret"));
        assert!(!c.location.contains("abc123secret"), "{}", c.location);
        let e = parse("uftp://u@h:1/rest/auth/T:/x?password-env=HPCKIT_UFTP_TEST_UNSET_VAR")
            .unwrap_err();
        assert!(e.to_string().contains("HPCKIT_UFTP_TEST_UNSET_VAR is not set"));
    }
}
