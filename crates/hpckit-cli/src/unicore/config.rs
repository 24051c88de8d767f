//! PyUNICORE's `unicore` CLI configuration: `$HOME/.ucc/properties` (or `-c
//! FILE`) with `key=value` lines, `#` comments, `true`/`false`, and `$VAR`
//! substituted from the environment (a missing variable is an error).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hpckit::auth::{Credential, Secret};
use hpckit::unicore::{Transport, credential};

/// The settings read from the properties file.
#[derive(Debug, Default)]
pub(crate) struct Properties {
    values: BTreeMap<String, String>,
}

impl Properties {
    /// Reads `file`; a missing default file is an empty configuration.
    pub(crate) fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let (path, explicit) = match file {
            Some(p) => (p.to_owned(), true),
            None => (default_file(), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Properties::default());
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Self::parse(&text, &|k| std::env::var(k).ok())
            .with_context(|| format!("in {}", path.display()))
    }

    /// Parses the text, substituting `$VAR` and `${VAR}` through `env`.
    pub(crate) fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else { continue };
            let value = substitute(v.trim(), env).with_context(|| format!("line {}", n + 1))?;
            values.insert(k.trim().to_owned(), value);
        }
        Ok(Properties { values })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str, default: bool) -> bool {
        self.get(key).map_or(default, |v| v.eq_ignore_ascii_case("true"))
    }

    /// `contact-registry` (default true).
    pub(crate) fn contact_registry(&self) -> bool {
        self.flag("contact-registry", true)
    }

    /// The credential `authentication-method` asks for.
    pub(crate) fn credential(
        &self,
        http: &hpckit::unicore::HttpClient,
    ) -> anyhow::Result<Credential> {
        let method = self.get("authentication-method").unwrap_or("USERNAME").to_ascii_uppercase();
        Ok(match method.as_str() {
            "USERNAME" => {
                let user = self.get("username").context("no `username` in the configuration")?;
                credential::username_password(user, self.password()?)
            }
            "BEARER-TOKEN" => {
                credential::bearer(self.get("token").context("no `token` in the configuration")?)
            }
            "SSHKEY" => {
                let user = self.get("username").context("no `username` in the configuration")?;
                let identity =
                    self.get("identity").context("no `identity` in the configuration")?;
                let pass = self.optional_password();
                credential::create_credential(Some(user), pass, None, Some(Path::new(identity)))?
            }
            "OIDC-AGENT" => credential::oidc_agent(
                self.get("oidc-agent.account")
                    .context("no `oidc-agent.account` in the configuration")?,
            )?,
            "OIDC-SERVER" => {
                let need =
                    |k: &str| self.get(k).with_context(|| format!("no `{k}` in the configuration"));
                let password = match self.get("oidc.password") {
                    Some(p) => Secret::new(p),
                    None => self.password()?,
                };
                let mut cfg = credential::OidcServerConfig::new(
                    need("oidc.endpoint")?,
                    need("oidc.clientID")?,
                    need("oidc.clientSecret")?,
                    need("oidc.username")?,
                    password,
                );
                if let Some(g) = self.get("oidc.grantType") {
                    cfg.grant_type = g.to_owned();
                }
                if let Some(s) = self.get("oidc.scope") {
                    cfg.scope = s.to_owned();
                }
                if let Some(o) = self.get("oidc.otp") {
                    cfg.otp = Some(Secret::new(o));
                }
                cfg.client_basic_auth = self
                    .get("oidc.authentication")
                    .is_some_and(|a| !a.eq_ignore_ascii_case("POST"));
                if !self.flag("oidc.storeRefreshToken", true) {
                    cfg.refresh_token_file = None;
                } else if let Some(f) = self.get("oidc.refreshTokenFile") {
                    cfg.refresh_token_file = Some(PathBuf::from(f));
                }
                credential::oidc_server(cfg, http.clone())
            }
            "ANONYMOUS" | "NONE" => credential::anonymous(),
            other => bail!(
                "unknown authentication-method {other:?} (USERNAME, BEARER-TOKEN, SSHKEY, OIDC-AGENT, OIDC-SERVER, ANONYMOUS)"
            ),
        })
    }

    fn optional_password(&self) -> Option<Secret> {
        self.get("password")
            .map(Secret::new)
            .or_else(|| std::env::var("UCC_PASSWORD").ok().map(Secret::new))
    }

    /// `password`, else `$UCC_PASSWORD`, else a prompt on the terminal.
    fn password(&self) -> anyhow::Result<Secret> {
        if let Some(p) = self.optional_password() {
            return Ok(p);
        }
        crate::creds::prompt_secret("Enter password: ")
            .context("no password: set `password=` in the configuration, or UCC_PASSWORD")
    }
}

/// A transport for these settings.
pub(crate) fn transport(
    props: &Properties,
    ca: &[PathBuf],
    insecure: bool,
) -> anyhow::Result<Transport> {
    let mut http = hpckit::unicore::HttpClient::builder().service("unicore-oidc");
    let mut builder = Transport::builder();
    for c in ca {
        builder = builder.add_ca_file(c);
        http = http.add_ca_file(c);
    }
    if insecure {
        builder = builder.insecure_accept_any_certificate();
        http = http.insecure_accept_any_certificate();
    }
    let cred = props.credential(&http.build()?)?;
    Ok(builder.credential(cred).build()?)
}

fn default_file() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".ucc/properties")
}

fn substitute(value: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, tail) = if let Some(b) = after.strip_prefix('{') {
            let end = b.find('}').context("unclosed ${")?;
            (&b[..end], &b[end + 1..])
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            out.push('$');
        } else {
            out.push_str(
                &env(name).with_context(|| format!("environment variable {name} is not set"))?,
            );
        }
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_like_pyunicore() {
        let env = |k: &str| (k == "SITE").then(|| "DEMO".to_owned());
        let p = Properties::parse("# comment\nusername = demouser\nregistry=https://h/${SITE}/reg\ncontact-registry=false\nbad line\n", &env).unwrap();
        assert_eq!(p.get("username"), Some("demouser"));
        assert_eq!(p.get("registry"), Some("https://h/DEMO/reg"));
        assert!(!p.contact_registry());
        let e = Properties::parse("token=$MISSING_VAR", &env).unwrap_err();
        assert!(format!("{e:#}").contains("MISSING_VAR is not set"), "{e:#}");
    }
}
