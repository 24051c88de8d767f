//! The S3 services of `cargo xtask services up s3`: moto (S3's semantics,
//! no signature checks) and s3s-fs (signatures checked, objects as files).

use fs_adaptors::s3::S3FileSystem;
use hpc_auth::Credential;
use hpc_core::Location;

pub struct Server {
    pub url: String,
    pub endpoint: String,
    pub key: String,
    pub secret: String,
}

/// moto: S3's semantics, no signature checks.
pub fn moto() -> Server {
    server("S3")
}

/// s3s-fs: signatures checked, objects kept as files.
pub fn s3s() -> Server {
    server("S3S")
}

/// The server whose variables start with `HPCKIT_<prefix>_`.
fn server(prefix: &str) -> Server {
    let env = hpc_testkit::services::require("s3");
    let var = |name: &str| env.var(&format!("HPCKIT_{prefix}_{name}")).to_owned();
    Server {
        url: var("URL"),
        endpoint: var("ENDPOINT"),
        key: var("ACCESS_KEY"),
        secret: var("SECRET"),
    }
}

pub async fn open_url(url: &str, key: &str, secret: &str) -> hpc_core::Result<S3FileSystem> {
    let loc: Location = url.parse()?;
    S3FileSystem::open(&loc, Credential::password(key, secret)).await
}

/// The server's bucket, with `extra` options appended to its URL (`&part_size=5`).
pub async fn open(s: &Server, extra: &str) -> S3FileSystem {
    open_url(&format!("{}{extra}", s.url), &s.key, &s.secret).await.expect("open the s3 service")
}
