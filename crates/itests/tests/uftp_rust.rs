//! hpckit's UFTP client (`uftp-proto`) against the UFTPD test server behind
//! its auth server: credential → `POST /rest/auth/TEST` → session, with 1 and
//! 4 streams, with and without encryption and compression, odd file names,
//! ranges, resume, checksums and directory operations. Needs `cargo xtask
//! services up uftp`.

mod uftp_support;

use hpc_core::{EntryKind, ErrorKind};
use uftp_proto::transfer::{download, upload};
use uftp_proto::{Algorithm, AuthRequest, EncryptionKey, Session, TransferOptions, WriteMode};
use uftp_support::{pattern, uftp};

/// Upload then download `len` bytes under `name` and compare, in one session.
async fn roundtrip(streams: usize, key: Option<Algorithm>, compress: bool, name: &str, len: usize) {
    let u = uftp();
    let (base, disk) = u.fresh_dir("rt");
    let key = key.map(|a| EncryptionKey::generate(a).unwrap());
    let mut s = u.session(&base, streams, key, compress).await;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.bin");
    let data = pattern(len, streams as u8);
    std::fs::write(&src, &data).unwrap();
    let sent = upload(&mut s, &src, name, false, None).await.unwrap();
    assert_eq!(sent, len as u64);
    assert!(std::fs::read(disk.join(name)).unwrap() == data, "server copy differs ({name})");
    assert_eq!(s.stat(name).await.unwrap().size, len as u64);
    let back = tmp.path().join("back.bin");
    let got = download(&mut s, name, &back, false, None).await.unwrap();
    assert_eq!(got, len as u64);
    assert!(std::fs::read(&back).unwrap() == data, "download differs ({name})");
    s.quit().await;
}

#[tokio::test]
async fn one_stream_plain() {
    roundtrip(1, None, false, "plain.bin", 3_000_001).await;
}

#[tokio::test]
async fn four_streams_plain() {
    roundtrip(4, None, false, "four.bin", 3_000_001).await;
}

#[tokio::test]
async fn one_stream_aes_and_blowfish() {
    roundtrip(1, Some(Algorithm::Aes), false, "aes.bin", 1_000_003).await;
    roundtrip(1, Some(Algorithm::Blowfish), false, "bf.bin", 1_000_003).await;
}

#[tokio::test]
async fn four_streams_aes() {
    roundtrip(4, Some(Algorithm::Aes), false, "aes4.bin", 2_000_003).await;
}

#[tokio::test]
async fn compressed_one_and_four_streams() {
    roundtrip(1, None, true, "z1.bin", 1_500_000).await;
    roundtrip(4, None, true, "z4.bin", 1_500_000).await;
}

#[tokio::test]
async fn four_streams_encrypted_and_compressed() {
    roundtrip(4, Some(Algorithm::Blowfish), true, "bfz4.bin", 1_000_000).await;
    roundtrip(4, Some(Algorithm::Aes), true, "aesz4.bin", 1_000_000).await;
}

#[tokio::test]
async fn names_with_spaces_and_unicode() {
    roundtrip(1, None, false, "a file with spaces.txt", 10_000).await;
    roundtrip(4, None, false, "Grüße ✓ 日本.dat", 100_000).await;
}

#[tokio::test]
async fn empty_file() {
    roundtrip(1, None, false, "empty", 0).await;
    roundtrip(4, Some(Algorithm::Aes), false, "empty4", 0).await;
}

/// `KEEP-ALIVE true`: after the first transfer the data connections stay
/// open and carry the next ones (the test server refuses `PASV` while they
/// are open, so a client that opened new ones would fail), each ended by its
/// byte count; a listing and an upload of unknown size are refused clearly.
async fn keep_alive_transfers(streams: usize) {
    let u = uftp();
    let (base, disk) = u.fresh_dir("keep");
    let mut s = u.session(&base, streams, None, false).await;
    s.keep_alive(true).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (i, len) in [1_000_003usize, 0, 70_000, 2_000_000].into_iter().enumerate() {
        let data = pattern(len, i as u8);
        let src = tmp.path().join(format!("src{i}.bin"));
        std::fs::write(&src, &data).unwrap();
        let name = format!("k{i}.bin");
        assert_eq!(upload(&mut s, &src, &name, false, None).await.unwrap(), len as u64);
        assert_eq!(s.kept_connections(), streams, "upload {i} kept its connections");
        assert!(std::fs::read(disk.join(&name)).unwrap() == data, "server copy {i} differs");
        let back = tmp.path().join(format!("back{i}.bin"));
        assert_eq!(download(&mut s, &name, &back, false, None).await.unwrap(), len as u64);
        assert_eq!(s.kept_connections(), streams, "download {i} kept its connections");
        assert!(std::fs::read(&back).unwrap() == data, "download {i} differs");
    }
    // A ranged read ends at its byte count too.
    let (mut inb, n) = s.open_read("k3.bin", 5, Some(10)).await.unwrap();
    assert_eq!(n, 10);
    let mut got = Vec::new();
    while let Some(c) = inb.next_chunk().await.unwrap() {
        got.extend_from_slice(&c);
    }
    s.end_read(inb, "RETR k3.bin").await.unwrap();
    assert_eq!(got, &pattern(2_000_000, 3)[5..15]);
    let e = s.list("").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let e = s.open_write("x.bin", WriteMode::Replace { size: None }).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // Back to one connection set per transfer: listings work again.
    s.keep_alive(false).await.unwrap();
    assert_eq!(s.kept_connections(), 0);
    assert_eq!(s.list("").await.unwrap().len(), 4);
    s.quit().await;
}

