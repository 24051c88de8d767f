//! The `hpckit` binary against real refusals: each failure is one error line
//! and exits with the code the guide's table gives its kind. Needs
//! `cargo xtask services up sshd ftp webdav`.
//!
//! The unit tests in `hpckit-cli` (`output/adaptor_errors.rs`) follow every
//! kind through each adaptor family; these make a few of them happen for real.

#[path = "support/hpckit.rs"]
mod cli;
mod fs_support;

use hpc_exec::{Executor, LocalExecutor, Output};

/// The environment variable a wrong password is read from (`--password-env`).
const WRONG: (&str, &str) = ("HPCKIT_ITEST_WRONG_PASSWORD", "not-the-password");

/// Run `hpckit ARGS` with `env` set.
async fn hpckit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = cli::command(args);
    for (k, v) in env {
        cmd = cmd.env(*k, v);
    }
    LocalExecutor::new().run(&cmd).await.expect("running hpckit")
}

/// The run failed with exit `code` and one error line that contains `needle`
/// and no secret.
fn fails_with(out: &Output, code: i32, needle: &str) {
    let err = out.stderr_text();
    let what = format!("expected exit {code} with {needle:?}; got {:?}: {err}", out.status.code);
    assert_eq!(out.status.code, Some(code), "{what}");
    assert_eq!(err.lines().count(), 1, "{what}");
    assert!(err.starts_with("hpckit: error: ") && err.contains(needle), "{what}");
    assert!(!err.contains(WRONG.1), "a password in the message: {err}");
    assert!(out.stdout.is_empty(), "{what}");
}

#[tokio::test]
async fn local_job_and_file_errors() {
    let out = hpckit(&["job", "status", "local://", "424242"], &[]).await;
    fails_with(&out, 66, "job not found: 424242");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt");
    let out = hpckit(&["fs", "cat", missing.to_str().unwrap()], &[]).await;
    fails_with(&out, 66, "path not found");
    let out = hpckit(&["fs", "mkdir", dir.path().to_str().unwrap()], &[]).await;
    fails_with(&out, 73, "already exists");
}

#[tokio::test]
async fn ssh_to_a_closed_port_is_a_connection_error() {
    // Nobody listens on a port just given up.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("ssh://nobody@127.0.0.1:{port}?ssh_config=none");
    let out = hpckit(&["job", "list", &url], &[]).await;
    fails_with(&out, 75, "cannot connect to 127.0.0.1");
    let url = format!("sftp://nobody@127.0.0.1:{port}/tmp?ssh_config=none");
    let out = hpckit(&["fs", "ls", &url], &[]).await;
    fails_with(&out, 75, "cannot connect to 127.0.0.1");
}

#[tokio::test]
async fn sshd_refusals_and_unknown_jobs() {
    let sshd = fs_support::Sshd::from_env();
    let key = sshd.key.to_str().unwrap().to_owned();
    let home = sshd.url(&sshd.home);
    let out = hpckit(&["fs", "ls", &home, "--key", &key], &[]).await;
    assert_eq!(out.status.code, Some(0), "the same URL with the right key: {out:?}");

    let out = hpckit(&["fs", "ls", &home, "--password-env", WRONG.0], &[WRONG]).await;
    fails_with(&out, 77, "authentication failed");

    let empty = tempfile::NamedTempFile::new().unwrap();
    let strangers =
        home.replace(&sshd.known_hosts.display().to_string(), &empty.path().display().to_string());
    let out = hpckit(&["fs", "ls", &strangers, "--key", &key], &[]).await;
    fails_with(&out, 77, "host key verification failed");

    let missing = sshd.url(&format!("{}/hpckit-no-such-dir", sshd.home));
    let out = hpckit(&["fs", "ls", &missing, "--key", &key], &[]).await;
    fails_with(&out, 66, "not found");

    let jobs = format!(
        "ssh://{}@{}:{}?known_hosts={}&ssh_config=none",
        sshd.user,
        sshd.host,
        sshd.port,
        sshd.known_hosts.display()
    );
    let out = hpckit(&["job", "status", &jobs, "999999999", "--key", &key], &[]).await;
    fails_with(&out, 66, "job not found: 999999999");
}

#[tokio::test]
async fn ftp_and_webdav_refusals() {
    let ftp = fs_support::ftp::ftp();
    let out = hpckit(&["fs", "ls", &ftp.url, "--password-env", WRONG.0], &[WRONG]).await;
    fails_with(&out, 77, "authentication failed");
    let password = ("HPCKIT_ITEST_FTP_PASSWORD", ftp.password.as_str());
    let missing = format!("{}/hpckit-no-such-file", ftp.url);
    let out = hpckit(&["fs", "cat", &missing, "--password-env", password.0], &[password]).await;
    fails_with(&out, 66, "not found");

    let dav = fs_support::webdav::dav();
    let as_user = dav.url.replacen("webdav://", &format!("webdav://{}@", dav.user), 1);
    let out = hpckit(&["fs", "ls", &as_user, "--password-env", WRONG.0], &[WRONG]).await;
    fails_with(&out, 77, "authentication failed");
    let password = ("HPCKIT_ITEST_DAV_PASSWORD", dav.password.as_str());
    let missing = format!("{as_user}/hpckit-no-such-file");
    let out = hpckit(&["fs", "cat", &missing, "--password-env", password.0], &[password]).await;
    fails_with(&out, 66, "not found");
}
