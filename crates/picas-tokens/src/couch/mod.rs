//! [`CouchDb`]: the CouchDB HTTP API a token pool needs, on `hpc-http`.
//!
//! Every call sends `Accept: application/json` (pouchdb-server answers JSON as
//! text/plain otherwise) and JSON bodies with `Content-Type: application/json`
//! (without it pouchdb-server stores an empty document). A conflict (409) is
//! an answer, not an error: writes return [`WriteOutcome::Conflict`]. Network
//! failures and 5xx answers are repeated with exponential backoff; nothing else
//! is. Because a write that reached the server may be repeated after its answer
//! was lost, a conflict after a repeat says so ([`WriteOutcome::Conflict`]'s
//! `retried`), so callers can check whether the first attempt landed.

mod docs;
mod query;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hpc_core::{Error, Result};
use hpc_http::{HttpClient, Request, Response, RetryConfig, StatusCode, Timeouts};
use serde::Deserialize;

pub use docs::{BulkOutcome, DbInfo, WriteOutcome};
pub use query::{Change, Changes, ChangesQuery, ViewQuery, ViewResult, ViewRow};

use crate::url::DbUrl;

/// Settings of a [`CouchDb`] client.
#[derive(Debug, Clone)]
pub struct CouchConfig {
    /// Repeats of a request after a network error or a 5xx answer. The
    /// default (8 repeats, 0.2 s doubling to at most 5 s) rides out a server
    /// restart of about 20 s.
    pub retry: RetryConfig,
    /// Connect, response and read time limits.
    pub timeouts: Timeouts,
    /// Extra CA certificates (PEM file) to trust for https.
    pub ca_file: Option<std::path::PathBuf>,
    /// The longest answer read into memory (a JSON document, a view page,
    /// an attachment); a longer or endless one is an error. Default 256 MiB.
    pub max_answer: usize,
}

impl Default for CouchConfig {
    fn default() -> Self {
        CouchConfig {
            retry: RetryConfig {
                max_retries: 8,
                initial_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(5),
            },
            timeouts: Timeouts {
                connect: Duration::from_secs(10),
                response: Duration::from_secs(120),
                read_idle: Duration::from_secs(120),
            },
            ca_file: None,
            max_answer: hpc_http::MAX_IN_MEMORY,
        }
    }
}

/// A client for one CouchDB database. Cheap to clone (clones share
/// connections and the request counter).
#[derive(Clone)]
pub struct CouchDb {
    http: HttpClient,
    url: Arc<DbUrl>,
    retry: RetryConfig,
    max_answer: usize,
    requests: Arc<AtomicU64>,
}

impl std::fmt::Debug for CouchDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CouchDb")
            .field("url", &self.url.to_string())
            .field("requests", &self.request_count())
            .finish_non_exhaustive()
    }
}

/// CouchDB's error body: `{"error": "...", "reason": "..."}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CouchError {
    #[serde(default)]
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) reason: String,
}

/// The bodies of the answers whose types are private (error, saved document,
/// bulk results), for the fuzz targets.
pub(crate) fn private_bodies(body: &[u8]) {
    let _ = serde_json::from_slice::<CouchError>(body);
    let _ = serde_json::from_slice::<docs::Saved>(body);
    let _ = serde_json::from_slice::<Vec<docs::BulkItem>>(body);
}

impl CouchDb {
    /// A client with the default settings.
    pub fn new(url: DbUrl) -> Result<CouchDb> {
        CouchDb::with_config(url, CouchConfig::default())
    }

