//! [`Transport`]: every request to a UNICORE server goes through here. It adds
//! the credential (through `hpc-http`), the user preferences and the security
//! session, resends once without the session after a 432, and turns error
//! answers into typed errors.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hpc_auth::Credential;
use hpc_core::{Error, Result};
use hpc_http::{HttpClient, Request, Response, RetryConfig, Timeouts};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error;
use crate::preferences::UserPreferences;

/// Header carrying the security session id (in both directions).
pub const SESSION_HEADER: &str = "X-UNICORE-SecuritySession";
/// Header carrying the user preferences.
pub const PREFERENCES_HEADER: &str = "X-UNICORE-User-Preferences";
/// Status a server answers for an unknown or expired security session.
const SESSION_EXPIRED: u16 = 432;

/// Builds a [`Transport`].
#[derive(Debug)]
pub struct TransportBuilder {
    credential: Credential,
    ca_files: Vec<PathBuf>,
    ca_pems: Vec<Vec<u8>>,
    insecure: bool,
    preferences: Option<UserPreferences>,
    sessions: bool,
    timeouts: Timeouts,
    max_idle: usize,
}

impl Default for TransportBuilder {
    fn default() -> Self {
        TransportBuilder {
            credential: Credential::Anonymous,
            ca_files: Vec::new(),
            ca_pems: Vec::new(),
            insecure: false,
            preferences: None,
            sessions: true,
            timeouts: Timeouts::default(),
            max_idle: 32,
        }
    }
}

impl TransportBuilder {
    /// How to authenticate (see [`crate::credential`]); default anonymous.
    pub fn credential(mut self, credential: Credential) -> Self {
        self.credential = credential;
        self
    }

    /// Also trust the CA certificates in this PEM file (a site's or a test CA).
    pub fn add_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Also trust these PEM-encoded CA certificates.
    pub fn add_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// Accept ANY server certificate and name. Insecure (anyone on the path can
    /// read the credentials); logged as a warning. PyUNICORE does this by
    /// default; hpckit only when asked by this name.
    pub fn insecure_accept_any_certificate(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// User preferences (uid, group, role, supplementary groups) sent with every request.
    pub fn preferences(mut self, prefs: UserPreferences) -> Self {
        self.preferences = Some(prefs);
        self
    }

    /// Whether to reuse UNICORE security sessions (default on).
    pub fn security_sessions(mut self, on: bool) -> Self {
        self.sessions = on;
        self
    }

    /// Time limits of each request (default 30 s connect, 120 s response).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The transport. Fails on an unusable credential, CA file or preference.
    pub fn build(self) -> Result<Transport> {
        let mut http = HttpClient::builder()
            .service(error::SERVICE)
            .credential(&self.credential)
            .timeouts(self.timeouts)
            .retry(RetryConfig { max_retries: 2, ..RetryConfig::default() })
            .max_idle_per_host(self.max_idle);
        for f in self.ca_files {
            http = http.add_ca_file(f);
        }
        for p in self.ca_pems {
            http = http.add_ca_pem(p);
        }
        if self.insecure {
            http = http.insecure_accept_any_certificate();
        }
        let preferences = match &self.preferences {
            Some(p) => Some(p.header_value()?),
            None => None,
        };
        Ok(Transport {
            inner: Arc::new(Inner {
                http: http.build()?,
                user: self.credential.username().map(str::to_owned),
                anonymous: matches!(self.credential, Credential::Anonymous),
                oidc: match &self.credential {
                    Credential::Oidc(t) => Some(t.clone()),
                    _ => None,
                },
                sessions: self.sessions,
                session: Mutex::new(None),
                preferences,
                requests: AtomicU64::new(0),
            }),
        })
    }
}

/// The connection to one or more UNICORE servers: pooled HTTPS, credential,
/// preferences and security session. Cheap to clone; clones share all of it.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient,
    user: Option<String>,
    anonymous: bool,
    /// The refreshable token, if the credential is one: UNICORE answers an
    /// expired token with 403, which hpc-http (refreshing after 401) does not see.
    oidc: Option<hpc_auth::OidcToken>,
    sessions: bool,
    /// The last session id a server handed out. It stands in for the
    /// credential, so it is never logged or shown.
    session: Mutex<Option<String>>,
    preferences: Option<String>,
    requests: AtomicU64,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("user", &self.inner.user)
            .field("security_sessions", &self.inner.sessions)
            .field("preferences", &self.inner.preferences)
            .finish_non_exhaustive()
    }
}

/// Builds a request anew for each attempt (a 432 sends it a second time).
pub(crate) type MakeRequest<'a> = &'a (dyn Fn() -> Request + Send + Sync);

impl Transport {
    /// A builder with defaults: anonymous, verification on, sessions on.
    pub fn builder() -> TransportBuilder {
        TransportBuilder::default()
    }

    /// The HTTP client underneath (for its TLS settings and credential header).
    pub fn http(&self) -> &HttpClient {
        &self.inner.http
    }

    /// Requests sent so far by this transport and its clones (432 resends included).
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The login name of the credential, if it has one.
    pub fn user(&self) -> Option<&str> {
        self.inner.user.as_deref()
    }

    /// Whether the credential is [`Credential::Anonymous`].
    pub fn is_anonymous(&self) -> bool {
        self.inner.anonymous
    }

    /// The user preferences header value, if any.
    pub fn preferences_header(&self) -> Option<&str> {
        self.inner.preferences.as_deref()
    }

