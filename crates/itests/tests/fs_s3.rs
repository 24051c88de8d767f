//! The S3 adaptor against moto (semantics) and s3s-fs (signatures checked):
//! `cargo xtask services up s3`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fs_adaptors::s3::S3Fs;
use futures::StreamExt;
use hpc_auth::Credential;
use hpc_core::{ByteRange, ChecksumAlgorithm, ErrorKind, FileSystem, Location, NotFoundKind, Path};
use hpc_testkit::fs_conformance::{self, FsFixture, chunks, get, pattern, put};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/cutting_proxy.rs"]
mod cutting_proxy;

struct Server {
    url: String,
    endpoint: String,
    key: String,
    secret: String,
}

fn moto() -> Server {
    let env = hpc_testkit::services::require("s3");
    Server {
        url: env.var("HPCKIT_S3_URL").to_owned(),
        endpoint: env.var("HPCKIT_S3_ENDPOINT").to_owned(),
        key: env.var("HPCKIT_S3_ACCESS_KEY").to_owned(),
        secret: env.var("HPCKIT_S3_SECRET").to_owned(),
    }
}

fn s3s() -> Server {
    let env = hpc_testkit::services::require("s3");
    Server {
        url: env.var("HPCKIT_S3S_URL").to_owned(),
        endpoint: env.var("HPCKIT_S3S_ENDPOINT").to_owned(),
        key: env.var("HPCKIT_S3S_ACCESS_KEY").to_owned(),
        secret: env.var("HPCKIT_S3S_SECRET").to_owned(),
    }
}

fn unique(tag: &str) -> String {
    let n = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{tag}-{}-{n}", std::process::id())
}

async fn open_url(url: &str, key: &str, secret: &str) -> hpc_core::Result<S3Fs> {
    let loc: Location = url.parse()?;
    S3Fs::open(&loc, Credential::password(key, secret)).await
}

async fn open(s: &Server, extra: &str) -> S3Fs {
    open_url(&format!("{}{extra}", s.url), &s.key, &s.secret).await.expect("open the s3 service")
}

fn fixture(fs: S3Fs) -> FsFixture {
    let root = Path::root().join_entry(&unique("conformance")).unwrap();
    let mut fx = FsFixture::new(Arc::new(fs), root);
    // Object stores have no real directories: writes need no parent.
    fx.strict_directories = false;
    fx
}

#[tokio::test]
async fn conformance_on_moto() {
    fs_conformance::run_all(&fixture(open(&moto(), "").await)).await;
}

#[tokio::test]
async fn wrong_secret_is_an_authentication_error() {
    let s = s3s();
    let e = open_url(&s.url, &s.key, "wrong-secret-value").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(!format!("{e} {e:?}").contains("wrong-secret-value"));
    let e = open_url(&s.url, "AKNOBODY", &s.secret).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
}

#[tokio::test]
async fn missing_bucket_is_not_found() {
    let s = moto();
    let url = format!("s3://{}?endpoint={}", unique("nobucket"), s.endpoint);
    let e = open_url(&url, &s.key, &s.secret).await.unwrap_err();
    assert!(matches!(e, hpc_core::Error::NotFound { kind: NotFoundKind::Bucket, .. }), "{e:?}");
}

#[tokio::test]
async fn parallel_multipart_upload_of_unknown_size() {
    for server in [moto(), s3s()] {
        let fs = open(&server, "&part_size=5&concurrency=3").await;
        let dir = Path::root().join_entry(&unique("multipart")).unwrap();
        let f = dir.join_entry("big.bin").unwrap();
        let data = pattern(23 << 20, 3);
        let parts: Vec<Vec<u8>> = data.chunks(700_000).map(<[u8]>::to_vec).collect();
        assert_eq!(fs.write(&f, chunks(parts), None).await.unwrap(), data.len() as u64);
        assert_eq!(fs.attributes(&f).await.unwrap().size, data.len() as u64);
        assert!(get(&fs, &f, ByteRange::ALL).await.unwrap() == data);
        let mid = get(&fs, &f, ByteRange { offset: 9 << 20, len: Some(3 << 20) }).await.unwrap();
        assert!(mid == data[9 << 20..12 << 20]);
        // A multipart ETag is not an MD5; a single PUT's is.
        assert_eq!(fs.checksum(&f, ChecksumAlgorithm::Md5).await.unwrap(), None);
        let small = dir.join_entry("abc").unwrap();
        put(&fs, &small, b"abc").await.unwrap();
        assert_eq!(
            fs.checksum(&small, ChecksumAlgorithm::Md5).await.unwrap().as_deref(),
            Some("900150983cd24fb0d6963f7d28e17f72")
        );
        fs.delete(&dir, true).await.unwrap();
    }
}

