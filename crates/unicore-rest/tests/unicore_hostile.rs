//! The UNICORE file system against hpc-testkit's hostile storage: listings
//! whose keys climb out of the directory, name other directories, hold NUL
//! or claim huge sizes, and JSON answers that never end. A recursive copy
//! into a temporary root writes nothing outside it, every failure is a
//! typed one-line error, and no answer is buffered without bound.
#![cfg(feature = "adaptors")]

use std::sync::Arc;
use std::time::Duration;

use fs_adaptors::{CopyOptions, LocalFileSystem};
use futures::StreamExt;
use hpc_auth::CredentialMap;
use hpc_core::{CopyMode, ErrorKind, FileSystem, Path, Result};
use hpc_testkit::hostile::http::{Answer, HttpServer};
use hpc_testkit::hostile::target::{TargetRoot, one_line};
use hpc_testkit::hostile::unicore::{self, DIR, Entry, Listing};
use unicore_rest::filesystem::UnicoreFileSystem;

/// A guard against a hang (the failure before the fix), not a timing
/// assertion: every case here ends within seconds.
const HANG: Duration = Duration::from_secs(120);

async fn open(server: &HttpServer) -> Result<UnicoreFileSystem> {
    let loc = unicore::url(server, DIR).parse()?;
    UnicoreFileSystem::open(&loc, &CredentialMap::new()).await
}

/// Copies `/dir` recursively into a fresh target root and checks that
/// nothing was written outside it; what is inside.
async fn copy_into_temp_root(server: &HttpServer, scan_first: bool) -> Result<Vec<String>> {
    let target = TargetRoot::new();
    let src: Arc<dyn FileSystem> = Arc::new(open(server).await?);
    let dst: Arc<dyn FileSystem> = Arc::new(LocalFileSystem::new()?);
    let to = Path::new(target.root())?;
    let opts = CopyOptions {
        recursive: true,
        mode: CopyMode::Create,
        scan_first,
        ..CopyOptions::default()
    };
    let copied = tokio::time::timeout(
        HANG,
        fs_adaptors::copy(&src, &Path::new(DIR).unwrap(), &dst, &to, &opts),
    )
    .await
    .expect("the copy hangs");
    target.assert_nothing_outside();
    copied?;
    Ok(target.inside())
}

#[tokio::test]
async fn hostile_listing_keys_are_refused_and_nothing_escapes() {
    let long = format!("/dir/{}", "n".repeat(100_000));
    for bad in [
        Entry::file("/dir/..", 3),
        Entry::dir("/dir/../"),
        Entry::file("/dir/a/../../x", 3),
        Entry::file("/dir/../../../../x", 3),
        Entry::file("/etc/x", 3),
        Entry::file("x", 3),
        Entry::file("/dir/x\0y", 3),
        Entry::file("/dir/", 3),
        Entry::dir("/dir/"),
        Entry::dir("/"),
        Entry::file("/dir//x", 3),
        Entry::file("/dirx", 3),
    ] {
        let shown = format!("{:?}", bad.key);
        let server =
            unicore::storage(Listing::Entries(vec![Entry::file("/dir/ok", 3), bad]), b"abc").await;
        let fs = open(&server).await.unwrap();
        let listed: Vec<Result<_>> = fs.list(&Path::new(DIR).unwrap(), true).collect().await;
        let e = listed.iter().find_map(|r| r.as_ref().err()).unwrap_or_else(|| {
            panic!("{shown} was listed: {listed:?}");
        });
        assert_eq!(e.kind(), ErrorKind::Parse, "{shown}: {e}");
        assert!(
            one_line(e).contains("not an entry of it") || e.to_string().contains("refusing"),
            "{shown}: {e}"
        );

        let e = copy_into_temp_root(&server, false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse, "{shown}: {e}");
        one_line(&e);
    }
    // A name too long for the local file system is an error of the write,
    // typed and without a panic; nothing lands outside the root.
    let server = unicore::storage(Listing::Entries(vec![Entry::file(long, 3)]), b"abc").await;
    let e = copy_into_temp_root(&server, false).await.unwrap_err();
    one_line(&e);
}

#[tokio::test]
async fn a_listing_claiming_huge_sizes_copies_nothing_half() {
    let server = unicore::storage(
        Listing::Entries(vec![
            Entry::file("/dir/big", u64::MAX),
            Entry::file("/dir/bigger", u64::MAX - 1),
        ]),
        b"abc",
    )
    .await;
    let fs = open(&server).await.unwrap();
    let sizes: Vec<u64> =
        fs.list(&Path::new(DIR).unwrap(), false).map(|a| a.unwrap().size).collect().await;
    assert_eq!(sizes.len(), 2);
    assert!(sizes.iter().all(|s| *s >= u64::MAX - 1), "{sizes:?}");
    // Totals first (their sum overflows u64), then the copy: 3 bytes came
    // where u64::MAX were announced, so no file may be left as if complete.
    let e = copy_into_temp_root(&server, true).await.unwrap_err();
    one_line(&e);
    assert!(e.to_string().contains("bytes"), "{e}");
}

#[tokio::test]
async fn endless_and_oversized_json_answers_are_capped() {
    let endless = |length: Option<u64>| Answer::Endless {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        length,
        chunk: br#"{"isDirectory": true, "content": {"/dir/a": {"isDirectory": false},"#.repeat(64),
    };
    for (answer, case) in
        [(endless(None), "an endless body"), (endless(Some(1 << 40)), "a Content-Length of 1 TiB")]
    {
        let server = unicore::storage(Listing::Raw(answer), b"").await;
        let fs = open(&server).await.unwrap();
        let e = tokio::time::timeout(HANG, fs.attributes(&Path::new(DIR).unwrap()))
            .await
            .expect("reading an endless answer hangs")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse, "{case}: {e}");
        assert!(one_line(&e).contains("longer than 64 MiB"), "{case}: {e}");
    }
    // hyper refuses a length it cannot count to: a typed error all the same.
    let server = unicore::storage(Listing::Raw(endless(Some(u64::MAX))), b"").await;
    let fs = open(&server).await.unwrap();
    let e = tokio::time::timeout(HANG, fs.attributes(&Path::new(DIR).unwrap()))
        .await
        .expect("reading an endless answer hangs")
        .unwrap_err();
    one_line(&e);
}

#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    for (body, case) in [
        ("<html>It works!</html>", "HTML"),
        (r#"{"isDirectory": true, "content": {"/dir/a": "#, "cut JSON"),
        (r#"{"isDirectory": true, "content": ["/dir/a"]}"#, "content not an object"),
        (r#"{"isDirectory": true, "content": {"/dir/a": {"size": -1}}}"#, "no isDirectory"),
    ] {
        let server =
            unicore::storage(Listing::Raw(Answer::full(200, "application/json", body)), b"").await;
        let e = match open(&server).await {
            Ok(fs) => {
                let listed: Vec<Result<_>> =
                    fs.list(&Path::new(DIR).unwrap(), false).collect().await;
                listed.into_iter().find_map(|r| r.err()).unwrap_or_else(|| panic!("{case} listed"))
            }
            Err(e) => e,
        };
        assert!(matches!(e.kind(), ErrorKind::Parse | ErrorKind::InvalidInput), "{case}: {e}");
        one_line(&e);
    }
}
