//! Tokens from an oidc-agent (unix socket) or an OIDC server (password grant,
//! refresh tokens kept in a file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpc_auth::{Credential, RefreshFn, Secret};
use hpc_core::{Error, Result};
use hpc_http::{Body, HttpClient, Request};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use super::lazy_token;

/// A credential whose tokens come from the oidc-agent at `$OIDC_SOCK` for
/// `account`. Nothing is asked before the first request.
pub fn oidc_agent(account: impl Into<String>) -> Result<Credential> {
    let socket = std::env::var_os("OIDC_SOCK").ok_or_else(|| {
        Error::InvalidInput("oidc-agent is not running (OIDC_SOCK is not set)".into())
    })?;
    Ok(oidc_agent_at(account, PathBuf::from(socket)))
}

/// [`oidc_agent`] with an explicit socket path.
pub fn oidc_agent_at(account: impl Into<String>, socket: PathBuf) -> Credential {
    let account = account.into();
    let refresh: RefreshFn = Arc::new(move || {
        let (account, socket) = (account.clone(), socket.clone());
        Box::pin(async move { ask_agent(&account, &socket).await })
    });
    lazy_token(refresh)
}

async fn ask_agent(
    account: &str,
    socket: &Path,
) -> std::result::Result<(Secret, Option<Duration>), String> {
    let fail = |e: std::io::Error| format!("oidc-agent at {}: {e}", socket.display());
    let mut stream = tokio::net::UnixStream::connect(socket).await.map_err(fail)?;
    let request = serde_json::json!({"account": account, "request": "access_token"});
    stream.write_all(request.to_string().as_bytes()).await.map_err(fail)?;
    let mut reply = Vec::new();
    // The agent answers with one JSON object and keeps the socket open:
    // read until the object parses.
    let mut buf = [0u8; 4096];
    let value: Value = loop {
        let n = stream.read(&mut buf).await.map_err(fail)?;
        reply.extend_from_slice(&buf[..n]);
        if let Ok(v) = serde_json::from_slice(&reply) {
            break v;
        }
        if n == 0 || reply.len() > 1 << 20 {
            return Err("oidc-agent sent no valid JSON answer".into());
        }
    };
    if value.get("status").and_then(Value::as_str) != Some("success") {
        let why = value.get("error").and_then(Value::as_str).unwrap_or("no reason given");
        return Err(format!("oidc-agent refused account {account:?}: {why}"));
    }
    let token = value
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or("oidc-agent answer has no access_token")?;
    let lifetime = value.get("expires_at").and_then(Value::as_u64).map(|at| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Duration::from_secs(at.saturating_sub(now))
    });
    Ok((Secret::new(token), lifetime))
}

/// PyUNICORE's `oidc.*` settings for a token from an OIDC server.
#[derive(Clone)]
#[non_exhaustive]
pub struct OidcServerConfig {
    /// Token endpoint (`oidc.endpoint`).
    pub endpoint: String,
    /// Client id (`oidc.clientID`).
    pub client_id: String,
    /// Client secret (`oidc.clientSecret`).
    pub client_secret: Secret,
    /// Send client id and secret as HTTP Basic instead of form fields
    /// (`oidc.authentication` other than `POST`).
    pub client_basic_auth: bool,
    /// User name (`oidc.username`).
    pub username: String,
    /// Password (`oidc.password`).
    pub password: Secret,
    /// One-time password for 2FA (`oidc.otp`).
    pub otp: Option<Secret>,
    /// Grant type (`oidc.grantType`, default `password`).
    pub grant_type: String,
    /// Scope (`oidc.scope`, default `openid`).
    pub scope: String,
    /// Where refresh tokens are kept, as JSON per endpoint
    /// (`oidc.refreshTokenFile`); `None`: not kept.
    pub refresh_token_file: Option<PathBuf>,
}

impl OidcServerConfig {
    /// Settings with PyUNICORE's defaults (password grant, scope `openid`,
    /// refresh tokens in `$HOME/.ucc/refresh-tokens`).
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        OidcServerConfig {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            client_basic_auth: false,
            username: username.into(),
            password: password.into(),
            otp: None,
            grant_type: "password".into(),
            scope: "openid".into(),
            refresh_token_file: Some(home.join(".ucc/refresh-tokens")),
        }
    }
}

impl std::fmt::Debug for OidcServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcServerConfig")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("grant_type", &self.grant_type)
            .field("refresh_token_file", &self.refresh_token_file)
            .finish_non_exhaustive()
    }
}

/// A credential whose tokens come from an OIDC server: a stored refresh
/// token is tried first, then the password grant; a new refresh token is
/// stored (file mode 0600). `http` is the client for the token endpoint (its
/// TLS settings; its own credential is not used).
pub fn oidc_server(config: OidcServerConfig, http: HttpClient) -> Credential {
    let state = Arc::new(OidcServer { config, http, refresh_token: Mutex::new(None) });
    let refresh: RefreshFn = Arc::new(move || {
        let state = state.clone();
        Box::pin(async move { state.fetch().await.map_err(|e| e.to_string()) })
    });
    lazy_token(refresh)
}

