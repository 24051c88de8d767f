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

pub fn moto() -> Server {
    let env = hpc_testkit::services::require("s3");
    Server {
        url: env.var("HPCKIT_S3_URL").to_owned(),
        endpoint: env.var("HPCKIT_S3_ENDPOINT").to_owned(),
        key: env.var("HPCKIT_S3_ACCESS_KEY").to_owned(),
        secret: env.var("HPCKIT_S3_SECRET").to_owned(),
    }
}

pub fn s3s() -> Server {
    let env = hpc_testkit::services::require("s3");
    Server {
        url: env.var("HPCKIT_S3S_URL").to_owned(),
        endpoint: env.var("HPCKIT_S3S_ENDPOINT").to_owned(),
        key: env.var("HPCKIT_S3S_ACCESS_KEY").to_owned(),
        secret: env.var("HPCKIT_S3S_SECRET").to_owned(),
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
