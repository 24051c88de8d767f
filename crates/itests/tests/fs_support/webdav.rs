//! The WebDAV service of `cargo xtask services up webdav` (Apache mod_dav on
//! this machine).

use std::sync::Arc;

use fs_adaptors::webdav::WebdavFileSystem;
use hpc_auth::Credential;
use hpc_core::{Location, Path};
use hpc_testkit::fs_conformance::SparseMaker;

pub struct Dav {
    pub url: String,
    pub user: String,
    pub password: String,
    /// Where `/dav` lives on disk (the server runs on this machine).
    pub data_dir: std::path::PathBuf,
}

pub fn dav() -> Dav {
    let env = hpc_testkit::services::require("webdav");
    Dav {
        url: env.var("HPCKIT_WEBDAV_URL").to_owned(),
        user: env.var("HPCKIT_WEBDAV_USER").to_owned(),
        password: env.var("HPCKIT_WEBDAV_PASSWORD").to_owned(),
        data_dir: env.path("HPCKIT_WEBDAV_DATA_DIR"),
    }
}

impl Dav {
    /// The test user's file system at `/dav`.
    pub async fn open(&self) -> WebdavFileSystem {
        open_as(&self.url, &self.user, &self.password).await.expect("open the webdav service")
    }

    /// Makes multi-GiB sparse files next to Apache's data, read back over DAV.
    pub fn sparse(&self) -> SparseMaker {
        let data_dir = self.data_dir.clone();
        Arc::new(move |p: &Path, size: u64| {
            let rel = p.strip_prefix(&Path::new("/dav").unwrap()).expect("below /dav").to_string();
            let file = data_dir.join(rel);
            Box::pin(async move {
                let f =
                    std::fs::File::create(&file).map_err(|e| hpc_core::Error::io("sparse", e))?;
                f.set_len(size).map_err(|e| hpc_core::Error::io("sparse", e))
            })
        })
    }
}

pub async fn open_as(url: &str, user: &str, password: &str) -> hpc_core::Result<WebdavFileSystem> {
    let loc: Location = url.parse()?;
    WebdavFileSystem::open(&loc, Credential::password(user, password)).await
}
