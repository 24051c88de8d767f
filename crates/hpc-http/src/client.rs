//! [`HttpClient`]: one pooled connection set per client, cheap to clone.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hpc_auth::Credential;
use hpc_core::error::Retry;
use hpc_core::{Error, Result};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, HeaderValue, USER_AGENT};
use http::{HeaderMap, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::auth::Auth;
use crate::body::{Body, ErrorSlot, HyperBody};
use crate::request::Request;
use crate::response::{Deadline, Origin, Response};
use crate::retry::{RetryConfig, retry_for_status};
use crate::tls::TlsRoots;

/// Time limits of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP connection (TLS handshake included in `response`).
    pub connect: Duration,
    /// From the moment the request body is fully handed over until the
    /// response headers arrive. Long uploads are not limited by it.
    pub response: Duration,
    /// Longest pause between two chunks of a response body.
    pub read_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            response: Duration::from_secs(120),
            read_idle: Duration::from_secs(120),
        }
    }
}

/// A network adaptor's limits for its HTTP client: the idle limit covers
/// both the wait for the response and the pauses in its body.
impl From<hpc_core::NetTimeouts> for Timeouts {
    fn from(t: hpc_core::NetTimeouts) -> Self {
        Timeouts { connect: t.connect, response: t.idle, read_idle: t.idle }
    }
}

/// Builds an [`HttpClient`]. Errors from setters are reported by [`build`](Self::build).
#[derive(Debug)]
pub struct HttpClientBuilder {
    service: String,
    auth: Auth,
    retry: RetryConfig,
    timeouts: Timeouts,
    roots: TlsRoots,
    user_agent: String,
    max_idle_per_host: usize,
    error: Option<Error>,
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        HttpClientBuilder {
            service: "http".into(),
            auth: Auth::None,
            retry: RetryConfig::default(),
            timeouts: Timeouts::default(),
            roots: TlsRoots::default(),
            user_agent: concat!("hpckit/", env!("CARGO_PKG_VERSION")).into(),
            max_idle_per_host: 16,
            error: None,
        }
    }
}

impl HttpClientBuilder {
    /// Name used in errors and log spans (`webdav`, `s3`, `unicore`, ...).
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = name.into();
        self
    }

    /// Authenticate every request: password and basic credentials as HTTP
    /// Basic, bearer tokens as `Bearer`, OIDC tokens as `Bearer` with one
    /// refresh and repeat after a 401. Anonymous and default send nothing.
    pub fn credential(mut self, cred: &Credential) -> Self {
        match Auth::from_credential(cred) {
            Ok(a) => self.auth = a,
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Retry policy for idempotent requests.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Time limits.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Also trust the CA certificates in this PEM file.
    pub fn add_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.roots.extra_files.push(path.into());
        self
    }

    /// Also trust these PEM-encoded CA certificates.
    pub fn add_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots.extra_pem.push(pem.into());
        self
    }

    /// Trust only the CAs added with `add_ca_*`, not the bundled Mozilla
    /// roots nor the system store (pinning a private CA).
    pub fn only_added_cas(mut self) -> Self {
        self.roots.only_extra = true;
        self
    }

    /// Accept ANY server certificate and host name. Insecure: anyone on the
    /// path can read and change the traffic, credentials included. Only for
    /// test servers with throw-away certificates; prefer
    /// [`add_ca_file`](Self::add_ca_file). Every client built with it logs a
    /// warning.
    pub fn insecure_accept_any_certificate(mut self) -> Self {
        self.roots.insecure = true;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// Idle connections kept per host for reuse.
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }

    /// The client. Fails on an unusable credential or CA file.
    pub fn build(self) -> Result<HttpClient> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let user_agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| Error::InvalidInput("invalid User-Agent".into()))?;
        if self.roots.insecure {
            tracing::warn!(
                service = %self.service,
                "TLS certificate verification is OFF (insecure switch): the server is not authenticated"
            );
        }
        let tls = self.roots.client_config()?;
        let tls_shared = Arc::new(tls.clone());
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.timeouts.connect));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let hyper = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(self.max_idle_per_host)
            .build(https);
        Ok(HttpClient {
            inner: Arc::new(Inner {
                hyper,
                service: self.service,
                auth: self.auth,
                retry: self.retry,
                timeouts: self.timeouts,
                user_agent,
                tls: tls_shared,
            }),
        })
    }
}

