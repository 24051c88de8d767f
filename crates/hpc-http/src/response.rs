//! [`Response`]: status, headers and a streamed body.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use hpc_core::{ByteStream, Error, Result};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use crate::retry::retry_for_status;

/// Where a response came from, for error messages (no query string, no secret).
#[derive(Debug)]
pub(crate) struct Origin {
    pub(crate) service: String,
    pub(crate) method: Method,
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) user: String,
    pub(crate) read_timeout: Duration,
    /// The end of the whole exchange, for requests sent with a deadline.
    pub(crate) deadline: Option<Deadline>,
}

/// When a request with [`Request::deadline`](crate::Request::deadline) must
/// be over, body included.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) at: tokio::time::Instant,
    pub(crate) limit: Duration,
}

impl Origin {
    pub(crate) fn what(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// How much of an error body ends up in an error message.
const SNIPPET: usize = 2048;

/// A response whose body has not been read yet.
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Incoming,
    origin: Arc<Origin>,
}

impl Response {
    pub(crate) fn new(resp: http::Response<Incoming>, origin: Arc<Origin>) -> Self {
        let (parts, body) = resp.into_parts();
        Response { status: parts.status, headers: parts.headers, body, origin }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Content-Length`, if sent.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.trim().parse().ok())
    }

    /// The body as a stream of chunks; a stall longer than the read timeout
    /// or a broken connection ends it with an error.
    pub fn into_stream(self) -> ByteStream {
        let origin = self.origin;
        futures::stream::unfold(Some(self.body), move |state| {
            let origin = origin.clone();
            async move {
                let mut body = state?;
                loop {
                    let idle_end = tokio::time::Instant::now() + origin.read_timeout;
                    let end = origin.deadline.map_or(idle_end, |d| d.at.min(idle_end));
                    match tokio::time::timeout_at(end, body.frame()).await {
                        Err(_) => {
                            let e = match origin.deadline {
                                Some(d) if d.at <= idle_end => Error::Timeout {
                                    what: format!(
                                        "{} {} on {}",
                                        origin.service,
                                        origin.what(),
                                        origin.host
                                    ),
                                    after: d.limit,
                                },
                                _ => Error::Timeout {
                                    what: format!("reading the body of {}", origin.what()),
                                    after: origin.read_timeout,
                                },
                            };
                            return Some((Err(e), None));
                        }
                        Ok(None) => return None,
                        Ok(Some(Err(e))) => {
                            let e = Error::connection_lost(origin.host.clone(), e)
                                .during(format_args!("reading the body of {}", origin.what()));
                            return Some((Err(e), None));
                        }
                        Ok(Some(Ok(frame))) => {
                            if let Ok(data) = frame.into_data()
                                && !data.is_empty()
                            {
                                return Some((Ok(data), Some(body)));
                            }
                        }
                    }
                }
            }
        })
        .boxed()
    }

    /// The whole body in memory.
    pub async fn bytes(self) -> Result<Bytes> {
        let mut stream = self.into_stream();
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub async fn text(self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.bytes().await?).into_owned())
    }

    /// The body parsed as JSON.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T> {
        let origin = self.origin.clone();
        let data = self.bytes().await?;
        serde_json::from_slice(&data).map_err(|e| {
            Error::parse(origin.what(), format!("invalid JSON: {e}"), snippet(&data)).with_source(e)
        })
    }

    /// `Ok(self)` for a 2xx status, else the error [`Response::into_error`] gives.
    pub async fn error_for_status(self) -> Result<Response> {
        if self.status.is_success() { Ok(self) } else { Err(self.into_error().await) }
    }

    /// Read (the start of) the body and turn the status into an error:
    /// 401 authentication, 403 permission denied, 404 not found, anything else
    /// [`Error::Remote`] with the status and the server's words.
    pub async fn into_error(self) -> Error {
        let status = self.status;
        let origin = self.origin.clone();
        let message = self.snippet().await;
        status_error(&origin, status, &message)
    }

    /// The first couple of KiB of the body, as one line of text (for messages).
    pub async fn snippet(self) -> String {
        let mut stream = self.into_stream();
        let mut buf = Vec::new();
        while buf.len() < SNIPPET {
            match stream.next().await {
                Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                _ => break,
            }
        }
        snippet(&buf)
    }

    /// The service name given to the client (for adaptors' own error mapping).
    pub fn service(&self) -> &str {
        &self.origin.service
    }

    /// `METHOD /path` of the request (no query string).
    pub fn request_line(&self) -> String {
        self.origin.what()
    }
}

fn snippet(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(&data[..data.len().min(SNIPPET)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn status_error(origin: &Origin, status: StatusCode, message: &str) -> Error {
    match status {
        StatusCode::UNAUTHORIZED => Error::Authentication {
            user: origin.user.clone(),
            host: origin.host.clone(),
            reason: format!("{} was refused with 401 Unauthorized", origin.what()),
        },
        StatusCode::FORBIDDEN => {
            Error::PermissionDenied { what: origin.what(), message: message.to_owned() }
        }
        StatusCode::NOT_FOUND => Error::path_not_found(&origin.path),
        _ => Error::remote(
            origin.service.clone(),
            Some(u32::from(status.as_u16())),
            if message.is_empty() {
                format!("{} ({})", origin.what(), status.canonical_reason().unwrap_or("?"))
            } else {
                format!("{}: {message}", origin.what())
            },
        )
        .with_retry(retry_for_status(status)),
    }
}
