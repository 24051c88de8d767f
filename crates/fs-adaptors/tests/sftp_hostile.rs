//! The SFTP adaptor against hpc-testkit's hostile SFTP server (russh-sftp's
//! server side on an in-memory pipe): `READDIR` names `..`, `x/../../y`,
//! `/abs`, NUL, sizes of 2^64-1 and listings without end. A recursive copy
//! into a temporary root writes nothing outside it, every failure is a typed
//! one-line error, and nothing hangs.
#![cfg(feature = "sftp")]

use std::sync::Arc;
use std::time::Duration;

use fs_adaptors::sftp::{SftpConfig, SftpFileSystem};
use fs_adaptors::{CopyOptions, CopyReport, LocalFileSystem};
use futures::StreamExt;
use hpc_core::{CopyMode, ErrorKind, FileSystem, Path, Result};
use hpc_testkit::hostile::sftp::{self, Behaviour, DIR, dir, file};
use hpc_testkit::hostile::target::{TargetRoot, one_line};
use russh_sftp::protocol::FileAttributes;

/// A guard against a hang (the failure before the fix), not a timing
/// assertion: every case here ends within seconds.
const HANG: Duration = Duration::from_secs(120);

async fn open(b: Behaviour) -> SftpFileSystem {
    let opts = SftpConfig {
        location: "sftp://hostile/".into(),
        host: "hostile".into(),
        working_directory: None,
        tuning: Default::default(),
    };
    SftpFileSystem::from_stream(sftp::start(b), opts, None).await.expect("sftp session")
}

fn with_names(names: &[(&str, FileAttributes)]) -> Behaviour {
    Behaviour {
        names: names.iter().map(|(n, a)| ((*n).to_owned(), a.clone())).collect(),
        content: b"abc".to_vec(),
        ..Behaviour::default()
    }
}

/// Copies `/dir` recursively into a fresh target root; checks that nothing
/// was written outside it and returns what is inside.
async fn copy_into_temp_root(
    b: Behaviour,
    tweak: impl FnOnce(&mut CopyOptions),
) -> (Result<CopyReport>, Vec<String>) {
    let target = TargetRoot::new();
    let src: Arc<dyn FileSystem> = Arc::new(open(b).await);
    let dst: Arc<dyn FileSystem> = Arc::new(LocalFileSystem::new().unwrap());
    let to = Path::new(target.root()).unwrap();
    let mut opts =
        CopyOptions { recursive: true, mode: CopyMode::Create, ..CopyOptions::default() };
    tweak(&mut opts);
    let copied = tokio::time::timeout(
        HANG,
        fs_adaptors::copy(&src, &Path::new(DIR).unwrap(), &dst, &to, &opts),
    )
    .await
    .expect("the copy hangs");
    target.assert_nothing_outside();
    (copied, target.inside())
}

#[tokio::test]
async fn hostile_readdir_names_never_escape_the_target() {
    for (bad, attrs) in [
        ("x/../../y", file(3)),
        ("../../../../y", file(3)),
        ("/abs", file(3)),
        ("/etc/passwd", file(3)),
        ("a\0b", file(3)),
        ("", file(3)),
        ("sub/", dir()),
        ("/", dir()),
    ] {
        let b = with_names(&[("ok", file(3)), (bad, attrs)]);
        let fs = open(b.clone()).await;
        let listed: Vec<Result<_>> = fs.list(&Path::new(DIR).unwrap(), true).collect().await;
        let ok: Vec<String> = listed.iter().flatten().map(|a| a.path.to_string()).collect();
        assert_eq!(ok, ["/dir/ok"], "{bad:?}");
        let e = listed.iter().find_map(|r| r.as_ref().err()).expect("the bad name is an error");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}: {e}");
        one_line(e);

        let (copied, inside) = copy_into_temp_root(b.clone(), |_| {}).await;
        let e = copied.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}: {e}");
        one_line(&e);
        assert!(inside.iter().all(|p| p == "ok"), "{bad:?}: {inside:?}");

        // Skipping unusable entries copies the others.
        let (copied, inside) = copy_into_temp_root(b, |o| o.skip_unusable = true).await;
        let report = copied.unwrap();
        assert_eq!((report.files, report.unusable.len()), (1, 1), "{bad:?}");
        assert_eq!(inside, ["ok"], "{bad:?}");
    }
    // `.` and `..` are skipped, whatever their attributes say.
    let b = with_names(&[(".", dir()), ("..", dir()), ("..", file(3)), ("ok", file(3))]);
    let (copied, inside) = copy_into_temp_root(b, |_| {}).await;
    assert_eq!(copied.unwrap().files, 1);
    assert_eq!(inside, ["ok"]);
}

#[tokio::test]
async fn a_size_of_2_pow_64_leaves_no_file_behind() {
    let b = with_names(&[("big", file(u64::MAX)), ("bigger", file(u64::MAX - 1))]);
    let fs = open(b.clone()).await;
    let a = fs.attributes(&Path::new("/dir/big").unwrap()).await.unwrap();
    assert_eq!(a.size, u64::MAX);
    // Totals first (the sum overflows u64), then 3 bytes where 2^64-1 were announced.
    let (copied, inside) = copy_into_temp_root(b, |o| o.scan_first = true).await;
    let e = copied.unwrap_err();
    one_line(&e);
    assert!(inside.is_empty(), "{inside:?}");
}

#[tokio::test]
async fn a_readdir_without_end_is_stopped() {
    // Every READDIR names the same entries again: the second time is refused.
    let b = Behaviour { endless: true, ..with_names(&[("ok", file(3)), ("ok2", file(3))]) };
    for scan_first in [false, true] {
        let (copied, _) = copy_into_temp_root(b.clone(), |o| o.scan_first = scan_first).await;
        let e = copied.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
        assert!(one_line(&e).contains("twice"), "{e}");
    }
}
