//! The rustls configuration: ring provider, certificate verification always on.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use hpc_core::{Error, Result};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
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
        let mut added = RootCertStore::empty();
        for file in &self.extra_files {
            let certs = CertificateDer::pem_file_iter(file)
                .map_err(|e| bad_ca(&file.display().to_string(), e))?;
            add_all(&mut added, certs, &file.display().to_string())?;
        }
        for pem in &self.extra_pem {
            add_all(&mut added, CertificateDer::pem_slice_iter(pem), "PEM text")?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::InvalidInput(format!("TLS setup failed: {e}")))?;
        if self.only_extra {
            if added.is_empty() {
                return Err(Error::InvalidInput(
                    "no trusted certificate authority configured for TLS".into(),
                ));
            }
            return Ok(builder.with_root_certificates(added).with_no_client_auth());
        }
        // The added CAs, else the bundled roots, verify most servers; the
        // system store (a hundred-odd files, parsed twice over: several
        // milliseconds of every command's start) is read only for a server
        // they do not vouch for.
        let first = if added.is_empty() { bundled_roots() } else { added.clone() };
        let verifier = Layered::new(first, provider, move || {
            let mut all = bundled_roots();
            all.extend(added.roots.iter().cloned());
            for cert in native_roots() {
                // One unusable certificate of the system's must not cost the rest.
                let _ = all.add(cert.clone());
            }
            all
        })?;
        Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth())
    }
}

fn bundled_roots() -> RootCertStore {
    RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

/// The system's certificate store, read once per process. HPC sites often
/// add their own CA there; a store that cannot be read is not fatal since
/// the bundled roots remain.
fn native_roots() -> &'static [CertificateDer<'static>] {
    static NATIVE: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    NATIVE.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// Verifies with a small set of roots first and, for a chain they do not
/// vouch for, with every trusted root, built on first need: trusting the
/// union of both, as one verifier over all of them would, without paying
/// for the whole set on every start. The second verifier's answer is the
/// one given, so an error names the full set's verdict.
struct Layered {
    first: Arc<WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    all: OnceLock<std::result::Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
    load_all: Box<dyn Fn() -> RootCertStore + Send + Sync>,
}

impl std::fmt::Debug for Layered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered")
            .field("all_loaded", &self.all.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Layered {
    fn new(
        first: RootCertStore,
        provider: Arc<rustls::crypto::CryptoProvider>,
        load_all: impl Fn() -> RootCertStore + Send + Sync + 'static,
    ) -> Result<Self> {
        let first = verifier(first, &provider)
            .map_err(|e| Error::InvalidInput(format!("TLS setup failed: {e}")))?;
        Ok(Self { first, provider, all: OnceLock::new(), load_all: Box::new(load_all) })
    }

    fn all(&self) -> std::result::Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.all
            .get_or_init(|| verifier((self.load_all)(), &self.provider))
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn verifier(
    roots: RootCertStore,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> std::result::Result<Arc<WebPkiServerVerifier>, rustls::Error> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| rustls::Error::General(format!("no usable certificate authority: {e}")))
}

impl ServerCertVerifier for Layered {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.first
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .or_else(|_| {
                self.all()?.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                )
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.first.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.first.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.first.supported_verify_schemes()
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

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{ServerName, UnixTime};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A CA and the `localhost` certificate it signed.
    fn ca_and_leaf() -> (CertificateDer<'static>, CertificateDer<'static>) {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&KeyPair::generate().unwrap(), &issuer)
            .unwrap();
        (ca_cert.der().clone(), leaf.der().clone())
    }

    fn store(certs: &[&CertificateDer<'static>]) -> RootCertStore {
        let mut s = RootCertStore::empty();
        for c in certs {
            s.add((*c).clone()).unwrap();
        }
        s
    }

    #[test]
    fn the_full_set_is_built_only_for_a_chain_the_first_roots_do_not_vouch_for() {
        let (ca_first, leaf_first) = ca_and_leaf();
        let (ca_later, leaf_later) = ca_and_leaf();
        let (_, leaf_unknown) = ca_and_leaf();
        let loads = Arc::new(AtomicUsize::new(0));
        let counted = loads.clone();
        let all = store(&[&ca_first, &ca_later]);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let v = Layered::new(store(&[&ca_first]), provider, move || {
            counted.fetch_add(1, Ordering::SeqCst);
            all.clone()
        })
        .unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let check = |leaf: &CertificateDer<'_>| {
            v.verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
        };

        check(&leaf_first).unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 0, "the first roots sufficed");
        check(&leaf_later).unwrap();
        check(&leaf_later).unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 1, "built once, on first need");
        let e = check(&leaf_unknown).unwrap_err();
        assert!(matches!(e, rustls::Error::InvalidCertificate(_)), "{e:?}");
        // The wrong name is refused even by a root of the first set.
        let other = ServerName::try_from("example.org").unwrap();
        assert!(v.verify_server_cert(&leaf_first, &[], &other, &[], UnixTime::now()).is_err());
    }
}
