//! Which keys `hpckit fs` signs S3 requests with, seen by a server that
//! records the `Authorization` header: the options, the URL's access key
//! id, the `AWS_*` variables and profiles; and the error that says what to
//! set when there are none.

#[allow(dead_code, reason = "this file runs hpckit with its own environment")]
mod support;

use hpc_exec::{Command, Executor, LocalExecutor, Output};
use hpc_testkit::hostile::http::{Answer, HttpServer};
use hpc_testkit::hostile::s3::list_objects;
use support::error_line;

/// A bucket that lists one object to anyone.
async fn bucket() -> HttpServer {
    HttpServer::start(|_| {
        Answer::full(200, "application/xml", list_objects("bucket", "", &[("a.txt", 1)]))
    })
    .await
}

/// `hpckit fs ls URL args...` in an environment with no AWS settings but `env`
/// (HOME is `home`, so `~/.aws` is whatever the test put there).
async fn ls(server: &HttpServer, url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().unwrap();
    ls_in(home.path(), server, url, args, env).await
}

async fn ls_in(
    home: &std::path::Path,
    server: &HttpServer,
    url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let url = format!("{url}?endpoint=http://{}&region=r", server.authority());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hpckit")).args(["fs", "ls", &url]).args(args);
    // Empty counts as unset, so the developer's own AWS settings stay out.
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] {
        cmd = cmd.env(var, "");
    }
    cmd = cmd.env("HOME", home).env("AWS_CONFIG_FILE", "").env("AWS_SHARED_CREDENTIALS_FILE", "");
    for (k, v) in env {
        cmd = cmd.env(*k, v);
    }
    LocalExecutor::new().run(&cmd).await.expect("running hpckit")
}

/// The access key id the last request was signed with (`None`: unsigned),
/// from the `Authorization` header or a presigned URL's `X-Amz-Credential`.
fn signed_by(server: &HttpServer) -> Option<String> {
    let requests = server.requests();
    let last = requests.last().expect("a request");
    let text = format!("{} {}", last.header("authorization").unwrap_or(""), last.target);
    let after = text.split("Credential=").nth(1)?;
    Some(after.split(['/', '%']).next()?.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_options_url_variables_and_profiles() {
    let s = bucket().await;
    let secret = [("MY_SECRET", "s3cr3t"), ("MY_ACCESS", "AKOPTION")];
    let out = ls(
        &s,
        "s3://bucket/",
        &["--access-key-env", "MY_ACCESS", "--secret-key-env", "MY_SECRET"],
        &secret,
    )
    .await;
    assert_eq!(out.status.code, Some(0), "{out:?}");
    assert_eq!(signed_by(&s).as_deref(), Some("AKOPTION"));

    let out = ls(&s, "s3://AKURL@bucket/", &["--password-env", "MY_SECRET"], &secret).await;
    assert_eq!(out.status.code, Some(0), "{out:?}");
    assert_eq!(signed_by(&s).as_deref(), Some("AKURL"));

    let vars = [("AWS_ACCESS_KEY_ID", "AKENV"), ("AWS_SECRET_ACCESS_KEY", "s")];
    let out = ls(&s, "s3://bucket/", &[], &vars).await;
    assert_eq!(out.status.code, Some(0), "{out:?}");
    assert_eq!(signed_by(&s).as_deref(), Some("AKENV"));

    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = a\n\
         [lab]\naws_access_key_id = AKLAB\naws_secret_access_key = b\n",
    )
    .unwrap();
    let out = ls_in(home.path(), &s, "s3://bucket/", &[], &[]).await;
    assert_eq!(out.status.code, Some(0), "{out:?}");
    assert_eq!(signed_by(&s).as_deref(), Some("AKDEFAULT"));
    let out = ls_in(home.path(), &s, "s3://bucket/", &[], &[("AWS_PROFILE", "lab")]).await;
    assert_eq!(out.status.code, Some(0), "{out:?}");
    assert_eq!(signed_by(&s).as_deref(), Some("AKLAB"));

    let out = ls(&s, "s3://bucket/", &["--no-sign-request"], &[]).await;
    assert_eq!(out.status.code, Some(0), "{out:?}");
    assert_eq!(signed_by(&s), None);
}

/// `--password-env` alone used `$USER` as the access key id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_without_its_access_key_id_is_refused() {
    let s = bucket().await;
    let env = [("MY_SECRET", "s3cr3t"), ("USER", "alice")];
    let out = ls(&s, "s3://bucket/", &["--password-env", "MY_SECRET"], &env).await;
    assert_eq!(out.status.code, Some(1), "{out:?}");
    let line = error_line(&out);
    assert!(line.contains("--access-key-env") && line.contains("s3://KEY@bucket"), "{line}");
    assert!(s.requests().is_empty(), "nothing is sent: {:?}", s.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_keys_says_what_to_set() {
    let s = bucket().await;
    for url in ["s3://bucket/", "s3://AKONLY@bucket/"] {
        let out = ls(&s, url, &[], &[]).await;
        assert_eq!(out.status.code, Some(77), "{out:?}");
        let line = error_line(&out);
        for needle in ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "--secret-key-env", "--no-sign-request"]
        {
            assert!(line.contains(needle), "{needle}: {line}");
        }
    }
    assert!(s.requests().is_empty(), "nothing is sent unsigned: {:?}", s.requests());
}
