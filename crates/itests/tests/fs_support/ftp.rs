//! The FTP service of `cargo xtask services up ftp` (vsftpd on this machine).

use std::sync::Arc;

use fs_adaptors::ftp::FtpFileSystem;
use hpc_auth::Credential;
use hpc_core::{Location, Path};
use hpc_testkit::fs_conformance::SparseMaker;

/// Where the server is, how to log in, and where its files lie on this disk.
pub struct Ftp {
    pub url: String,
    pub ftps_url: String,
    pub user: String,
    pub password: String,
    /// The test user's home, on this machine's disk.
    pub root: String,
    pub readonly: String,
    /// The CA of the server's TLS certificate.
    pub ca: String,
}

pub fn ftp() -> Ftp {
    let env = hpc_testkit::services::require("ftp");
    Ftp {
        url: env.var("HPCKIT_FTP_URL").to_owned(),
        ftps_url: env.var("HPCKIT_FTPS_URL").to_owned(),
        user: env.var("HPCKIT_FTP_USER").to_owned(),
        password: env.var("HPCKIT_FTP_PASSWORD").to_owned(),
        root: env.var("HPCKIT_FTP_ROOT").to_owned(),
        readonly: env.var("HPCKIT_FTP_READONLY").to_owned(),
        ca: env.var("HPCKIT_FTP_CA").to_owned(),
    }
}

impl Ftp {
    /// The test user's file system over plain FTP.
    pub async fn open(&self) -> FtpFileSystem {
        open_url(&self.url, &self.user, &self.password).await.expect("open the ftp service")
    }

    /// `ftps://...?ca=<the test CA>`.
    pub fn ftps_url_with_ca(&self) -> String {
        format!("{}?ca={}", self.ftps_url, self.ca)
    }

    /// Makes sparse files in the server's directory on this disk, owned by
    /// the test user so that the server can delete them.
    pub fn sparse(&self) -> SparseMaker {
        let home = self.root.clone();
        Arc::new(move |p: &Path, size: u64| {
            let file = std::path::PathBuf::from(p.to_string());
            let home = home.clone();
            Box::pin(async move {
                let fh =
                    std::fs::File::create(&file).map_err(|e| hpc_core::Error::io("sparse", e))?;
                fh.set_len(size).map_err(|e| hpc_core::Error::io("sparse", e))?;
                chown_to_test_user(&file, &home);
                Ok(())
            })
        })
    }
}

pub async fn open_url(url: &str, user: &str, password: &str) -> hpc_core::Result<FtpFileSystem> {
    let loc: Location = url.parse()?;
    FtpFileSystem::open(&loc, Credential::password(user, password)).await
}

/// A directory on the server's disk (tests run on the same machine, as root),
/// owned by the test user so that the server can write in it.
pub fn local_dir(f: &Ftp, name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(&f.root).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    chown_to_test_user(&dir, &f.root);
    dir
}

pub fn chown_to_test_user(path: &std::path::Path, home: &str) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(home).unwrap();
    std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid())).unwrap();
}
