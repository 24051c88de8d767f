//! The rustls configuration: ring provider, certificate verification always on.

use std::path::PathBuf;
use std::sync::Arc;

use hpc_core::{Error, Result};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Which certificate authorities are trusted.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsRoots {
    /// Leave out the bundled Mozilla roots and the system's store (only
    /// `extra_pem`/`extra_files` are trusted).
    pub(crate) only_extra: bool,
    /// Extra CA certificates in PEM files (site CAs, test CAs).
    pub(crate) extra_files: Vec<PathBuf>,
    /// Extra CA certificates as PEM text.
    pub(crate) extra_pem: Vec<Vec<u8>>,
    /// Accept any server certificate (the explicitly named insecure switch).
    pub(crate) insecure: bool,
}

impl TlsRoots {
    pub(crate) fn client_config(&self) -> Result<rustls::ClientConfig> {
        if self.insecure {
            return insecure_config();
        }
        let mut roots = RootCertStore::empty();
        if !self.only_extra {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            // HPC sites often add their own CA to the system store; a store
            // that cannot be read is not fatal since the bundled roots remain.
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
        }
        for file in &self.extra_files {
            let certs = CertificateDer::pem_file_iter(file)
                .map_err(|e| bad_ca(&file.display().to_string(), e))?;
            add_all(&mut roots, certs, &file.display().to_string())?;
        }
        for pem in &self.extra_pem {
            add_all(&mut roots, CertificateDer::pem_slice_iter(pem), "PEM text")?;
        }
        if roots.is_empty() {
            return Err(Error::InvalidInput(
                "no trusted certificate authority configured for TLS".into(),
            ));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::InvalidInput(format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(config)
    }
}

fn add_all<E: std::fmt::Display>(
    roots: &mut RootCertStore,
    certs: impl Iterator<Item = std::result::Result<CertificateDer<'static>, E>>,
    source: &str,
) -> Result<()> {
    let mut n = 0;
    for cert in certs {
        let cert = cert.map_err(|e| bad_ca(source, e))?;
        roots.add(cert).map_err(|e| bad_ca(source, e))?;
        n += 1;
    }
    if n == 0 {
        return Err(bad_ca(source, "no certificate found"));
    }
    Ok(())
}

fn bad_ca(source: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("cannot load CA certificates from {source}: {e}"))
}

/// A configuration that accepts any certificate and any name: the caller asked
/// for it by name (`insecure_accept_any_certificate`), and it is logged as a warning.
fn insecure_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAny(provider.clone()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidInput(format!("TLS setup failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// Accepts every server certificate; signatures are still checked so that the
/// handshake itself stays sound.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