#[tokio::test]
async fn failing_stream_in_a_multipart_upload_leaves_nothing() {
    let fs = open(&moto(), "&part_size=5").await;
    let dir = Path::root().join_entry(&unique("abort")).unwrap();
    let f = dir.join_entry("broken.bin").unwrap();
    let good = futures::stream::iter((0..12).map(|i| Ok(Bytes::from(pattern(1 << 20, i)))));
    let bad = futures::stream::iter([Err(hpc_core::Error::ConnectionLost {
        host: "source".into(),
        reason: "cut".into(),
    })]);
    let e = fs.write(&f, good.chain(bad).boxed(), None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(!fs.exists(&f).await.unwrap());
    // A size announced larger than the data: also no object.
    let short = futures::stream::iter((0..11).map(|i| Ok(Bytes::from(pattern(1 << 20, i)))));
    let e = fs.write(&f, short.boxed(), Some(12 << 20)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(!fs.exists(&f).await.unwrap());
}

/// PUT an object with a raw key straight to moto (which checks no signature).
async fn raw_put(endpoint: &str, bucket_and_key: &str) {
    let addr = endpoint.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req =
        format!("PUT /{bucket_and_key} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 1\r\n\r\nx");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200") || answer.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn hostile_keys_from_the_server_are_rejected() {
    let s = moto();
    let fs = open(&s, "").await;
    let dir = unique("hostile");
    for key in [format!("{dir}/%2E%2E/escape"), format!("{dir}//double"), format!("{dir}/ok")] {
        raw_put(&s.endpoint, &format!("hpckit/{key}")).await;
    }
    let d = Path::root().join_entry(&dir).unwrap();
    for recursive in [false, true] {
        let items: Vec<_> = fs.list(&d, recursive).collect().await;
        let ok: Vec<String> = items.iter().flatten().map(|a| a.path.to_string()).collect();
        assert_eq!(ok, [format!("/{dir}/ok")], "recursive={recursive}");
        assert!(items.iter().any(|r| r.is_err()), "hostile keys were not reported");
        for a in items.iter().flatten() {
            assert!(a.path.starts_with(&d));
        }
    }
}

#[tokio::test]
async fn connection_dropped_mid_upload_leaves_no_object() {
    for server in [moto(), s3s()] {
        let fs = open(&server, "").await;
        let dir = Path::root().join_entry(&unique("cut")).unwrap();
        let old = dir.join_entry("old").unwrap();
        put(&fs, &old, b"good old content").await.unwrap();

        let upstream = server.endpoint.trim_start_matches("http://").to_owned();
        let port = cutting_proxy::start(upstream.clone(), 2 << 20).await;
        let url = server.url.replace(&upstream, &format!("127.0.0.1:{port}"));
        let cut =
            open_url(&format!("{url}&part_size=5"), &server.key, &server.secret).await.unwrap();
        // Single PUT (4 MiB) over an existing object, and a multipart upload (12 MiB).
        for (target, len) in [(&old, 4usize << 20), (&dir.join_entry("multi").unwrap(), 12 << 20)] {
            let data = pattern(len, 5);
            let e = cut.write(target, chunks(vec![data]), None).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
        }
        assert_eq!(get(&fs, &old, ByteRange::ALL).await.unwrap(), b"good old content");
        assert!(!fs.exists(&dir.join_entry("multi").unwrap()).await.unwrap());
        fs.delete(&dir, true).await.unwrap();
    }
}
