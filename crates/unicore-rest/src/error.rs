//! UNICORE's errors as [`hpc_core::Error`]: the server's JSON error body
//! (`{"errorMessage": ..., "status": ...}`) keeps its message and status; bad
//! JSON, a missing link and an unknown state are typed errors, never panics.

use hpc_core::error::Retry;
use hpc_core::{Error, NotFoundKind};

/// The service name in every error of this crate.
pub(crate) const SERVICE: &str = "unicore";

/// The longest part of an error body that ends up in a message.
const SNIPPET: usize = 512;

/// The error for a non-2xx answer: `status` and the body the server sent.
/// `what` is `METHOD /path` (never a query string, which may carry a token).
pub(crate) fn from_status(status: u16, what: &str, body: &[u8]) -> Error {
    let message = server_message(body);
    match status {
        401 => Error::Authentication {
            user: "unicore user".into(),
            host: host_of(what),
            reason: if message.is_empty() {
                format!("{what} was refused with 401 Unauthorized")
            } else {
                format!("{what} was refused with 401 Unauthorized: {message}")
            },
        },
        403 => Error::PermissionDenied { what: what.to_owned(), message },
        404 => Error::NotFound {
            kind: not_found_kind(what),
            name: if message.is_empty() {
                path_of(what).to_owned()
            } else {
                format!("{} ({message})", path_of(what))
            },
        },
        409 if message.contains("exists") => {
            Error::AlreadyExists { path: path_of(what).to_owned() }
        }
        _ => {
            let message = if message.is_empty() {
                format!("{what} failed")
            } else {
                format!("{what}: {message}")
            };
            let retry = hpc_http::StatusCode::from_u16(status)
                .map_or(Retry::Permanent, hpc_http::retry_for_status);
            Error::remote(SERVICE, Some(u32::from(status)), message).with_retry(retry)
        }
    }
}

/// The server's own words: `errorMessage` of a JSON body, else the start of the
/// body as one line of text.
pub(crate) fn server_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(m) = value.get("errorMessage").and_then(|m| m.as_str())
    {
        return one_line(m);
    }
    one_line(&String::from_utf8_lossy(&body[..body.len().min(SNIPPET)]))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn path_of(what: &str) -> &str {
    what.split_once(' ').map_or(what, |(_, p)| p)
}

fn host_of(_what: &str) -> String {
    "unicore server".into()
}

fn not_found_kind(what: &str) -> NotFoundKind {
    let path = path_of(what);
    if path.contains("/files") || path.contains("/storages/") {
        NotFoundKind::Path
    } else if path.contains("/jobs/") {
        NotFoundKind::Job
    } else {
        NotFoundKind::Path
    }
}

/// A reply that is not the JSON it should be (serde_json's error kept as the source).
pub(crate) fn bad_json(what: &str, error: serde_json::Error, body: &[u8]) -> Error {
    let line = one_line(&String::from_utf8_lossy(&body[..body.len().min(SNIPPET)]));
    Error::parse(what, format!("invalid JSON: {error}"), line).with_source(error)
}

/// A property the resource should have but does not (or of the wrong type).
pub(crate) fn missing(resource: &str, property: &str) -> Error {
    Error::Parse {
        command: format!("GET {}", crate::url::path_only(resource)),
        reason: format!("the reply has no usable {property:?} property"),
        line: String::new(),
        source: None,
    }
}

/// A link relation the resource does not offer.
pub(crate) fn missing_link(resource: &str, relation: &str) -> Error {
    Error::Parse {
        command: format!("GET {}", crate::url::path_only(resource)),
        reason: format!("the resource offers no {relation:?} link"),
        line: String::new(),
        source: None,
    }
}

/// A state name none of the known ones.
pub(crate) fn unknown_state(kind: &str, text: &str) -> Error {
    Error::Parse {
        command: format!("{kind} status"),
        reason: format!("unknown {kind} state"),
        line: text.to_owned(),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_bodies_keep_message_and_status() {
        let body = br#"{"errorMessage":"Job description is invalid: no executable","status":400}"#;
        let e = from_status(400, "POST /SITE/rest/core/jobs", body);
        assert!(matches!(e, Error::Remote { status: Some(400), .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "unicore error 400: POST /SITE/rest/core/jobs: Job description is invalid: no executable"
        );
    }

    #[test]
    fn statuses_map_to_kinds() {
        let e = from_status(
            404,
            "GET /S/rest/core/storages/x/files/a.txt",
            b"{\"errorMessage\":\"gone\"}",
        );
        assert!(e.is_not_found(), "{e}");
        assert!(e.to_string().contains("gone"));
        let e = from_status(403, "GET /S/rest/core", b"Forbidden");
        assert_eq!(e.kind(), hpc_core::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("Forbidden"));
        let e = from_status(401, "GET /S/rest/core", b"");
        assert_eq!(e.kind(), hpc_core::ErrorKind::Authentication);
        let e = from_status(500, "GET /x", b"<html>\n<b>oops</b>\n</html>");
        assert_eq!(e.to_string(), "unicore error 500: GET /x: <html> <b>oops</b> </html>");
    }
}
