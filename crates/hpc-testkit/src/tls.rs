//! TLS for the test servers: a CA made at start and a server certificate
//! it signs for the given names (host names or IP addresses); clients trust
//! the CA's PEM.

use std::sync::Arc;

use hpc_core::{Error, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// The TLS acceptor (offering `alpn`) and the CA certificate (PEM) named
/// `ca_name`; the server certificate names `names`, the first as its
/// common name.
pub(crate) fn acceptor(
    ca_name: &str,
    names: &[&str],
    alpn: &[&[u8]],
) -> Result<(tokio_rustls::TlsAcceptor, String)> {
    let bad = |e: rcgen::Error| Error::InvalidInput(format!("making the test CA failed: {e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(bad)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(bad)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(bad)?;
    let issuer = Issuer::new(ca, ca_key);

    let sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut server = CertificateParams::new(sans).map_err(bad)?;
    server
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("localhost"));
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
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca_cert.pem()))
}
