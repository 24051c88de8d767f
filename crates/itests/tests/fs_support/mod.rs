//! Shared set-up of the file-system integration tests: the services they
//! run against, and a fixture maker per setup.
#![allow(dead_code, unreachable_pub)]

pub mod ftp;
pub mod s3;
pub mod webdav;

use std::sync::Arc;

use fs_adaptors::sftp::{SftpConfig, SftpFileSystem, SftpTuning};
use hpc_core::{FileSystem, Path};
use hpc_exec::{Command, Executor, LocalExecutor};
use hpc_testkit::fs_conformance::{FsFixture, SparseMaker};

/// OpenSSH's SFTP server binary (Debian `openssh-sftp-server`).
pub const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

/// A unique scratch directory on this host, removed on drop.
pub fn scratch() -> (tempfile::TempDir, Path) {
    let dir = tempfile::Builder::new().prefix("hpckit-fs-").tempdir().expect("temp dir");
    let p = Path::new(dir.path().to_str().expect("utf-8 temp dir")).expect("path");
    (dir, p)
}

/// SFTP to OpenSSH's `sftp-server` run as a child process (its pipes are the
/// stream), with this host's executor for server-side checksums.
pub async fn sftp_via_local_server(tuning: SftpTuning) -> Arc<dyn FileSystem> {
    sftp_via_local_server_killable(tuning).await.0
}

/// Like [`sftp_via_local_server`], with the server's process id (to cut the
/// connection by killing it).
pub async fn sftp_via_local_server_killable(tuning: SftpTuning) -> (Arc<dyn FileSystem>, u32) {
    assert!(
        std::path::Path::new(SFTP_SERVER).exists(),
        "{SFTP_SERVER} is missing: run `cargo xtask services up sshd` (installs openssh-server)"
    );
    let exec = LocalExecutor::new();
    let proc = exec.spawn(&Command::new(SFTP_SERVER)).await.expect("spawn sftp-server");
    let pid = proc.id().expect("sftp-server pid");
    let (stdin, stdout, _stderr, control) = proc.into_parts();
    // Dropping the control would kill the server; it ends when its stdin closes.
    let mut control = control;
    tokio::spawn(async move { control.wait().await });
    let stream = tokio::io::join(stdout.expect("stdout"), stdin.expect("stdin"));
    let opts = SftpConfig {
        location: "sftp://local-sftp-server/".into(),
        host: "local-sftp-server".into(),
        working_directory: None,
        tuning,
    };
    let exec: Arc<dyn Executor> = Arc::new(exec);
    let fs = SftpFileSystem::from_stream(stream, opts, Some(exec)).await.expect("sftp session");
    (Arc::new(fs), pid)
}

/// Makes sparse files on this host (the SFTP server here shares its disk).
pub fn local_sparse() -> SparseMaker {
    Arc::new(|p: &Path, size| {
        let p = p.to_string();
        Box::pin(async move {
            let f = std::fs::File::create(&p).map_err(|e| hpc_core::Error::io("create", e))?;
            f.set_len(size).map_err(|e| hpc_core::Error::io("set_len", e))
        })
    })
}

/// A conformance fixture on `fs` at `root`, with local sparse files.
pub fn fixture(fs: Arc<dyn FileSystem>, root: Path) -> FsFixture {
    let mut fx = FsFixture::new(fs, root);
    fx.sparse = Some(local_sparse());
    fx
}

/// A fresh root for one fixture below this host's temporary directory.
pub fn local_root(tag: &str) -> Path {
    let tmp = std::env::temp_dir();
    let tmp = Path::new(tmp.to_str().expect("utf-8 temp dir")).expect("path");
    tmp.join_entry(&hpc_testkit::fs_conformance::unique_name(tag)).expect("name")
}

/// Where and how to reach the test sshd of `cargo xtask services up sshd`.
pub struct Sshd {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub home: String,
    pub key: std::path::PathBuf,
    pub known_hosts: std::path::PathBuf,
}

impl Sshd {
    pub fn from_env() -> Self {
        let env = hpc_testkit::services::require("sshd");
        Sshd {
            host: env.var("HPCKIT_SSH_HOST").to_owned(),
            port: env.port("HPCKIT_SSH_PORT"),
            user: env.var("HPCKIT_SSH_USER").to_owned(),
            home: env.var("HPCKIT_SSH_USER_HOME").to_owned(),
            key: env.path("HPCKIT_SSH_KEY"),
            known_hosts: env.path("HPCKIT_SSH_KNOWN_HOSTS"),
        }
    }

    /// `sftp://user@host:port<path>?known_hosts=...&ssh_config=none`
    pub fn url(&self, path: &str) -> String {
        format!(
            "sftp://{}@{}:{}{}?known_hosts={}&ssh_config=none",
            self.user,
            self.host,
            self.port,
            path,
            self.known_hosts.display()
        )
    }

    pub fn creds(&self) -> hpc_auth::CredentialMap {
        hpc_auth::CredentialMap::with_default(hpc_auth::Credential::key_file(
            &self.user, &self.key, None,
        ))
    }

    /// An SFTP file system over the shared SSH connection of hpc-exec.
    pub async fn sftp(&self) -> Arc<dyn FileSystem> {
        let loc: hpc_core::Location = self.url("/").parse().expect("location");
        Arc::new(
            SftpFileSystem::open(&loc, &self.creds())
                .await
                .unwrap_or_else(|e| panic!("sftp to {}:{}: {e}", self.host, self.port)),
        )
    }

    /// An SFTP file system on a connection of its own, not the one this
    /// process shares per host: a conformance trial runs on a runtime of its
    /// own, and a connection driven by another trial's runtime would end with
    /// that trial.
    pub async fn sftp_unshared(&self) -> hpc_core::Result<Arc<dyn FileSystem>> {
        let loc: hpc_core::Location = self.url("/").parse()?;
        let ssh = hpc_exec::ssh::SshExecutor::connect(
            hpc_exec::ssh::SshOptions::from_location(&loc)?,
            &self.creds(),
        )
        .await?;
        let stream = ssh.open_subsystem("sftp").await?;
        let config = fs_adaptors::sftp::SftpConfig::from_location(&loc)?;
        let exec: Arc<dyn Executor> = Arc::new(ssh);
        Ok(Arc::new(SftpFileSystem::from_stream(stream, config, Some(exec)).await?))
    }

    /// A fresh directory in the test user's home (not yet made), unique per call.
    pub fn scratch_path(&self, tag: &str) -> Path {
        let name = hpc_testkit::fs_conformance::unique_name(&format!("hpckit-{tag}"));
        Path::new(&self.home).and_then(|h| h.join_entry(&name)).expect("path")
    }

    /// A fresh directory in the test user's home (made through `fs`), unique per call.
    pub async fn scratch(&self, fs: &dyn FileSystem, tag: &str) -> Path {
        let dir = self.scratch_path(tag);
        fs.create_directories(&dir).await.expect("scratch directory on the sshd host");
        dir
    }
}

/// SHA-256 of a local file.
pub fn sha256_file(path: &str) -> String {
    use std::io::Read;
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut h = fs_adaptors::copy::Hasher::new(hpc_core::ChecksumAlgorithm::Sha256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            return h.finish();
        }
        h.update(&buf[..n]);
    }
}

/// A deterministic file of `len` bytes at a local path.
pub fn make_file(path: &str, len: usize, seed: u8) {
    std::fs::write(path, hpc_testkit::fs_conformance::pattern(len, seed)).expect("write test file");
}
