//! Errors as xenon-grpc reports them: a gRPC status code (the Java server's mapping)
//! and a message that starts with the Xenon exception's class name, which PyXenon's
//! `xenon.exceptions.make_exception` turns into that exception class.

use hpckit::core::{Error, ErrorKind, NotFoundKind};
use tonic::{Code, Status};

/// A Xenon exception on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct XenonError {
    pub(crate) code: Code,
    /// Simple class name of the Xenon exception (`NoSuchPathException`).
    pub(crate) class: &'static str,
    /// Adaptor name, as Xenon puts it in front of every message.
    pub(crate) adaptor: String,
    pub(crate) message: String,
}

impl XenonError {
    pub(crate) fn new(
        code: Code,
        class: &'static str,
        adaptor: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        XenonError { code, class, adaptor: adaptor.into(), message: message.into() }
    }

    /// Maps an hpckit error raised by `adaptor` (Xenon's name) onto Xenon's exception
    /// classes and the status codes the Java server gives them.
    pub(crate) fn from_hpckit(adaptor: &str, e: &Error) -> Self {
        let (code, class) = match e {
            Error::NotFound { kind: NotFoundKind::Job, .. } => {
                (Code::NotFound, "NoSuchJobException")
            }
            Error::NotFound { kind: NotFoundKind::Path, .. } => {
                (Code::NotFound, "NoSuchPathException")
            }
            Error::NotFound { kind: NotFoundKind::Queue, .. } => {
                (Code::NotFound, "NoSuchQueueException")
            }
            Error::NotFound { kind: NotFoundKind::Host, .. } => {
                (Code::FailedPrecondition, "InvalidLocationException")
            }
            Error::NotFound { .. } | Error::InvalidJobDescription(_) => {
                (Code::FailedPrecondition, "InvalidJobDescriptionException")
            }
            Error::InvalidLocation { .. } | Error::UnknownScheme { .. } => {
                (Code::FailedPrecondition, "InvalidLocationException")
            }
            Error::Authentication { .. } => {
                (Code::FailedPrecondition, "InvalidCredentialException")
            }
            Error::AlreadyExists { .. } => (Code::AlreadyExists, "PathAlreadyExistsException"),
            Error::Unsupported { .. } => (Code::Unimplemented, "UnsupportedOperationException"),
            _ => match e.kind() {
                ErrorKind::InvalidInput => (Code::InvalidArgument, "XenonException"),
                ErrorKind::Connection => (Code::Unavailable, "NotConnectedException"),
                // A service that said "not now" (a batch controller down, an
                // HTTP 503): gRPC's code for "the same call may work later".
                ErrorKind::Remote if e.is_retryable() => (Code::Unavailable, "XenonException"),
                ErrorKind::Timeout => (Code::DeadlineExceeded, "XenonException"),
                ErrorKind::Cancelled => (Code::Cancelled, "XenonException"),
                ErrorKind::PermissionDenied => (Code::PermissionDenied, "XenonException"),
                _ => (Code::Internal, "XenonException"),
            },
        };
        XenonError::new(code, class, adaptor, e.to_string())
    }

    /// A handle (scheduler, file system, copy) that this server does not know.
    pub(crate) fn no_such(what: &str, id: &str) -> Self {
        let class = if what == "copy" { "NoSuchCopyException" } else { "XenonException" };
        XenonError::new(
            Code::NotFound,
            class,
            "grpc",
            format!("no {what} with id {id:?} (closed, or never created here)"),
        )
    }

    /// A request that lacks a field the RPC needs.
    pub(crate) fn missing(field: &str) -> Self {
        XenonError::new(
            Code::InvalidArgument,
            "XenonException",
            "grpc",
            format!("the request has no {field}"),
        )
    }
}

impl From<XenonError> for Status {
    fn from(e: XenonError) -> Status {
        Status::new(e.code, format!("{}: {} adaptor: {}", e.class, e.adaptor, e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyXenon takes the text before the first `:` (after the last `.`) as the class name.
    fn pyxenon_class(details: &str) -> &str {
        details[..details.find(':').unwrap()].rsplit('.').next().unwrap()
    }

    #[test]
    fn hpckit_errors_become_the_xenon_exceptions_pyxenon_knows() {
        let cases = [
            (Error::path_not_found("/x"), Code::NotFound, "NoSuchPathException"),
            (Error::job_not_found("17"), Code::NotFound, "NoSuchJobException"),
            (
                Error::AlreadyExists { path: "/x".into() },
                Code::AlreadyExists,
                "PathAlreadyExistsException",
            ),
            (
                Error::unsupported("s3", "append"),
                Code::Unimplemented,
                "UnsupportedOperationException",
            ),
            (
                Error::Authentication {
                    user: "u".into(),
                    host: "h".into(),
                    reason: "denied".into(),
                },
                Code::FailedPrecondition,
                "InvalidCredentialException",
            ),
            (
                Error::InvalidLocation { location: "x".into(), reason: "bad".into() },
                Code::FailedPrecondition,
                "InvalidLocationException",
            ),
            (
                Error::connect("h", std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
                Code::Unavailable,
                "NotConnectedException",
            ),
            (
                Error::CommandFailed {
                    command: "sbatch".into(),
                    exit_code: Some(1),
                    stderr: "no".into(),
                },
                Code::Internal,
                "XenonException",
            ),
            (
                Error::Remote {
                    service: "slurm".into(),
                    status: None,
                    message: "`squeue`: the controller did not answer: connect failure".into(),
                    retry: hpckit::core::error::Retry::Temporary,
                    source: None,
                },
                Code::Unavailable,
                "XenonException",
            ),
        ];
        for (e, code, class) in cases {
            let status = Status::from(XenonError::from_hpckit("sftp", &e));
            assert_eq!(status.code(), code, "{e}");
            assert_eq!(pyxenon_class(status.message()), class, "{}", status.message());
            assert!(
                status.message().ends_with(&format!("sftp adaptor: {e}")),
                "{}",
                status.message()
            );
        }
    }
}