    /// A client with these settings.
    pub fn with_config(url: DbUrl, config: CouchConfig) -> Result<CouchDb> {
        let mut builder = HttpClient::builder()
            .service("couchdb")
            .credential(&url.credential())
            // Retries happen here, where a repeated write can be recognised.
            .retry(RetryConfig::none())
            .timeouts(config.timeouts);
        if let Some(ca) = &config.ca_file {
            builder = builder.add_ca_file(ca);
        }
        Ok(CouchDb {
            http: builder.build()?,
            url: Arc::new(url),
            retry: config.retry,
            max_answer: config.max_answer,
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The database URL (`Display` hides the password).
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// HTTP requests sent so far by this client and its clones (repeats included).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// `server/db/<path>` (path already encoded).
    pub(crate) fn db_path(&self, path: &str) -> String {
        if path.is_empty() {
            self.url.db_endpoint()
        } else {
            format!("{}/{path}", self.url.db_endpoint())
        }
    }

    /// Send the request `make` builds, repeating it after network failures and
    /// 5xx answers. Returns the response and whether it came from a repeat.
    pub(crate) async fn call(
        &self,
        what: &str,
        make: impl Fn() -> Request,
    ) -> Result<(Response, bool)> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let req = make().header("accept", "application/json");
            let last = attempt >= self.retry.max_retries;
            match self.http.send(req).await {
                Ok(resp) if is_retryable_status(resp.status()) && !last => {
                    tracing::debug!(what, status = %resp.status(), attempt, "server error, retrying");
                }
                Ok(resp) if is_retryable_status(resp.status()) => {
                    let e = self.error_from(what, resp).await;
                    return Err(gave_up(e, attempt + 1, started.elapsed()));
                }
                Ok(resp) => return Ok((resp, attempt > 0)),
                Err(e) if e.is_retryable() && !last => {
                    tracing::debug!(what, error = %e, attempt, "request failed, retrying");
                }
                Err(e) if e.is_retryable() => {
                    return Err(gave_up(e, attempt + 1, started.elapsed()));
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(self.retry.backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Send, require 2xx, parse the JSON answer.
    pub(crate) async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        make: impl Fn() -> Request,
    ) -> Result<T> {
        let (resp, _) = self.call(what, make).await?;
        if !resp.status().is_success() {
            return Err(self.error_from(what, resp).await);
        }
        self.json(resp).await
    }

    /// A 2xx answer's JSON, at most `max_answer` bytes of it.
    pub(crate) async fn json<T: serde::de::DeserializeOwned>(&self, resp: Response) -> Result<T> {
        resp.json_at_most(self.max_answer).await
    }

    /// The error for a non-2xx answer, with CouchDB's own `error`/`reason`.
    pub(crate) async fn error_from(&self, what: &str, resp: Response) -> Error {
        let status = resp.status();
        // Only the start of an error answer is shown: it may be endless.
        let text = resp.snippet().await;
        let body: CouchError = serde_json::from_str(&text).unwrap_or_default();
        let said = match (body.error.as_str(), body.reason.as_str()) {
            ("", "") => text.split_whitespace().collect::<Vec<_>>().join(" "),
            (e, "") => e.to_owned(),
            ("", r) => r.to_owned(),
            (e, r) => format!("{e}: {r}"),
        };
        let host = self.url.server().split("://").nth(1).unwrap_or("").to_owned();
        match status {
            StatusCode::UNAUTHORIZED => Error::Authentication {
                user: self.url.user().unwrap_or("anonymous").to_owned(),
                host,
                reason: format!("{what} was refused with 401 Unauthorized ({said})"),
            },
            StatusCode::FORBIDDEN => {
                Error::PermissionDenied { what: what.to_owned(), message: said }
            }
            StatusCode::NOT_FOUND => Error::path_not_found(format!("{what} ({said})")),
            _ => Error::remote(
                "couchdb",
                Some(u32::from(status.as_u16())),
                format!("{what}: {said}"),
            )
            .with_retry(hpc_http::retry_for_status(status)),
        }
    }
}

fn is_retryable_status(status: StatusCode) -> bool {
    status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED
}

/// Say how hard we tried, keeping the error's variant.
fn gave_up(mut e: Error, attempts: u32, elapsed: Duration) -> Error {
    let note = format!("(gave up after {attempts} attempts in {:.1} s)", elapsed.as_secs_f64());
    if let Error::Connect { reason: text, .. }
    | Error::ConnectionLost { reason: text, .. }
    | Error::Timeout { what: text, .. }
    | Error::Remote { message: text, .. } = &mut e
    {
        text.push(' ');
        text.push_str(&note);
    }
    e
}
