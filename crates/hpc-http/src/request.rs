//! [`Request`]: what to send. Setter errors are kept until the request is sent.

use std::time::Duration;

use hpc_core::Error;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};
use serde::Serialize;

use crate::body::Body;

/// One HTTP request.
///
/// Builder-style: each setter returns the request; a bad URL, header or
/// JSON value is reported by [`HttpClient::send`](crate::HttpClient::send).
#[derive(Debug)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    pub(crate) idempotent: Option<bool>,
    pub(crate) authenticate: bool,
    pub(crate) deadline: Option<Duration>,
    pub(crate) error: Option<Error>,
}

impl Request {
    /// A request with `method` to the absolute `http://` or `https://` URL `uri`.
    pub fn new(method: Method, uri: &str) -> Self {
        let (uri, error) = match parse_uri(uri) {
            Ok(u) => (u, None),
            Err(e) => (Uri::default(), Some(e)),
        };
        Request {
            method,
            uri,
            headers: HeaderMap::new(),
            body: Body::Empty,
            idempotent: None,
            authenticate: true,
            deadline: None,
            error,
        }
    }

    /// `GET uri`.
    pub fn get(uri: &str) -> Self {
        Request::new(Method::GET, uri)
    }

    /// `HEAD uri`.
    pub fn head(uri: &str) -> Self {
        Request::new(Method::HEAD, uri)
    }

    /// `PUT uri`.
    pub fn put(uri: &str) -> Self {
        Request::new(Method::PUT, uri)
    }

    /// `POST uri`.
    pub fn post(uri: &str) -> Self {
        Request::new(Method::POST, uri)
    }

    /// `DELETE uri`.
    pub fn delete(uri: &str) -> Self {
        Request::new(Method::DELETE, uri)
    }

    /// A request with an extension method (`PROPFIND`, `MKCOL`, ...).
    pub fn custom(method: &str, uri: &str) -> Self {
        match Method::from_bytes(method.as_bytes()) {
            Ok(m) => Request::new(m, uri),
            Err(_) => {
                let mut r = Request::new(Method::GET, uri);
                r.error.get_or_insert(Error::InvalidInput(format!(
                    "{method:?} is not a valid HTTP method"
                )));
                r
            }
        }
    }

    /// Set a header (replacing any earlier value of the same name).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                self.headers.insert(n, v);
            }
            _ => {
                self.error.get_or_insert(Error::InvalidInput(format!(
                    "invalid HTTP header {name:?} (or its value)"
                )));
            }
        }
        self
    }

    /// Set the body.
    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Send `value` as a JSON body (`Content-Type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(data) => {
                self.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                self.body = Body::bytes(data);
            }
            Err(e) => {
                self.error.get_or_insert(Error::InvalidInput(format!(
                    "cannot encode request as JSON: {e}"
                )));
            }
        }
        self
    }

    /// Whether repeating this request is harmless. By default GET, HEAD,
    /// OPTIONS, PUT, DELETE and PROPFIND are; POST, PATCH, MKCOL, MOVE, COPY
    /// and LOCK are not (a repeat could fail spuriously or act twice).
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = Some(yes);
        self
    }

    /// A limit on the whole exchange: every attempt, the waits between them
    /// and reading the response body must end within `limit`, else the
    /// request (or the body stream) ends with [`Error::Timeout`]. For
    /// metadata requests, whose answers are small: a server that trickles
    /// a byte now and then never trips the idle limits, but trips this one.
    pub fn deadline(mut self, limit: Duration) -> Self {
        self.deadline = Some(limit);
        self
    }

    /// Send without the client's `Authorization` header (pre-signed URLs,
    /// token endpoints).
    pub fn without_auth(mut self) -> Self {
        self.authenticate = false;
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    pub(crate) fn is_idempotent(&self) -> bool {
        self.idempotent.unwrap_or_else(|| {
            matches!(
                self.method.as_str(),
                "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "PROPFIND"
            )
        })
    }
}

fn parse_uri(text: &str) -> Result<Uri, Error> {
    let uri: Uri = text.parse().map_err(|e| {
        Error::InvalidInput(format!("invalid URL {:?}: {e}", crate::url::without_query(text)))
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.host().is_some() => Ok(uri),
        _ => Err(Error::InvalidInput(format!(
            "URL {:?} must be absolute http:// or https://",
            crate::url::without_query(text)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setter_errors_are_kept() {
        assert!(Request::get("ftp://x/").error.is_some());
        assert!(Request::get("/relative").error.is_some());
        assert!(Request::get("http://h/").header("bad name", "v").error.is_some());
        assert!(Request::custom("PROP FIND", "http://h/").error.is_some());
        let r = Request::custom("PROPFIND", "http://h/a").header("Depth", "1");
        assert!(r.error.is_none() && r.is_idempotent());
        assert!(!Request::custom("MKCOL", "http://h/a").is_idempotent());
        assert!(Request::post("http://h/").idempotent(true).is_idempotent());
    }
}
