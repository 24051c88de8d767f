//! Mapping russh failures to [`hpc_core::Error`].

use hpc_core::Error;
use russh::ChannelOpenFailure;

/// A short reason for a refused channel.
pub(crate) fn open_failure_text(f: &ChannelOpenFailure) -> String {
    match f {
        ChannelOpenFailure::AdministrativelyProhibited => "administratively prohibited".into(),
        ChannelOpenFailure::ConnectFailed => {
            "the server could not connect to the destination".into()
        }
        ChannelOpenFailure::UnknownChannelType => "unknown channel type".into(),
        ChannelOpenFailure::ResourceShortage => "resource shortage".into(),
        ChannelOpenFailure::Other { code, reason } => format!("code {code}: {reason}"),
    }
}

/// A failed channel open: refused by the server, or the connection is gone.
pub(crate) fn channel_error(host: &str, channel: &str, e: russh::Error) -> Error {
    match e {
        russh::Error::ChannelOpenFailure(f) => Error::ChannelRefused {
            host: host.to_owned(),
            channel: channel.to_owned(),
            reason: open_failure_text(&f),
        },
        other => lost(host, other),
    }
}

/// A refused `direct-tcpip` channel to `dest`.
pub(crate) fn tunnel_error(host: &str, dest: &str, e: russh::Error) -> Error {
    match e {
        russh::Error::ChannelOpenFailure(ChannelOpenFailure::ConnectFailed) => {
            Error::ChannelRefused {
                host: host.to_owned(),
                channel: "direct-tcpip".to_owned(),
                reason: format!("the server cannot connect to {dest}"),
            }
        }
        russh::Error::ChannelOpenFailure(f) => Error::ChannelRefused {
            host: host.to_owned(),
            channel: "direct-tcpip".to_owned(),
            reason: format!("{} (to {dest})", open_failure_text(&f)),
        },
        other => lost(host, other),
    }
}

/// The connection broke (or was closed) while in use; russh's error is the source.
pub(crate) fn lost(host: &str, e: russh::Error) -> Error {
    let reason = match &e {
        russh::Error::SendError | russh::Error::RecvError | russh::Error::Disconnect => {
            "the connection is closed".to_owned()
        }
        russh::Error::HUP => "closed by the server".to_owned(),
        russh::Error::KeepaliveTimeout => "no answer to keepalives".to_owned(),
        other => other.to_string(),
    };
    Error::ConnectionLost { host: host.to_owned(), reason, source: Some(e.into()) }
}

/// A failure while setting up a connection (transport or key exchange);
/// russh's error (or the io error inside it) is the source.
pub(crate) fn connect_error(host: &str, e: russh::Error) -> Error {
    match e {
        russh::Error::IO(io) => Error::connect(host, io),
        e => {
            let reason = match &e {
                russh::Error::Disconnect | russh::Error::HUP => {
                    "the server closed the connection during the handshake".to_owned()
                }
                russh::Error::NoCommonAlgo { kind, .. } => format!("no common {kind:?} algorithm"),
                other => other.to_string(),
            };
            Error::Connect { host: host.to_owned(), reason, source: Some(e.into()) }
        }
    }
}