    /// The current session id (for the forwarder's hand-made request).
    pub(crate) fn session_id(&self) -> Option<String> {
        if !self.inner.sessions {
            return None;
        }
        self.inner.session.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn remember_session(&self, resp: &Response) {
        if !self.inner.sessions {
            return;
        }
        let id = resp.header(SESSION_HEADER).map(str::to_owned);
        *self.inner.session.lock().unwrap_or_else(|p| p.into_inner()) = id;
    }

    /// Sends a request with preferences and session; after a 432 (session
    /// unknown or expired) sends it once more without the session. Returns
    /// the response whatever its status.
    pub(crate) async fn send_raw(&self, make: MakeRequest<'_>) -> Result<Response> {
        let mut session = self.session_id();
        let mut refreshed = false;
        loop {
            let mut req = make();
            if let Some(p) = &self.inner.preferences {
                req = req.header(PREFERENCES_HEADER, p);
            }
            if let Some(s) = &session {
                req = req.header(SESSION_HEADER, s);
            }
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let resp = self.inner.http.send(req).await?;
            if resp.status().as_u16() == SESSION_EXPIRED && session.is_some() {
                tracing::debug!("security session expired (432): sending again with credentials");
                session = None;
                *self.inner.session.lock().unwrap_or_else(|p| p.into_inner()) = None;
                continue;
            }
            if resp.status().as_u16() == 403
                && !refreshed
                && let Some(token) = &self.inner.oidc
            {
                tracing::debug!(
                    "403 with a refreshable token: refreshing it and sending once more"
                );
                refreshed = true;
                token.refresh().await.map_err(|reason| Error::Authentication {
                    user: self.user().unwrap_or("token").to_owned(),
                    host: crate::url::path_only(&resp.request_line()).to_owned(),
                    reason: format!(
                        "the server refused the token and refreshing it failed: {reason}"
                    ),
                })?;
                session = None;
                continue;
            }
            self.remember_session(&resp);
            return Ok(resp);
        }
    }

    /// Sends a request that cannot be repeated (a streamed body) once,
    /// without the session so that no 432 can hit it.
    pub(crate) async fn send_once(&self, mut req: Request) -> Result<Response> {
        if let Some(p) = &self.inner.preferences {
            req = req.header(PREFERENCES_HEADER, p);
        }
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let resp = self.inner.http.send(req).await?;
        self.remember_session(&resp);
        check(resp).await
    }

    /// [`send_raw`](Self::send_raw), then a typed error for a non-2xx status.
    pub(crate) async fn send(&self, make: MakeRequest<'_>) -> Result<Response> {
        check(self.send_raw(make).await?).await
    }

    /// `GET url` as JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T> {
        let resp = self.send(&|| json_get(url)).await?;
        parse_json(resp).await
    }

    /// `GET url` with `Accept: accept`, the body as text.
    pub async fn get_text(&self, url: &str, accept: &str) -> Result<String> {
        let resp = self.send(&|| Request::get(url).header("accept", accept)).await?;
        resp.text().await
    }

    /// `POST url` with a JSON body expecting `201 Created`; the new resource's URL.
    pub async fn create(&self, url: &str, body: &Value) -> Result<String> {
        let resp = self.send(&|| json_request(Request::post(url), body)).await?;
        let what = resp.request_line();
        match resp.header("location") {
            Some(loc) => Ok(loc.to_owned()),
            None => Err(Error::Parse {
                command: what,
                reason: format!("answer {} has no Location header", resp.status().as_u16()),
                line: String::new(),
                source: None,
            }),
        }
    }

    /// `POST url` with a JSON body where any 2xx will do (mkdir).
    pub(crate) async fn create_or_ok(&self, url: &str, body: &Value) -> Result<()> {
        self.send(&|| json_request(Request::post(url), body)).await?;
        Ok(())
    }

    /// `POST url` with a JSON body (an action): the JSON reply, if the server sent one.
    pub async fn post(&self, url: &str, body: &Value) -> Result<Option<Value>> {
        let resp = self.send(&|| json_request(Request::post(url), body)).await?;
        optional_json(resp).await
    }

    /// `PUT url` with a JSON body: the JSON reply (`{"key": "OK"}` per property).
    pub async fn put_json(&self, url: &str, body: &Value) -> Result<Option<Value>> {
        let resp = self.send(&|| json_request(Request::put(url), body)).await?;
        optional_json(resp).await
    }

    /// `DELETE url`.
    pub async fn delete(&self, url: &str) -> Result<()> {
        self.send(&|| json_get_method(Request::delete(url))).await?;
        Ok(())
    }
}

/// PyUNICORE's headers: JSON accepted, JSON sent (also on GET and DELETE).
fn json_get_method(req: Request) -> Request {
    req.header("accept", "application/json").header("content-type", "application/json")
}

fn json_get(url: &str) -> Request {
    json_get_method(Request::get(url))
}

fn json_request(req: Request, body: &Value) -> Request {
    req.header("accept", "application/json").json(body)
}

/// `Ok(resp)` for 2xx, else the server's error as a typed error.
pub(crate) async fn check(resp: Response) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let what = resp.request_line();
    let body = resp.snippet().await;
    Err(error::from_status(status.as_u16(), &what, body.as_bytes()))
}

async fn parse_json<T: DeserializeOwned>(resp: Response) -> Result<T> {
    let what = resp.request_line();
    let data = resp.bytes().await?;
    serde_json::from_slice(&data).map_err(|e| error::bad_json(&what, e, &data))
}

async fn optional_json(resp: Response) -> Result<Option<Value>> {
    if resp.status().as_u16() == 204 {
        return Ok(None);
    }
    let what = resp.request_line();
    let data = resp.bytes().await?;
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&data).map(Some).map_err(|e| error::bad_json(&what, e, &data))
}
