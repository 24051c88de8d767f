//! `hpckit picas` bad input, without a server: one-line errors, distinct exit
//! codes, and the database password in none of them.

use hpc_exec::{Command, Executor, LocalExecutor, Output};

async fn hpckit(args: &[&str]) -> Output {
    let cmd = Command::new(env!("CARGO_BIN_EXE_hpckit")).args(args).env("PICAS_TEST_PW", "Hush123");
    LocalExecutor::new().run(&cmd).await.expect("running hpckit")
}

fn error_line(out: &Output) -> String {
    let err = out.stderr_text();
    assert_eq!(err.lines().count(), 1, "expected one error line, got: {err:?}");
    assert!(err.starts_with("hpckit: error: "), "{err:?}");
    assert!(!err.contains("Hush123") && !err.contains("hunter2"), "{err:?}");
    err.trim_end().to_owned()
}

#[tokio::test]
async fn bad_database_urls_and_passwords_are_clear_and_hidden() {
    let cases: [(&[&str], i32, &str); 4] = [
        (&["picas", "status", "ftp://u:hunter2@h/db"], 64, "starts with http:// or https://"),
        (&["picas", "status", "http://u:hunter2@h:5984/"], 64, "no database name"),
        (&["picas", "status", "http://u:hunter2@h:5984/Bad"], 64, "is not valid"),
        (
            &["picas", "status", "http://h:5984/db", "--db-password-env", "PICAS_TEST_PW"],
            65,
            "needs a user name in the URL",
        ),
    ];
    for (args, code, text) in cases {
        let out = hpckit(args).await;
        assert_eq!(out.status.code, Some(code), "{args:?}: {out:?}");
        let line = error_line(&out);
        assert!(line.contains(text), "{args:?}: {line}");
    }
    let out =
        hpckit(&["picas", "status", "http://u@h/db", "--db-password-env", "NO_SUCH_VAR_X"]).await;
    assert!(error_line(&out).contains("NO_SUCH_VAR_X is not set"), "{out:?}");
}

#[tokio::test]
async fn push_refuses_a_bad_token_file_before_sending_anything() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.jsonl");
    std::fs::write(&file, "{\"input\": \"echo a\"}\nnot json\n").unwrap();
    // Port 9 (discard): nothing would answer, but the file is refused first.
    let out = hpckit(&[
        "picas",
        "push",
        "http://u:hunter2@127.0.0.1:9/db",
        file.to_str().unwrap(),
        "--json-lines",
    ])
    .await;
    assert_eq!(out.status.code, Some(65), "{out:?}");
    assert!(error_line(&out).contains("token line 2: not JSON"), "{out:?}");
}