/// A pooled HTTPS/HTTP client. Clones share connections.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    hyper: Client<HttpsConnector<HttpConnector>, HyperBody>,
    service: String,
    auth: Auth,
    retry: RetryConfig,
    timeouts: Timeouts,
    user_agent: HeaderValue,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("service", &self.inner.service)
            .field("user", &self.inner.auth.user())
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A builder with defaults: verification on, no credential, 3 retries.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The TLS configuration of this client (the same trust, or the same
    /// insecure switch), for connections it cannot make itself, such as
    /// protocol upgrades that become raw byte streams.
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.inner.tls.clone()
    }

    /// The `Authorization` header this client would send now (an OIDC token
    /// is refreshed first if it is about to expire), marked sensitive. For
    /// requests sent outside the client (protocol upgrades).
    pub async fn authorization(&self) -> Result<Option<HeaderValue>> {
        self.inner.auth.header().await
    }

    /// The `User-Agent` header this client sends.
    pub fn user_agent(&self) -> &HeaderValue {
        &self.inner.user_agent
    }

    /// Send a request. Any status is a successful response here; use
    /// [`Response::error_for_status`] or look at [`Response::status`].
    ///
    /// Idempotent requests with a body in memory are repeated, with
    /// exponential backoff, after retryable failures (connection errors,
    /// timeouts, 429 and 5xx except 501). Streamed bodies are sent once.
    pub async fn send(&self, req: Request) -> Result<Response> {
        if let Some(e) = req.error {
            return Err(e);
        }
        let span = tracing::debug_span!(
            "http",
            service = %self.inner.service,
            method = %req.method,
            host = %authority(&req.uri),
            path = %req.uri.path(),
        );
        let Some(limit) = req.deadline else {
            return self.send_with_retry(req, None).instrument(span).await;
        };
        let deadline = Deadline { at: tokio::time::Instant::now() + limit, limit };
        let what = format!(
            "{} {} {} on {}",
            self.inner.service,
            req.method,
            req.uri.path(),
            authority(&req.uri)
        );
        tokio::time::timeout_at(deadline.at, self.send_with_retry(req, Some(deadline)))
            .instrument(span)
            .await
            .unwrap_or_else(|_| Err(Error::Timeout { what, after: limit }))
    }

    /// Send, fail on a non-2xx status, parse the body as JSON.
    pub async fn send_json<T: DeserializeOwned>(&self, req: Request) -> Result<T> {
        self.send(req).await?.error_for_status().await?.json().await
    }

    /// `GET uri` as JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, uri: &str) -> Result<T> {
        self.send_json(Request::get(uri).header("accept", "application/json")).await
    }

    async fn send_with_retry(
        &self,
        mut req: Request,
        deadline: Option<Deadline>,
    ) -> Result<Response> {
        let replayable = req.body.try_clone().is_some();
        let idempotent = req.is_idempotent();
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            let body = match req.body.try_clone() {
                Some(b) => b,
                None => std::mem::replace(&mut req.body, Body::Empty),
            };
            let can_retry = idempotent && replayable && attempt < self.inner.retry.max_retries;
            let parts = Parts {
                method: req.method.clone(),
                uri: req.uri.clone(),
                headers: req.headers.clone(),
                authenticate: req.authenticate,
            };
            match self.attempt(parts, body, deadline).await {
                Ok(resp) => {
                    let status = resp.status();
                    if status == StatusCode::UNAUTHORIZED
                        && req.authenticate
                        && self.inner.auth.is_oidc()
                        && replayable
                        && !refreshed
                    {
                        tracing::debug!("401 with an OIDC token: refreshing it and repeating once");
                        refreshed = true;
                        self.inner.auth.refresh().await?;
                        continue;
                    }
                    if can_retry && retry_for_status(status) == Retry::Temporary {
                        let wait = retry_after(resp.headers())
                            .map(|d| d.min(self.inner.retry.max_backoff))
                            .unwrap_or_else(|| self.inner.retry.backoff(attempt));
                        tracing::debug!(%status, ?wait, attempt, "retrying");
                        drop(resp);
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Ok(resp);
                }
                Err(e) if can_retry && e.is_retryable() => {
                    let wait = self.inner.retry.backoff(attempt);
                    tracing::debug!(error = %e, ?wait, attempt, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn attempt(
        &self,
        req: Parts,
        body: Body,
        deadline: Option<Deadline>,
    ) -> Result<Response> {
        let inner = &*self.inner;
        let host = authority(&req.uri);
        let mut headers: HeaderMap = req.headers;
        if req.authenticate
            && let Some(v) = inner.auth.header().await?
        {
            headers.insert(AUTHORIZATION, v);
        }
        headers.entry(USER_AGENT).or_insert_with(|| inner.user_agent.clone());
        let bodyless = matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS" | "DELETE");
        if let Some(len) = body.len()
            && !(bodyless && len == 0)
        {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
        let (sent_tx, sent_rx) = oneshot::channel();
        let slot: ErrorSlot = Arc::new(Mutex::new(None));
        let mut http_req = http::Request::new(HyperBody::new(body, sent_tx, slot.clone()));
        *http_req.method_mut() = req.method.clone();
        *http_req.uri_mut() = req.uri.clone();
        *http_req.headers_mut() = headers;

        let origin = Arc::new(Origin {
            service: inner.service.clone(),
            method: req.method.clone(),
            host: host.clone(),
            path: req.uri.path().to_owned(),
            user: inner.auth.user().to_owned(),
            read_timeout: inner.timeouts.read_idle,
            deadline,
        });
        let response_timeout = inner.timeouts.response;
        let timer = async move {
            // The clock starts once the body is handed over (or dropped).
            let _ = sent_rx.await;
            tokio::time::sleep(response_timeout).await;
        };
        let result = tokio::select! {
            r = inner.hyper.request(http_req) => r,
            () = timer => {
                return Err(Error::Timeout {
                    what: format!("{} {}: waiting for the response of {host}", inner.service, origin.what()),
                    after: response_timeout,
                });
            }
        };
        match result {
            Ok(resp) => Ok(Response::new(resp, origin)),
            Err(e) => {
                if let Some(body_error) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    return Err(body_error);
                }
                Err(if e.is_connect() {
                    Error::connect(host, e)
                } else {
                    Error::connection_lost(host, e).during(origin.what())
                })
            }
        }
    }
}

/// A request without its body (which is not `Sync`, so no reference to it
/// may live across an await).
struct Parts {
    method: http::Method,
    uri: http::Uri,
    headers: HeaderMap,
    authenticate: bool,
}

fn authority(uri: &http::Uri) -> String {
    uri.authority()
        .map(|a| a.as_str().rsplit('@').next().unwrap_or("").to_owned())
        .unwrap_or_default()
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}
