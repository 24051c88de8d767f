#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod auth;
mod body;
mod client;
mod request;
mod response;
mod retry;
mod tls;
pub mod url;

pub use body::Body;
pub use client::{HttpClient, HttpClientBuilder, Timeouts};
pub use http::{HeaderMap, Method, StatusCode};
pub use request::Request;
pub use response::Response;
pub use retry::{RetryConfig, retry_for_status};

/// The rustls client configuration hpc-http uses (ring provider, bundled
/// Mozilla roots plus the system store plus `extra_ca_files`), for other
/// TLS clients of hpckit (FTPS, UFTP) so that every connection trusts the
/// same authorities.
pub fn tls_client_config(
    extra_ca_files: &[std::path::PathBuf],
) -> hpc_core::Result<rustls::ClientConfig> {
    tls::TlsRoots {
        only_extra: false,
        extra_files: extra_ca_files.to_vec(),
        extra_pem: Vec::new(),
        insecure: false,
    }
    .client_config()
}