struct OidcServer {
    config: OidcServerConfig,
    http: HttpClient,
    refresh_token: Mutex<Option<Secret>>,
}

impl OidcServer {
    async fn fetch(&self) -> Result<(Secret, Option<Duration>)> {
        let mut stored = self.refresh_token.lock().await;
        if stored.is_none() {
            *stored = self.load_refresh_token();
        }
        if let Some(rt) = stored.clone() {
            let params = vec![("grant_type", Secret::new("refresh_token")), ("refresh_token", rt)];
            match self.call(params).await {
                Ok(answer) => return self.accept(answer, &mut stored),
                Err(e) => {
                    tracing::debug!(error = %e, "refresh grant failed; using the password grant")
                }
            }
        }
        let c = &self.config;
        let mut params = vec![
            ("grant_type", Secret::new(c.grant_type.clone())),
            ("username", Secret::new(c.username.clone())),
            ("password", c.password.clone()),
            ("scope", Secret::new(c.scope.clone())),
        ];
        if let Some(otp) = &c.otp {
            params.push(("otp", otp.clone()));
        }
        let answer = self.call(params).await?;
        self.accept(answer, &mut stored)
    }

    fn accept(
        &self,
        answer: Value,
        stored: &mut Option<Secret>,
    ) -> Result<(Secret, Option<Duration>)> {
        let token =
            answer.get("access_token").and_then(Value::as_str).ok_or_else(|| Error::Parse {
                command: "OIDC token request".into(),
                reason: "the answer has no access_token".into(),
                line: String::new(),
                source: None,
            })?;
        if let Some(rt) = answer.get("refresh_token").and_then(Value::as_str) {
            *stored = Some(Secret::new(rt));
            self.store_refresh_token(rt);
        }
        let lifetime = answer.get("expires_in").and_then(Value::as_u64).map(Duration::from_secs);
        Ok((Secret::new(token), lifetime))
    }

    async fn call(&self, mut params: Vec<(&'static str, Secret)>) -> Result<Value> {
        let c = &self.config;
        let mut req = Request::post(&c.endpoint)
            .without_auth()
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded");
        if c.client_basic_auth {
            use base64::Engine as _;
            let raw = format!("{}:{}", c.client_id, c.client_secret.expose());
            let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
            req = req.header("authorization", &value);
        } else {
            params.push(("client_id", Secret::new(c.client_id.clone())));
            params.push(("client_secret", c.client_secret.clone()));
        }
        let form: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v.expose(), NON_ALPHANUMERIC)))
            .collect();
        let resp = self.http.send(req.body(Body::bytes(form.join("&")))).await?;
        let resp = crate::transport::check(resp).await?;
        resp.json().await
    }

    fn load_refresh_token(&self) -> Option<Secret> {
        let file = self.config.refresh_token_file.as_ref()?;
        let text = std::fs::read_to_string(file).ok()?;
        let all: BTreeMap<String, Value> = serde_json::from_str(&text).ok()?;
        let token = all.get(&self.config.endpoint)?.get("refresh_token")?.as_str()?;
        Some(Secret::new(token))
    }

    fn store_refresh_token(&self, token: &str) {
        let Some(file) = &self.config.refresh_token_file else { return };
        let mut all: BTreeMap<String, Value> = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        all.insert(self.config.endpoint.clone(), serde_json::json!({"refresh_token": token}));
        if let Err(e) = write_private(file, &serde_json::to_string(&all).unwrap_or_default()) {
            tracing::warn!(file = %file.display(), error = %e, "cannot store the OIDC refresh token");
        }
    }
}

/// Writes `text` to `path` readable by the owner only, through a sibling
/// temporary file, so a crash never leaves a half-written token file.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp-hpckit");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn agent_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        tokio::spawn(async move {
            for answer in [
                r#"{"status":"success","access_token":"agent-tok-1","expires_at":4102444800}"#,
                r#"{"status":"failure","error":"account not loaded"}"#,
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 1024];
                let n = s.read(&mut buf).await.unwrap();
                let req: Value = serde_json::from_slice(&buf[..n]).unwrap();
                assert_eq!(req["account"], "demo");
                assert_eq!(req["request"], "access_token");
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let (tok, life) = ask_agent("demo", &sock).await.unwrap();
        assert_eq!(tok.expose(), "agent-tok-1");
        assert!(life.unwrap() > Duration::from_secs(3600));
        let e = ask_agent("demo", &sock).await.unwrap_err();
        assert!(e.contains("account not loaded"), "{e}");
    }

    #[test]
    fn refresh_tokens_are_kept_per_endpoint_privately() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ucc/refresh-tokens");
        let mut cfg = OidcServerConfig::new("https://idp/token", "cid", "csecret", "u", "pw");
        cfg.refresh_token_file = Some(file.clone());
        let server = OidcServer {
            config: cfg,
            http: HttpClient::builder().build().unwrap(),
            refresh_token: Mutex::new(None),
        };
        assert!(server.load_refresh_token().is_none());
        server.store_refresh_token("rt-1");
        assert_eq!(server.load_refresh_token().unwrap().expose(), "rt-1");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!format!("{:?}", server.config).contains("csecret"));
    }
}
