//! UNICORE as an hpc-core `FileSystem` (`unicore-rest`'s adaptor) against the
//! UNICORE test server, beyond the shared suite (which runs as trials in
//! `unicore_fs_conformance.rs`): the copy engine to and from a UNICORE storage
//! with resume and verify, and a job's working directory as a file system.
//! Needs `cargo xtask services up unicore`.

mod unicore_support;

use std::sync::Arc;

use fs_adaptors::copy::{CopyOptions, copy};
use hpc_auth::CredentialMap;
use hpc_core::{CopyMode, FileSystem, Path};
use hpc_testkit::fs_conformance::{self, unique_name};
use unicore_rest::filesystem::UnicoreFileSystem;
use unicore_support::unicore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_engine_to_and_from_a_storage_with_resume_and_verify() {
    let (loc, creds) = unicore().location("/storages/WORK");
    let remote: Arc<dyn FileSystem> =
        Arc::new(UnicoreFileSystem::open(&loc, &creds).await.unwrap());
    let local = hpckit::open_filesystem("file:///", &CredentialMap::new()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = fs_conformance::pattern(3 * 1024 * 1024 + 17, 7);
    let src = dir.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();
    let name = unique_name("copy");
    let remote_path = Path::new(&format!("/{name}.bin")).unwrap();

    let opts = CopyOptions { verify: true, ..CopyOptions::default() };
    let r = copy(&local, &Path::new(src.to_str().unwrap()).unwrap(), &remote, &remote_path, &opts)
        .await
        .unwrap();
    assert_eq!((r.files, r.bytes, r.verified), (1, data.len() as u64, 1));

    // A partial local copy is resumed from where it stopped, then verified.
    let back = dir.path().join("back.bin");
    std::fs::write(&back, &data[..1_000_000]).unwrap();
    let opts = CopyOptions { mode: CopyMode::Resume, verify: true, ..CopyOptions::default() };
    let r = copy(&remote, &remote_path, &local, &Path::new(back.to_str().unwrap()).unwrap(), &opts)
        .await
        .unwrap();
    assert_eq!(r.resumed, 1, "{r:?}");
    assert_eq!(std::fs::read(&back).unwrap(), data);

    // CREATE refuses an existing target and keeps it.
    let opts = CopyOptions::default();
    let e = copy(&local, &Path::new(src.to_str().unwrap()).unwrap(), &remote, &remote_path, &opts)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), hpc_core::ErrorKind::AlreadyExists, "{e}");
    remote.delete(&remote_path, false).await.unwrap();
}

#[tokio::test]
async fn a_jobs_working_directory_is_a_file_system() {
    let u = unicore();
    let site = unicore_rest::Client::connect(&u.transport(), &u.url).await.unwrap();
    let job = site
        .new_job(
            &unicore_rest::JobDescription::executable("echo in the job dir").to_json(),
            &[],
            true,
        )
        .await
        .unwrap();
    job.wait_done(None).await.unwrap();
    let (loc, creds) = unicore().location(&format!("/jobs/{}", job.id()));
    let fs = UnicoreFileSystem::open(&loc, &creds).await.unwrap();
    let out = fs_conformance::get(&fs, &Path::new("/stdout").unwrap(), hpc_core::ByteRange::ALL)
        .await
        .unwrap();
    assert_eq!(out, b"in the job dir\n");
    let (bad, creds) = unicore().location("/queues/x");
    assert!(
        UnicoreFileSystem::open(&bad, &creds)
            .await
            .unwrap_err()
            .to_string()
            .contains("invalid location")
    );
}
