//! The WebDAV adaptor against a real Apache mod_dav (`cargo xtask services
//! up webdav`); the conformance suite runs in `fs_conformance.rs`.

mod fs_support;

use fs_support::webdav::{dav, open_as};
use futures::StreamExt;
use hpc_core::{ByteRange, ErrorKind, FileSystem, Location, Path};
use hpc_testkit::fs_conformance::{self, bytes, get, pattern, put, unique_name as unique};

#[path = "support/cutting_proxy.rs"]
mod cutting_proxy;

#[tokio::test]
async fn wrong_password_is_an_authentication_error() {
    let d = dav();
    let e = open_as(&d.url, &d.user, "not-the-password").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(!format!("{e} {e:?}").contains("not-the-password"));
}

#[tokio::test]
async fn read_only_area_gives_permission_denied() {
    let fs = dav().open().await;
    let ro = fs.info().working_directory.join_entry("readonly").unwrap();
    assert!(fs.attributes(&ro).await.unwrap().is_directory());
    let e = put(&fs, &ro.join_entry(&unique("f")).unwrap(), b"x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let e = fs.create_directory(&ro.join_entry("sub").unwrap()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
}

#[tokio::test]
async fn missing_root_is_not_found() {
    let d = dav();
    let url = format!("{}/{}", d.url, unique("nowhere"));
    let e = open_as(&url, &d.user, &d.password).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[tokio::test]
async fn status_codes_and_server_side_operations() {
    let fs = dav().open().await;
    let dir = fs.info().working_directory.join_entry(&unique("codes")).unwrap();
    fs.create_directory(&dir).await.unwrap();
    // MKCOL twice: 405, and with a missing parent: 409.
    assert_eq!(fs.create_directory(&dir).await.unwrap_err().kind(), ErrorKind::AlreadyExists);
    let orphan = dir.join("no/such").unwrap();
    assert_eq!(fs.create_directory(&orphan).await.unwrap_err().kind(), ErrorKind::NotFound);
    // MOVE with Overwrite: F onto an existing file: 412.
    let a = dir.join_entry("a").unwrap();
    let b = dir.join_entry("b").unwrap();
    put(&fs, &a, b"aaa").await.unwrap();
    put(&fs, &b, b"bbb").await.unwrap();
    assert_eq!(fs.rename(&a, &b).await.unwrap_err().kind(), ErrorKind::AlreadyExists);
    assert_eq!(get(&fs, &b, ByteRange::ALL).await.unwrap(), b"bbb");
    // A whole directory moves and copies on the server.
    let tree = dir.join_entry("tree").unwrap();
    fs.create_directories(&tree.join("x").unwrap()).await.unwrap();
    put(&fs, &tree.join("x/f").unwrap(), b"deep").await.unwrap();
    let copy = dir.join_entry("tree copy").unwrap();
    fs.copy_server_side(&tree, &copy).await.unwrap();
    let moved = dir.join_entry("tree moved").unwrap();
    fs.rename(&tree, &moved).await.unwrap();
    assert_eq!(get(&fs, &copy.join("x/f").unwrap(), ByteRange::ALL).await.unwrap(), b"deep");
    assert_eq!(get(&fs, &moved.join("x/f").unwrap(), ByteRange::ALL).await.unwrap(), b"deep");
    assert!(!fs.exists(&tree).await.unwrap());
    fs.delete(&dir, true).await.unwrap();
}

#[tokio::test]
async fn large_streamed_upload_with_unknown_size_and_ranges() {
    let fs = dav().open().await;
    let dir = fs.info().working_directory.join_entry(&unique("large")).unwrap();
    fs.create_directory(&dir).await.unwrap();
    let f = dir.join_entry("big.bin").unwrap();
    let data = pattern(24 << 20, 7);
    let parts: Vec<Vec<u8>> = data.chunks(1 << 20).map(<[u8]>::to_vec).collect();
    let n = fs.write(&f, fs_conformance::chunks(parts), None).await.unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(fs.attributes(&f).await.unwrap().size, data.len() as u64);
    let mid = get(&fs, &f, ByteRange { offset: 10 << 20, len: Some(4096) }).await.unwrap();
    assert!(mid == data[10 << 20..(10 << 20) + 4096]);
    let tail = get(&fs, &f, ByteRange::from(data.len() as u64 - 5)).await.unwrap();
    assert_eq!(tail, &data[data.len() - 5..]);
    // Nothing but the file itself in the directory (no part files left).
    let names: Vec<String> = fs
        .list(&dir, false)
        .map(|a| a.unwrap().path.file_name().unwrap().to_owned())
        .collect()
        .await;
    assert_eq!(names, ["big.bin"]);
    fs.delete(&dir, true).await.unwrap();
}

#[tokio::test]
async fn paths_outside_the_data_are_refused_by_the_server() {
    let fs = dav().open().await;
    // `..` never leaves the root: /dav/../../etc/passwd is /etc/passwd, which
    // the server does not serve over DAV.
    let p = Path::new("/dav/../../etc/passwd").unwrap();
    assert_eq!(p.to_string(), "/etc/passwd");
    let e = fs.read(&p, ByteRange::ALL).await.err().expect("reading /etc/passwd must fail");
    assert!(matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::NotFound), "{e}");
    let e = fs.write(&p, bytes(b"x"), None).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::NotFound), "{e}");
}

#[tokio::test]
async fn connection_dropped_mid_upload_leaves_the_old_file() {
    let d = dav();
    let fs = dav().open().await;
    let dir = fs.info().working_directory.join_entry(&unique("cut")).unwrap();
    fs.create_directory(&dir).await.unwrap();
    let f = dir.join_entry("data").unwrap();
    put(&fs, &f, b"good old content").await.unwrap();

    let loc: Location = d.url.parse().unwrap();
    let upstream = format!("{}:{}", loc.host.unwrap(), loc.port.unwrap());
    let port = cutting_proxy::start(upstream, 1 << 20).await;
    let via_proxy = d.url.replace(&format!(":{}", loc.port.unwrap()), &format!(":{port}"));
    let cut = open_as(&via_proxy, &d.user, &d.password).await.unwrap();
    let big = pattern(8 << 20, 9);
    let e = cut.write(&f, bytes(&big), Some(big.len() as u64)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert_eq!(get(&fs, &f, ByteRange::ALL).await.unwrap(), b"good old content");
    let fresh = dir.join_entry("fresh").unwrap();
    assert!(cut.write(&fresh, bytes(&big), None).await.is_err());
    assert!(!fs.exists(&fresh).await.unwrap());
    fs.delete(&dir, true).await.unwrap();
}
