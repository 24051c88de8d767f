//! A CA and a server certificate for the name `localhost` only (so a client
//! that reaches the server as `127.0.0.1` meets a name mismatch), made at
//! start; the CA's PEM is written to `<state_dir>/ca.pem` for clients to trust.

use std::sync::Arc;

use hpc_core::{Error, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// The TLS acceptor and the CA certificate (PEM).
pub(crate) fn make() -> Result<(tokio_rustls::TlsAcceptor, String)> {
    let bad = |e: rcgen::Error| Error::InvalidInput(format!("making the test CA failed: {e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(bad)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "hpckit UNICORE test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(bad)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(bad)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::new(vec!["localhost".to_owned()]).map_err(bad)?;
    server.distinguished_name.push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().map_err(bad)?;
    let cert = server.signed_by(&key, &issuer).map_err(bad)?;

    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| Error::InvalidInput(format!("server key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidInput(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .map_err(|e| Error::InvalidInput(format!("TLS setup: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca_cert.pem()))
}
