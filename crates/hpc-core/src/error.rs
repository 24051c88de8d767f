//! The one error type every trait in hpckit returns.
//!
//! Each variant is a distinct, matchable failure. Messages are one line, start
//! lower-case, carry no final period and never contain a secret: credentials
//! are not part of any variant. Remote failures keep the command that ran, the
//! exit code and the remote side's own message.
//!
//! A failure that came from a library (russh, hyper, suppaftp, quick-xml,
//! serde_json, io, ...) keeps that library's error as its [`Cause`]:
//! `source()` returns it, so `anyhow` chains and downcasts reach it. The
//! message says the cause's text too, so that a plain `{e}` (a log line) is
//! complete; whoever prints the whole chain should leave out a source whose
//! text is already there, as [`chain_text`] does.

use std::fmt;
use std::io;
use std::time::Duration;

mod cause;

pub use cause::{Cause, chain_text};

/// Result alias with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotFoundKind {
    /// A job id the scheduler does not know (never existed, or purged).
    Job,
    /// A file or directory.
    Path,
    /// A queue or partition.
    Queue,
    /// The program a job or command should run.
    Executable,
    /// A host name that does not resolve.
    Host,
    /// A named resource of one adaptor or service, which it names here
    /// (`Resource("workspace")`): what the kinds above do not cover.
    Resource(&'static str),
}

impl fmt::Display for NotFoundKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotFoundKind::Job => "job",
            NotFoundKind::Path => "path",
            NotFoundKind::Queue => "queue",
            NotFoundKind::Executable => "executable",
            NotFoundKind::Host => "host",
            NotFoundKind::Resource(what) => what,
        })
    }
}

/// Why a host key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostKeyProblem {
    /// The host is not in any known_hosts file and accepting new keys was not asked for.
    Unknown {
        /// SHA-256 fingerprint of the key the server offered.
        fingerprint: String,
    },
    /// known_hosts has a different key for this host: possibly an attack.
    Changed {
        /// SHA-256 fingerprint of the key the server offered.
        fingerprint: String,
        /// Where the conflicting entry is (`file:line`).
        known_hosts: String,
    },
}

impl fmt::Display for HostKeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostKeyProblem::Unknown { fingerprint } => write!(
                f,
                "host key {fingerprint} is not in known_hosts (add it, or allow accept-new)"
            ),
            HostKeyProblem::Changed { fingerprint, known_hosts } => write!(
                f,
                "host key {fingerprint} does NOT match the key recorded at {known_hosts}; \
                 someone may be intercepting the connection"
            ),
        }
    }
}

/// Whether repeating a request that a service refused may succeed: the
/// adaptor that reads the protocol's answer decides (an FTP 4xx reply, an
/// HTTP 429 or 503 is temporary), so that nothing here knows any protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Retry {
    /// The same request will fail the same way.
    #[default]
    Permanent,
    /// The service is briefly unable or unwilling: the same request may succeed later.
    Temporary,
}

