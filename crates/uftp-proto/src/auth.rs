//! The auth server: `POST …/rest/auth/<SERVER>` announces a transfer session
//! to UFTPD and returns where to connect and the one-time secret; `GET
//! …/rest/auth` describes the servers; `GET …/rest/auth/token` issues a JWT.
//! Requests go through a `unicore_rest::Transport`, so every credential kind
//! of `unicore-rest` works here.

use hpc_auth::Secret;
use hpc_core::{Error, Result};
use serde_json::{Value, json};
use unicore_rest::Transport;

use crate::crypto::EncryptionKey;

/// What to ask the auth server for.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// Base directory of the session (`""`: the user's home); a `/` is appended.
    pub server_path: String,
    /// Whether the secret may open several sessions (one after another or at once).
    pub persistent: bool,
    /// Data streams of the first transfer.
    pub streams: usize,
    /// gzip on the data connections.
    pub compress: bool,
    /// Encryption of the data connections.
    pub key: Option<EncryptionKey>,
    /// Primary group (`group[:supplementary…]`).
    pub group: Option<String>,
    /// Client addresses the server should accept (comma list); default: the caller's.
    pub client: Option<String>,
    /// Whether uploads append.
    pub append: bool,
}

impl Default for AuthRequest {
    fn default() -> Self {
        AuthRequest {
            server_path: String::new(),
            persistent: true,
            streams: 1,
            compress: false,
            key: None,
            group: None,
            client: None,
            append: false,
        }
    }
}

impl AuthRequest {
    /// The JSON body (holds the encryption key: never log it).
    fn body(&self) -> Value {
        let mut path = self.server_path.clone();
        if !path.is_empty() && !path.ends_with('/') {
            path.push('/');
        }
        let mut body = json!({
            "serverPath": path,
            "persistent": if self.persistent { "true" } else { "false" },
        });
        if self.streams > 1 {
            body["streamCount"] = json!(self.streams);
        }
        if self.compress {
            body["compress"] = json!("true");
        }
        if let Some(k) = &self.key {
            body["encryptionKey"] = json!(k.to_base64().as_str());
            body["encryptionAlgorithm"] = json!(k.algorithm().name());
        }
        if let Some(g) = &self.group {
            body["group"] = json!(g);
        }
        if let Some(c) = &self.client {
            body["client"] = json!(c);
        }
        if self.append {
            body["append"] = json!("true");
        }
        body
    }
}

/// Where to connect, with which one-time secret.
#[derive(Clone)]
pub struct Grant {
    /// UFTPD's host.
    pub host: String,
    /// UFTPD's control port.
    pub port: u16,
    /// The one-time secret (hidden in `Debug`).
    pub secret: Secret,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("secret", &self.secret)
            .finish()
    }
}

/// One UFTPD behind an auth server.
#[derive(Debug, Clone)]
pub struct AuthServer {
    transport: Transport,
    base: String,
    server: String,
}

impl AuthServer {
    /// `auth_url` is `https://host:port/…/rest/auth/SERVER`.
    pub fn new(transport: Transport, auth_url: &str) -> Result<Self> {
        let (base, server) = split_auth_url(auth_url)?;
        Ok(AuthServer { transport, base, server })
    }

    /// `…/rest/auth`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The server's name (`SERVER`).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// `…/rest/auth/SERVER`.
    pub fn url(&self) -> String {
        format!("{}/{}", self.base, self.server)
    }

    /// The transport (credential, TLS settings).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// `GET …/rest/auth`: every server with its `href`, `description`,
    /// `status`, `uid`, `gid`, `dataSharing`, plus `client` and `server`.
    pub async fn info(&self) -> Result<Value> {
        self.transport.get_json(&self.base).await
    }

    /// Announces a session and returns where to connect.
    pub async fn authenticate(&self, request: &AuthRequest) -> Result<Grant> {
        let url = self.url();
        tracing::debug!(url = url.as_str(), "uftp authenticate");
        let reply = self
            .transport
            .post(&url, &request.body())
            .await?
            .ok_or_else(|| bad_reply(&url, "an empty answer"))?;
        parse_grant(&url, &reply)
    }

    /// `GET …/rest/auth/token`: a JWT for this user.
    pub async fn issue_token(
        &self,
        lifetime: Option<u64>,
        renewable: bool,
        limited: bool,
    ) -> Result<Secret> {
        let mut url = format!("{}/token", self.base);
        let mut sep = '?';
        if let Some(l) = lifetime {
            url.push_str(&format!("{sep}lifetime={l}"));
            sep = '&';
        }
        if renewable {
            url.push_str(&format!("{sep}renewable=true"));
            sep = '&';
        }
        if limited {
            url.push_str(&format!("{sep}limited=true"));
        }
        let text = self.transport.get_text(&url, "text/plain").await?;
        Ok(Secret::new(text.trim()))
    }

