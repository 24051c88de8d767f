//! The sftp adaptor against the real sshd started by `cargo xtask services
//! up sshd` (the conformance suite for it and for `sftp-server` over pipes
//! runs in `fs_conformance.rs`).

mod fs_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_shares_the_ssh_connection_and_checksums_on_the_server() {
    let sshd = fs_support::Sshd::from_env();
    let fs = sshd.sftp().await;
    let root = sshd.scratch(&*fs, "share").await;
    let f = root.join_entry("abc").unwrap();
    hpc_testkit::fs_conformance::put(&*fs, &f, b"abc").await.unwrap();
    assert!(fs.info().capabilities.checksum);
    let sum = fs.checksum(&f, hpc_core::ChecksumAlgorithm::Sha256).await.unwrap();
    assert_eq!(
        sum.as_deref(),
        Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    // A second file system on the same host reuses the connection (no new login).
    let again = sshd.sftp().await;
    assert!(again.exists(&f).await.unwrap());
    let e = fs
        .checksum(&root.join_entry("missing").unwrap(), hpc_core::ChecksumAlgorithm::Sha256)
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    fs.delete(&root, true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_missing_paths_are_typed_errors() {
    let sshd = fs_support::Sshd::from_env();
    let loc: hpc_core::Location =
        sshd.url("/").replace("sftp://hpctest@", "sftp://nosuchuser@").parse().unwrap();
    let creds = hpc_auth::CredentialMap::with_default(hpc_auth::Credential::key_file(
        "nosuchuser",
        &sshd.key,
        None,
    ));
    let e = fs_adaptors::sftp::SftpFileSystem::open(&loc, &creds).await.unwrap_err();
    assert_eq!(e.kind(), hpc_core::ErrorKind::Authentication, "{e}");
    let fs = sshd.sftp().await;
    let e = fs.attributes(&hpc_core::Path::new("/root/.bashrc").unwrap()).await.unwrap_err();
    assert!(
        matches!(e.kind(), hpc_core::ErrorKind::PermissionDenied | hpc_core::ErrorKind::NotFound),
        "{e}"
    );
    let e = fs.create_file(&hpc_core::Path::new("/root/x").unwrap()).await.unwrap_err();
    assert_eq!(e.kind(), hpc_core::ErrorKind::PermissionDenied, "{e}");
    assert!(!e.to_string().contains('\n'));
}
