//! Shared set-up of the file-system integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use fs_adaptors::sftp::{SftpFileSystem, SftpOptions, SftpTuning};
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
    assert!(
        std::path::Path::new(SFTP_SERVER).exists(),
        "{SFTP_SERVER} is missing: run `cargo xtask services up sshd` (installs openssh-server)"
    );
    let exec = LocalExecutor::new();
    let proc = exec.spawn(&Command::new(SFTP_SERVER)).await.expect("spawn sftp-server");
    let (stdin, stdout, _stderr, control) = proc.into_parts();
    // Dropping the control would kill the server; it ends when its stdin closes.
    let mut control = control;
    tokio::spawn(async move { control.wait().await });
    let stream = tokio::io::join(stdout.expect("stdout"), stdin.expect("stdin"));
    let opts = SftpOptions {
        location: "sftp://local-sftp-server/".into(),
        host: "local-sftp-server".into(),
        working_directory: None,
        tuning,
    };
    let exec: Arc<dyn Executor> = Arc::new(exec);
    Arc::new(SftpFileSystem::from_stream(stream, opts, Some(exec)).await.expect("sftp session"))
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

/// A conformance fixture on `fs` below `root`, with local sparse files.
pub fn fixture(fs: Arc<dyn FileSystem>, root: &Path, name: &str) -> FsFixture {
    let mut fx = FsFixture::new(fs, root.join_entry(name).expect("name"));
    fx.sparse = Some(local_sparse());
    fx
}
