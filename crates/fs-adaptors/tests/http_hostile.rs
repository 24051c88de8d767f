//! The WebDAV and S3 adaptors against hpc-testkit's hostile HTTP servers:
//! one that never answers, one that trickles a byte at a time, and WebDAV
//! listings that name other hosts, the same entry twice or no XML at all.
#![cfg(all(feature = "webdav", feature = "s3"))]

use std::sync::Arc;
use std::time::Duration;

use fs_adaptors::s3::S3FileSystem;
use fs_adaptors::webdav::WebdavFileSystem;
use fs_adaptors::{LocalFileSystem, copy::CopyOptions};
use futures::StreamExt;
use hpc_auth::Credential;
use hpc_core::{CopyMode, Error, ErrorKind, FileSystem, Path, Result};
use hpc_testkit::hostile::http::{Answer, HttpServer};
use hpc_testkit::hostile::webdav::{self, Entry, Listing};

/// A guard against a hang (the failure before the fix), not a timing
/// assertion: every case here ends within seconds.
const HANG: Duration = Duration::from_secs(120);

async fn ends<T>(what: &str, f: impl Future<Output = Result<T>>) -> Error {
    match tokio::time::timeout(HANG, f).await {
        Ok(Ok(_)) => panic!("{what} succeeded"),
        Ok(Err(e)) => e,
        Err(_) => panic!("{what} hangs"),
    }
}

async fn dav(server: &HttpServer, options: &str) -> Result<WebdavFileSystem> {
    let loc = format!("webdav://{}/dav/dir?{options}", server.authority()).parse()?;
    WebdavFileSystem::open(&loc, Credential::Anonymous).await
}

async fn s3(server: &HttpServer, options: &str) -> Result<S3FileSystem> {
    let loc = format!("s3://bucket/x?endpoint=http://{}&{options}", server.authority()).parse()?;
    S3FileSystem::open(&loc, Credential::password("AK", "SK")).await
}

fn trickle() -> Answer {
    let body = webdav::multistatus(&[Entry::collection("/dav/dir/")]);
    Answer::Trickle {
        status: 207,
        headers: vec![("Content-Type".into(), "application/xml".into())],
        body: body.into_bytes(),
        every: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn webdav_server_that_never_answers_times_out() {
    let server = HttpServer::start(|_| Answer::Silent).await;
    let e = ends("open", dav(&server, "idle_timeout=0.3&timeout=1")).await;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
}

#[tokio::test]
async fn webdav_server_that_trickles_times_out() {
    let server = HttpServer::start(|_| trickle()).await;
    let e = ends("open", dav(&server, "idle_timeout=30&timeout=1")).await;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("PROPFIND"), "{e}");
}

#[tokio::test]
async fn s3_server_that_never_answers_times_out() {
    let server = HttpServer::start(|_| Answer::Silent).await;
    let e = ends("open", s3(&server, "idle_timeout=0.3&timeout=1")).await;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
}

#[tokio::test]
async fn s3_server_that_trickles_times_out() {
    let body = hpc_testkit::hostile::s3::list_objects("bucket", "x/", &[("x/a", 1)]);
    let server = HttpServer::start(move |_| Answer::Trickle {
        status: 200,
        headers: vec![("Content-Type".into(), "application/xml".into())],
        body: body.clone().into_bytes(),
        every: Duration::from_millis(50),
    })
    .await;
    let e = ends("open", s3(&server, "idle_timeout=30&timeout=1")).await;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
}

#[tokio::test]
async fn a_listing_entry_on_another_host_is_refused() {
    let server = webdav::server(
        "/dav/dir",
        Listing::Entries(vec![
            Entry::file("/dav/dir/f1", 3),
            Entry::file("http://other.host/dav/dir/f2", 3),
        ]),
        b"abc",
    )
    .await;
    let fs = dav(&server, "").await.unwrap();
    let dir = Path::new("/dav/dir").unwrap();
    let items: Vec<_> = fs.list(&dir, false).collect().await;
    let ok: Vec<String> = items.iter().flatten().map(|a| a.path.to_string()).collect();
    assert_eq!(ok, ["/dav/dir/f1"]);
    let e = items.iter().find_map(|r| r.as_ref().err()).expect("f2 refused");
    assert!(e.to_string().contains("another server"), "{e}");
}

#[tokio::test]
async fn a_207_that_is_not_xml_is_a_protocol_error() {
    let server =
        webdav::server("/dav/dir", Listing::Raw("<html><body>It works!</body></html>".into()), b"")
            .await;
    let e = ends("open", dav(&server, "")).await;
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(!e.is_not_found(), "{e}");
}

#[tokio::test]
async fn a_listing_naming_an_entry_twice_is_reported() {
    let server = webdav::server(
        "/dav/dir",
        Listing::Entries(vec![Entry::file("/dav/dir/f1", 3), Entry::file("/dav/dir/f1", 3)]),
        b"abc",
    )
    .await;
    let src: Arc<dyn FileSystem> = Arc::new(dav(&server, "").await.unwrap());
    let target = tempfile::tempdir().unwrap();
    let dst: Arc<dyn FileSystem> = Arc::new(LocalFileSystem::new().unwrap());
    let to = Path::new(target.path().to_str().unwrap()).unwrap().join_entry("copy").unwrap();
    let opts = CopyOptions { recursive: true, mode: CopyMode::Create, ..CopyOptions::default() };
    let e =
        ends("copy", fs_adaptors::copy(&src, &Path::new("/dav/dir").unwrap(), &dst, &to, &opts))
            .await;
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(e.to_string().contains("twice"), "{e}");
}