#[tokio::test]
async fn keep_alive_one_stream() {
    keep_alive_transfers(1).await;
}

#[tokio::test]
async fn keep_alive_four_streams() {
    keep_alive_transfers(4).await;
}

#[tokio::test]
async fn keep_alive_upload_of_the_wrong_size_fails_and_the_session_goes_on() {
    let u = uftp();
    let (base, disk) = u.fresh_dir("keep-size");
    let mut s = u.session(&base, 1, None, false).await;
    s.keep_alive(true).await.unwrap();
    // Fewer bytes than announced: the server would wait for the rest.
    let mut out = s.open_write("short.bin", WriteMode::Replace { size: Some(10) }).await.unwrap();
    out.write(b"12345").await.unwrap();
    let e = s.end_write(out, "STOR short.bin").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("after 5 of the 10 bytes announced"), "{e}");
    assert!(s.is_usable());
    // More than announced: the surplus would open the next transfer.
    let mut out = s.open_write("long.bin", WriteMode::Replace { size: Some(3) }).await.unwrap();
    let e = out.write(b"12345").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    drop(out);
    let _ = s.end_transfer("STOR long.bin").await;
    assert!(s.is_usable());
    // The session goes on, over a new kept connection, with whole files.
    for name in ["short.bin", "long.bin"] {
        let mut out = s.open_write(name, WriteMode::Replace { size: Some(4) }).await.unwrap();
        out.write(b"good").await.unwrap();
        assert_eq!(s.end_write(out, &format!("STOR {name}")).await.unwrap(), 4);
        assert_eq!(s.kept_connections(), 1);
        assert_eq!(std::fs::read(disk.join(name)).unwrap(), b"good");
    }
    s.quit().await;
}

