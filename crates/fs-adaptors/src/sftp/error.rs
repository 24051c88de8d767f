//! SFTP failures as `hpc_core::Error` variants. A status reply is the
//! server's whole answer and becomes the message; a client failure keeps
//! russh-sftp's error as the source. No SFTP status means "try later", so
//! remote errors are permanent; a lost connection is retryable by its kind.

use std::fmt::Display;

use hpc_core::Error;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{Status, StatusCode};

/// Map a status reply for `op` on `path`.
pub(super) fn from_status(host: &str, op: &str, path: impl Display, s: Status) -> Error {
    let message = s.error_message.trim().to_owned();
    match s.status_code {
        StatusCode::NoSuchFile => Error::path_not_found(path),
        StatusCode::PermissionDenied => {
            Error::PermissionDenied { what: format!("{op} {path}"), message }
        }
        StatusCode::OpUnsupported => {
            Error::unsupported("sftp", format!("{op} (refused by {host})"))
        }
        StatusCode::NoConnection | StatusCode::ConnectionLost => Error::ConnectionLost {
            host: host.to_owned(),
            reason: format!("{op} {path}: {message}"),
            source: None,
        },
        code => Error::remote(
            "sftp",
            Some(code as u32),
            format!("{op} {path}: {}", if message.is_empty() { code.to_string() } else { message }),
        ),
    }
}

/// The status code of a status error.
pub(super) fn status_code(e: &SftpError) -> Option<StatusCode> {
    match e {
        SftpError::Status(s) => Some(s.status_code),
        _ => None,
    }
}

pub(super) trait SftpErrorExt {
    /// This failure of `op` on `path`.
    fn at(self, host: &str, op: &str, path: impl Display) -> Error;
    /// A failure outside any one path (session start, limits).
    fn lost(self, host: &str, what: &str) -> Error;
}

impl SftpErrorExt for SftpError {
    fn at(self, host: &str, op: &str, path: impl Display) -> Error {
        match self {
            SftpError::Status(s) => from_status(host, op, path, s),
            SftpError::Limited(m) => Error::InvalidInput(format!("{op} {path}: {m}")),
            SftpError::Timeout => Error::ConnectionLost {
                host: host.to_owned(),
                reason: format!("no reply to {op} {path} in time"),
                source: None,
            },
            e @ (SftpError::IO(_) | SftpError::UnexpectedBehavior(_)) => {
                Error::connection_lost(host, e).during(format_args!("{op} {path}"))
            }
            SftpError::UnexpectedPacket => {
                Error::remote("sftp", None, format!("{op} {path}: unexpected reply packet"))
            }
        }
    }

    fn lost(self, host: &str, what: &str) -> Error {
        match self {
            SftpError::Status(s) => from_status(host, what, "", s),
            other => Error::connection_lost(host, other).during(what),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpc_core::ErrorKind;

    fn status(code: StatusCode, msg: &str) -> SftpError {
        SftpError::Status(Status {
            id: 1,
            status_code: code,
            error_message: msg.into(),
            language_tag: String::new(),
        })
    }

    #[test]
    fn kinds() {
        let k = |e: SftpError| e.at("h:22", "open", "/x").kind();
        assert_eq!(k(status(StatusCode::NoSuchFile, "No such file")), ErrorKind::NotFound);
        assert_eq!(
            k(status(StatusCode::PermissionDenied, "Permission denied")),
            ErrorKind::PermissionDenied
        );
        assert_eq!(k(status(StatusCode::Failure, "Failure")), ErrorKind::Remote);
        assert_eq!(k(status(StatusCode::OpUnsupported, "")), ErrorKind::Unsupported);
        assert_eq!(k(SftpError::Timeout), ErrorKind::Connection);
        assert_eq!(k(SftpError::IO("broken pipe".into())), ErrorKind::Connection);
        let text = status(StatusCode::Failure, "Failure").at("h:22", "mkdir", "/d").to_string();
        assert_eq!(text, "sftp error 4: mkdir /d: Failure");
    }
}
