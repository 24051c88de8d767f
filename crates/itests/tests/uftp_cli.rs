//! `hpckit uftp` against the UFTPD test server: put/get with streams,
//! encryption and compression, ls/stat/find with `--json`, checksum, mkdir,
//! rm, issue-token, and a clear error with its exit code. Needs `cargo xtask
//! services up uftp`.

#[path = "support/hpckit.rs"]
mod cli;
mod uftp_support;

use hpc_exec::{Executor, LocalExecutor, Output};
use uftp_support::{Uftp, pattern, uftp};

async fn hpckit(u: &Uftp, dir: &std::path::Path, args: &[&str]) -> Output {
    let cmd = cli::command(["uftp", "-u", u.user.as_str(), "-P"])
        .args(args)
        .env("UFTP_PASSWORD", &u.password)
        .env("HPCKIT_UFTP_CA", &u.ca)
        .current_dir(dir);
    LocalExecutor::new().run(&cmd).await.expect("running hpckit")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "hpckit failed: {}\n{}", out.stdout_text(), out.stderr_text());
    out.stdout_text().into_owned()
}

#[tokio::test]
async fn put_get_list_checksum_and_remove() {
    let u = uftp();
    let (base, disk) = u.fresh_dir("cli");
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(2_500_000, 4);
    std::fs::write(tmp.path().join("in put.bin"), &data).unwrap();
    let dir_url = u.url(&format!("{base}/"));
    ok(&hpckit(&u, tmp.path(), &["put", "-n", "4", "-E", "aes", "in put.bin", &dir_url]).await);
    assert!(std::fs::read(disk.join("in put.bin")).unwrap() == data);
    let file_url = u.url(&format!("{base}/in put.bin"));
    ok(&hpckit(&u, tmp.path(), &["get", "-n", "2", "-C", "--verify", &file_url, "back.bin"]).await);
    assert!(std::fs::read(tmp.path().join("back.bin")).unwrap() == data);
    ok(&hpckit(&u, tmp.path(), &["mkdir", "-p", &u.url(&format!("{base}/a/b"))]).await);
    let listing: serde_json::Value =
        serde_json::from_str(&ok(&hpckit(&u, tmp.path(), &["ls", "--json", &dir_url]).await))
            .unwrap();
    let names: Vec<&str> =
        listing.as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(names, [format!("{base}/a"), format!("{base}/in put.bin")]);
    assert_eq!(listing[1]["size"], 2_500_000);
    let found = ok(&hpckit(&u, tmp.path(), &["find", "-p", "*.bin", &dir_url]).await);
    assert_eq!(found.trim(), format!("{base}/in put.bin"));
    let sum = ok(&hpckit(&u, tmp.path(), &["checksum", "-a", "SHA-256", &file_url]).await);
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    assert!(sum.starts_with(&hex), "{sum}");
    ok(&hpckit(&u, tmp.path(), &["rm", &file_url]).await);
    assert!(!disk.join("in put.bin").exists());
    ok(&hpckit(&u, tmp.path(), &["rm", "-r", &u.url(&format!("{base}/a"))]).await);
    assert_eq!(std::fs::read_dir(&disk).unwrap().count(), 0);
    let token = ok(&hpckit(&u, tmp.path(), &["issue-token", "-l", "60", &file_url]).await);
    assert_eq!(token.trim().split('.').count(), 3);
}

#[tokio::test]
async fn cp_of_many_small_files_keeps_one_data_connection() {
    let u = uftp();
    let (base, disk) = u.fresh_dir("climany");
    let tmp = tempfile::tempdir().unwrap();
    let many = tmp.path().join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..50 {
        std::fs::write(many.join(format!("f{i:02}.bin")), pattern(500 + i * 13, i as u8)).unwrap();
    }
    let mut used = Vec::new();
    for (dir, extra) in [("kept", None), ("each", Some("--no-keep-alive"))] {
        let target = u.url(&format!("{base}/{dir}"));
        let args: Vec<&str> = extra.into_iter().chain(["cp", "-r", "many", &target]).collect();
        ok(&hpckit(&u, tmp.path(), &args).await);
        for i in 0..50 {
            let name = format!("f{i:02}.bin");
            let got = std::fs::read(disk.join(dir).join(&name)).unwrap();
            assert!(got == pattern(500 + i * 13, i as u8), "{dir}/{name} differs");
        }
        used.push(u.data_connections(&format!("{base}/{dir}")).await);
    }
    // One connection for the copy engine's listing of the target (a listing
    // ends with its connection), then one kept for all 50 files; with
    // `--no-keep-alive` one per file.
    assert_eq!(used, [2, 51]);
}

#[tokio::test]
async fn missing_path_and_missing_credential_are_clear_errors() {
    let u = uftp();
    let (base, _) = u.fresh_dir("clierr");
    let tmp = tempfile::tempdir().unwrap();
    let out = hpckit(&u, tmp.path(), &["stat", &u.url(&format!("{base}/nothing"))]).await;
    assert_eq!(out.status.code, Some(66), "not found exit code: {}", out.stderr_text());
    assert_eq!(out.stderr_text().trim(), format!("hpckit: error: path not found: {base}/nothing"));
    let cmd = cli::command(["uftp", "-u", "demouser", "ls", &u.url("/data/")])
        .env("HPCKIT_UFTP_CA", &u.ca);
    let out = LocalExecutor::new().run(&cmd).await.unwrap();
    assert!(!out.status.success());
    assert!(out.stderr_text().contains("no credential"), "{}", out.stderr_text());
    let cmd = cli::command(["uftp", "-u", "demouser:pw", "ls", &u.url("/data/")])
        .env("HPCKIT_UFTP_CA", &u.ca);
    let out = LocalExecutor::new().run(&cmd).await.unwrap();
    assert!(out.stderr_text().contains("-u takes a user name only"), "{}", out.stderr_text());
}

#[tokio::test]
async fn rcp_makes_the_target_server_fetch_the_file() {
    let u = uftp();
    let (base, disk) = u.fresh_dir("rcp");
    let data = pattern(300_000, 8);
    std::fs::write(disk.join("src.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&hpckit(
        &u,
        tmp.path(),
        &["rcp", &u.url(&format!("{base}/src.bin")), &u.url(&format!("{base}/dst.bin"))],
    )
    .await);
    assert!(out.contains("server-to-server copy started"), "{out}");
    // The copy runs in the background on the server: wait for it to land.
    let target = disk.join("dst.bin");
    for _ in 0..200 {
        if std::fs::read(&target).is_ok_and(|d| d == data) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the server-to-server copy did not arrive at {}", target.display());
}
