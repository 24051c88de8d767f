//! The S3 adaptor against moto (semantics) and s3s-fs (signatures checked):
//! `cargo xtask services up s3`; the conformance suite runs in
//! `fs_conformance.rs`.

mod fs_support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fs_adaptors::s3::S3FileSystem;
use fs_support::s3::{moto, open, open_url, s3s};
use futures::StreamExt;
use hpc_core::{ByteRange, ChecksumAlgorithm, ErrorKind, FileSystem, NotFoundKind, Path};
use hpc_testkit::fs_conformance::{chunks, get, pattern, put, unique_name as unique};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/cutting_proxy.rs"]
mod cutting_proxy;

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
    let bucket = unique("nobucket");
    let url = format!("s3://{bucket}?endpoint={}", s.endpoint);
    let e = open_url(&url, &s.key, &s.secret).await.unwrap_err();
    assert!(
        matches!(&e, hpc_core::Error::NotFound { kind: NotFoundKind::Path, name } if name.starts_with(&bucket)),
        "{e:?}"
    );
    assert!(e.to_string().contains("no such bucket"), "{e}");
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

/// Objects larger than `copy_part_size` are copied on the server part by
/// part (UploadPartCopy), alone and inside a directory copy; smaller ones
/// stay one CopyObject. The server decides the ETag: a multipart one (no
/// MD5) shows which way a copy took.
#[tokio::test]
async fn large_objects_are_copied_on_the_server_in_parts() {
    for (server, trees) in [(moto(), true), (s3s(), false)] {
        // One PUT for the source (below part_size), so its ETag is its MD5.
        let fs = open(&server, "&copy_part_size=5&concurrency=2&part_size=16").await;
        let dir = Path::root().join_entry(&unique("partcopy")).unwrap();
        let big = dir.join_entry("big file.bin").unwrap();
        // Three parts: 5 MiB, 5 MiB and the 2 MiB + 3 bytes left.
        let mut data = pattern(12 << 20, 5);
        data.extend_from_slice(b"end");
        put(&fs, &big, &data).await.unwrap();
        assert!(fs.checksum(&big, ChecksumAlgorithm::Md5).await.unwrap().is_some());
        let small = dir.join_entry("abc").unwrap();
        put(&fs, &small, b"abc").await.unwrap();

        let copy = dir.join_entry("copy.bin").unwrap();
        fs.copy_server_side(&big, &copy).await.unwrap();
        assert!(get(&fs, &copy, ByteRange::ALL).await.unwrap() == data);
        assert_eq!(fs.checksum(&copy, ChecksumAlgorithm::Md5).await.unwrap(), None);

        fs.delete(&copy, false).await.unwrap();
        if !trees {
            // s3s-fs answers HEAD of a key that is a directory on its disk
            // with 500, so a directory copy cannot start there.
            fs.delete(&dir, true).await.unwrap();
            continue;
        }
        let tree = Path::root().join_entry(&unique("partcopy-tree")).unwrap();
        fs.copy_server_side(&dir, &tree).await.unwrap();
        let got = get(&fs, &tree.join_entry("big file.bin").unwrap(), ByteRange::ALL).await;
        assert!(got.unwrap() == data);
        let abc = tree.join_entry("abc").unwrap();
        assert_eq!(get(&fs, &abc, ByteRange::ALL).await.unwrap(), b"abc");
        assert_eq!(
            fs.checksum(&abc, ChecksumAlgorithm::Md5).await.unwrap().as_deref(),
            Some("900150983cd24fb0d6963f7d28e17f72"),
            "a small object is one CopyObject, which keeps the MD5 ETag"
        );
        fs.delete(&dir, true).await.unwrap();
        fs.delete(&tree, true).await.unwrap();
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
        source: None,
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

fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// SHA-256 and length of a read, hashed as the chunks arrive.
async fn read_sha256(fs: &S3FileSystem, path: &Path, range: ByteRange) -> (Vec<u8>, u64) {
    let mut stream = fs.read(path, range).await.unwrap();
    let (mut h, mut n) = (Sha256::new(), 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        n += chunk.len() as u64;
        h.update(&chunk);
    }
    (h.finalize().to_vec(), n)
}

#[tokio::test]
async fn parallel_ranged_download_gives_identical_bytes() {
    for server in [moto(), s3s()] {
        let fs = open(&server, "").await;
        let dir = Path::root().join_entry(&unique("pardown")).unwrap();
        let f = dir.join_entry("big.bin").unwrap();
        // Seven and a bit parts of 1 MiB.
        let data = pattern((7 << 20) + 12_345, 9);
        fs.write(&f, chunks(vec![data.clone()]), None).await.unwrap();
        for opts in [
            "&download_part_size=1&download_concurrency=3",
            "&download_part_size=1&download_concurrency=1",
            "",
        ] {
            let reader = open(&server, opts).await;
            let (digest, n) = read_sha256(&reader, &f, ByteRange::ALL).await;
            assert_eq!(n, data.len() as u64, "{opts}");
            assert!(digest == sha256(&data), "{opts}: SHA-256 differs");
        }
        fs.delete(&dir, true).await.unwrap();
    }
}

#[tokio::test]
async fn ranged_reads_across_part_boundaries() {
    let server = moto();
    let fs = open(&server, "&download_part_size=1&download_concurrency=4").await;
    let dir = Path::root().join_entry(&unique("parrange")).unwrap();
    let f = dir.join_entry("big.bin").unwrap();
    let size = (5 << 20) + 777;
    let data = pattern(size, 4);
    fs.write(&f, chunks(vec![data.clone()]), None).await.unwrap();
    const MIB: usize = 1 << 20;
    for (offset, len) in [
        (MIB - 100, Some(2 * MIB + 200)), // three parts, two boundaries
        (MIB, Some(MIB)),                 // exactly one part, aligned
        (MIB + 1, None),                  // to the end, unaligned start
        (3 * MIB + 5, Some(10 * MIB)),    // longer than what is left
        (size - 1, None),                 // the last byte
        (0, Some(MIB + 1)),               // one byte into the second part
    ] {
        let range = ByteRange { offset: offset as u64, len: len.map(|n| n as u64) };
        let end = len.map_or(size, |n| (offset + n).min(size));
        let (digest, n) = read_sha256(&fs, &f, range).await;
        assert_eq!(n, (end - offset) as u64, "{range:?}");
        assert!(digest == sha256(&data[offset..end]), "{range:?}: SHA-256 differs");
    }
    // At or past the end: nothing.
    assert!(get(&fs, &f, ByteRange::from(size as u64)).await.unwrap().is_empty());
    assert!(get(&fs, &f, ByteRange::from(size as u64 + 5)).await.unwrap().is_empty());
    fs.delete(&dir, true).await.unwrap();
}

#[tokio::test]
async fn object_replaced_during_a_parallel_download_is_a_changed_error() {
    let server = moto();
    let fs = open(&server, "").await;
    let dir = Path::root().join_entry(&unique("replaced")).unwrap();
    let f = dir.join_entry("moving.bin").unwrap();
    let old = pattern(3 << 20, 1);
    fs.write(&f, chunks(vec![old.clone()]), None).await.unwrap();
    // One part at a time: the second part is asked for only after the
    // first has been read, and so after the replacement.
    let reader = open(&server, "&download_part_size=1&download_concurrency=1").await;
    let mut stream = reader.read(&f, ByteRange::ALL).await.unwrap();
    let mut got = stream.next().await.unwrap().unwrap().to_vec();
    fs.write(&f, chunks(vec![pattern(3 << 20, 2)]), None).await.unwrap();
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => got.extend_from_slice(&chunk),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let e = error.expect("the download of a replaced object must fail");
    assert_eq!(e.kind(), ErrorKind::Changed, "{e}");
    assert!(matches!(e, hpc_core::Error::Changed { .. }), "{e:?}");
    assert!(e.to_string().contains("moving.bin"), "{e}");
    // What came before the error is the old version's first part only.
    assert_eq!(got.len(), 1 << 20);
    assert!(got[..] == old[..1 << 20]);
    assert!(stream.next().await.is_none(), "nothing after the error");
    fs.delete(&dir, true).await.unwrap();
}

/// A copy into a local file takes the parts as they arrive
/// (`read_parts` → `write_parts`): the same bytes, every part count.
#[tokio::test]
async fn parts_download_into_a_local_file_gives_identical_bytes() {
    use fs_adaptors::LocalFileSystem;
    use fs_adaptors::copy::{CopyOptions, copy};
    use hpc_core::{CopyMode, tag_offsets};
    let local: Arc<dyn FileSystem> = Arc::new(LocalFileSystem::new().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let target = Path::new(tmp.path().join("down.bin").to_str().unwrap()).unwrap();
    for server in [moto(), s3s()] {
        let fs = open(&server, "").await;
        let dir = Path::root().join_entry(&unique("partsdown")).unwrap();
        let f = dir.join_entry("big.bin").unwrap();
        let data = pattern((7 << 20) + 12_345, 5);
        fs.write(&f, chunks(vec![data.clone()]), None).await.unwrap();
        for opts in ["&download_part_size=1&download_concurrency=3", "&download_part_size=2", ""] {
            let src: Arc<dyn FileSystem> = Arc::new(open(&server, opts).await);
            assert!(src.info().capabilities.read_parts > 1);
            let how = CopyOptions { mode: CopyMode::Replace, ..Default::default() };
            let r = copy(&src, &f, &local, &target, &how).await.unwrap();
            assert_eq!(r.bytes, data.len() as u64, "{opts}");
            let got = std::fs::read(tmp.path().join("down.bin")).unwrap();
            assert!(sha256(&got) == sha256(&data), "{opts}: SHA-256 differs");
        }
        // A range across part boundaries, tagged with file offsets.
        let reader = open(&server, "&download_part_size=1&download_concurrency=4").await;
        let range = ByteRange { offset: (1 << 20) - 100, len: Some((3 << 20) + 200) };
        let mut parts: Vec<(u64, Bytes)> = Vec::new();
        let mut s = reader.read_parts(&f, range).await.unwrap();
        while let Some(item) = s.next().await {
            parts.push(item.unwrap());
        }
        parts.sort_by_key(|(at, _)| *at);
        let mut joined = Vec::new();
        for (at, chunk) in parts {
            assert_eq!(at, range.offset + joined.len() as u64, "gap or overlap");
            joined.extend_from_slice(&chunk);
        }
        let (a, b) = (range.offset as usize, (range.offset + range.len.unwrap()) as usize);
        assert!(joined[..] == data[a..b], "ranged read_parts differs");
        // The default `read_parts` of an in-order stream tags the same way.
        let whole = tag_offsets(reader.read(&f, range).await.unwrap(), range.offset);
        let n: usize = whole.map(|c| c.unwrap().1.len()).collect::<Vec<_>>().await.iter().sum();
        assert_eq!(n, b - a);
        fs.delete(&dir, true).await.unwrap();
    }
}

/// `cp -r` into a prefix that does not exist yet, two levels deep: S3 has
/// no directories to make first, so nothing may stop on a "missing parent"
/// (s3s-fs keeps no marker object a listing would show).
#[tokio::test]
async fn a_recursive_copy_into_a_new_prefix_works_on_both_servers() {
    use fs_adaptors::LocalFileSystem;
    use fs_adaptors::copy::{CopyOptions, copy};
    use hpc_core::CopyMode;

    let tmp = tempfile::tempdir().unwrap();
    let src_root = Path::new(tmp.path().to_str().unwrap()).unwrap().join_entry("tree").unwrap();
    let local: Arc<dyn FileSystem> = Arc::new(LocalFileSystem::new().unwrap());
    local.create_directories(&src_root.join("sub/deeper").unwrap()).await.unwrap();
    put(&*local, &src_root.join("top.txt").unwrap(), b"top").await.unwrap();
    put(&*local, &src_root.join("sub/deeper/leaf.txt").unwrap(), b"leaf").await.unwrap();
    for server in [moto(), s3s()] {
        let s3: Arc<dyn FileSystem> = Arc::new(open(&server, "").await);
        let prefix = Path::root().join_entry(&unique("newprefix")).unwrap();
        let target = prefix.join("level/tree").unwrap();
        let opts = CopyOptions { recursive: true, mode: CopyMode::Create, ..Default::default() };
        let report = copy(&local, &src_root, &s3, &target, &opts)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", server.endpoint));
        assert_eq!(report.files, 2, "{}", server.endpoint);
        let leaf = target.join("sub/deeper/leaf.txt").unwrap();
        assert_eq!(get(&*s3, &leaf, ByteRange::ALL).await.unwrap(), b"leaf");
        assert!(s3.attributes(&target.join("sub").unwrap()).await.unwrap().is_directory());
        s3.delete(&prefix, true).await.unwrap();
    }
}