/// The error of every hpckit trait method.
///
/// `Clone` (causes are shared) and 80 bytes (checked by a test: a field that
/// would make it larger goes into a `Box`).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A location string (URL) that cannot be parsed.
    #[error("invalid location {:?}: {}", capped(location), capped(reason))]
    InvalidLocation {
        /// The text as given (never contains a password: those are rejected first).
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL scheme no adaptor handles.
    #[error("unknown scheme {scheme:?} (supported: {supported})")]
    UnknownScheme {
        /// The scheme as given.
        scheme: String,
        /// Comma-separated list of the schemes that are handled.
        supported: String,
    },
    /// A job description that cannot be submitted as it is.
    #[error("invalid job description: {0}")]
    InvalidJobDescription(String),
    /// Any other argument that is invalid before anything is sent.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A job, path, queue, executable or host that does not exist.
    #[error("{kind} not found: {name}")]
    NotFound {
        /// What kind of thing.
        kind: NotFoundKind,
        /// Its name or id.
        name: String,
    },
    /// The target of a create or copy already exists.
    #[error("already exists: {path}")]
    AlreadyExists {
        /// The path that exists.
        path: String,
    },
    /// The remote side refused an operation for lack of rights.
    #[error("permission denied: {what}{}", detail(.message))]
    PermissionDenied {
        /// What was attempted (path, queue, ...).
        what: String,
        /// The server's own words, if any.
        message: String,
    },
    /// Login failed (wrong password, key not accepted, no method left).
    #[error("authentication failed for {user}@{host}: {reason}")]
    Authentication {
        /// User name tried.
        user: String,
        /// Host (and port) tried.
        host: String,
        /// Which methods were tried and what the server said; never a secret.
        reason: String,
    },
    /// The server's host key was not accepted.
    #[error("host key verification failed for {host}: {problem}")]
    HostKey {
        /// Host (and port).
        host: String,
        /// Unknown or changed.
        problem: HostKeyProblem,
    },
    /// The server could not be reached (refused, no route, DNS, timeout during connect).
    #[error("cannot connect to {host}: {reason}")]
    Connect {
        /// Host (and port).
        host: String,
        /// The underlying reason.
        reason: String,
        /// The transport's or library's own error, if there was one.
        #[source]
        source: Option<Cause>,
    },
    /// An established connection broke.
    #[error("connection to {host} lost: {reason}")]
    ConnectionLost {
        /// Host (and port).
        host: String,
        /// The underlying reason.
        reason: String,
        /// The transport's or library's own error, if there was one.
        #[source]
        source: Option<Cause>,
    },
    /// The server refused to open a channel (session, forwarding, subsystem).
    #[error("{host} refused to open a {channel} channel: {reason}")]
    ChannelRefused {
        /// Host (and port).
        host: String,
        /// Kind of channel.
        channel: String,
        /// The server's reason.
        reason: String,
    },
    /// A command (scheduler command, remote helper) exited unsuccessfully.
    #[error("`{command}` failed ({}){}", exit_text(*.exit_code), detail(&last_line(.stderr)))]
    CommandFailed {
        /// The command line that ran (no secrets are ever put on a command line).
        command: String,
        /// Its exit code, if it exited normally.
        exit_code: Option<i32>,
        /// Its complete standard error.
        stderr: String,
    },
    /// Output of a remote command or server that does not match the expected format.
    #[error("cannot parse output of `{command}`: {reason}; raw: {line:?}")]
    Parse {
        /// The command (or request) whose output this is.
        command: String,
        /// What was expected.
        reason: String,
        /// The offending raw line or fragment.
        line: String,
        /// The parser's own error (quick-xml, serde_json, ...), if there was one.
        #[source]
        source: Option<Cause>,
    },
    /// The adaptor cannot do this operation.
    #[error("{operation} is not supported by the {adaptor} adaptor")]
    Unsupported {
        /// The adaptor name.
        adaptor: String,
        /// The operation.
        operation: String,
    },
    /// An operation did not finish in time.
    #[error("{what} timed out after {}", fmt_duration(*.after))]
    Timeout {
        /// What was waited for.
        what: String,
        /// The limit.
        after: Duration,
    },
    /// The operation was cancelled by the caller.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// A file was replaced or modified on the server while it was being read
    /// in several requests; the bytes read so far belong to another version.
    #[error("{path} changed on the server while it was being read ({detail}); read it again")]
    Changed {
        /// The file.
        path: String,
        /// How the change was noticed (an ETag that no longer matches, ...).
        detail: String,
    },
    /// A service answered with an error (HTTP status, FTP reply, SFTP status).
    #[error("{service} error{}: {message}", status_text(*.status))]
    Remote {
        /// Which service (`webdav`, `s3`, `ftp`, `sftp`, `slurm`, ...).
        service: String,
        /// Numeric status where the protocol has one.
        status: Option<u32>,
        /// The server's message.
        message: String,
        /// Whether the same request may succeed later, as the adaptor read the answer.
        retry: Retry,
        /// The client library's own error, if there was one.
        #[source]
        source: Option<Cause>,
    },
    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: Cause,
    },
}