/// Copies 50 small files to a UFTP file system and back with the copy
/// engine, one file at a time; the data connections the server accepted.
async fn copy_many_small_files(params: &str) -> (u64, u64) {
    use fs_adaptors::copy::{CopyOptions, copy};
    let u = uftp();
    let (base, disk) = u.fresh_dir("many");
    let uftp_fs = u.filesystem(&base, params).await.unwrap();
    let local = hpckit::open_filesystem("file:///", &Default::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (up, down) = (tmp.path().join("up"), tmp.path().join("down"));
    std::fs::create_dir(&up).unwrap();
    for i in 0..50 {
        std::fs::write(up.join(format!("f{i:02}.bin")), pattern(1000 + i * 37, i as u8)).unwrap();
    }
    let opts = CopyOptions { recursive: true, parallel: 1, ..Default::default() };
    let p = |path: &std::path::Path| hpc_core::Path::new(path.to_str().unwrap()).unwrap();
    let dir = hpc_core::Path::new("/dir").unwrap();
    copy(&local, &p(&up), &uftp_fs, &dir, &opts).await.unwrap();
    let uploads = u.data_connections(&base).await;
    copy(&uftp_fs, &dir, &local, &p(&down), &opts).await.unwrap();
    let downloads = u.data_connections(&base).await - uploads;
    uftp_fs.close().await.unwrap();
    for i in 0..50 {
        let name = format!("f{i:02}.bin");
        let want = pattern(1000 + i * 37, i as u8);
        assert!(std::fs::read(disk.join("dir").join(&name)).unwrap() == want, "uploaded {name}");
        assert!(std::fs::read(down.join(&name)).unwrap() == want, "downloaded {name}");
    }
    (uploads, downloads)
}

#[tokio::test]
async fn the_file_system_keeps_one_data_connection_for_many_files() {
    // Each direction lists one directory (the copy engine's sweep for
    // leftovers in the target, then the source tree), and a listing ends
    // with its connection: one connection for it, one kept for all 50 files.
    assert_eq!(copy_many_small_files("").await, (2, 2));
    // Without KEEP-ALIVE (as before, and as with encryption, compression or
    // several streams): a connection per file.
    assert_eq!(copy_many_small_files("&keep-alive=false").await, (51, 51));
}

#[tokio::test]
async fn keep_alive_is_refused_with_encryption_or_compression() {
    let u = uftp();
    let (base, _) = u.fresh_dir("keepz");
    let key = EncryptionKey::generate(Algorithm::Aes).unwrap();
    let mut s = u.session(&base, 1, Some(key), false).await;
    let e = s.keep_alive(true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    s.quit().await;
    let mut s = u.session(&base, 1, None, true).await;
    assert_eq!(s.keep_alive(true).await.unwrap_err().kind(), ErrorKind::Unsupported);
    // The server refuses it on its own too (a client that does not check).
    let r = s.command("KEEP-ALIVE true").await.unwrap();
    assert_eq!(r.code, 500, "{}", r.text());
    s.quit().await;
}

#[tokio::test]
async fn listing_stat_and_directory_operations() {
    let u = uftp();
    let (base, disk) = u.fresh_dir("ops");
    std::fs::write(disk.join("one.txt"), b"1").unwrap();
    let mut s = u.session(&base, 1, None, false).await;
    s.mkdir("sub dir").await.unwrap();
    assert_eq!(s.mkdir("sub dir").await.unwrap_err().kind(), ErrorKind::AlreadyExists);
    let mut names: Vec<(String, EntryKind)> =
        s.list("").await.unwrap().into_iter().map(|e| (e.name, e.kind)).collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        names,
        vec![("one.txt".into(), EntryKind::File), ("sub dir".into(), EntryKind::Directory)]
    );
    s.rename("one.txt", "sub dir/two.txt").await.unwrap();
    assert!(disk.join("sub dir/two.txt").is_file());
    s.set_mode("sub dir/two.txt", 0o640).await.unwrap();
    let st = s.stat("sub dir/two.txt").await.unwrap();
    assert_eq!((st.size, st.mode), (1, Some(0o640)));
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    s.set_modified("sub dir/two.txt", when).await.unwrap();
    assert_eq!(s.stat("sub dir/two.txt").await.unwrap().modified, Some(when));
    assert!(s.stat("missing").await.unwrap_err().is_not_found());
    s.remove("sub dir/two.txt").await.unwrap();
    s.rmdir("sub dir").await.unwrap();
    assert!(s.list("").await.unwrap().is_empty());
    // The jail: nothing outside the base directory.
    let e = s.stat("/etc/passwd").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let e = s.cwd("../..").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    s.quit().await;
}

#[tokio::test]
async fn ranges_resume_append_and_hash() {
    let u = uftp();
    let (base, disk) = u.fresh_dir("range");
    let data = pattern(100_000, 9);
    std::fs::write(disk.join("f.bin"), &data).unwrap();
    let mut s = u.session(&base, 1, None, false).await;
    // A ranged read: RANG is end-exclusive.
    let (mut inb, n) = s.open_read("f.bin", 1000, Some(500)).await.unwrap();
    assert_eq!(n, 500);
    let mut got = Vec::new();
    while let Some(c) = inb.next_chunk().await.unwrap() {
        got.extend_from_slice(&c);
    }
    s.end_transfer("RETR f.bin").await.unwrap();
    assert_eq!(got, &data[1000..1500]);
    // REST: the 150 line names the whole size; the client expects the rest.
    let (mut inb, n) = s.open_read("f.bin", 99_000, None).await.unwrap();
    assert_eq!(n, 1000);
    let mut got = Vec::new();
    while let Some(c) = inb.next_chunk().await.unwrap() {
        got.extend_from_slice(&c);
    }
    s.end_transfer("RETR f.bin").await.unwrap();
    assert_eq!(got, &data[99_000..]);
    // Resume a partial download from where the local file ends.
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("part.bin");
    std::fs::write(&local, &data[..40_000]).unwrap();
    assert_eq!(download(&mut s, "f.bin", &local, true, None).await.unwrap(), 60_000);
    assert!(std::fs::read(&local).unwrap() == data);
    // Resume a partial upload from the remote size.
    std::fs::write(disk.join("up.bin"), &data[..30_000]).unwrap();
    let src = tmp.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();
    assert_eq!(upload(&mut s, &src, "up.bin", true, None).await.unwrap(), 70_000);
    assert!(std::fs::read(disk.join("up.bin")).unwrap() == data);
    // Write at an offset without truncating, and append.
    let mut out = s.open_write("f.bin", WriteMode::At { offset: 10, size: Some(3) }).await.unwrap();
    out.write(b"XYZ").await.unwrap();
    out.finish().await.unwrap();
    s.end_transfer("STOR f.bin").await.unwrap();
    let mut out = s.open_write("f.bin", WriteMode::Append).await.unwrap();
    out.write(b"tail").await.unwrap();
    out.finish().await.unwrap();
    s.end_transfer("APPE f.bin").await.unwrap();
    let mut expect = data.clone();
    expect[10..13].copy_from_slice(b"XYZ");
    expect.extend_from_slice(b"tail");
    assert!(std::fs::read(disk.join("f.bin")).unwrap() == expect);
    // Checksums computed by the server.
    let (algo, hex) = s.hash("f.bin", Some("SHA-256")).await.unwrap();
    assert_eq!(algo, "SHA-256");
    assert_eq!(hex, sha256_hex(&expect));
    let (algo, _) = s.hash("f.bin", Some("MD5")).await.unwrap();
    assert_eq!(algo, "MD5");
    s.quit().await;
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn persistent_secret_opens_overlapping_sessions_one_off_does_not() {
    let u = uftp();
    let (base, _) = u.fresh_dir("persist");
    let auth = u.auth();
    let grant = auth
        .authenticate(&AuthRequest { server_path: base.clone(), ..Default::default() })
        .await
        .unwrap();
    let a = Session::connect(&grant, TransferOptions::default()).await.unwrap();
    let b = Session::connect(&grant, TransferOptions::default()).await.unwrap();
    a.quit().await;
    b.quit().await;
    let once = auth
        .authenticate(&AuthRequest { server_path: base, persistent: false, ..Default::default() })
        .await
        .unwrap();
    let first = Session::connect(&once, TransferOptions::default()).await.unwrap();
    let e = Session::connect(&once, TransferOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(e.to_string().contains("already running"), "{e}");
    assert!(!e.to_string().contains(once.secret.expose()), "secret in error: {e}");
    first.quit().await;
}

#[tokio::test]
async fn info_token_and_bearer_credential() {
    let u = uftp();
    let info = u.auth().info().await.unwrap();
    assert_eq!(info["TEST"]["status"], "READY");
    assert_eq!(info["TEST"]["uid"], "demouser");
    let token = u.auth().issue_token(Some(600), false, false).await.unwrap();
    assert!(token.expose().split('.').count() == 3);
    // The issued token is a bearer credential for the whole chain.
    let t = unicore_rest::Transport::builder()
        .credential(unicore_rest::credential::bearer(token))
        .add_ca_file(&u.ca)
        .build()
        .unwrap();
    let auth = uftp_proto::AuthServer::new(t, &u.auth_url).unwrap();
    let (base, _) = u.fresh_dir("bearer");
    let grant =
        auth.authenticate(&AuthRequest { server_path: base, ..Default::default() }).await.unwrap();
    let mut s = Session::connect(&grant, TransferOptions::default()).await.unwrap();
    assert!(s.list("").await.unwrap().is_empty());
    s.quit().await;
}

#[tokio::test]
async fn ssh_key_signed_tokens_run_the_whole_chain() {
    let u = uftp();
    let keys = std::path::PathBuf::from(u.env.var("HPCKIT_UFTP_KEYS"));
    for key in ["id_ed25519", "id_rsa", "id_ecdsa"] {
        let cred = unicore_rest::credential::create_credential(
            Some(&u.user),
            None,
            None,
            Some(&keys.join(key)),
        )
        .unwrap();
        let t =
            unicore_rest::Transport::builder().credential(cred).add_ca_file(&u.ca).build().unwrap();
        let auth = uftp_proto::AuthServer::new(t, &u.auth_url).unwrap();
        let (base, disk) = u.fresh_dir("jwt");
        std::fs::write(disk.join("k"), key).unwrap();
        let grant = auth
            .authenticate(&AuthRequest { server_path: base, ..Default::default() })
            .await
            .unwrap();
        let mut s = Session::connect(&grant, TransferOptions::default()).await.unwrap();
        assert_eq!(s.stat("k").await.unwrap().size, key.len() as u64, "{key}");
        s.quit().await;
    }
    let stranger = unicore_rest::credential::create_credential(
        Some(&u.user),
        None,
        None,
        Some(&keys.join("id_stranger")),
    )
    .unwrap();
    let t =
        unicore_rest::Transport::builder().credential(stranger).add_ca_file(&u.ca).build().unwrap();
    let e = uftp_proto::AuthServer::new(t, &u.auth_url)
        .unwrap()
        .authenticate(&AuthRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::Authentication), "{e}");
}
