//! A CA and a server certificate for the name `localhost` only (so a client
//! that reaches the server as `127.0.0.1` meets a name mismatch), made at
//! start; the CA's PEM is written to `<state_dir>/ca.pem` for clients to trust.

use hpc_core::Result;

/// The TLS acceptor and the CA certificate (PEM).
pub(crate) fn make() -> Result<(tokio_rustls::TlsAcceptor, String)> {
    crate::tls::acceptor("hpckit UNICORE test CA", &["localhost"], &[b"http/1.1"])
}