/// A field quoted in a message, cut at [`crate::text::QUOTE_LIMIT`].
fn capped(text: &str) -> std::borrow::Cow<'_, str> {
    crate::text::cap(text, crate::text::QUOTE_LIMIT)
}

fn detail(message: &str) -> String {
    if message.trim().is_empty() { String::new() } else { format!(": {}", message.trim()) }
}

fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_owned(),
    }
}

fn status_text(status: Option<u32>) -> String {
    status.map(|s| format!(" {s}")).unwrap_or_default()
}

/// The last non-empty line of a command's stderr: schedulers put the reason there.
fn last_line(text: &str) -> String {
    let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    crate::text::quote("stderr line", line)
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// Coarse classification of an [`Error`], for callers that branch on the kind only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad input detected before anything was sent.
    InvalidInput,
    /// Something does not exist.
    NotFound,
    /// Something exists that should not.
    AlreadyExists,
    /// Not allowed.
    PermissionDenied,
    /// Login failed.
    Authentication,
    /// Host key not accepted.
    HostKey,
    /// Network or transport failure.
    Connection,
    /// A remote command or service reported failure.
    Remote,
    /// Output could not be understood.
    Parse,
    /// Not supported by this adaptor.
    Unsupported,
    /// Ran out of time.
    Timeout,
    /// Cancelled by the caller.
    Cancelled,
    /// The file changed on the server during a read.
    Changed,
    /// Local I/O.
    Io,
}

impl ErrorKind {
    /// Every kind, for tables and tests that must cover them all (a test
    /// keeps it complete).
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::PermissionDenied,
        ErrorKind::Authentication,
        ErrorKind::HostKey,
        ErrorKind::Connection,
        ErrorKind::Remote,
        ErrorKind::Parse,
        ErrorKind::Unsupported,
        ErrorKind::Timeout,
        ErrorKind::Cancelled,
        ErrorKind::Changed,
        ErrorKind::Io,
    ];
}

