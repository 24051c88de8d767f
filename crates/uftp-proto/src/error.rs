//! UFTPD's answers as [`hpc_core::Error`]: a reply code keeps the server's
//! words and the command it answered (never a secret: `PASS` is shown as
//! `PASS ***`).

use hpc_core::error::Retry;
use hpc_core::{Error, NotFoundKind};

/// The service name in every error of this crate.
pub(crate) const SERVICE: &str = "uftp";

/// The error for a negative reply `code text` to `command` (its first word
/// and argument, as sent) on `host`.
pub(crate) fn from_reply(host: &str, command: &str, code: u16, text: &str) -> Error {
    let message = server_words(text);
    let verb = command.split(' ').next().unwrap_or(command).to_ascii_uppercase();
    let arg = command.split_once(' ').map(|(_, a)| a).unwrap_or("");
    match code {
        530 => Error::Authentication {
            user: "anonymous".into(),
            host: host.to_owned(),
            reason: format!(
                "UFTPD refused the one-time secret ({code} {message}); authenticate again"
            ),
        },
        550 if looks_missing(&message) => {
            Error::NotFound { kind: NotFoundKind::Path, name: arg.to_owned() }
        }
        534 => Error::PermissionDenied {
            what: format!("{verb} {arg}"),
            message: format!("{code} {message}"),
        },
        550 if message.to_ascii_lowercase().contains("permission") => Error::PermissionDenied {
            what: format!("{verb} {arg}"),
            message: format!("{code} {message}"),
        },
        502 => Error::unsupported(SERVICE, format!("{verb} (502 {message})")),
        _ if verb == "MKD" && message.to_ascii_lowercase().contains("exists") => {
            Error::AlreadyExists { path: arg.to_owned() }
        }
        // A 4xx reply is FTP's "try again later" (RFC 959 section 4.2).
        _ => Error::remote(SERVICE, Some(u32::from(code)), format!("{command}: {message}"))
            .with_retry(if (400..500).contains(&code) {
                Retry::Temporary
            } else {
                Retry::Permanent
            }),
    }
}

/// UFTPD's `Error processing command 'X': msg` reduced to `msg`.
fn server_words(text: &str) -> String {
    let t = text.trim();
    let t = match t.strip_prefix("Error processing command '") {
        Some(rest) => rest.split_once("': ").map(|(_, m)| m).unwrap_or(rest),
        None => t,
    };
    t.replace(['\r', '\n'], " ")
}

fn looks_missing(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("not exist")
        || m.contains("not found")
        || m.contains("no such")
        || m.contains("nosuchfile")
        || m.contains("does not exist")
}

/// A reply line that is not `ddd text` / `ddd-text`.
pub(crate) fn malformed(host: &str, after: &str, line: &str) -> Error {
    Error::parse(
        format!("uftp {after} on {host}"),
        "a reply line must start with a three-digit code",
        clip(line),
    )
}

/// A reply whose code is not the expected one.
pub(crate) fn unexpected(host: &str, command: &str, code: u16, text: &str) -> Error {
    if code >= 400 {
        return from_reply(host, command, code, text);
    }
    Error::parse(
        format!("uftp {command} on {host}"),
        format!("unexpected reply code {code}"),
        clip(&format!("{code} {text}")),
    )
}

/// The connection broke while doing `what` (the I/O error kept as the source).
pub(crate) fn lost(host: &str, what: &str, e: std::io::Error) -> Error {
    Error::connection_lost(host, e).during(what)
}

/// The peer ended the connection while doing `what`; `how` says where.
pub(crate) fn ended(host: &str, what: &str, how: &str) -> Error {
    Error::ConnectionLost { host: host.to_owned(), reason: format!("{what}: {how}"), source: None }
}

/// A transfer of `path` whose data connections ended after `got` of the
/// `expected` bytes.
pub(crate) fn short(host: &str, path: &str, got: u64, expected: u64) -> Error {
    ended(host, path, &format!("the data connection closed after {got} of {expected} bytes"))
}

/// A data connection's bytes do not follow the protocol.
pub(crate) fn bad_data(host: &str, what: impl Into<String>) -> Error {
    Error::parse(format!("uftp data connection to {host}"), what, "")
}

/// At most 200 characters of a line for an error message.
pub(crate) fn clip(line: &str) -> String {
    let mut s: String = line.chars().take(200).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpc_core::ErrorKind;

    #[test]
    fn replies_become_kinds() {
        let e = from_reply(
            "h:1",
            "RETR x",
            550,
            "Error processing command 'RETR': File does not exist",
        );
        assert!(e.is_not_found(), "{e}");
        let e =
            from_reply("h:1", "PASS ***", 530, "Not logged in: no matching transfer request found");
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(!e.to_string().contains('\n'));
        let e = from_reply("h:1", "CWD /etc", 534, "Error processing command 'CWD': out of jail");
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let e = from_reply("h:1", "SITE x", 502, "Command not implemented.");
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        let e = from_reply("h:1", "SIZE x", 500, "Error processing command 'SIZE': boom");
        assert_eq!(e.to_string(), "uftp error 500: SIZE x: boom");
    }
}