    /// The data-sharing endpoint, if the server offers one.
    pub async fn sharing_url(&self) -> Result<Option<String>> {
        let info = self.info().await?;
        let sharing = &info[&self.server]["dataSharing"];
        let enabled = match &sharing["enabled"] {
            Value::Bool(b) => *b,
            Value::String(s) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        Ok(if enabled { sharing["href"].as_str().map(str::to_owned) } else { None })
    }
}

/// `…/rest/auth/SERVER` → (`…/rest/auth`, `SERVER`).
pub fn split_auth_url(url: &str) -> Result<(String, String)> {
    let invalid = |reason: &str| Error::InvalidLocation {
        location: url.to_owned(),
        reason: reason.to_owned(),
    };
    if !url.starts_with("https://") && !url.starts_with("http://") {
        return Err(invalid("an auth server URL starts with https://"));
    }
    let (base, server) = url.split_once("/rest/auth/").ok_or_else(|| {
        invalid("an auth server URL has the form https://host:port/rest/auth/SERVER")
    })?;
    let server = server.trim_end_matches('/');
    if server.is_empty() || server.contains('/') {
        return Err(invalid("the part after /rest/auth/ must be one server name"));
    }
    Ok((format!("{base}/rest/auth"), server.to_owned()))
}

fn bad_reply(url: &str, what: &str) -> Error {
    Error::parse(
        format!("POST {}", crate::error::clip(url)),
        format!("the auth server sent {what}"),
        "",
    )
}

pub(crate) fn parse_grant(url: &str, reply: &Value) -> Result<Grant> {
    let success = match &reply["success"] {
        Value::Bool(b) => *b,
        Value::String(s) => !s.eq_ignore_ascii_case("false"),
        _ => true,
    };
    if !success {
        return Err(Error::Authentication {
            user: "uftp user".into(),
            host: url.to_owned(),
            reason: format!(
                "the auth server refused the session: {}",
                reply["reason"].as_str().unwrap_or("no reason given")
            ),
        });
    }
    let host = reply["serverHost"].as_str().ok_or_else(|| bad_reply(url, "no serverHost"))?;
    let port = match &reply["serverPort"] {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad_reply(url, "no valid serverPort"))?;
    let secret = reply["secret"].as_str().ok_or_else(|| bad_reply(url, "no secret"))?;
    Ok(Grant { host: host.to_owned(), port, secret: Secret::new(secret) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Algorithm;

    #[test]
    fn auth_urls() {
        let (b, s) = split_auth_url("https://h:9/rest/auth/TEST").unwrap();
        assert_eq!((b.as_str(), s.as_str()), ("https://h:9/rest/auth", "TEST"));
        let (b, _) = split_auth_url("https://h:9/SITE/rest/auth/TEST/").unwrap();
        assert_eq!(b, "https://h:9/SITE/rest/auth");
        assert!(split_auth_url("https://h:9/rest/core").is_err());
        assert!(split_auth_url("ftp://h/rest/auth/X").is_err());
    }

    #[test]
    fn request_body_like_pyuftp() {
        let key = EncryptionKey::generate(Algorithm::Aes).unwrap();
        let r = AuthRequest {
            server_path: "/data".into(),
            streams: 4,
            compress: true,
            key: Some(key),
            ..Default::default()
        };
        let b = r.body();
        assert_eq!(b["serverPath"], "/data/");
        assert_eq!(b["persistent"], "true");
        assert_eq!(b["streamCount"], 4);
        assert_eq!(b["encryptionAlgorithm"], "AES");
        assert_eq!(AuthRequest::default().body()["serverPath"], "");
    }

    #[test]
    fn grants() {
        let g = parse_grant("u", &json!({"success": true, "serverHost": "h", "serverPort": 64434, "secret": "abcdefghij"})).unwrap();
        assert_eq!(g.port, 64434);
        assert!(!format!("{g:?}").contains("abcdefghij"));
        let e = parse_grant("u", &json!({"success": "false", "reason": "no"})).unwrap_err();
        assert!(e.to_string().contains("refused the session: no"));
        assert!(
            parse_grant("u", &json!({"success": true, "serverHost": "h", "secret": "x"})).is_err()
        );
    }
}
