//! The real Python clients against hpckit's UFTPD test server and its auth
//! server: PyUNICORE 2.0.2's `uftp` module (authenticate, open, list, read,
//! write) and the `pyuftp` 1.1.1 command (ls, cp both ways with one and
//! several streams, encryption and compression, checksum, mkdir, rm). If they
//! disagree with the server, the server is wrong. Needs `cargo xtask services
//! up uftp`.

mod uftp_support;

use hpc_exec::Executor;
use uftp_support::{pattern, uftp};

#[tokio::test]
async fn pyunicore_writes_reads_lists_and_changes_files() {
    let u = uftp();
    let (base, disk) = u.fresh_dir("py");
    std::fs::write(disk.join("a b.txt"), b"x").unwrap();
    let r = u.pyunicore("files", &base).await;
    assert_eq!(r["size"], 200_004);
    assert_eq!(r["is_file"], true);
    assert_eq!(r["whole_ok"], true);
    assert_eq!(r["ranged"], r["expected_ranged"]);
    assert_eq!(r["ranged"].as_array().unwrap().len(), 14);
    assert_eq!(r["mode"], "0o600");
    assert_eq!(r["mtime"], 1_600_000_000);
    // PyUNICORE keeps the last word of each LIST line as the name.
    assert_eq!(r["listing"], serde_json::json!(["b.txt", "made"]));
    assert_eq!(r["inner"], serde_json::json!(["moved.bin"]));
    assert_eq!(r["after"], serde_json::json!(["b.txt"]));
}

#[tokio::test]
async fn pyunicore_auth_server_info_token_and_persistent_sessions() {
    let u = uftp();
    let (base, disk) = u.fresh_dir("pyauth");
    std::fs::write(disk.join("f"), b"1").unwrap();
    let r = u.pyunicore("auth_server", &base).await;
    assert_eq!(r["server"], "TEST");
    assert_eq!(r["sharing"], false);
    assert_eq!(r["token_parts"], 3);
    assert_eq!(r["names"], serde_json::json!(["f"]));
}

/// `pyuftp cp` up and down with `args`, compared byte for byte.
async fn pyuftp_roundtrip(args: &[&str], env: &[(&str, &str)]) {
    let u = uftp();
    let (base, disk) = u.fresh_dir("pyuftp");
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(1_234_567, 3);
    std::fs::write(tmp.path().join("up load.bin"), &data).unwrap();
    let target = u.url(&format!("{base}/"));
    let mut up = vec!["up load.bin", target.as_str()];
    up.extend_from_slice(args);
    let out = u.pyuftp(tmp.path(), "cp", &up, env).await;
    assert!(
        out.status.success(),
        "pyuftp cp up {args:?}: {}\n{}",
        out.stdout_text(),
        out.stderr_text()
    );
    assert!(std::fs::read(disk.join("up load.bin")).unwrap() == data, "upload differs ({args:?})");
    let source = u.url(&format!("{base}/up load.bin"));
    let mut down = vec![source.as_str(), "back.bin"];
    down.extend_from_slice(args);
    let out = u.pyuftp(tmp.path(), "cp", &down, env).await;
    assert!(
        out.status.success(),
        "pyuftp cp down {args:?}: {}\n{}",
        out.stdout_text(),
        out.stderr_text()
    );
    assert!(
        std::fs::read(tmp.path().join("back.bin")).unwrap() == data,
        "download differs ({args:?})"
    );
}

#[tokio::test]
async fn pyuftp_cp_one_stream() {
    pyuftp_roundtrip(&[], &[]).await;
}

#[tokio::test]
async fn pyuftp_cp_four_streams() {
    pyuftp_roundtrip(&["-n", "4"], &[]).await;
}

#[tokio::test]
async fn pyuftp_cp_compressed() {
    pyuftp_roundtrip(&["-C"], &[]).await;
    pyuftp_roundtrip(&["-n", "3", "-C"], &[]).await;
}

#[tokio::test]
async fn pyuftp_cp_encrypted_multi_stream() {
    // pyuftp 1.1.1 drops its decrypting reader on single-stream downloads
    // (`_wrap_connection`), so encryption is checked with several streams,
    // where its PConnector wraps every stream.
    pyuftp_roundtrip(&["-n", "2", "-E"], &[]).await;
    pyuftp_roundtrip(&["-n", "4", "-E"], &[("UFTP_ENCRYPTION_ALGORITHM", "AES")]).await;
    pyuftp_roundtrip(&["-n", "2", "-E", "-C"], &[]).await;
}

#[tokio::test]
async fn pyuftp_ls_mkdir_checksum_rm() {
    let u = uftp();
    let (base, disk) = u.fresh_dir("pyls");
    let data = pattern(5000, 1);
    std::fs::write(disk.join("f.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = u.pyuftp(tmp.path(), "mkdir", &[&u.url(&format!("{base}/newdir"))], &[]).await;
    assert!(out.status.success(), "{}", out.stderr_text());
    assert!(disk.join("newdir").is_dir());
    let out = u.pyuftp(tmp.path(), "ls", &[&u.url(&format!("{base}/"))], &[]).await;
    assert!(out.status.success(), "{}", out.stderr_text());
    let text = out.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("-rw") && lines[0].contains(" 5000 ") && lines[0].ends_with(" f.bin"),
        "{text}"
    );
    assert!(lines[1].starts_with("drwx") && lines[1].ends_with(" newdir"), "{text}");
    let out = u
        .pyuftp(tmp.path(), "checksum", &["-a", "SHA-256", &u.url(&format!("{base}/f.bin"))], &[])
        .await;
    assert!(out.status.success(), "{}", out.stderr_text());
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    assert!(out.stdout_text().starts_with(&hex), "{}", out.stdout_text());
    let out = u.pyuftp(tmp.path(), "rm", &[&u.url(&format!("{base}/f.bin"))], &[]).await;
    assert!(out.status.success(), "{}\n{}", out.stdout_text(), out.stderr_text());
    assert!(!disk.join("f.bin").exists());
}

#[tokio::test]
async fn pyuftp_logs_in_with_an_ssh_key() {
    let u = uftp();
    let (base, disk) = u.fresh_dir("pykey");
    std::fs::write(disk.join("keyed.txt"), b"k").unwrap();
    let key = std::path::PathBuf::from(u.env.var("HPCKIT_UFTP_KEYS")).join("id_ed25519");
    let tmp = tempfile::tempdir().unwrap();
    let cmd = hpc_exec::Command::new(&u.pyuftp)
        .args(["ls", "-u", u.user.as_str(), "-i"])
        .arg(&key)
        .arg(u.url(&format!("{base}/")))
        .current_dir(tmp.path());
    let out = hpc_exec::LocalExecutor::new().run(&cmd).await.unwrap();
    assert!(out.status.success(), "{}\n{}", out.stdout_text(), out.stderr_text());
    assert!(out.stdout_text().trim_end().ends_with(" keyed.txt"), "{}", out.stdout_text());
}
