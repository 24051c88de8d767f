//! The FTP adaptor against a real vsftpd (`cargo xtask services up ftp`);
//! the conformance suite runs in `fs_conformance.rs`.

mod fs_support;

use std::os::unix::fs::symlink;
use std::sync::Arc;

use fs_support::ftp::{ftp, local_dir, open_url};
use futures::StreamExt;
use hpc_core::{ByteRange, EntryKind, ErrorKind, FileSystem, Path};
use hpc_testkit::fs_conformance::{get, pattern, put, unique_name as unique};

#[tokio::test]
async fn explicit_tls_round_trip() {
    let f = ftp();
    let url = f.ftps_url_with_ca();
    let fs = open_url(&url, &f.user, &f.password).await.expect("FTPS login");
    let dir = Path::new(&f.root).unwrap().join_entry(&unique("tls")).unwrap();
    fs.create_directory(&dir).await.unwrap();
    let file = dir.join_entry("secret.bin").unwrap();
    let data = pattern(3 << 20, 1);
    put(&fs, &file, &data).await.unwrap();
    assert!(get(&fs, &file, ByteRange::ALL).await.unwrap() == data);
    assert_eq!(fs.list(&dir, false).count().await, 1);
    fs.delete(&dir, true).await.unwrap();

    // Without the private CA the certificate is not trusted: no silent fallback.
    let e = open_url(&f.ftps_url, &f.user, &f.password).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    // The cause once, and where to go from here.
    assert!(!e.to_string().to_lowercase().contains("secure error"), "{e}");
    assert!(e.to_string().contains("?ca="), "{e}");
}

#[tokio::test]
async fn wrong_password_is_an_authentication_error() {
    let f = ftp();
    let e = open_url(&f.url, &f.user, "not-the-password").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(!format!("{e} {e:?}").contains("not-the-password"));
}

#[tokio::test]
async fn read_only_directory_gives_permission_denied() {
    let f = ftp();
    let fs = f.open().await;
    let ro = Path::new(&f.readonly).unwrap();
    assert!(fs.attributes(&ro).await.unwrap().is_directory());
    let e = put(&fs, &ro.join_entry("x").unwrap(), b"x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let e = fs.create_directory(&ro.join_entry("d").unwrap()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let e = fs.delete(&ro.join_entry("README").unwrap(), false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
}

#[tokio::test]
async fn awkward_names_and_links_made_on_the_server() {
    let f = ftp();
    let name = unique("awkward");
    let dir = local_dir(&f, &name);
    for n in ["a -> b", " lead", "trail ", "br[ack]et*", "ünï ✓", "-dash"] {
        std::fs::write(dir.join(n), n.as_bytes()).unwrap();
    }
    std::fs::create_dir(dir.join("sub dir")).unwrap();
    symlink("sub dir", dir.join("link to dir")).unwrap();
    symlink("/nowhere/at/all", dir.join("dangling")).unwrap();
    let fs = f.open().await;
    let d = Path::new(&f.root).unwrap().join_entry(&name).unwrap();
    let mut got: Vec<(String, EntryKind)> = fs
        .list(&d, true)
        .map(|a| {
            let a = a.unwrap();
            (a.path.strip_prefix(&d).unwrap().to_string(), a.kind)
        })
        .collect()
        .await;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    use EntryKind::{Directory as D, File as F, Symlink as L};
    let want: Vec<(String, EntryKind)> = [
        (" lead", F),
        ("-dash", F),
        ("a -> b", F),
        ("br[ack]et*", F),
        ("dangling", L),
        ("link to dir", L),
        ("sub dir", D),
        ("trail ", F),
        ("ünï ✓", F),
    ]
    .into_iter()
    .map(|(n, k)| (n.to_owned(), k))
    .collect();
    assert_eq!(got, want);
    let link = d.join_entry("link to dir").unwrap();
    assert_eq!(fs.read_symbolic_link(&link).await.unwrap().to_string(), "sub dir");
    assert!(fs.attributes(&link).await.unwrap().is_symbolic_link());
    assert!(fs.exists(&d.join_entry("dangling").unwrap()).await.unwrap());
    assert_eq!(
        get(&fs, &d.join_entry("a -> b").unwrap(), ByteRange::ALL).await.unwrap(),
        b"a -> b"
    );
    fs.delete(&d, true).await.unwrap();
    assert!(!dir.exists());
}

#[tokio::test]
async fn many_parallel_transfers_share_the_pool() {
    let f = ftp();
    let fs = Arc::new(open_url(&format!("{}?pool=3", f.url), &f.user, &f.password).await.unwrap());
    let dir = Path::new(&f.root).unwrap().join_entry(&unique("parallel")).unwrap();
    fs.create_directory(&dir).await.unwrap();
    let tasks: Vec<_> = (0..12u8)
        .map(|i| {
            let fs = fs.clone();
            let p = dir.join_entry(&format!("f{i}")).unwrap();
            tokio::spawn(async move {
                let data = pattern(200_000 + usize::from(i), i);
                put(&*fs, &p, &data).await.unwrap();
                assert!(get(&*fs, &p, ByteRange::ALL).await.unwrap() == data);
                // A partial read drops its connection; the pool must recover.
                let head = get(&*fs, &p, ByteRange { offset: 10, len: Some(5) }).await.unwrap();
                assert_eq!(head, &data[10..15]);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(fs.list(&dir, false).count().await, 12);
    fs.delete(&dir, true).await.unwrap();
}

/// A recursive copy from the server to itself (one file system, so one
/// pool): each file holds a connection for its read and needs another for
/// its write, while the listing holds one more. With more files in flight
/// than the pool has connections this must still finish, over TLS too.
#[tokio::test]
async fn a_tree_copied_within_one_server_finishes_with_a_small_pool() {
    use fs_adaptors::copy::{CopyOptions, copy};
    use hpc_core::CopyMode;

    let f = ftp();
    for url in [f.url.clone(), f.ftps_url_with_ca()] {
        let sep = if url.contains('?') { '&' } else { '?' };
        let fs: Arc<dyn FileSystem> =
            Arc::new(open_url(&format!("{url}{sep}pool=2"), &f.user, &f.password).await.unwrap());
        let dir = Path::new(&f.root).unwrap().join_entry(&unique("selfcopy")).unwrap();
        fs.create_directories(&dir.join("src/sub").unwrap()).await.unwrap();
        for i in 0..6u8 {
            let p = dir.join(&format!("src/{}f{i}", if i % 2 == 0 { "sub/" } else { "" })).unwrap();
            put(&*fs, &p, &pattern(100_000, i)).await.unwrap();
        }
        let opts = CopyOptions {
            recursive: true,
            parallel: 4,
            mode: CopyMode::Create,
            ..Default::default()
        };
        let copied = tokio::time::timeout(
            std::time::Duration::from_secs(120),
            copy(&fs, &dir.join("src").unwrap(), &fs, &dir.join("dst").unwrap(), &opts),
        )
        .await
        .expect("the copy hangs: the pool deadlocked")
        .unwrap();
        assert_eq!(copied.files, 6);
        assert!(
            get(&*fs, &dir.join("dst/sub/f4").unwrap(), ByteRange::ALL).await.unwrap()
                == pattern(100_000, 4)
        );
        fs.delete(&dir, true).await.unwrap();
    }
}