impl Error {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidLocation { .. }
            | Error::UnknownScheme { .. }
            | Error::InvalidJobDescription(_)
            | Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::Authentication { .. } => ErrorKind::Authentication,
            Error::HostKey { .. } => ErrorKind::HostKey,
            Error::Connect { .. } | Error::ConnectionLost { .. } | Error::ChannelRefused { .. } => {
                ErrorKind::Connection
            }
            Error::CommandFailed { .. } | Error::Remote { .. } => ErrorKind::Remote,
            Error::Parse { .. } => ErrorKind::Parse,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Cancelled(_) => ErrorKind::Cancelled,
            Error::Changed { .. } => ErrorKind::Changed,
            Error::Io { .. } => ErrorKind::Io,
        }
    }

    /// Whether repeating the same idempotent request may succeed.
    ///
    /// True for transport failures and timeouts, and for remote errors the
    /// adaptor marked [`Retry::Temporary`] (an HTTP 429 or 5xx, an FTP 4xx).
    /// Submissions are never idempotent: callers must not retry them on this
    /// basis alone.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::ConnectionLost { .. } | Error::Timeout { .. } => true,
            Error::Remote { retry, .. } => *retry == Retry::Temporary,
            _ => false,
        }
    }

    /// Shorthand for [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// A job id that is not known.
    pub fn job_not_found(id: impl fmt::Display) -> Self {
        Error::NotFound { kind: NotFoundKind::Job, name: id.to_string() }
    }

    /// A path that does not exist.
    pub fn path_not_found(path: impl fmt::Display) -> Self {
        Error::NotFound { kind: NotFoundKind::Path, name: path.to_string() }
    }

    /// An operation this adaptor cannot do.
    pub fn unsupported(adaptor: impl Into<String>, operation: impl Into<String>) -> Self {
        Error::Unsupported { adaptor: adaptor.into(), operation: operation.into() }
    }

    /// Wrap a local I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io { context: context.into(), source: Cause::new(source) }
    }

    /// `host` could not be reached; the reason is `cause`'s text.
    pub fn connect(host: impl Into<String>, cause: impl Into<Cause>) -> Self {
        let source = cause.into();
        Error::Connect { host: host.into(), reason: source.text(), source: Some(source) }
    }

    /// The connection to `host` broke; the reason is `cause`'s text.
    pub fn connection_lost(host: impl Into<String>, cause: impl Into<Cause>) -> Self {
        let source = cause.into();
        Error::ConnectionLost { host: host.into(), reason: source.text(), source: Some(source) }
    }

    /// Output of `command` that does not match what was expected.
    pub fn parse(
        command: impl Into<String>,
        reason: impl Into<String>,
        line: impl Into<String>,
    ) -> Self {
        Error::Parse {
            command: command.into(),
            reason: reason.into(),
            line: crate::text::quote("unparsed output", &line.into()),
            source: None,
        }
    }

    /// A service's error answer, [`Retry::Permanent`] until
    /// [`with_retry`](Self::with_retry) says otherwise.
    pub fn remote(
        service: impl Into<String>,
        status: Option<u32>,
        message: impl Into<String>,
    ) -> Self {
        Error::Remote {
            service: service.into(),
            status,
            message: message.into(),
            retry: Retry::Permanent,
            source: None,
        }
    }

    /// This error with `what` (the request or step) put before the reason of a
    /// [`Connect`](Self::Connect) or [`ConnectionLost`](Self::ConnectionLost)
    /// or the message of a [`Remote`](Self::Remote); other variants name
    /// what failed already and are returned as they are.
    #[must_use]
    pub fn during(mut self, what: impl fmt::Display) -> Self {
        if let Error::Connect { reason: text, .. }
        | Error::ConnectionLost { reason: text, .. }
        | Error::Remote { message: text, .. } = &mut self
        {
            *text = format!("{what}: {text}");
        }
        self
    }

    /// This error with `cause` kept as its source, for the variants that keep
    /// one ([`Connect`](Self::Connect), [`ConnectionLost`](Self::ConnectionLost),
    /// [`Parse`](Self::Parse), [`Remote`](Self::Remote), [`Io`](Self::Io));
    /// other variants are returned as they are.
    #[must_use]
    pub fn with_source(mut self, cause: impl Into<Cause>) -> Self {
        match &mut self {
            Error::Connect { source, .. }
            | Error::ConnectionLost { source, .. }
            | Error::Parse { source, .. }
            | Error::Remote { source, .. } => *source = Some(cause.into()),
            Error::Io { source, .. } => *source = cause.into(),
            _ => {}
        }
        self
    }

    /// A [`Remote`](Self::Remote) error marked temporary or permanent; other
    /// variants are returned as they are (their kind decides).
    #[must_use]
    pub fn with_retry(mut self, retry: Retry) -> Self {
        if let Error::Remote { retry: r, .. } = &mut self {
            *r = retry;
        }
        self
    }

    /// The library error underneath, if this error keeps one.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            Error::Connect { source, .. }
            | Error::ConnectionLost { source, .. }
            | Error::Parse { source, .. }
            | Error::Remote { source, .. } => source.as_ref(),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Map a local I/O error on `path` to the matching variant
    /// (not found, exists, permission denied, or plain I/O).
    pub fn from_io_path(op: &str, path: impl fmt::Display, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::NotFound => Error::path_not_found(path),
            io::ErrorKind::AlreadyExists => Error::AlreadyExists { path: path.to_string() },
            io::ErrorKind::PermissionDenied => {
                Error::PermissionDenied { what: format!("{op} {path}"), message: String::new() }
            }
            _ => Error::io(format!("{op} {path}"), source),
        }
    }
}

#[cfg(test)]
mod tests;
