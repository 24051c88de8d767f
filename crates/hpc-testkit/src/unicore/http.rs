//! Replies: JSON, JSON errors (`{"errorMessage", "status"}`), streamed files.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use serde_json::Value;

/// The body of every reply.
pub(crate) type Body = UnsyncBoxBody<Bytes, std::io::Error>;
/// A reply.
pub(crate) type Reply = Response<Body>;

/// A failed call: status and message, sent as UNICORE's JSON error body.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) message: String,
}

/// Result of a handler.
pub(crate) type Handled = Result<Reply, ApiError>;

pub(crate) fn fail(status: u16, message: impl Into<String>) -> ApiError {
    ApiError { status, message: message.into() }
}

pub(crate) fn not_found(what: impl std::fmt::Display) -> ApiError {
    fail(404, format!("{what} not found"))
}

pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    fail(400, message)
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => fail(404, format!("file not found: {e}")),
            std::io::ErrorKind::PermissionDenied => fail(403, format!("permission denied: {e}")),
            std::io::ErrorKind::AlreadyExists => fail(409, format!("already exists: {e}")),
            _ => fail(500, format!("I/O error: {e}")),
        }
    }
}

impl From<hpc_core::Error> for ApiError {
    fn from(e: hpc_core::Error) -> Self {
        let status = match e.kind() {
            hpc_core::ErrorKind::NotFound => 404,
            hpc_core::ErrorKind::InvalidInput => 400,
            hpc_core::ErrorKind::PermissionDenied => 403,
            _ => 500,
        };
        fail(status, e.to_string())
    }
}

pub(crate) fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).map_err(|never: Infallible| match never {}).boxed_unsync()
}

pub(crate) fn reply(status: u16, content_type: Option<&str>, body: Body) -> Reply {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type
        && let Ok(v) = HeaderValue::from_str(ct)
    {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

pub(crate) fn json(status: u16, value: &Value) -> Reply {
    reply(status, Some("application/json"), full(value.to_string()))
}

pub(crate) fn ok_json(value: &Value) -> Handled {
    Ok(json(200, value))
}

pub(crate) fn empty(status: u16) -> Reply {
    reply(status, None, full(Bytes::new()))
}

pub(crate) fn no_content() -> Handled {
    Ok(empty(204))
}

pub(crate) fn created(location: &str) -> Handled {
    let mut r = empty(201);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(r)
}

pub(crate) fn error_reply(e: &ApiError) -> Reply {
    json(e.status, &serde_json::json!({"errorMessage": e.message, "status": e.status}))
}

/// `{"href": url}` (with a description where given), for `_links`.
pub(crate) fn link(url: &str) -> Value {
    serde_json::json!({"href": url})
}

/// A date as UNICORE writes it: `2026-12-06T09:30:00+0000`.
pub(crate) fn date(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (y, m, d) = hpc_core::time::civil_from_days(secs.div_euclid(86400));
    let s = secs.rem_euclid(86400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000", s / 3600, s % 3600 / 60, s % 60)
}

/// A random id or secret: `n` bytes, hex.
pub(crate) fn random_hex(n: usize) -> String {
    use ring::rand::SecureRandom as _;
    let mut buf = vec![0u8; n];
    let _ = ring::rand::SystemRandom::new().fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A UUID-shaped random id, as UNICORE's.
pub(crate) fn new_id() -> String {
    let h = random_hex(16);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}
