//! Human-readable output shows control characters escaped, whatever a name
//! holds; `--json` keeps the exact text.

use hpc_exec::{Command, Executor, LocalExecutor, Output};

async fn hpckit(args: &[&str]) -> Output {
    let cmd = Command::new(env!("CARGO_BIN_EXE_hpckit")).args(args);
    LocalExecutor::new().run(&cmd).await.expect("running hpckit")
}

/// ESC/CSI, OSC with BEL, CR, DEL, C1 CSI and NEL, TAB.
const HOSTILE: &str = "x\x1b[2Jy\x1b]0;owned\x07z\rw\x7fv\u{9b}31mu\u{85}t\ts";

fn no_controls(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() && c != '\n')
}

#[tokio::test]
async fn fs_ls_escapes_names_and_json_keeps_them() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(HOSTILE), b"1").unwrap();
    let url = format!("file://{}/", tmp.path().display());
    for args in [vec!["fs", "ls", &url], vec!["fs", "ls", "-l", &url]] {
        let out = hpckit(&args).await;
        assert_eq!(out.status.code, Some(0), "{out:?}");
        let text = out.stdout_text();
        assert!(no_controls(&text), "{args:?}: {text:?}");
        assert!(
            text.contains("x\\x1b[2Jy\\x1b]0;owned\\x07z\\rw\\x7fv\\u{9b}31mu\\u{85}t\\ts"),
            "{text:?}"
        );
    }
    let out = hpckit(&["fs", "ls", "--json", &url]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json.to_string().contains(&serde_json::to_string(HOSTILE).unwrap()[1..20]), "{json}");
    let path = json[0]["path"].as_str().unwrap();
    assert!(path.ends_with(HOSTILE), "{path:?}");
    // An error line naming it is escaped too.
    let missing = format!("{url}{HOSTILE}-missing");
    let out = hpckit(&["fs", "cat", &missing]).await;
    assert_eq!(out.status.code, Some(66), "{out:?}");
    assert!(no_controls(&out.stderr_text()), "{:?}", out.stderr_text());
}

#[tokio::test]
async fn job_status_table_escapes_names_and_json_keeps_them() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("nohup://?jobdir={}", tmp.path().join("jobs").display());
    let name = HOSTILE.replace('\r', "");
    let out = hpckit(&["job", "submit", &url, "--name", &name, "--", "true"]).await;
    assert_eq!(out.status.code, Some(0), "{out:?}");
    let id = out.stdout_text().trim().to_owned();
    let out = hpckit(&["job", "wait", &url, &id, "--timeout", "60"]).await;
    assert!(no_controls(&out.stdout_text()), "{:?}", out.stdout_text());
    let out = hpckit(&["job", "status", &url, &id]).await;
    let table = out.stdout_text();
    assert!(no_controls(&table), "{table:?}");
    assert!(table.contains("x\\x1b[2Jy\\x1b]0;owned\\x07"), "{table:?}");
    let out = hpckit(&["job", "status", &url, &id, "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["name"], name.as_str());
}

/// A full disk behind stdout is local I/O: exit 74 with one error line.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the child's stdout must be /dev/full, which LocalExecutor does not offer"
)]
fn cat_onto_a_full_disk_exits_74() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("f");
    std::fs::write(&file, vec![b'x'; 1 << 20]).unwrap();
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        panic!("/dev/full is needed for this test");
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hpckit"))
        .args(["fs", "cat", file.to_str().unwrap()])
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "{err}");
    assert!(err.starts_with("hpckit: error: ") && err.lines().count() == 1, "{err}");
}

/// `fs cp -v` of a local file counts the bytes the file system copied.
#[tokio::test]
async fn cp_verbose_reports_the_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::write(&a, vec![b'x'; 10 << 20]).unwrap();
    let out = hpckit(&["fs", "cp", "-v", a.to_str().unwrap(), b.to_str().unwrap()]).await;
    assert_eq!(out.status.code, Some(0), "{out:?}");
    assert!(out.stderr_text().contains("10485760 bytes"), "{}", out.stderr_text());
}

/// One local name that is not UTF-8 made `ls` and `cp -r` fail as a whole
/// (exit 65): now the others are listed and copied, the bad one is named
/// (escaped) in a warning, and the exit code says it was left out.
#[tokio::test]
async fn a_name_that_is_not_utf8_is_named_and_skipped_not_fatal() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("good.txt"), b"g").unwrap();
    std::fs::write(src.join(std::ffi::OsStr::from_bytes(b"bad\xff\x1b[2J")), b"b").unwrap();
    let url = format!("file://{}/", src.display());

    let out = hpckit(&["fs", "ls", &url]).await;
    assert_eq!(out.status.code, Some(65), "{out:?}");
    assert_eq!(out.stdout_text(), "good.txt\n");
    let err = out.stderr_text();
    assert!(err.contains("warning: skipped") && err.contains(r"bad\xFF"), "{err:?}");
    assert!(no_controls(&err), "{err:?}");

    let dst = tmp.path().join("dst");
    let out = hpckit(&["fs", "cp", "-r", &url, &dst.display().to_string()]).await;
    assert_eq!(out.status.code, Some(65), "{out:?}");
    assert!(out.stderr_text().contains("1 entry was skipped"), "{out:?}");
    assert_eq!(std::fs::read(dst.join("good.txt")).unwrap(), b"g");
    assert_eq!(std::fs::read_dir(&dst).unwrap().count(), 1);
}
