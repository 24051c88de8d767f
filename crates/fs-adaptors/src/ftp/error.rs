//! FTP replies to [`Error`] (OpenDAL's table: 421 temporary, 550 not found;
//! the backend refines 550/553 per operation). A 4xx reply ("transient
//! negative completion", RFC 959) is marked [`Retry::Temporary`], a 5xx
//! permanent.

use hpc_core::error::Retry;
use hpc_core::{Error, NotFoundKind, Path};
use suppaftp::FtpError;

/// A missing parent directory of `path` (a 550/553 the backend has looked into).
pub(super) fn missing_parent(path: &Path) -> Error {
    Error::NotFound {
        kind: NotFoundKind::Path,
        name: format!("{} (parent directory)", path.parent().unwrap_or_else(Path::root)),
    }
}

/// A refusal (550/553 where the path and its parent exist): permission denied
/// with the server's words.
pub(super) fn refused(what: String, e: Error) -> Error {
    let message = match &e {
        Error::Remote { message, .. } => message.clone(),
        other => other.to_string(),
    };
    Error::PermissionDenied { what, message }
}

/// The TLS failure's own words: suppaftp wraps a TLS error in its
/// "Secure error: " once per layer; say it once.
fn tls_cause(text: &str) -> &str {
    let mut cause = text.trim();
    while let Some(rest) = cause.strip_prefix("Secure error:") {
        cause = rest.trim_start();
    }
    cause
}

/// A failed `AUTH TLS` handshake with `host`. A certificate that is not
/// trusted gets a hint at `?ca=` when no extra CA was given.
pub(crate) fn tls_error(e: FtpError, host: &str, has_ca: bool) -> Error {
    let FtpError::SecureError(text) = &e else {
        return ftp_error(e, "AUTH TLS", host);
    };
    let cause = tls_cause(text);
    let hint = if !has_ca && cause.contains("certificate") {
        " (for a certificate of a private CA, name the CA's PEM file with ?ca=FILE)"
    } else {
        ""
    };
    Error::Connect { host: host.to_owned(), reason: format!("TLS: {cause}{hint}"), source: None }
}

/// Whether the control connection is unusable after this error.
pub(crate) fn is_connection_error(e: &FtpError) -> bool {
    match e {
        FtpError::ConnectionError(_) | FtpError::SecureError(_) | FtpError::BadResponse => true,
        FtpError::UnexpectedResponse(r) => r.status.code() == 421,
        _ => false,
    }
}

/// The reply code, if the server answered with one.
pub(crate) fn reply_code(e: &Error) -> Option<u32> {
    match e {
        Error::Remote { service, status, .. } if service == "ftp" => *status,
        _ => None,
    }
}

/// Map suppaftp's error for the request `what` to `host`. Transport errors
/// keep the io error as their source; a reply is the server's whole answer
/// (code and text), so it is the message and has no source.
pub(crate) fn ftp_error(e: FtpError, what: &str, host: &str) -> Error {
    match e {
        FtpError::ConnectionError(io) => Error::connection_lost(host, io).during(what),
        FtpError::SecureError(s) => Error::ConnectionLost {
            host: host.to_owned(),
            reason: format!("{what}: TLS: {}", tls_cause(&s)),
            source: None,
        },
        e @ FtpError::BadResponse => {
            Error::parse(what, "malformed FTP reply", String::new()).with_source(e)
        }
        FtpError::UnexpectedResponse(r) => {
            let code = r.status.code();
            let text = String::from_utf8_lossy(&r.body);
            let text = text
                .trim()
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start_matches(['-', ' ']);
            Error::remote("ftp", Some(code), format!("{what}: {text}")).with_retry(retry_for(code))
        }
        other => Error::remote("ftp", None, format!("{what}: {other}")).with_source(other),
    }
}

/// 4xx: the command may succeed if repeated (421 closing, 425 no data
/// connection, 450 file busy, 451 local error, 452 no space for now).
fn retry_for(code: u32) -> Retry {
    if (400..500).contains(&code) { Retry::Temporary } else { Retry::Permanent }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_failure_is_said_once_with_a_hint() {
        let nested = || {
            FtpError::SecureError("Secure error: invalid peer certificate: BadSignature".to_owned())
        };
        let e = tls_error(nested(), "h:21", false).to_string();
        assert_eq!(e.matches("invalid peer certificate").count(), 1, "{e}");
        assert!(!e.to_lowercase().contains("secure error"), "{e}");
        assert!(e.contains("?ca="), "{e}");
        assert!(!tls_error(nested(), "h:21", true).to_string().contains("?ca="));
        let data = ftp_error(nested(), "LIST", "h:21").to_string();
        assert!(!data.to_lowercase().contains("secure error"), "{data}");
    }
}
